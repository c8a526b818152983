"""The FracAtlas heat-map localiser: trainer resume, export, loading, hash check, ONNX parity.

Everything runs on a tiny synthetic folder in FracAtlas' layout (bright squares as
"fractures", 64 px network input, random initialisation): no real data, no ImageNet wheel.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ankle_core.errors import WeightsIntegrityError
from ankle_core.inference import FractureLocaliser
from ankle_core.models.weights import load_model
from ankle_core.realdata.fracatlas import read_fracatlas, validation_split
from ankle_core.training.augment2d import augment_image
from ankle_core.training.heatmap_localiser import (
    VARIANT_AUGMENT,
    HeatmapTrainConfig,
    _epoch_samples,
    _fresh_inputs,
    _network,
    _oriented,
    augmented_variant,
    export_heatmap_model,
    fracatlas_samples,
    sample_pixels,
    train_heatmap_localiser,
)
from ankle_core.types import Radiograph

_COLUMNS = [
    "image_id",
    "hand",
    "leg",
    "hip",
    "shoulder",
    "mixed",
    "hardware",
    "multiscan",
    "fracture_count",
    "frontal",
    "lateral",
    "oblique",
    "fractured",
    "fracatlas_split",
    "width",
    "height",
    "downscaled",
    "readable",
]


@pytest.fixture(scope="module")
def tiny_fracatlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 grey 80x64 images, half with a bright 'fracture' square and its COCO box."""
    root = tmp_path_factory.mktemp("fracatlas-leg")
    (root / "images").mkdir()
    rng = np.random.default_rng(0)
    rows, images, annotations = [], [], []
    for i in range(16):
        name = f"IMG{i:07d}.jpg"
        pixels = (rng.random((80, 64)) * 80).astype(np.uint8)
        fractured = i % 2 == 0
        if fractured:
            x, y = 8 + 3 * (i % 5), 10 + 4 * (i % 4)
            pixels[y : y + 16, x : x + 14] = 240
            images.append({"id": i, "file_name": name, "width": 64, "height": 80})
            annotations.append(
                {
                    "id": i,
                    "image_id": i,
                    "category_id": 0,
                    "bbox": [x, y, 14, 16],
                    "segmentation": [],
                    "area": 224,
                    "iscrowd": 0,
                }
            )
        Image.fromarray(pixels).save(root / "images" / name, quality=95)
        view = ("frontal", "lateral", "oblique")[i % 3]
        rows.append(
            {
                **{c: "0" for c in _COLUMNS},
                "image_id": name,
                "leg": "1",
                view: "1",
                "hardware": "1" if i in (2, 5) else "0",
                "fractured": "1" if fractured else "0",
                "fracture_count": "1" if fractured else "0",
                "fracatlas_split": ("valid" if i in (0, 2, 4) else "train") if fractured else "",
                "width": "64",
                "height": "80",
                "downscaled": "1",
                "readable": "1",
            }
        )
    with (root / "dataset.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    coco = {"images": images, "annotations": annotations, "categories": [{"id": 0}]}
    (root / "annotations.json").write_text(json.dumps(coco))
    return root


def _config(tmp: Path, out: str) -> HeatmapTrainConfig:
    return HeatmapTrainConfig(
        out=str(tmp / out),
        cache_dir=str(tmp / "cache"),
        epochs=2,
        batch=4,
        side=64,
        imagenet=False,
        negatives_per_epoch=3,
        extra_per_epoch=0,
        width=16,
    )


def test_split_keeps_fracatlas_valid_and_samples_negatives(tiny_fracatlas: Path) -> None:
    images = read_fracatlas(tiny_fracatlas)
    train, val = validation_split(images, negative_fraction=0.4, seed=0)
    assert {im.name for im in val if im.fractured} == {f"IMG{i:07d}.jpg" for i in (0, 2, 4)}
    assert 0 < sum(not im.fractured for im in val) < 8
    assert not {im.name for im in train} & {im.name for im in val}


@pytest.mark.parametrize("frozen_blocks", [14, 7])
def test_resume_equals_an_uninterrupted_run(
    tiny_fracatlas: Path, tmp_path: Path, frozen_blocks: int
) -> None:
    train, val, _, _ = fracatlas_samples(tiny_fracatlas, negative_fraction=0.4)
    torch.set_num_threads(1)
    cfg_a = replace(_config(tmp_path, "a"), frozen_blocks=frozen_blocks)
    cfg_b = replace(_config(tmp_path, "b"), frozen_blocks=frozen_blocks)
    train_heatmap_localiser(cfg_a, train, val, stop_after=1)
    resumed = train_heatmap_localiser(cfg_a, train, val, resume=True)
    straight = train_heatmap_localiser(cfg_b, train, val)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    assert [h["train_loss"] for h in resumed["history"]] == [
        h["train_loss"] for h in straight["history"]
    ]
    a = torch.load(tmp_path / "a/checkpoints/last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b/checkpoints/last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_exported_model_loads_is_hash_checked_and_onnx_matches(
    tiny_fracatlas: Path, tmp_path: Path
) -> None:
    train, val, _, record = fracatlas_samples(tiny_fracatlas, negative_fraction=0.4)
    cfg = _config(tmp_path, "run")
    train_heatmap_localiser(cfg, train, val)
    (tmp_path / "run" / "split.json").write_text(json.dumps({**record, "argv": ["localiser"]}))
    out = tmp_path / "models" / "tiny-leg"
    metrics = export_heatmap_model(
        tmp_path / "run", out, tiny_fracatlas, None, name="tiny-leg", n_boot=20
    )
    assert metrics["val"]["n_images"]["fractured"] == 3
    for key in ("ap50", "ap30", "recall_at_1fp_iou03", "found_top5_iou03", "image_auc"):
        assert len(metrics["val"][key]["ci95"]) == 2
    card = json.loads((out / "card.json").read_text())
    assert card["architecture"] == "centernet_mobilenet_v2"
    ops = card["operating_points"]
    assert ops["high_sensitivity"] <= ops["default"] <= ops["high_specificity"]
    assert "sensitivity >= 0.9" in ops["chosen_on"]
    assert "FracAtlas" in card["training"]["credit"]
    radiograph = Radiograph(np.asarray(Image.open(val[0].path), np.float32) / 255.0)
    torch_loc = FractureLocaliser.from_name("tiny-leg", models_dir=out.parent)
    result = torch_loc.run(radiograph)
    assert (
        0.0 <= result.image_score <= 1.0
        and result.threshold == card["explanation"]["box_threshold"]
    )
    assert all(b.box.as_xyxy()[2] <= 64 and b.box.as_xyxy()[3] <= 80 for b in result.boxes)
    onnx_loc = FractureLocaliser.from_name("tiny-leg", models_dir=out.parent, runtime="onnx")
    for a, b in zip(
        torch_loc.heatmap_outputs(radiograph), onnx_loc.heatmap_outputs(radiograph), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-4)
    assert onnx_loc.run(radiograph).image_score == pytest.approx(result.image_score, abs=1e-4)
    from ankle_core.inference.__main__ import main as inference_main

    preds = tmp_path / "preds.csv"
    argv = ["localise", str(tiny_fracatlas / "images"), "--out", str(preds), "--no-progress"]
    assert inference_main([*argv, "--models-dir", str(out.parent), "--model", "tiny-leg"]) == 0
    with preds.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 16 and all(r["status"] == "ok" for r in rows)
    assert all(0.0 <= float(r["image_score"]) <= 1.0 for r in rows)
    weights = out / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError):
        FractureLocaliser.from_name("tiny-leg", models_dir=out.parent)


