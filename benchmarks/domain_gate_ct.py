"""Build and measure the CT model's domain gate (runnable by hand; writes JSON).

1. Pooled deepest-block features (``ct-last-stage-gap``) of phantoms drawn as the model's
   training data were (:func:`ankle_core.training.ct_eval.phantom_volume`, seeds
   ``0..n_train-1``) give the per-dimension mean and standard deviation for the card.
2. The in-domain limit is 1.5 x the largest of those phantoms' distances (no real ankle CT is
   at hand to calibrate on; the real CTs below are used for measuring only).
3. Measured: fresh phantoms (seeds never used, two difficulty ranges) and the real
   TotalSegmentator CTs (NIfTI and the DICOM series), by features alone and by the whole gate
   (with the body-size scope check). Wilson 95% CIs.

Usage::

    python benchmarks/domain_gate_ct.py --out docs/domain_gate_ct.json [--update-card]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ankle_core.inference.ct import CtPipeline  # noqa: E402
from ankle_core.io import read_volume  # noqa: E402
from ankle_core.models.card import write_card  # noqa: E402
from ankle_core.models.domain import ModelDomain, ct_features, feature_stats  # noqa: E402
from ankle_core.models.weights import resolve_model_dir  # noqa: E402
from ankle_core.preprocess.volume import preprocess_volume  # noqa: E402
from ankle_core.realdata.sources import TOTALSEG_CT, find_real_data  # noqa: E402
from ankle_core.stats.metrics import wilson_interval  # noqa: E402
from ankle_core.training.ct_eval import phantom_volume  # noqa: E402
from ankle_core.types import Volume  # noqa: E402

CT_DOMAIN = {
    "kind": "synthetic",
    "description": "synthetic ankle CT phantoms (ankle_core.phantoms.ct)",
    "modalities": ["CT"],
    "body_regions": ["ANKLE", "FOOT", "LEG"],
}


def _features(pipe: CtPipeline, volume: Volume) -> np.ndarray:
    x = torch.from_numpy(preprocess_volume(volume, pipe.preprocessing).array)[None, None]
    return ct_features(pipe.model.network, x)


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": round(k / max(n, 1), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "domain_gate_ct.json")
    ap.add_argument("--model", default="ct-fracture-mobilenet3d")
    ap.add_argument("--n-train", type=int, default=120)
    ap.add_argument("--n-fresh", type=int, default=100)
    ap.add_argument("--fresh-seed", type=int, default=5_000_000)
    ap.add_argument("--update-card", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.monotonic()
    pipe = CtPipeline.from_name(args.model, device="cpu")
    train_f = np.asarray([_features(pipe, phantom_volume(s)) for s in range(args.n_train)])
    base = feature_stats(train_f, extractor="ct-last-stage-gap", threshold=np.inf, chosen_on="")
    d_train = np.array([base.distance(f) for f in train_f])
    threshold = 1.5 * float(d_train.max())
    chosen_on = (
        f"{args.n_train} phantoms drawn as the training data were (seeds 0..{args.n_train - 1}; "
        f"largest distance {d_train.max():.2f}): 1.5 x that largest distance"
    )
    entry = {**CT_DOMAIN, "features": replace(base, threshold=threshold, chosen_on=chosen_on)}
    entry["features"] = entry["features"].to_dict()  # type: ignore[attr-defined]
    domain = ModelDomain.from_card(entry)
    pipe.model = replace(pipe.model, card=replace(pipe.model.card, domain=entry))
    print(f"threshold {threshold:.2f}", flush=True)
    fresh: dict[str, Any] = {}
    for label, diff in (("difficulty 0.0-0.3", (0.0, 0.3)), ("difficulty 0.0-1.0", (0.0, 1.0))):
        k, dists = 0, []
        for s in range(args.fresh_seed, args.fresh_seed + args.n_fresh):
            vol = phantom_volume(s, diff)
            check = pipe.domain_check(
                vol, torch.from_numpy(preprocess_volume(vol, pipe.preprocessing).array)[None, None],
                pipe.scope_warnings(vol),
            )  # fmt: skip
            k += int(check.in_domain)
            dists.append(check.distance)
        fresh[label] = {"in_domain": _rate(k, args.n_fresh), "distance_max": round(max(dists), 3)}
        print(label, fresh[label], flush=True)
    real: dict[str, Any] = {}
    folder = find_real_data(TOTALSEG_CT)
    if folder is not None:
        for name in ("example_ct.nii.gz", "example_ct_sm.nii.gz", "example_ct_dicom"):
            path = folder / name
            if not path.exists():
                continue
            vol = read_volume(path)
            feats = _features(pipe, vol)
            dist = domain.features.distance(feats)  # type: ignore[union-attr]
            result = pipe.run(vol, explain=False)
            real[name] = {
                "feature_distance": round(dist, 2),
                "out_by_features": bool(dist > threshold),
                "in_domain": result.domain.in_domain,
                "reason": result.domain.reason,
            }
            print(name, real[name], flush=True)
    report = {
        "model": pipe.model_label,
        "extractor": "ct-last-stage-gap",
        "threshold": round(threshold, 4),
        "chosen_on": chosen_on,
        "training_like_distance": {
            "median": round(float(np.median(d_train)), 3),
            "max": round(float(d_train.max()), 3),
        },
        "fresh_phantoms": {"seeds": f"{args.fresh_seed}..+{args.n_fresh - 1}", **fresh},
        "real_ct": real,
        "command": "python benchmarks/domain_gate_ct.py " + " ".join(sys.argv[1:]),
        "wall_s": round(time.monotonic() - t0, 1),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.update_card:
        folder_m = resolve_model_dir(args.model, ROOT / "models")
        write_card(replace(pipe.model.card, domain=entry), folder_m / "card.json")
        print(f"domain written into {folder_m / 'card.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
