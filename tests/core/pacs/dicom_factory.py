"""Test DICOM objects for the PACS tests: RG3, a CT series with real geometry, a broken DX."""

from __future__ import annotations

import copy
import datetime as dt

import numpy as np
import numpy.typing as npt
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def phantom_hu(shape: tuple[int, int, int] = (12, 48, 48), seed: int = 0) -> npt.NDArray[np.int16]:
    """(z, y, x) HU: soft tissue with two bone cylinders and a little noise."""
    rng = np.random.default_rng(seed)
    _z, y, x = shape
    yy, xx = np.mgrid[0:y, 0:x]
    hu = np.full(shape, -1000.0)
    body = (yy - y / 2) ** 2 + (xx - x / 2) ** 2 < (0.45 * x) ** 2
    hu[:, body] = 40.0
    for cy, cx, r in ((0.45, 0.38, 0.12), (0.5, 0.66, 0.07)):
        bone = (yy - cy * y) ** 2 + (xx - cx * x) ** 2 < (r * x) ** 2
        hu[:, bone] = 900.0
    hu += rng.normal(0, 10, shape)
    return np.clip(np.rint(hu), -1024, 3000).astype(np.int16)


def make_ct_series(
    hu: npt.NDArray[np.int16],
    *,
    study_uid: str,
    patient_id: str = "PACS-CT-1",
    patient_name: str = "Phantom^Ankle",
    spacing_mm: tuple[float, float, float] = (2.0, 0.8, 0.8),
    laterality: str = "L",
) -> list[Dataset]:
    """One CT slice data set per z, axial, LPS positions increasing in z."""
    series_uid = generate_uid()
    frame_uid = generate_uid()
    today = dt.date(2024, 5, 1).strftime("%Y%m%d")
    out = []
    for k, plane in enumerate(hu):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        sop_uid = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = "19800101"
        ds.PatientSex = "F"
        ds.StudyDate = today
        ds.StudyTime = "101010"
        ds.SeriesDate = today
        ds.ContentDate = today
        ds.ContentTime = "101010"
        ds.AccessionNumber = "ACC-CT-1"
        ds.ReferringPhysicianName = ""
        ds.StudyID = "1"
        ds.Modality = "CT"
        ds.Manufacturer = "phantom"
        ds.SeriesNumber = 2
        ds.InstanceNumber = k + 1
        ds.Laterality = laterality
        ds.BodyPartExamined = "ANKLE"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientPosition = "FFS"
        ds.ImagePositionPatient = [0.0, 0.0, float(k * spacing_mm[0])]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [spacing_mm[1], spacing_mm[2]]
        ds.SliceThickness = spacing_mm[0]
        ds.KVP = 120
        ds.AcquisitionNumber = 1
        ds.PositionReferenceIndicator = ""
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = plane.shape
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "HU"
        ds.WindowCenter = 400
        ds.WindowWidth = 2000
        ds.PixelData = np.ascontiguousarray(plane, dtype="<i2").tobytes()
        out.append(ds)
    return out


def rg3_path() -> str:
    path = get_testdata_file("RG3_UNCR.dcm", download=False)
    if path is None:
        pytest.skip("pydicom-data's RG3_UNCR.dcm is not installed")
    return str(path)


def broken_dx(study_uid: str, like: Dataset) -> Dataset:
    """A DX instance in the CT study whose pixel data is cut short (malformed)."""
    ds = copy.deepcopy(like)
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 7
    ds.Modality = "DX"
    ds.StudyInstanceUID = study_uid
    ds.Rows, ds.Columns = 64, 64
    ds.PixelData = bytes(100)  # 64 x 64 x 2 bytes expected
    for keyword in ("ImagePositionPatient", "ImageOrientationPatient", "FrameOfReferenceUID"):
        if keyword in ds:
            delattr(ds, keyword)
    return ds