@pytest.mark.slow
@pytest.mark.parametrize("frozen", [14, 7])
def test_seed_ensemble_exports_with_onnx_parity_and_a_gradcam(
    tiny_fracatlas: Path, tmp_path: Path, frozen: int
) -> None:
    train, val, _, record = fracatlas_samples(tiny_fracatlas, negative_fraction=0.4)
    runs = []
    for seed in (0, 1):
        cfg = replace(_config(tmp_path, f"seed{seed}"), seed=seed, epochs=1, frozen_blocks=frozen)
        train_heatmap_localiser(cfg, train, val)
        split = {**record, "argv": ["localiser", "--seed", str(seed)]}
        (tmp_path / f"seed{seed}" / "split.json").write_text(json.dumps(split))
        runs.append(tmp_path / f"seed{seed}")
    # real members share the ImageNet trunk; these random-init runs both trained on the maps
    # cached from seed 0's random trunk (same cache folder), so seed 1 gets that trunk too
    ckpt = "last.pt" if frozen == 7 else "best.pt"  # both ways of picking the members
    best = [torch.load(r / "checkpoints" / ckpt, weights_only=True) for r in runs]
    for key, value in best[0]["model"].items():
        if key.startswith("features.") and int(key.split(".")[1]) < frozen:
            best[1]["model"][key] = value
    torch.save(best[1], runs[1] / "checkpoints" / ckpt)
    out = tmp_path / "models" / "tiny-ens"
    export_heatmap_model(
        runs[0],
        out,
        tiny_fracatlas,
        None,
        name="tiny-ens",
        n_boot=20,
        member_runs=runs[1:],
        checkpoint=ckpt,
        training_notes={"stopped": "test"},
        score_runs=runs[1:],  # a score member (in real use: runs of another recipe)
        score_checkpoint=ckpt,
    )
    card = json.loads((out / "card.json").read_text())
    assert card["architecture_params"]["members"] == 2
    assert card["architecture_params"]["score_members"] == 1
    assert card["architecture_params"]["score_frozen_blocks"] == frozen
    offered = card["explanation"]["image_score_aucs_on_validation"]
    assert set(offered) == {
        "image_head",
        "max_box",
        "mean",
        "score_members",
        "mean_with_score_members",
    }
    assert card["explanation"]["image_score"] != "score_members"  # reported, never chosen
    assert [m["seed"] for m in card["training"]["score_members"]["members"]] == [1]
    assert "score members take no part" in card["explanation"]["gradcam_layer"]
    assert card["architecture_params"].get("frozen_blocks", 14) == frozen
    assert ("each member's own" in card["explanation"]["gradcam_layer"]) == (frozen == 7)
    assert card["training"]["member_checkpoint"].startswith(ckpt)
    assert ("best_epoch" in card["training"]) == (ckpt == "best.pt")
    assert ("no epoch chosen on validation" in card["training"]["ensemble"]) == (ckpt == "last.pt")
    assert [m["seed"] for m in card["training"]["members"]] == [0, 1]
    assert card["training"]["command"][1].endswith("--seed 1")
    assert card["training"]["stopped"] == "test"
    radiograph = Radiograph(np.asarray(Image.open(val[0].path), np.float32) / 255.0)
    loaded = load_model("tiny-ens", models_dir=out.parent, device="cpu")
    torch_loc = FractureLocaliser(loaded, threshold=0.0)
    onnx_loc = FractureLocaliser(loaded, threshold=0.0, runtime="onnx")
    for a, b in zip(
        torch_loc.heatmap_outputs(radiograph), onnx_loc.heatmap_outputs(radiograph), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-4)
    assert len(onnx_loc.heatmap_outputs(radiograph)) == 5  # the score members' output too
    result = torch_loc.run(radiograph)
    assert result.image_score == result.rule_scores[card["explanation"]["image_score"]]
    assert result.boxes, "threshold 0 keeps at least the top peak"
    cam = torch_loc.saliency(radiograph, 0)
    assert cam.shape == (80, 64) and float(cam.max()) <= 1.0


