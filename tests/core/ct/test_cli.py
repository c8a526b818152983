"""The CT batch CLI (one corrupt file among good ones) and the CT training CLI."""

from __future__ import annotations

import csv
import json
import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ankle_core.inference.__main__ import main as inference_main
from ankle_core.inference.ct_cli import CtConfig, find_cases, predict_case
from ankle_core.phantoms.ct import make_volume
from ankle_core.phantoms.writers import write_ct_nifti, write_ct_series

SMALL = {"shape": (16, 32, 32), "spacing_mm": (4.0, 3.2, 3.2)}


@pytest.fixture()
def case_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cases"
    folder.mkdir()
    write_ct_nifti(folder / "a.nii.gz", make_volume(1_000_010, True, **SMALL))  # type: ignore[arg-type]
    write_ct_series(folder / "b_series", make_volume(1_000_011, False, **SMALL), number=2)  # type: ignore[arg-type]
    (folder / "c.nii.gz").write_bytes(b"\x1f\x8b not really a gzip file")
    (folder / "notes.txt").write_text("skipped")
    return folder


def test_batch_cli_reports_the_corrupt_case_and_goes_on(
    case_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "predictions.csv"
    status = inference_main(
        ["ct", str(case_dir), "--out", str(out), "--model", str(tiny_model_dir),
         "--device", "cpu", "--no-progress", "--min-region-mm3", "0"]
    )  # fmt: skip
    assert status == 0
    with out.open() as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"a.nii.gz", "b_series", "c.nii.gz"}
    assert rows["c.nii.gz"]["status"] == "error" and rows["c.nii.gz"]["error"]
    for name in ("a.nii.gz", "b_series"):
        row = rows[name]
        assert row["status"] == "ok", row["error"]
        assert 0.0 <= float(row["probability"]) <= 1.0
        regions = json.loads(row["regions"])
        assert int(row["n_regions"]) == len(regions)
        if regions:
            assert json.loads(row["top_center_mm"]) == regions[0]["center_mm"]
        assert row["explanation"] == "Grad-CAM, Otsu"  # the tiny card recommends nothing
        assert row["warnings"] == ""  # ankle-sized phantoms


def test_per_case_function_is_pure_and_picklable(case_dir: Path, tiny_model_dir: Path) -> None:
    config = CtConfig(model=str(tiny_model_dir), device="cpu")
    assert pickle.loads(pickle.dumps(config)) == config
    assert pickle.loads(pickle.dumps(predict_case)) is predict_case
    first = predict_case(str(case_dir / "a.nii.gz"), config)
    again = predict_case(str(case_dir / "a.nii.gz"), config)
    assert first["probability"] == again["probability"] and first["regions"] == again["regions"]
    assert [p.name for p in find_cases(case_dir)] == ["a.nii.gz", "b_series", "c.nii.gz"]


def test_batch_follows_the_card_explanation_unless_told_the_reference_method(
    case_dir: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    model_dir = tmp_path / "recommending"
    shutil.copytree(tiny_model_dir, model_dir)
    card = json.loads((model_dir / "card.json").read_text())
    card["explanation"] = {"method": "hirescam", "min_cells": 16, "otsu_classes": 3}
    (model_dir / "card.json").write_text(json.dumps(card))
    case = str(case_dir / "a.nii.gz")
    config = CtConfig(model=str(model_dir), device="cpu")
    assert predict_case(case, config)["explanation"] == "HiResCAM, 3-class Otsu"
    study = replace(config, reference_method=True)
    assert predict_case(case, study)["explanation"] == "Grad-CAM, Otsu"


@pytest.mark.slow
def test_training_cli_writes_a_loadable_card(tmp_path: Path) -> None:
    from ankle_core.inference.ct import CtPipeline
    from ankle_core.models.weights import load_model
    from ankle_core.training.__main__ import main as training_main

    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for seed in range(12):
        name = f"v{seed}.nii.gz"
        volume = make_volume(seed, seed % 2 == 0, **SMALL)  # type: ignore[arg-type]
        write_ct_nifti(data / name, volume)
        box = volume.metadata["fracture_box"] or ("",) * 6
        rows.append(
            {
                "file": name,
                "patient_id": f"p{seed // 2}",
                "kind": "ct",
                "label": "fracture" if seed % 2 == 0 else "no fracture",
                **dict(zip(("z0", "y0", "x0", "z1", "y1", "x1"), box, strict=True)),
            }
        )
    with (data / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "models" / "ct-tiny"
    status = training_main(
        ["ct", "--data", str(data), "--out", str(out), "--width-mult", "0.25",
         "--input-size", "16", "--spacing", "8", "--epochs", "2", "--batch-size", "4",
         "--seed", "3", "--synthetic", "--no-progress", "--device", "cpu",
         "--grouped-batches", "--global-pool", "max", "--box-loss", "1.0"]
    )  # fmt: skip
    assert status == 0
    model = load_model(out, device="cpu")
    card = model.card
    assert card.input_size == (16, 16, 16) and card.labels == ("no fracture", "fracture")
    assert card.training["seed"] == 3 and "--width-mult 0.25" in card.training["command"]
    assert card.intended_use.startswith("Trained on synthetic phantoms")
    assert card.weights_dtype == "float16"
    assert card.architecture_params["global_pool"] == "max"
    assert card.training["batches"].startswith("whole patient groups")
    assert card.training["box_loss"]["n_boxes"] == 6
    assert card.training["folds"][0]["box_loss_block"].startswith("features.")
    assert not (out / "checkpoints").exists()
    result = CtPipeline(model).run(make_volume(99, True, **SMALL))  # type: ignore[arg-type]
    assert 0.0 <= result.probability <= 1.0


@pytest.mark.parametrize("flag", ["--paper-gradcam", "--study-gradcam"])
def test_paper_gradcam_flag_and_its_deprecated_alias(flag: str) -> None:
    import argparse

    from ankle_core.inference.ct_cli import register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert parser.parse_args(["ct", "x", flag]).paper_gradcam is True
    assert parser.parse_args(["ct", "x"]).paper_gradcam is False
