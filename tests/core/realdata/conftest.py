"""Fixtures of the real-data tests: the shared real CT, a CT model (the committed demo model
when present, else a tiny random one saved to a temporary folder)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ankle_core.config import PROJECT_ROOT
from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard
from ankle_core.models.weights import LoadedModel, load_model, save_model
from ankle_core.realdata.sources import TOTALSEG_CT, find_real_data
from ankle_core.types import Volume

DEMO_CT = PROJECT_ROOT / "models" / "ct-fracture-mobilenet3d"


@pytest.fixture(scope="session")
def real_ct_dir() -> Path:
    folder = find_real_data(TOTALSEG_CT)
    if folder is None:
        pytest.skip("shared real CT (ct-totalsegmentator) not present")
    return folder


@pytest.fixture(scope="session", params=["nifti", "dicom"])
def real_ct(request: pytest.FixtureRequest, real_ct_dir: Path) -> Volume:
    """TotalSegmentator's example CT, as NIfTI or as the JPEG 2000 DICOM series."""
    from ankle_core.io import read_volume

    name = "example_ct.nii.gz" if request.param == "nifti" else "example_ct_dicom"
    return read_volume(real_ct_dir / name)


@pytest.fixture(scope="session")
def ct_model(random_ct_model: LoadedModel) -> LoadedModel:
    """The committed demo CT model, or else :func:`random_ct_model`."""
    if (DEMO_CT / "card.json").is_file():
        return load_model(DEMO_CT, device="cpu")
    return random_ct_model


@pytest.fixture(scope="session")
def random_ct_model(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """A tiny random 3D MobileNet whose 32^3 cube at 12 mm covers a whole abdomen (384 mm);
    its Grad-CAM responds to air, unlike the demo model's."""
    from ankle_core.models.cnn3d import CT_LABELS, build_ct_mobilenet3d
    from ankle_core.preprocess.volume import CtPreprocessing

    torch.manual_seed(0)
    network = build_ct_mobilenet3d(width_mult=0.25)
    with torch.no_grad():
        network.classifier[1].weight.normal_(0.0, 0.5)
    card = ModelCard(
        name="tiny-ct-real",
        version="0.0.1",
        architecture="ct_mobilenet3d",
        task="ct-fracture",
        spatial_dims=3,
        labels=CT_LABELS,
        input_size=(32, 32, 32),
        preprocessing=CtPreprocessing(spacing_mm=12.0, input_size=32).to_dict(),
        architecture_params={"width_mult": 0.25, "num_classes": 2},
        intended_use=SYNTHETIC_DISCLAIMER,
    )
    out = tmp_path_factory.mktemp("models") / "tiny-ct-real"
    save_model(network, card, out, half=False)
    return load_model(out, device="cpu")
