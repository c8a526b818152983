"""Measure a CT model on fresh phantom volumes: AUC, localisation hit rate, top-box IoU.

``python -m ankle_core.training.ct_eval MODEL_DIR --n 200 --seed 1000000 --write`` draws
``n`` fresh volumes with :func:`ankle_core.phantoms.ct.make_volume` (seeds from ``seed``,
outside the training seeds; even seeds fractured; per-volume difficulty and gantry tilt
drawn as in :func:`phantom_volume`), runs :class:`ankle_core.inference.ct.CtPipeline` and
reports:

- the AUC of the fracture probability, with a 95% CI (stratified bootstrap, 2,000
  replicates);
- the **localisation hit rate**: the share of fractured volumes whose top Grad-CAM box's
  centre lies inside the ground-truth fracture box (Wilson 95% CI); a volume without any
  box counts as a miss;
- the **mean IoU** of the top box with the ground-truth box (0 without a box; bootstrap
  95% CI).

With ``--write`` the figures go into the card's ``metrics["fresh_phantoms"]`` (or
``metrics[--key]``, e.g. for a harder difficulty range) together with
floors a later run on other fresh seeds should meet (the CI's lower bound minus a margin for
the smaller test sample); the weights and their sha256 are untouched.

The pipeline explains with the card's recommended ``explanation`` settings; with
``--explanation paper`` (or its deprecated alias ``study``) it uses the reference paper's
Grad-CAM and Otsu instead, so that a card can carry the localisation of both.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ankle_core.explain.ct import PAPER_GRADCAM
from ankle_core.inference.ct import CtPipeline
from ankle_core.logs import install_log_redaction
from ankle_core.models.card import read_card, write_card
from ankle_core.models.weights import load_model
from ankle_core.types import Box3D, Volume

__all__ = ["evaluate_pipeline", "phantom_volume"]

logger = logging.getLogger(__name__)


def phantom_volume(seed: int, difficulty: tuple[float, float] = (0.0, 0.3)) -> Volume:
    """The phantom of ``seed``, drawn as the demo model's data were.

    Even seeds are fractured; difficulty ``lo + u * (hi - lo)`` and gantry tilt ~ U(-8, 8)
    degrees, with ``u`` and the tilt drawn from ``np.random.default_rng([seed, 7])``;
    default shape (48, 128, 128) and spacing (2.0, 0.8, 0.8) mm.
    """
    from ankle_core.phantoms.ct import make_volume

    rng = np.random.default_rng([seed, 7])
    u = float(rng.uniform(0.0, 1.0))
    oblique = float(rng.uniform(-8.0, 8.0))
    level = difficulty[0] + u * (difficulty[1] - difficulty[0])
    return make_volume(seed, seed % 2 == 0, difficulty=level, oblique_deg=oblique)


def evaluate_pipeline(
    pipeline: CtPipeline,
    seeds: Sequence[int],
    *,
    difficulty: tuple[float, float] = (0.0, 0.3),
    progress: bool = True,
    boot_seed: int = 0,
) -> dict[str, Any]:
    """Run the pipeline on the phantoms of ``seeds`` and measure it.

    Returns:
        A card-ready dict: ``auc``, ``hit_rate``, ``mean_iou`` (each with ``value``,
        ``ci95``, ``method``, ``n``) and the seeds used.
    """
    from ankle_core.phantoms.ct import fracture_box
    from ankle_core.training.evaluate import auc_with_ci, card_ci95

    truth, probs, hits, ious = [], [], [], []
    for seed in tqdm(list(seeds), desc="fresh phantoms", disable=not progress):
        volume = phantom_volume(seed, difficulty)
        gt: Box3D | None = fracture_box(volume)
        result = pipeline.run(volume, explain=gt is not None)
        truth.append(int(gt is not None))
        probs.append(result.probability)
        if gt is not None:
            top = result.regions[0] if result.regions else None
            hits.append(bool(top is not None and gt.contains(top.center_voxel)))
            ious.append(0.0 if top is None else top.box_voxels.iou(gt))
    y, p = np.asarray(truth), np.asarray(probs)
    k, n = int(sum(hits)), len(hits)
    rng = np.random.default_rng(boot_seed)
    iou = np.asarray(ious)
    boot = [float(iou[rng.integers(0, n, n)].mean()) for _ in range(2000)] if n else [0.0]
    return {
        "auc": auc_with_ci(y, p, seed=boot_seed),
        "hit_rate": {
            "value": round(k / n, 4) if n else None,
            "ci95": card_ci95(k, n),
            "method": "top box centre inside the ground-truth fracture box; Wilson interval",
            "n": n,
        },
        "mean_iou": {
            "value": round(float(iou.mean()), 4) if n else None,
            "ci95": [
                round(float(np.percentile(boot, 2.5)), 4),
                round(float(np.percentile(boot, 97.5)), 4),
            ],
            "method": "IoU of the top box with the ground-truth box (0 if none); "
            "bootstrap percentile, 2000 replicates",
            "n": n,
        },
        "seeds": [int(seeds[0]), int(seeds[-1])] if len(seeds) else [],
        "difficulty": list(difficulty),
    }


def _floors(metrics: dict[str, Any]) -> dict[str, float]:
    """Floors for a later, smaller check: lower CI bounds minus a margin.

    The margin is 0.1 for the AUC, and for the hit rate (0.15) and the mean IoU (0.1) at most
    half the lower bound, so that a small but real localisation figure keeps a floor above 0.
    """

    def floor(key: str, margin: float, relative: bool) -> float:
        lo = float(metrics[key]["ci95"][0])
        cut = min(margin, lo / 2.0) if relative else margin
        return float(np.floor(max(0.0, lo - cut) * 100.0) / 100.0)

    return {
        "auc": floor("auc", 0.1, relative=False),
        "hit_rate": floor("hit_rate", 0.15, relative=True),
        "mean_iou": floor("mean_iou", 0.1, relative=True),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: evaluate a model folder on fresh phantoms (``--write`` into its card)."""
    parser = argparse.ArgumentParser(prog="python -m ankle_core.training.ct_eval")
    parser.add_argument("model", type=Path, help="model folder (card.json + weights)")
    parser.add_argument("--n", type=int, default=200, help="number of fresh volumes")
    parser.add_argument("--seed", type=int, default=1_000_000, help="first seed")
    parser.add_argument("--difficulty", type=float, nargs=2, default=(0.0, 0.3))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--write", action="store_true", help="write the figures into the card")
    parser.add_argument(
        "--key",
        default="fresh_phantoms",
        help="card metrics key to write (default fresh_phantoms; the floors test reads it)",
    )
    parser.add_argument(
        "--explanation",
        choices=["card", "paper", "study"],
        default="card",
        help="explain with the card's recommended settings (default) or the reference paper's "
        "Grad-CAM and Otsu ('study' is a deprecated alias of 'paper')",
    )
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = load_model(args.model, device=args.device)
    paper = args.explanation in ("paper", "study")
    pipeline = CtPipeline(model, explanation=PAPER_GRADCAM if paper else None)
    seeds = list(range(args.seed, args.seed + args.n))
    difficulty = (float(args.difficulty[0]), float(args.difficulty[1]))
    metrics = evaluate_pipeline(
        pipeline, seeds, difficulty=difficulty, progress=not args.no_progress
    )
    metrics["floors"] = _floors(metrics)
    metrics["command"] = (
        f"python -m ankle_core.training.ct_eval {args.model} --n {args.n} --seed {args.seed}"
        f" --difficulty {difficulty[0]} {difficulty[1]}"
        + (f" --key {args.key}" if args.key != "fresh_phantoms" else "")
        + (" --explanation paper" if paper else "")
    )
    metrics["pipeline"] = {
        "spline_order": pipeline.spline_order,
        "min_region_mm3": pipeline.explanation.boxes.min_volume_mm3,
        "rank_by": pipeline.explanation.boxes.rank_by,
        "gradcam_layer": pipeline.layer_name,
        "explanation": pipeline.explanation.to_dict(),
    }
    metrics["wall_time_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(metrics, indent=2))
    if args.write:
        card = read_card(args.model)
        updated = replace(card, metrics={**dict(card.metrics), args.key: metrics})
        write_card(updated, Path(args.model) / "card.json")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    install_log_redaction()  # no identifier in any log record
    sys.exit(main())
