"""Builders of tiny test models and tiny phantom inputs for the dashboard tests.

Tiny models have random weights (a few hundred kB) and run in milliseconds; the detector's
threshold is 0 so that it always reports a few boxes. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
from PIL import Image

from ankle_core.models.card import ModelCard, OperatingPoints
from ankle_core.models.registry import build_network
from ankle_core.models.weights import save_model

DETECTOR = "lmaf-fragment-detector"
CLASSIFIER = "lmaf-classifier-mobilenetv2"
CT_MODEL = "ct-fracture-mobilenet3d"
TINY_TRAINING = {"data": "none: random weights for tests", "synthetic": True}


def _save(card: ModelCard, out: Path) -> None:
    import torch

    torch.manual_seed(0)
    save_model(build_network(card), card, out / card.name)


def make_tiny_models(out: Path, *, ct_preprocessing: dict[str, object] | None = None) -> Path:
    """Write a tiny detector, classifier and CT model under ``out``; returns ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    _save(
        ModelCard(
            name=DETECTOR,
            version="0.0.1-test",
            architecture="retinanet_fragment",
            task="fragment-detection",
            spatial_dims=2,
            labels=("background", "fragment"),
            input_size=(256, 256),
            architecture_params={
                "fpn_channels": 32,
                "width_mult": 0.25,
                "long_side": 256,
                "score_thresh": 0.0,
                "detections_per_img": 3,
            },
            operating_points=OperatingPoints(0.0, 0.0, 0.0, "tests"),
            training=TINY_TRAINING,
            metrics={"ap50": {"value": 0.5, "ci95": [0.4, 0.6], "n": 10}},
        ),
        out,
    )
    _save(
        ModelCard(
            name=CLASSIFIER,
            version="0.0.1-test",
            architecture="lmaf_classifier",
            task="lmaf-vs-sfo",
            spatial_dims=2,
            labels=("SFO", "LMAF"),
            input_size=(64, 64),
            architecture_params={"backbone": "mobilenet_v2", "num_classes": 2},
            operating_points=OperatingPoints(0.5, 0.3, 0.7, "tests"),
            training=TINY_TRAINING,
            metrics={"auc": {"value": 0.81, "ci95": [0.7, 0.9], "n": 40}},
        ),
        out,
    )
    _save(
        ModelCard(
            name=CT_MODEL,
            version="0.0.1-test",
            architecture="ct_mobilenet3d",
            task="ct-fracture",
            spatial_dims=3,
            labels=("no fracture", "fracture"),
            input_size=(32, 32, 32),
            architecture_params={"width_mult": 0.25, "last_channel": 64},
            preprocessing=ct_preprocessing or {"input_size": 32, "spacing_mm": 3.0},
            operating_points=OperatingPoints(0.5, 0.3, 0.7, "tests"),
            training=TINY_TRAINING,
            metrics={"test": {"auc": {"value": 0.66, "ci95": [0.46, 0.83], "n": 35}}},
        ),
        out,
    )
    return out


def radiograph_png(seed: int = 3, kind: str = "lmaf", size: int = 256) -> bytes:
    """A phantom radiograph as PNG bytes."""
    from ankle_core.phantoms.radiograph import make_case

    pixels = make_case(seed, kind, size=size).radiograph.pixels
    buffer = io.BytesIO()
    Image.fromarray((pixels * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def radiograph_dicom(seed: int = 3, kind: str = "lmaf", size: int = 256) -> bytes:
    """A phantom radiograph as a DICOM DX file (MONOCHROME2, 12-bit, with spacing)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from ankle_core.phantoms.radiograph import make_case

    case = make_case(seed, kind, size=size)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.BodyPartExamined, ds.PatientName, ds.PatientID = (
        "DX",
        "ANKLE",
        "PHANTOM^X",
        "P1",
    )
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    spacing = case.radiograph.pixel_spacing_mm or (0.2, 0.2)
    ds.ImagerPixelSpacing = [f"{spacing[0]:.4f}", f"{spacing[1]:.4f}"]
    ds.PixelData = (case.radiograph.pixels * 4095).astype(np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def volume_nifti(seed: int = 1, fractured: bool = True, shape=(24, 48, 48)) -> bytes:  # type: ignore[no-untyped-def]
    """A phantom CT volume as gzipped NIfTI bytes."""
    import nibabel as nib

    from ankle_core.phantoms.ct import make_volume

    volume = make_volume(seed, fractured, shape=shape, spacing_mm=(2.0, 1.6, 1.6))
    array_xyz = np.ascontiguousarray(np.transpose(volume.array, (2, 1, 0))).astype(np.int16)
    image = nib.Nifti1Image(array_xyz, np.asarray(volume.affine))
    return gzip.compress(image.to_bytes(), compresslevel=1)


def corrupt_dicom() -> bytes:
    """A phantom DICOM cut short in its header: unreadable."""
    return radiograph_dicom()[:600]
