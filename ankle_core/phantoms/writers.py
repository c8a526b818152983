"""Writers that turn phantoms into real files: DICOM radiographs, PNGs, NIfTI and CT series.

Every file carries a synthetic, de-identified header (PatientName ``PHANTOM^<n>``, PatientID
``PHANTOM-<n>``, PatientIdentityRemoved YES) and reads back through :mod:`ankle_core.io`
unchanged, within the stored bit depth:

- DICOM radiographs store ``round(pixels * (2**bits - 1))`` (inverted for MONOCHROME1) with a
  Window Center/Width of ``2**(bits-1)`` / ``2**bits``, which the LINEAR window of PS3.3
  C.11.2.1.2 maps back to ``stored / (2**bits - 1)`` exactly.
- PNGs store ``round(pixels * 255)`` (8-bit) or ``round(pixels * 65535)`` (16-bit).
- CT volumes store ``round(HU)`` as int16: NIfTI with the volume's affine as sform and qform;
  DICOM series with RescaleIntercept -1024 and ImagePositionPatient / ImageOrientationPatient
  taken from the affine (RAS converted to LPS).

UIDs come from :func:`pydicom.uid.generate_uid` with entropy sources derived from the case,
so re-exporting the same seeds gives the same UIDs (and the same objects) while different
cases never share one.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from ankle_core.phantoms.radiograph import RadiographCase
from ankle_core.types import Volume

__all__ = [
    "COMPRESSIONS",
    "PHANTOM_MANUFACTURER",
    "write_ct_nifti",
    "write_ct_series",
    "write_radiograph_dicom",
    "write_radiograph_png",
]

#: Manufacturer written into every phantom DICOM file: how a project phantom is recognised.
PHANTOM_MANUFACTURER = "ankle_core phantoms"

DX_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
CR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1")
CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
COMPRESSIONS: dict[str, UID | None] = {
    "none": None,
    "rle": RLELossless,
    "jpegls": JPEGLSLossless,
    "j2k": JPEG2000Lossless,
}
_STUDY_DATE = "20260101"
_CT_INTERCEPT = -1024.0


def _uid(*parts: object) -> UID:
    return generate_uid(entropy_srcs=["ankle-phantom", *(str(p) for p in parts)])


def _patient(ds: Dataset, number: int) -> None:
    ds.PatientName = f"PHANTOM^{number}"
    ds.PatientID = f"PHANTOM-{number}"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "Synthetic phantom (ankle_core.phantoms); no patient data"
    ds.StudyDate = _STUDY_DATE
    ds.StudyTime = "120000"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = str(number)
    ds.BodyPartExamined = "ANKLE"
    ds.BurnedInAnnotation = "NO"
    ds.Manufacturer = PHANTOM_MANUFACTURER


def _file_meta(sop_class: UID, sop_instance: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def write_radiograph_dicom(
    path: Path,
    case: RadiographCase,
    *,
    number: int,
    modality: str = "DX",
    bits_stored: int = 12,
    monochrome1: bool = False,
    compression: str = "none",
) -> Path:
    """Write a phantom radiograph as a DX (for presentation) or CR DICOM file.

    Args:
        path: file to write (its folder must exist).
        case: the phantom case.
        number: patient number for the synthetic header (``PHANTOM^<number>``).
        modality: ``"DX"`` or ``"CR"`` (sets the SOP class).
        bits_stored: 8 to 16.
        monochrome1: store inverted values with PhotometricInterpretation MONOCHROME1.
        compression: a key of :data:`COMPRESSIONS` (lossless transfer syntaxes only).

    Returns:
        ``path``.

    Raises:
        ValueError: an unknown modality or compression, or bits outside 8..16.
    """
    if modality not in ("DX", "CR"):
        raise ValueError(f"modality must be DX or CR, got {modality!r}.")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, got {compression!r}.")
    if not 8 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must lie in 8..16, got {bits_stored}.")
    top = (1 << bits_stored) - 1
    stored = np.rint(np.asarray(case.radiograph.pixels, dtype=np.float64) * top).astype(np.uint16)
    if monochrome1:
        stored = (top - stored).astype(np.uint16)
    sop_class = DX_FOR_PRESENTATION if modality == "DX" else CR_IMAGE_STORAGE
    sop_instance = _uid("rg", case.label, case.seed, number, "sop")
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, sop_instance)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance
    ds.StudyInstanceUID = _uid("rg", case.label, case.seed, number, "study")
    ds.SeriesInstanceUID = _uid("rg", case.label, case.seed, number, "series")
    _patient(ds, number)
    ds.Modality = modality
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SeriesDescription = "ANKLE MORTISE" if case.view == "mortise" else "ANKLE AP"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.ViewPosition = "AP"
    laterality = str(case.radiograph.metadata.get("laterality", ""))
    ds.ImageLaterality = laterality
    ds.PatientOrientation = ["L", "F"] if laterality == "R" else ["R", "F"]
    region = Dataset()
    region.CodeValue = "70258002"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Ankle joint"
    ds.AnatomicRegionSequence = [region]
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
        # Bone (less beam intensity) is bright: high stored values, or low for MONOCHROME1.
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = 1 if monochrome1 else -1
        ds.PresentationLUTShape = "INVERSE" if monochrome1 else "IDENTITY"
        ds.DetectorType = "DIRECT"
        ds.PositionerType = ""
        ds.AcquisitionContextSequence = []
        view = Dataset()
        view.CodeValue = "399348003"
        view.CodingSchemeDesignator = "SCT"
        view.CodeMeaning = "antero-posterior"
        view.ViewModifierCodeSequence = []
        ds.ViewCodeSequence = [view]
    spacing = case.radiograph.pixel_spacing_mm or (0.2, 0.2)
    ds.ImagerPixelSpacing = [f"{spacing[0]:.6f}", f"{spacing[1]:.6f}"]
    ds.PixelSpacing = [f"{spacing[0]:.6f}", f"{spacing[1]:.6f}"]
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = 1 << (bits_stored - 1)
    ds.WindowWidth = 1 << bits_stored
    ds.VOILUTFunction = "LINEAR"
    ds.LossyImageCompression = "00"
    ds.PixelData = stored.tobytes()
    uid = COMPRESSIONS[compression]
    if uid is not None:
        ds.compress(uid, stored, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_radiograph_png(path: Path, case: RadiographCase, *, bits: int = 8) -> Path:
    """Write a phantom radiograph as a greyscale PNG (8 or 16 bits, bone bright).

    Args:
        path: file to write.
        case: the phantom case.
        bits: 8 or 16.

    Returns:
        ``path``.

    Raises:
        ValueError: for ``bits`` other than 8 or 16.
    """
    pixels = np.asarray(case.radiograph.pixels, dtype=np.float64)
    if bits == 8:
        Image.fromarray(np.rint(pixels * 255).astype(np.uint8), mode="L").save(path, optimize=True)
    elif bits == 16:
        arr = np.rint(pixels * 65535).astype(np.uint16)
        Image.fromarray(arr).save(path)
    else:
        raise ValueError(f"bits must be 8 or 16, got {bits}.")
    return path


def write_ct_nifti(path: Path, volume: Volume) -> Path:
    """Write a volume as NIfTI-1 (``.nii`` or ``.nii.gz``), int16 HU, affine as s/qform.

    Args:
        path: file to write.
        volume: (z, y, x) HU volume.

    Returns:
        ``path``.
    """
    data = np.rint(np.clip(volume.array, -32768, 32767)).astype(np.int16).transpose(2, 1, 0)
    image_cls: Any = nib.Nifti1Image
    img = image_cls(np.ascontiguousarray(data), np.asarray(volume.affine))
    header: Any = img.header
    header.set_xyzt_units("mm", "sec")
    header.set_qform(np.asarray(volume.affine), code=1)
    header.set_sform(np.asarray(volume.affine), code=1)
    header.set_slope_inter(1.0, 0.0)
    nib.save(img, str(path))
    return path


def write_ct_series(folder: Path, volume: Volume, *, number: int) -> Path:
    """Write a volume as a DICOM CT series: one CT Image Storage file per axial slice.

    Args:
        folder: folder to create (or reuse) for the slices.
        volume: (z, y, x) HU volume; its affine sets ImagePositionPatient and
            ImageOrientationPatient (RAS converted to LPS).
        number: patient number for the synthetic header.

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    affine = np.asarray(volume.affine, dtype=np.float64)
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    row_dir = ras_to_lps @ affine[:3, 0]
    col_dir = ras_to_lps @ affine[:3, 1]
    row_cos = row_dir / np.linalg.norm(row_dir)
    col_cos = col_dir / np.linalg.norm(col_dir)
    seed = volume.metadata.get("seed", number)
    study = _uid("ct", seed, number, "study")
    series = _uid("ct", seed, number, "series")
    frame = _uid("ct", seed, number, "frame")
    stored = np.rint(np.clip(volume.array, -1024.0, 3071.0) - _CT_INTERCEPT).astype(np.int16)
    sz, sy, sx = volume.spacing_mm
    laterality = str(volume.metadata.get("laterality", ""))
    for k in range(stored.shape[0]):
        position = ras_to_lps @ (affine @ np.array([0.0, 0.0, float(k), 1.0]))[:3]
        sop = _uid("ct", seed, number, "slice", k)
        ds = Dataset()
        ds.file_meta = _file_meta(CT_IMAGE_STORAGE, sop)
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        _patient(ds, number)
        ds.Modality = "CT"
        ds.SeriesNumber = 1
        ds.InstanceNumber = k + 1
        ds.SeriesDescription = "ANKLE CT (synthetic phantom)"
        ds.ImageType = ["DERIVED", "PRIMARY", "AXIAL"]
        ds.Laterality = laterality
        ds.PatientPosition = "FFS"
        ds.AcquisitionNumber = 1
        ds.ContentDate = _STUDY_DATE
        ds.AcquisitionDateTime = _dt.datetime(2026, 1, 1, 12).strftime("%Y%m%d%H%M%S")
        ds.KVP = "120"
        ds.SliceThickness = f"{sz:.4f}"
        ds.PixelSpacing = [f"{sy:.6f}", f"{sx:.6f}"]
        ds.ImagePositionPatient = [f"{c:.4f}" for c in position]
        ds.ImageOrientationPatient = [f"{c:.6f}" for c in (*row_cos, *col_cos)]
        ds.SliceLocation = f"{position[2]:.4f}"
        ds.PositionReferenceIndicator = ""
        ds.Rows, ds.Columns = stored.shape[1:]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.RescaleIntercept = f"{_CT_INTERCEPT:.0f}"
        ds.RescaleSlope = "1"
        ds.RescaleType = "HU"
        ds.WindowCenter = "300"
        ds.WindowWidth = "2000"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(folder / f"slice_{k:04d}.dcm", enforce_file_format=True)
    return folder
