"""Does horizontal-flip test-time augmentation help the lower-limb localiser? (issue 21)

Runnable by hand: ``python benchmarks/leg_localiser_tta.py [--json OUT]`` (one torch thread;
about 3 minutes on a shared 2-core CPU).

For the card's FracAtlas validation images (and the extremity ``valid`` images when
present), read as the card's export read them, it runs the installed
``fracatlas-leg-localiser`` on each image and on its mirror image and prints:

- the image AUC (sklearn) of each image-score rule the model gives (``rule_scores``) and of
  its mean over both passes, and a paired bootstrap 95% interval of the AUC change for the
  card's own rule (2000 replicates over images, seed 0);
- fracture boxes found among the top 5 at IoU >= 0.3 (:func:`found_in_top_k`) for the plain
  boxes and for the union of both passes' boxes (mirrored boxes mapped back) after greedy
  suppression at IoU 0.5.

Results on 2026-12-06 (see docs/real-data.md): version 1.0.0, validation AUC 0.9015 ->
0.9042, change 95% interval -0.016..+0.022, top 5: 26/36 both ways; version 2.0.0 (the
three-member ensemble), 0.9133 -> 0.9169, change -0.009..+0.017, top 5: 29 -> 27 of 36;
version 3.0.0 (card rule mean_with_score_members), 0.9247 -> 0.9275, change
-0.006..+0.013, top 5: 29 -> 27. TTA was not adopted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from ankle_core.config import PROJECT_ROOT
from ankle_core.inference.localiser import LEG_LOCALISER_NAME, FractureLocaliser
from ankle_core.models.weights import load_model
from ankle_core.realdata.fracatlas import FRACATLAS
from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data
from ankle_core.stats.detection import box_iou, found_in_top_k
from ankle_core.training.heatmap_localiser import TrainSample, fracatlas_samples, load_pixels
from ankle_core.types import Radiograph
from benchmarks._report import emit


def _one_pass(
    loc: FractureLocaliser, pixels: np.ndarray
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    result = loc.run(Radiograph(pixels))
    boxes = np.array([b.box.as_xyxy() for b in result.boxes]).reshape(-1, 4)
    scores = np.array([b.score for b in result.boxes], dtype=np.float64)
    return dict(result.rule_scores), boxes, scores


def _suppress(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.5) -> tuple[np.ndarray, ...]:
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    used = np.zeros(len(scores), bool)
    keep = []
    for i in range(len(scores)):
        if not used[i]:
            used |= (~used) & (box_iou(boxes[i : i + 1], boxes)[0] >= iou)
            keep.append(i)
    return boxes[keep], scores[keep]


def evaluate(loc: FractureLocaliser, samples: Sequence[TrainSample]) -> dict[str, object]:
    """AUCs and top-5 recall with and without flip TTA on ``samples``."""
    y, plain, flip, b0, s0, bm, sm, gt = [], [], [], [], [], [], [], []
    for s in samples:
        pixels = np.clip(load_pixels(s.path), 0.0, 1.0)
        width = pixels.shape[1]
        r, b, sc = _one_pass(loc, pixels)
        rf, bf, sf = _one_pass(loc, np.ascontiguousarray(pixels[:, ::-1]))
        bf = bf.copy()
        bf[:, [0, 2]] = width - bf[:, [2, 0]]
        mb, ms = _suppress(np.concatenate([b, bf]), np.concatenate([sc, sf]))
        y.append(s.label)
        plain.append(r)
        flip.append(rf)
        b0.append(b)
        s0.append(sc)
        bm.append(mb)
        sm.append(ms)
        gt.append(np.array([g.as_xyxy() for g in s.boxes]).reshape(-1, 4))
    truth = np.array(y)
    aucs: dict[str, float] = {}
    for name in plain[0]:
        p = np.array([r[name] for r in plain])
        f = np.array([r[name] for r in flip])
        aucs[name] = roc_auc_score(truth, p)
        aucs[f"{name}+hflip"] = roc_auc_score(truth, (p + f) / 2)
    card = loc.image_score_source  # the paired interval is for the card's own rule
    base = np.array([r[card] for r in plain])
    tta = (base + np.array([r[card] for r in flip])) / 2
    rng = np.random.default_rng(0)
    deltas = []
    for _ in range(2000):
        i = rng.integers(0, len(truth), len(truth))
        if truth[i].min() != truth[i].max():
            deltas.append(roc_auc_score(truth[i], tta[i]) - roc_auc_score(truth[i], base[i]))
    lo, hi = np.percentile(deltas, [2.5, 97.5])
    return {
        "images": len(truth),
        "fractured": int(truth.sum()),
        "auc": {k: round(float(v), 4) for k, v in aucs.items()},
        "card_rule": card,
        "auc_change_card_rule_ci95": [round(float(lo), 4), round(float(hi), 4)],
        "found_top5_iou03": list(found_in_top_k(b0, s0, gt, 5, 0.3)),
        "found_top5_iou03_hflip": list(found_in_top_k(bm, sm, gt, 5, 0.3)),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    root = find_real_data(FRACATLAS)
    if root is None:
        print("fracatlas-leg data not found", file=sys.stderr)
        return 1
    loaded = load_model(PROJECT_ROOT / "models" / LEG_LOCALISER_NAME, device="cpu")
    loc = FractureLocaliser(loaded, threshold=0.0, max_boxes=20)
    _, val, extra, _ = fracatlas_samples(root, find_real_data(FRACTURE_BOXES))
    out = {"val": evaluate(loc, val)}
    if extra:
        out["extremity_valid"] = evaluate(loc, extra)
    emit(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
