"""``--devices 2`` for the detector and CT recipes: two Ray Train workers (gloo, one CPU
thread each) train one model on a tiny set, and rank 0 alone writes the model folder."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from ankle_core.models.weights import load_model
from ankle_core.training.__main__ import main as train_main

pytestmark = [pytest.mark.timeout(300)]

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


def _train_both(configs: tuple[Any, Any]) -> None:
    """What each Ray Train worker runs: the detector recipe, then the CT recipe."""
    from ankle_core.training.ct import train_ct
    from ankle_core.training.detector import train_detector

    train_detector(configs[0])
    train_ct(configs[1])


@pytest.mark.ray
@pytest.mark.slow
def test_detector_and_ct_recipes_on_two_gloo_workers(
    ct_folder: Path, tmp_path: Path, ray_cluster: None
) -> None:
    """One Ray Train run (its start-up is most of the cost) trains both recipes with DDP."""
    pytest.importorskip("ray.train")
    from ankle_core.phantoms import export_dataset
    from ankle_core.scale.train import run_data_parallel
    from ankle_core.training.ct import CtTrainConfig
    from ankle_core.training.detector import DetectorConfig

    export_dataset(tmp_path / "xr", 12, "radiograph", seed=7, size=96)
    det = DetectorConfig(
        data=tmp_path / "xr", out=tmp_path / "det", epochs=1, long_side=64, fpn_channels=16,
        norm_groups=4, batch_size=2, val_frac=0.25, test_frac=0.25, train_crop=48,
        progress=False, device="cpu", command="detector --devices 2",
    )  # fmt: skip
    ct = CtTrainConfig(
        data=ct_folder, out=tmp_path / "ct", width_mult=0.25, input_size=16, spacing=8.0,
        epochs=2, batch_size=2, seed=1, synthetic=True, progress=False, device="cpu",
        deterministic=True, keep_checkpoints=True,
    )  # fmt: skip
    run_data_parallel(_train_both, (det, ct), devices=2, threads=1)
    det_card = load_model(tmp_path / "det", device="cpu").card
    assert det_card.training["data_parallel_workers"] == 2
    assert {"test_ap50", "test_recall_iou50"} <= set(det_card.metrics)
    assert (tmp_path / "det" / "checkpoints" / "last.pt").is_file()
    ct_card = load_model(tmp_path / "ct", device="cpu").card
    assert ct_card.training["data_parallel_workers"] == 2
    assert ct_card.training["deterministic"] is True and ct_card.training["amp"] is False
    assert len(ct_card.training["folds"][0]["history"]) == 2
    assert (tmp_path / "ct" / "checkpoints" / "fold0.pt").is_file()


def test_devices_flag_hands_the_recipe_to_ray_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--devices N`` on every training command: the recipe runs on N workers with
    ``devices=1`` in its config (no worker starts workers), and the card rank 0 wrote is
    read back."""
    import ankle_core.scale.train as scale_train
    from ankle_core.models.card import ModelCard, write_card

    calls: list[tuple[Any, Any, dict[str, Any]]] = []

    def fake(fn: Any, arg: Any, **kwargs: Any) -> None:
        calls.append((fn, arg, kwargs))
        card = ModelCard(
            name="m", version="1", architecture="ct_mobilenet3d", task="ct-fracture",
            spatial_dims=3, labels=("no fracture", "fracture"), input_size=(8, 8, 8),
            metrics={"test_auc": {"value": 0.5, "ci95": [0, 1]}, "test_ap50": {"value": 0.1}},
        )  # fmt: skip
        write_card(card, arg.out / "card.json")

    monkeypatch.setattr(scale_train, "run_data_parallel", fake)
    common = ["--out", str(tmp_path), "--devices", "3", "--threads", "1", "--device", "cpu"]
    for command in ("detector", "classifier", "ct"):
        assert train_main([command, "--data", "d", *common]) == 0
    assert [c[0].__name__ for c in calls] == ["train_detector", "train_classifier", "train_ct"]
    assert train_main(["ct", "--data", "d", *common, "--box-loss", "1"]) == 2  # refused
    assert len(calls) == 3
    for _, config, kwargs in calls:
        assert config.devices == 1 and "--devices 3" in config.command
        assert kwargs == {"devices": 3, "use_gpu": False, "threads": 1}