def _bright_box(pixels: np.ndarray) -> tuple[float, float, float, float]:
    """xyxy of the pixels brighter than 0.6 (the synthetic "fracture" square; noise < 0.4)."""
    ys, xs = np.nonzero(pixels > 0.6)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def test_variants_move_boxes_with_the_pixels(tiny_fracatlas: Path) -> None:
    train, _, _, _ = fracatlas_samples(tiny_fracatlas, negative_fraction=0.4)
    positives = [s for s in train if s.role == "positive"]
    assert {s.flipped for s in positives} == {False, True}
    for s in positives:
        v = augmented_variant(s, 2)
        assert v.key == f"{s.key}|2" and v.variant == 2 and v.label == 1
        assert augmented_variant(s, 2) == v  # reproducible from the key
        pixels = sample_pixels(v)
        assert np.array_equal(pixels, sample_pixels(v))
        assert not np.array_equal(pixels, sample_pixels(s))
        (box,) = v.boxes
        bright = _bright_box(pixels)
        # the moved box covers the moved square (up to the ellipse rule's looseness)
        assert box.x0 <= bright[0] + 2 and box.y0 <= bright[1] + 2
        assert box.x1 >= bright[2] - 2 and box.y1 >= bright[3] - 2
        assert box.width <= 1.6 * (bright[2] - bright[0]) + 4
    with pytest.raises(ValueError, match="variant"):
        augmented_variant(positives[0], 0)


