"""Fixtures of the CT tests: tiny volumes, a tiny saved CT model, oblique anisotropic scans."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard
from ankle_core.models.cnn3d import CT_LABELS, build_ct_mobilenet3d
from ankle_core.models.weights import LoadedModel, load_model, save_model
from ankle_core.preprocess.volume import CtPreprocessing
from ankle_core.types import Volume

TINY_PREP = CtPreprocessing(spacing_mm=4.0, input_size=32)


def oblique_affine(spacing_xyz: tuple[float, float, float]) -> np.ndarray:
    """A rotated, anisotropic, LPS-like (x flipped) NIfTI affine."""
    rot = Rotation.from_euler("xyz", [20.0, -15.0, 30.0], degrees=True).as_matrix()
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag(spacing_xyz)
    affine[:3, 0] *= -1.0
    affine[:3, 3] = [-30.0, 20.0, 10.0]
    return affine


@pytest.fixture()
def oblique_volume() -> Volume:
    """(40, 60, 50) body of 40 HU in air, spacing (z, y, x) = (2.5, 0.9, 0.7) mm, tilted."""
    arr = np.full((40, 60, 50), -1000.0, np.float32)
    arr[4:36, 8:52, 6:44] = 40.0
    return Volume(arr, (2.5, 0.9, 0.7), oblique_affine((0.7, 0.9, 2.5)))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised, width-0.25 3D MobileNet saved as a model folder (32^3, 4 mm)."""
    torch.manual_seed(0)
    network = build_ct_mobilenet3d(width_mult=0.25)
    with torch.no_grad():  # a non-zero classifier so Grad-CAM has something to show
        network.classifier[1].weight.normal_(0.0, 0.5)
    card = ModelCard(
        name="tiny-ct",
        version="0.0.1",
        architecture="ct_mobilenet3d",
        task="ct-fracture",
        spatial_dims=3,
        labels=CT_LABELS,
        input_size=(32, 32, 32),
        preprocessing=TINY_PREP.to_dict(),
        architecture_params={"width_mult": 0.25, "num_classes": 2},
        intended_use=SYNTHETIC_DISCLAIMER,
    )
    out = tmp_path_factory.mktemp("models") / "tiny-ct"
    save_model(network, card, out, half=False)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir: Path) -> LoadedModel:
    return load_model(tiny_model_dir, device="cpu")
