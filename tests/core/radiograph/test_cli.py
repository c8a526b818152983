"""Batch inference CLI (a corrupt file is reported, the rest go on) and training CLIs
(card contents, resumable checkpoints) on phantoms from the exporter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from ankle_core.inference.__main__ import main as infer_main
from ankle_core.models.weights import load_model
from ankle_core.training.__main__ import main as train_main


@pytest.fixture(scope="module")
def phantom_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ankle_core.phantoms import export_dataset

    out = tmp_path_factory.mktemp("phantoms")
    export_dataset(out, 30, "radiograph", seed=7, size=128)
    return out


def test_batch_cli_reports_a_corrupt_file_and_goes_on(
    tiny_models_dir: Path, phantom_folder: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for src in sorted((phantom_folder / "radiographs").iterdir())[:2]:
        (folder / src.name).write_bytes(src.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (folder / "labels.csv").write_text("ignored\n")
    out = tmp_path / "predictions.csv"
    status = infer_main(
        [
            "radiograph", str(folder), "--out", str(out), "--models-dir", str(tiny_models_dir),
            "--detector", "tiny-detector", "--classifier", "tiny-mobilenet_v2",
            "--device", "cpu", "--no-progress",
        ]
    )  # fmt: skip
    assert status == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["file"] for r in rows] == sorted(r["file"] for r in rows)
    assert len(rows) == 3
    broken = next(r for r in rows if r["file"] == "broken.png")
    assert broken["status"] == "error" and broken["error"]
    good = [r for r in rows if r["file"] != "broken.png"]
    assert all(r["status"] == "ok" and r["case_call"] for r in good)
    for r in good:
        frags = json.loads(r["fragments"])
        assert int(r["n_fragments"]) == len(frags)
        assert all({"box", "box_mm", "detection_score", "p_lmaf", "call"} <= set(f) for f in frags)


def test_classifier_training_writes_a_complete_card_and_resumes(
    phantom_folder: Path, tmp_path: Path
) -> None:
    out = tmp_path / "clf"
    args = [
        "classifier", "--data", str(phantom_folder), "--out", str(out), "--epochs", "1",
        "--input-size", "32", "--batch-size", "8", "--seed", "3", "--val-frac", "0.3",
        "--test-frac", "0.3", "--no-progress", "--data-kind", "synthetic", "--device", "cpu",
        "--channel-mode", "grey_inv_edge",
    ]  # fmt: skip
    assert train_main(args) == 0
    model = load_model(out, device="cpu")
    card = model.card
    assert card.architecture == "lmaf_classifier" and card.labels == ("sfo", "lmaf")
    assert card.preprocessing["channel_mode"] == "grey_inv_edge"
    assert card.training["seed"] == 3 and card.training["device"].startswith("cpu")
    assert card.training["command"].startswith("python -m ankle_core.training classifier")
    assert card.intended_use == "Trained on synthetic phantoms; not for clinical use."
    auc = card.metrics["test_auc"]
    assert 0.0 <= auc["ci95"][0] <= auc["value"] <= auc["ci95"][1] <= 1.0
    ops = card.operating_points
    assert 0.0 <= ops.high_sensitivity <= ops.high_specificity <= 1.0
    assert "validation" in ops.chosen_on
    ckpt = out / "checkpoints" / "last.pt"
    assert ckpt.is_file()
    resumed = [*args[:6], "2", *args[7:], "--resume", str(ckpt)]
    assert train_main(resumed) == 0
    card2 = load_model(out, device="cpu").card
    assert len(card2.training["history"]) == 2
    assert len(card2.training["commands"]) == 2


@pytest.mark.slow
def test_detector_training_writes_a_loadable_model(phantom_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "det"
    status = train_main(
        [
            "detector", "--data", str(phantom_folder), "--out", str(out), "--epochs", "1",
            "--long-side", "64", "--fpn-channels", "32", "--norm-groups", "4",
            "--batch-size", "8", "--val-frac", "0.3", "--test-frac", "0.3",
            "--train-crop", "48", "--no-progress", "--device", "cpu",
        ]
    )  # fmt: skip
    assert status == 0
    card = load_model(out, device="cpu").card
    assert card.architecture_params["long_side"] == 64
    assert {"test_ap50", "test_recall_iou50"} <= set(card.metrics)


def test_cli_only_parses_flags_into_the_recipe_config() -> None:
    """Each flag lands in the frozen config field of the same name; nothing else happens."""
    import argparse
    import dataclasses

    from ankle_core.training import radiograph_cli
    from ankle_core.training.recipe import command_line

    parser = argparse.ArgumentParser()
    radiograph_cli.register(parser.add_subparsers(dest="command"))
    argv = ["detector", "--data", "d", "--out", "m", "--epochs", "2", "--long-side", "64",
            "--no-progress", "--data-kind", "synthetic"]  # fmt: skip
    args = parser.parse_args(argv)
    args.argv = argv
    config = radiograph_cli.detector_config(args)
    assert (config.epochs, config.long_side, config.progress) == (2, 64, False)
    assert config.data_kind == "synthetic" and config.data == Path("d")
    assert command_line("detector", config) == "python -m ankle_core.training " + " ".join(argv)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 3  # type: ignore[misc]
    # called from code, the card's command spells every option out
    spelled = command_line("detector", dataclasses.replace(config, command=None))
    assert "--epochs 2" in spelled and "--long-side 64" in spelled and "--no-progress" in spelled