def test_variants_train_and_each_fractured_image_comes_once_an_epoch(
    tiny_fracatlas: Path, tmp_path: Path
) -> None:
    train, val, _, _ = fracatlas_samples(tiny_fracatlas, negative_fraction=0.4)
    cfg = replace(_config(tmp_path, "variants"), variants=2, epochs=1)
    originals = [s for s in train if s.role in ("positive", "negative")]
    variants = [augmented_variant(s, k) for s in originals for k in (1, 2)]
    assert all(v.role == s.role for s, v in zip(originals, variants[::2], strict=True))
    epoch = _epoch_samples([*train, *variants], cfg, 1)
    fractured = [(s.path, s.flipped) for s in epoch if s.label == 1]
    assert sorted(fractured) == sorted((s.path, s.flipped) for s in train if s.role == "positive")
    negatives = [s.path for s in epoch if s.role == "negative"]
    assert len(negatives) == len(set(negatives)) == cfg.negatives_per_epoch  # images, not copies
    epochs = [_epoch_samples([*train, *variants], cfg, e) for e in (1, 2, 3, 4)]
    for role in ("positive", "negative"):  # the versions are drawn, not always the original
        assert {s.variant for e in epochs for s in e if s.role == role} == {0, 1, 2}
    torch.set_num_threads(1)
    result = train_heatmap_localiser(cfg, train, val)
    assert result["epochs_run"] == 1 and np.isfinite(result["history"][0]["train_loss"])
    assert len(list((tmp_path / "cache").glob("maps-64-*"))) == 2  # originals, variants


def test_a_frozen_stem_trains_blocks_7_to_13_on_fresh_augmentations(
    tiny_fracatlas: Path, tmp_path: Path
) -> None:
    train, val, _, _ = fracatlas_samples(tiny_fracatlas, negative_fraction=0.4)
    cfg = replace(_config(tmp_path, "stem"), frozen_blocks=7, epochs=1)
    torch.manual_seed(cfg.seed)
    start = _network(cfg).eval()  # the trainer's initial weights (same seed)
    torch.set_num_threads(1)
    train_heatmap_localiser(cfg, train, val)
    trained = torch.load(tmp_path / "stem/checkpoints/last.pt", weights_only=True)["model"]
    init = start.state_dict()
    changed = {
        int(k.split(".")[1])
        for k in trained
        if k.startswith("features.") and not torch.equal(trained[k], init[k])
    }
    assert min(changed) == 7 and {7, 13, 14} <= changed  # the stem alone stayed frozen
    # only the validation images are cached: training reads pixels
    (folder,) = (tmp_path / "cache").glob("maps-64-*")
    assert json.loads((folder / "done.json").read_text())["done"] == len(val)
    # each batch is a new draw, and its boxes are those of the augmented pixels
    positives = [s for s in train if s.role == "positive"][:4]
    c3, c4a, boxes, scales = _fresh_inputs(start, positives, np.random.default_rng(5), 64)
    assert c4a is None and c3.shape == (4, 32, 8, 8) and len(scales) == 4
    again = np.random.default_rng(5)
    for s, got in zip(positives, boxes, strict=True):
        pixels, want = augment_image(*_oriented(s), again, VARIANT_AUGMENT)
        assert np.array_equal(got, want)
        bright = _bright_box(pixels)
        assert got[0][0] <= bright[0] + 2 and got[0][2] >= bright[2] - 2
    other = _fresh_inputs(start, positives, np.random.default_rng(6), 64)[2]
    assert not all(np.allclose(a, b) for a, b in zip(boxes, other, strict=True))


def test_cached_variants_and_a_frozen_stem_do_not_mix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match="variants"):
        replace(_config(tmp_path, "x"), frozen_blocks=7, variants=2)
    with pytest.raises(ValueError, match="frozen_blocks"):
        replace(_config(tmp_path, "x"), frozen_blocks=9)
    from ankle_core.training.__main__ import main as train_main

    argv = ["localiser", "--out", str(tmp_path / "r"), "--frozen-blocks", "7", "--variants", "2"]
    assert train_main([*argv, "--fracatlas", str(tmp_path), "--extra", "none"]) == 2
    assert "cached variants need frozen_blocks 14" in capsys.readouterr().err
