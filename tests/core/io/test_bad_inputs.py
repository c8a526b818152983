"""A corpus of bad inputs: each must raise InvalidInputError with a useful message."""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path
from PIL import Image

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io import read_radiograph, read_volume
from tests.core.io.conftest import make_slice, pydicom_file, to_bytes

Reader = Callable[..., Any]
BOTH = [read_radiograph, read_volume]


def _refused(reader: Reader, source: Any, *words: str, **kwargs: Any) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as info:
        reader(source, **kwargs)
    message = str(info.value).lower()
    for word in words:
        assert word.lower() in message, message
    return info.value


@pytest.mark.parametrize("reader", BOTH)
def test_random_bytes(reader: Reader) -> None:
    rng = np.random.default_rng(0)
    _refused(reader, rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(), "not")


@pytest.mark.parametrize("reader", BOTH)
def test_empty_file_and_empty_bytes(reader: Reader, tmp_path: Path) -> None:
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    _refused(reader, empty, "empty")
    _refused(reader, b"", "empty")


@pytest.mark.parametrize("reader", BOTH)
def test_missing_path(reader: Reader, tmp_path: Path) -> None:
    _refused(reader, tmp_path / "nope.dcm", "does not exist")


def _mr_small_cut_in_pixels() -> bytes:
    data = Path(pydicom_file("MR_small.dcm")).read_bytes()
    return data[: data.rfind(b"\xe0\x7f\x10\x00") + 2000]  # 2 kB of 8 kB of pixel data


@pytest.mark.parametrize("cut", [200, 1000, 1400, None])
def test_truncated_dicom(cut: int | None) -> None:
    data = Path(pydicom_file("MR_small.dcm")).read_bytes()
    error = _refused(read_radiograph, data[:cut] if cut else _mr_small_cut_in_pixels())
    assert any(w in str(error) for w in ("pixel data", "damaged", "truncated"))


def test_truncated_compressed_dicom() -> None:
    data = Path(pydicom_file("MR_small_jp2klossless.dcm")).read_bytes()
    _refused(read_radiograph, data[: len(data) - 600])


def test_no_pixel_data() -> None:
    _refused(read_radiograph, pydicom_file("rtplan.dcm"), "no image")
    _refused(read_volume, pydicom_file("rtplan.dcm"), "no readable dicom image")


def test_volume_given_to_read_radiograph() -> None:
    _refused(read_radiograph, pydicom_file("emri_small.dcm"), "frames", "volume")
    _refused(read_radiograph, os.path.join(data_path, "anatomical.nii"), "nifti")


def test_single_image_given_to_read_volume() -> None:
    _refused(read_volume, pydicom_file("MR_small.dcm"), "one 2d image")
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="PNG")
    _refused(read_volume, buf.getvalue(), "2d image")
    flat = nib.Nifti1Image(np.zeros((8, 8, 1), np.float32), np.eye(4))
    _refused(read_volume, flat.to_bytes(), "2d image")


def test_4d_nifti_is_refused() -> None:
    _refused(read_volume, os.path.join(data_path, "example4d.nii.gz"), "4d")
    _refused(read_volume, os.path.join(data_path, "example_nifti2.nii.gz"), "4d")


def test_nan_and_inf_nifti() -> None:
    arr = np.zeros((4, 4, 4), np.float32)
    arr[1, 2, 3] = np.nan
    _refused(read_volume, nib.Nifti1Image(arr, np.eye(4)).to_bytes(), "nan")
    arr[1, 2, 3] = np.inf
    _refused(read_volume, nib.Nifti1Image(arr, np.eye(4)).to_bytes(), "infinite")


def test_oversized_under_tiny_limits() -> None:
    path = pydicom_file("MR_small.dcm")
    _refused(read_radiograph, path, "limit", limits=ReadLimits(max_file_bytes=1000))
    _refused(read_radiograph, path, "pixels", limits=ReadLimits(max_pixels=64 * 63))
    blobs = [to_bytes(make_slice((0, 0, z))) for z in range(4)]
    _refused(read_volume, blobs, "voxels", limits=ReadLimits(max_voxels=100))
    _refused(read_volume, blobs, "limit", limits=ReadLimits(max_series_files=3))
    big = nib.Nifti1Image(np.zeros((20, 20, 20), np.int16), np.eye(4)).to_bytes()
    _refused(read_volume, big, "voxels", limits=ReadLimits(max_voxels=1000))


