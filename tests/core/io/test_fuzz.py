"""Property: mutated DICOM, PNG and NIfTI files either read or raise InvalidInputError."""

from __future__ import annotations

import contextlib
import gzip
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io import read_radiograph, read_volume
from tests.core.io.conftest import make_slice, pydicom_file, to_bytes

# Mutated bytes make pydicom warn about every invalid value it meets; those warnings are the
# expected noise of fuzzing, and they buried CI's failure report under kilobytes of bytes.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom.*")

LIMITS = ReadLimits(max_pixels=2_000_000, max_voxels=2_000_000, max_zip_bytes=50_000_000)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _dicom() -> bytes:
    return Path(pydicom_file("MR_small_RLE.dcm")).read_bytes()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(256, dtype=np.uint16).reshape(16, 16) * 200).save(buf, "PNG")
    return buf.getvalue()


def _nifti() -> bytes:
    arr = np.arange(6 * 5 * 4, dtype=np.int16).reshape(6, 5, 4)
    return gzip.compress(nib.Nifti1Image(arr, np.diag([1.0, 2.0, 3.0, 1.0])).to_bytes())


def _nifti_raw() -> bytes:
    arr = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    return nib.Nifti1Image(arr, np.eye(4)).to_bytes()


def _only_invalid_input(reader: Callable[..., Any], data: bytes) -> None:
    # A successful read is fine; InvalidInputError is fine; anything else fails the test.
    with contextlib.suppress(InvalidInputError):
        reader(data, limits=LIMITS)


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    data = bytearray(base)
    kind = draw(st.sampled_from(["flip", "truncate", "both"]))
    if kind in ("flip", "both"):
        for _ in range(draw(st.integers(1, 12))):
            pos = draw(st.integers(0, len(data) - 1))
            data[pos] = draw(st.integers(0, 255))
    if kind in ("truncate", "both"):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@pytest.mark.parametrize(
    ("base", "reader"),
    [
        (_dicom, read_radiograph),
        (_png, read_radiograph),
        (_nifti, read_volume),
        (_nifti_raw, read_volume),
    ],
    ids=["dicom", "png", "nifti-gz", "nifti"],
)
def test_mutated_bytes_raise_only_invalid_input(
    base: Callable[[], bytes], reader: Callable[..., Any]
) -> None:
    original = base()

    @FUZZ
    @given(mutated(original))
    def run(data: bytes) -> None:
        _only_invalid_input(reader, data)

    run()


_KEYWORDS = [
    "Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation",
    "SamplesPerPixel", "PhotometricInterpretation", "PixelData", "RescaleSlope",
    "RescaleIntercept", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
    "SeriesInstanceUID", "HighBit",
]  # fmt: skip


@FUZZ
@given(
    deleted=st.sets(st.sampled_from(_KEYWORDS), min_size=1, max_size=4),
    rows=st.sampled_from([None, 0, 1, 7, 65535]),
    bits=st.sampled_from([None, 1, 8, 12, 16, 32, 64]),
    photometric=st.sampled_from([None, "MONOCHROME1", "RGB", "PALETTE COLOR", "YBR_FULL", "XYZ"]),
)
def test_tag_mutations_raise_only_invalid_input(
    deleted: set[str], rows: int | None, bits: int | None, photometric: str | None
) -> None:
    slices = [make_slice((0, 0, 2.0 * z)) for z in range(3)]
    ds = slices[1]
    for keyword in deleted:
        if keyword in ds:
            delattr(ds, keyword)
    if rows is not None:
        ds.Rows = rows
    if bits is not None:
        ds.BitsAllocated = bits
    if photometric is not None:
        ds.PhotometricInterpretation = photometric
    try:
        blob = to_bytes(ds)
    except (ValueError, TypeError, AttributeError):
        return  # pydicom refused to write it: nothing to read
    _only_invalid_input(read_radiograph, blob)
    with contextlib.suppress(InvalidInputError):
        read_volume([to_bytes(slices[0]), blob, to_bytes(slices[2])], limits=LIMITS)


def test_fuzz_bases_are_valid() -> None:
    assert read_radiograph(_dicom()).shape == (64, 64)
    assert read_radiograph(_png()).shape == (16, 16)
    assert read_volume(_nifti()).shape == (4, 5, 6)
    assert read_volume(_nifti_raw()).shape == (4, 5, 6)
    assert pydicom.dcmread(io.BytesIO(_dicom())).Rows == 64
