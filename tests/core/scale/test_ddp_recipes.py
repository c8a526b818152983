"""``--devices 2`` for the detector and CT recipes: two Ray Train workers (gloo, one CPU
thread each) train one model on a tiny set, and rank 0 alone writes the model folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from ankle_core.models.weights import load_model
from ankle_core.training.__main__ import main as train_main

pytest.importorskip("ray.train")

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(300)]

SMALL = {"shape": (16, 32, 32), "spacing_mm": (4.0, 3.2, 3.2)}


@pytest.fixture(scope="module")
def ct_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve tiny CT phantoms (six fractured) with labels.csv."""
    from ankle_core.phantoms.ct import make_volume
    from ankle_core.phantoms.writers import write_ct_nifti

    data = tmp_path_factory.mktemp("ct")
    rows = []
    for seed in range(12):
        name = f"v{seed}.nii.gz"
        write_ct_nifti(data / name, make_volume(seed, seed % 2 == 0, **SMALL))  # type: ignore[arg-type]
        label = "fracture" if seed % 2 == 0 else "no fracture"
        rows.append({"file": name, "patient_id": f"p{seed}", "label": label})
    with (data / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return data


def test_ct_recipe_on_two_gloo_workers(ct_folder: Path, tmp_path: Path, ray_cluster: None) -> None:
    out = tmp_path / "ct-ddp"
    status = train_main(
        ["ct", "--data", str(ct_folder), "--out", str(out), "--width-mult", "0.25",
         "--input-size", "16", "--spacing", "8", "--epochs", "2", "--batch-size", "2",
         "--seed", "1", "--synthetic", "--no-progress", "--device", "cpu",
         "--devices", "2", "--threads", "1", "--deterministic", "--keep-checkpoints"]
    )  # fmt: skip
    assert status == 0
    card = load_model(out, device="cpu").card
    assert card.training["data_parallel_workers"] == 2
    assert card.training["deterministic"] is True and card.training["amp"] is False
    assert "--devices 2" in card.training["command"]
    assert len(card.training["folds"][0]["history"]) == 2
    assert (out / "checkpoints" / "fold0.pt").is_file()


def test_detector_recipe_on_two_gloo_workers(tmp_path: Path, ray_cluster: None) -> None:
    from ankle_core.phantoms import export_dataset

    export_dataset(tmp_path / "xr", 12, "radiograph", seed=7, size=96)
    out = tmp_path / "det-ddp"
    status = train_main(
        ["detector", "--data", str(tmp_path / "xr"), "--out", str(out), "--epochs", "1",
         "--long-side", "64", "--fpn-channels", "16", "--norm-groups", "4",
         "--batch-size", "2", "--val-frac", "0.25", "--test-frac", "0.25",
         "--train-crop", "48", "--no-progress", "--device", "cpu",
         "--devices", "2", "--threads", "1"]
    )  # fmt: skip
    assert status == 0
    card = load_model(out, device="cpu").card
    assert card.training["data_parallel_workers"] == 2
    assert "--devices 2" in card.training["command"]
    assert {"test_ap50", "test_recall_iou50"} <= set(card.metrics)
    assert (out / "checkpoints" / "last.pt").is_file()