def test_header_claiming_huge_image_is_refused_before_decoding() -> None:
    ds = make_slice((0, 0, 0))
    ds.Rows, ds.Columns = 60000, 60000  # 3.6 gigapixels declared, 96 bytes of data
    _refused(read_radiograph, to_bytes(ds), "pixels")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def test_zip_bomb_is_refused_before_extraction() -> None:
    bomb = _zip({"a.dcm": bytes(50 * 1024 * 1024)})  # ~50 kB on disk, 50 MB inflated
    assert len(bomb) < 200_000
    _refused(read_volume, bomb, "zip bomb")
    _refused(read_volume, bomb, "expands", limits=ReadLimits(max_zip_bytes=10 * 1024 * 1024))
    many = _zip({f"{k}.dcm": b"x" for k in range(20)})
    _refused(read_volume, many, "holds 20 files", limits=ReadLimits(max_zip_members=5))
    _refused(read_volume, bomb[: len(bomb) // 2], "zip")


def test_zip_member_larger_than_declared_is_refused() -> None:
    blob = to_bytes(make_slice((0, 0, 0)))
    data = bytearray(_zip({"a.dcm": blob}))
    # Shrink the declared uncompressed size in the central directory and the local header.
    central = data.rfind(b"PK\x01\x02")
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, central + 24, 10)
    struct.pack_into("<I", data, local + 22, 10)
    _refused(read_volume, bytes(data))


def _nested(depth: int) -> bytes:
    """A DICOM file whose sequences nest ``depth`` levels deep (undefined lengths)."""
    head = to_bytes(make_slice((0, 0, 0)))
    open_ = b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    close = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    leaf = b"\x10\x00\x10\x00PN\x04\x00ABCD"
    # Place the sequence before the pixel data so that pydicom must parse it.
    ds = make_slice((0, 0, 0))
    pixel = ds.PixelData
    body = head[: head.rfind(b"\xe0\x7f\x10\x00")]
    tail = head[head.rfind(b"\xe0\x7f\x10\x00") :]
    assert tail.endswith(pixel)
    return body + open_ * depth + leaf + close * depth + tail


@pytest.mark.parametrize("reader", BOTH)
def test_deeply_nested_sequences(reader: Reader) -> None:
    _refused(reader, _nested(200), "nest")
    _refused(reader, _nested(20), "nest")  # beyond the default limit of 16


def test_moderately_nested_sequences_are_fine() -> None:
    assert read_radiograph(_nested(3)).shape == (8, 6)


def test_series_with_mixed_series_uids() -> None:
    blobs = [to_bytes(make_slice((0, 0, z), series_uid=f"1.2.3.{z % 2}")) for z in range(4)]
    _refused(read_volume, blobs, "different series")


def test_series_with_inconsistent_orientation() -> None:
    blobs = [to_bytes(make_slice((0, 0, z))) for z in range(3)]
    blobs.append(to_bytes(make_slice((0, 0, 3), orientation=(1, 0, 0, 0, 0, -1))))
    _refused(read_volume, blobs, "orientation")


def test_series_with_a_missing_slice() -> None:
    blobs = [to_bytes(make_slice((0, 0, 2.0 * z))) for z in (0, 1, 2, 4, 5)]
    _refused(read_volume, blobs, "missing")


def test_series_with_a_duplicated_slice() -> None:
    blobs = [to_bytes(make_slice((0, 0, 2.0 * z))) for z in (0, 1, 2, 2, 3)]
    _refused(read_volume, blobs, "same position")


def test_series_with_different_slice_sizes_and_no_position() -> None:
    blobs = [to_bytes(make_slice((0, 0, z))) for z in range(3)]
    _refused(read_volume, [*blobs, to_bytes(make_slice((0, 0, 3), rows=4))], "rows")
    no_pos = make_slice((0, 0, 3))
    del no_pos.ImagePositionPatient
    _refused(read_volume, [*blobs, to_bytes(no_pos)], "position")


def test_folder_without_any_slice(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("nothing here")
    (tmp_path / "plan.dcm").write_bytes(Path(pydicom_file("rtplan.dcm")).read_bytes())
    _refused(read_volume, tmp_path, "no readable dicom image")


def test_unsupported_object_type() -> None:
    _refused(read_radiograph, 12345, "unsupported input")
    _refused(read_radiograph, pydicom.Dataset(), "unsupported input")


def test_errors_are_chained_and_log_only_class_names(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    with pytest.raises(InvalidInputError) as info:
        read_radiograph(_mr_small_cut_in_pixels())
    assert info.value.__cause__ is not None
    logged = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("ankle_core"))
    assert type(info.value.__cause__).__name__ in logged
