"""Training pieces: augmentation keeps boxes on their objects, early stopping, checkpoints,
AP@0.5 and the operating points chosen on validation data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.stats.metrics import wilson_interval
from ankle_core.training.augment2d import (
    AugmentConfig,
    augment_boxes,
    augment_image,
    augment_pixels,
    draw_augmentation,
)
from ankle_core.training.evaluate import (
    average_precision,
    card_ci95,
    classifier_operating_points,
    detection_recall,
    detection_threshold,
)
from ankle_core.training.loop import EarlyStopping, fit, load_checkpoint, save_checkpoint


@pytest.mark.parametrize("seed", range(5))
def test_augmented_box_still_holds_its_object(seed: int) -> None:
    img = np.zeros((96, 96), np.float32)
    img[40:52, 30:44] = 1.0
    box = np.array([[30, 40, 44, 52]], np.float32)
    cfg = AugmentConfig(brightness=0.0, contrast_range=(1.0, 1.0))
    out, boxes = augment_image(img, box, np.random.default_rng(seed), cfg)
    assert out.shape == img.shape and boxes.shape == (1, 4)
    x0, y0, x1, y1 = boxes[0]
    ys, xs = np.nonzero(out > 0.5)
    cy, cx = ys.mean(), xs.mean()
    assert x0 <= cx <= x1 and y0 <= cy <= y1  # the object's centre is inside its box
    inside = out[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))].sum()
    assert inside >= 0.9 * out.sum()  # and the box covers the object


def test_one_draw_applies_to_image_and_boxes_separately() -> None:
    """The boxes of a draw come without the image transform, equal to augment_image's."""
    rng = np.random.default_rng(0)
    img = rng.random((50, 40)).astype(np.float32)
    boxes = np.array([[5.0, 6.0, 20.0, 30.0], [30.0, 40.0, 39.0, 49.0]])
    cfg = AugmentConfig(hflip_probability=0.5, vflip_probability=0.5)
    for seed in range(6):
        pixels, moved = augment_image(img, boxes, np.random.default_rng(seed), cfg)
        draw = draw_augmentation((50, 40), np.random.default_rng(seed), cfg)
        assert np.array_equal(augment_boxes(boxes, draw), moved)
        assert np.array_equal(augment_pixels(img, draw), pixels)
    assert augment_boxes(np.zeros((0, 4)), draw).shape == (0, 4)
    with pytest.raises(ValueError, match="draw is for"):
        augment_pixels(img.T, draw)


def test_augmentation_is_reproducible_and_stays_in_range() -> None:
    img = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    a, _ = augment_image(img, np.zeros((0, 4)), np.random.default_rng(1))
    b, _ = augment_image(img, np.zeros((0, 4)), np.random.default_rng(1))
    assert np.array_equal(a, b) and a.min() >= 0.0 and a.max() <= 1.0


def test_early_stopping_modes() -> None:
    es = EarlyStopping(patience=2, mode="min")
    flags = [es.update(v, e) for e, v in enumerate([1.0, 0.8, 0.9, 0.85])]
    assert flags == [True, True, False, False] and es.should_stop and es.best_epoch == 1


History = list[dict[str, float]]


def _tiny_fit(
    ckpt: Path, epochs: int, resume: Path | None = None
) -> tuple[torch.nn.Module, History]:
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    x = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([[1.0], [-1.0]])

    def step(batch: int) -> float:
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    def validate() -> dict[str, float]:
        with torch.no_grad():
            return {"neg_mse": -float(((model(x) - y) ** 2).mean())}

    result = fit(
        model, opt, batches=lambda e: range(3), step=step, validate=validate,
        monitor="neg_mse", epochs=epochs, checkpoint=ckpt, resume=resume, progress=False,
    )  # fmt: skip
    return model, result.history


def test_fit_checkpoints_resume_to_the_same_result(tmp_path: Path) -> None:
    straight, hist = _tiny_fit(tmp_path / "a" / "last.pt", epochs=4)
    _tiny_fit(tmp_path / "b" / "last.pt", epochs=2)
    resumed, hist_b = _tiny_fit(
        tmp_path / "b" / "last.pt", epochs=4, resume=tmp_path / "b" / "last.pt"
    )
    assert len(hist) == len(hist_b) == 4
    for p, q in zip(straight.parameters(), resumed.parameters(), strict=True):
        assert torch.allclose(p, q)
    assert hist[-1]["neg_mse"] > hist[0]["neg_mse"]  # it learned


def test_checkpoint_round_trip_loads_with_weights_only(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "c.pt", model, opt, {"epoch": 3, "history": [{"loss": 1.0}]})
    fresh = torch.nn.Linear(3, 2)
    state = load_checkpoint(tmp_path / "c.pt", fresh, torch.optim.Adam(fresh.parameters()))
    assert state["epoch"] == 3 and torch.equal(fresh.weight, model.weight)


def test_average_precision_and_recall() -> None:
    gt = [np.array([[0, 0, 10, 10]]), np.array([[20, 20, 30, 30]]), np.zeros((0, 4))]
    boxes = [
        np.array([[0, 0, 10, 10], [50, 50, 60, 60]]),  # hit (0.9), false positive (0.8)
        np.array([[40, 40, 50, 50], [21, 21, 30, 30]]),  # false positive (0.7), hit (0.6)
        np.array([[0, 0, 5, 5]]),  # false positive on an empty image (0.5)
    ]
    scores = [np.array([0.9, 0.8]), np.array([0.7, 0.6]), np.array([0.5])]
    # precision-recall: (1/1, .5) (1/2, .5) (1/3, .5) (2/4, 1) -> AP = .5*1 + .5*.5
    assert average_precision(boxes, scores, gt) == pytest.approx(0.75)
    assert detection_recall(boxes, scores, gt, threshold=0.65) == (1, 2)
    assert detection_recall(boxes, scores, gt, threshold=0.0) == (2, 2)
    ops = detection_threshold(boxes, scores, gt)
    assert ops.high_sensitivity <= ops.default <= ops.high_specificity


def test_classifier_operating_points_meet_their_targets() -> None:
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(200), np.ones(200)].astype(int)
    p = np.clip(np.r_[rng.normal(0.35, 0.15, 200), rng.normal(0.65, 0.15, 200)], 0, 1)
    ops = classifier_operating_points(y, p, chosen_on="validation")
    assert ops.high_sensitivity < ops.default < ops.high_specificity
    sfo_call = p <= ops.high_sensitivity
    lmaf_call = p >= ops.high_specificity
    assert (~sfo_call[y == 1]).mean() >= 0.95  # LMAF cases ruled out as SFO: <= 5 %
    assert (~lmaf_call[y == 0]).mean() >= 0.95  # SFO cases called LMAF: <= 5 %


def test_card_ci95_rounds_the_one_wilson_rule() -> None:
    lo, hi = wilson_interval(45, 50)
    assert card_ci95(45, 50) == [round(lo, 4), round(hi, 4)]
    assert card_ci95(45, 50)[0] < 0.9 < card_ci95(45, 50)[1] <= 1.0  # type: ignore[index]
    # no cases, no interval: a card writes null (JSON has no NaN), not a made-up 0..1
    assert card_ci95(0, 0) is None
