"""Fixtures for the reader tests: real files that ship with pydicom, pydicom-data and
nibabel, the shared TotalSegmentator data, and tiny synthetic DICOM slices."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
TOTALSEG = SHARED_DATA / "ct-totalsegmentator"


def pydicom_file(name: str) -> str:
    """Path of a file bundled with pydicom or pydicom-data, never downloading."""
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} is not installed (pydicom-data missing?)")
    return str(path)


@pytest.fixture
def totalseg() -> Path:
    if not (TOTALSEG / "example_ct_dicom").is_dir():
        pytest.skip(f"shared data not found at {TOTALSEG} (CI places ../shared beside the repo)")
    return TOTALSEG


def make_slice(
    position: Sequence[float],
    *,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    orientation: Sequence[float] = (1, 0, 0, 0, 1, 0),
    spacing: Sequence[float] = (0.5, 0.5),
    rows: int = 8,
    cols: int = 6,
    value: int = 100,
) -> Dataset:
    """A tiny CT slice (int16 stored, rescale intercept -1024) at a given LPS position."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    sop_uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.Modality = "CT"
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYNTH-0001"
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.SliceThickness = 3.0
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 1
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    arr = np.full((rows, cols), value, dtype=np.int16)
    arr[0, 0] = value + 1  # a marker voxel at row 0, column 0
    ds.PixelData = arr.tobytes()
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture
def slice_factory() -> Callable[..., Dataset]:
    return make_slice


@pytest.fixture
def series_bytes() -> list[bytes]:
    """Five axial slices 2 mm apart, given in a shuffled order."""
    zs = [4.0, -4.0, 0.0, 2.0, -2.0]
    return [to_bytes(make_slice((10.0, 20.0, z), value=1000 + int(z))) for z in zs]
