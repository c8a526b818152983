"""Build and measure the radiograph domain gate (runnable by hand; writes JSON and the card).

``extract``: pooled detector features (``detector-fpn-meanstd``), the header gate's verdict
and the image statistics (``flat-noise-level``, ``flat-noise-whiteness``;
:mod:`ankle_core.models.image_cues`) of every image of each set, saved to one ``.npz``
(``--stats-only`` recomputes only the statistics, keeping the npz's features):

- ``train``: the training phantoms (every k-th image of the training folder);
- ``calib``: real calibration radiographs, the fracture-box set's ``valid/`` split;
- ``fresh``: fresh phantoms (seeds never used; 256, 384 and 512 px);
- the real test sets: FracAtlas leg/ankle/foot, the fracture-box ``train/`` split (one
  image per source), the WG04 RG1/RG3 files of pydicom-data.

``fit``: the card's statistics come from ``train`` alone: mean and standard deviation per
dimension and the first K principal axes of the z-scores; the distance is the RMS of the
z-scores' residual outside those axes. The in-domain limit is chosen on ``train`` and
``calib`` only: the geometric mean of the largest training distance and the 1st percentile
of the calibration distances, never below 1.25 x the largest training distance. Then it is
measured on ``fresh`` and the real test sets (by features alone and by the whole gate,
header included), with Wilson 95% CIs. The second cue, the image statistics, gets one-class
ranges from ``train`` alone (``_image_cues``); the gate is out when the header, the features
or any statistic says so, and each is reported alone too.

``variants``: the committed image cues alone on phantoms drawn outside the training recipe
(difficulty 0 and 1; 128, 256 and 512 px; saved as 8-bit PNG or quality-95 JPEG) and on the
bundled demo radiographs, merged into the JSON.

Usage::

    python benchmarks/domain_gate.py extract --train data/phantoms-train --npz data/gate.npz \
        --max-real 0 --n-fresh 400
    python benchmarks/domain_gate.py fit --npz data/gate.npz --out docs/domain_gate.json --write
    python benchmarks/domain_gate.py variants
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ankle_core.io import read_radiograph  # noqa: E402
from ankle_core.models.card import read_card, write_card  # noqa: E402
from ankle_core.models.domain import (  # noqa: E402
    ModelDomain,
    check_domain,
    detector_features,
    feature_stats,
)
from ankle_core.models.image_cues import ImageCue, image_statistic  # noqa: E402
from ankle_core.models.weights import LoadedModel, load_model  # noqa: E402
from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data  # noqa: E402
from ankle_core.stats.metrics import wilson_interval  # noqa: E402

MODELS = ROOT / "models"
EXTRACTOR = "detector-fpn-meanstd"
#: The image statistics of the second cue (ankle_core.models.image_cues), columns of
#: ``<set>_stats`` in the npz.
STATISTICS = ("flat-noise-level", "flat-noise-whiteness")
RADIOGRAPH_DOMAIN = {
    "kind": "synthetic",
    "description": "synthetic ankle radiograph phantoms (ankle_core.phantoms)",
    "modalities": ["DX", "CR"],
    "body_regions": ["ANKLE"],
}
TEST_SETS = ("fresh", "fracatlas", "boxes_train", "wg04")
LABELS = {
    "fresh": "fresh phantoms (seeds never used; 256/384/512 px)",
    "fracatlas": "FracAtlas leg/ankle/foot radiographs",
    "boxes_train": "fracture-box train split, one image per source",
    "wg04": "WG04 RG1/RG3 (pydicom-data)",
}


def _header_out(metadata: dict[str, Any]) -> bool:
    domain = ModelDomain.from_card(RADIOGRAPH_DOMAIN)
    return not check_domain(domain, metadata).in_domain


def _image_stats(pixels: np.ndarray) -> list[float]:
    return [image_statistic(name, pixels) for name in STATISTICS]


def _from_paths(
    det: LoadedModel | None, paths: Iterable[Path]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (None: not computed), header verdicts and image statistics of each file."""
    feats, header_out, stats = [], [], []
    for p in paths:
        try:
            rg = read_radiograph(p)
        except Exception as exc:  # a real file the reader refuses is reported, not fatal
            print(f"skip {p.name}: {type(exc).__name__}", file=sys.stderr)
            continue
        if det is not None:
            feats.append(detector_features(det.network, rg.pixels))
        header_out.append(_header_out(dict(rg.metadata)))
        stats.append(_image_stats(rg.pixels))
    return np.asarray(feats), np.asarray(header_out, bool), np.asarray(stats)


def _spaced(paths: Sequence[Path], cap: int) -> list[Path]:
    if not cap or len(paths) <= cap:
        return list(paths)
    step = len(paths) / cap
    return [paths[int(i * step)] for i in range(cap)]


def _one_per_source(paths: Iterable[Path]) -> list[Path]:
    seen, out = set(), []
    for p in sorted(paths):
        key = p.name.split(".rf.")[0]
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def extract(args: argparse.Namespace) -> int:
    """Features, header verdicts and image statistics of every set (module docstring).

    With ``--stats-only`` the detector features and header verdicts already in ``--npz``
    are kept (the detector did not change) and only the image statistics are (re)computed,
    from the same files and phantoms.
    """
    from pydicom.data import get_testdata_file

    from ankle_core.phantoms import make_case

    t0 = time.monotonic()
    det = None if args.stats_only else load_model(args.detector, models_dir=MODELS, device="cpu")
    out: dict[str, np.ndarray] = dict(np.load(args.npz)) if args.stats_only else {}
    boxes = find_real_data(FRACTURE_BOXES)
    fracatlas = find_real_data("fracatlas-leg")
    if boxes is None or fracatlas is None:
        raise SystemExit("the real data sets are missing (shared/data)")
    sets: dict[str, list[Path]] = {
        "train": sorted(args.train.glob("*.png"))[:: args.train_step],
        "calib": sorted((boxes / "valid" / "images").glob("*.jpg")),
        "fracatlas": _spaced(sorted((fracatlas / "images").glob("*.jpg")), args.max_real),
        "boxes_train": _spaced(
            _one_per_source((boxes / "train" / "images").glob("*.jpg")), args.max_real
        ),
        "wg04": [
            Path(str(f))
            for n in ("RG1_UNCI", "RG1_UNCR", "RG3_UNCI", "RG3_UNCR", "RG1_J2KI", "RG3_J2KI")
            if (f := get_testdata_file(f"{n}.dcm", download=False))
        ],
    }
    for name, paths in sets.items():
        feats, header_out, stats = _from_paths(det, paths)
        if det is not None:
            out[name], out[f"{name}_header_out"] = feats, header_out
        elif len(stats) != len(out[name]):
            raise SystemExit(f"{name}: {len(stats)} images now, {len(out[name])} in the npz")
        out[f"{name}_stats"] = stats
        print(f"{name}: {len(stats)} images, {time.monotonic() - t0:.0f} s", flush=True)
    rng = np.random.default_rng(args.fresh_seed)
    feats, header, stats = [], [], []
    for i in range(args.n_fresh):
        kind = ("lmaf", "sfo", "none")[int(rng.choice(3, p=[0.42, 0.42, 0.16]))]
        case = make_case(
            args.fresh_seed + i,
            kind,
            size=(256, 384, 512)[i % 3],
            difficulty=float(rng.uniform(0.3, 0.9)),
        )
        if det is not None:
            feats.append(detector_features(det.network, case.radiograph.pixels))
        header.append(_header_out(dict(case.radiograph.metadata)))
        stats.append(_image_stats(case.radiograph.pixels))
    if det is not None:
        out["fresh"], out["fresh_header_out"] = np.asarray(feats), np.asarray(header, bool)
    out["fresh_stats"] = np.asarray(stats)
    print(f"fresh: {len(stats)}, {time.monotonic() - t0:.0f} s", flush=True)
    np.savez_compressed(args.npz, **out)
    return 0


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": round(k / max(n, 1), 4), "ci95": [round(lo, 4), round(hi, 4)]}


def fit(args: argparse.Namespace) -> int:
    data = np.load(args.npz)
    train, calib = data["train"], data["calib"]
    base = feature_stats(
        train, extractor=EXTRACTOR, threshold=np.inf, chosen_on="", n_components=args.k
    )
    d_train = np.array([base.distance(f) for f in train])
    d_calib = np.array([base.distance(f) for f in calib])
    q01 = float(np.percentile(d_calib, 1))
    threshold = max(1.25 * float(d_train.max()), float(np.sqrt(d_train.max() * q01)))
    chosen_on = (
        f"{len(train)} training phantoms (largest distance {d_train.max():.2f}) and "
        f"{len(calib)} real calibration radiographs (fracture-box valid split, 1st percentile "
        f"{q01:.2f}): their geometric mean, at least 1.25 x the largest training distance"
    )
    stats = replace(base, threshold=threshold, chosen_on=chosen_on)
    cues = _image_cues(data["train_stats"], len(train))
    results: dict[str, Any] = {}
    for name in TEST_SETS:
        feats, header_out = data[name], data[f"{name}_header_out"]
        d = np.array([stats.distance(f) for f in feats])
        by_feat = d > threshold
        values = data[f"{name}_stats"]
        by_cue = _outside(cues, values)
        by_cues = by_cue.any(axis=1)
        by_gate = by_feat | by_cues | header_out
        n = len(d)
        cue_ranges = {
            c.statistic: [round(float(values[:, j].min()), 5), round(float(values[:, j].max()), 5)]
            for j, c in enumerate(cues)
        }
        if name == "fresh":
            results[name] = {
                "label": LABELS[name],
                "in_domain_by_features": _rate(int((~by_feat).sum()), n),
                "in_domain_by_image_cues": _rate(int((~by_cues).sum()), n),
                "in_domain_by_gate": _rate(int((~by_gate).sum()), n),
                "distance_max": round(float(d.max()), 3),
                "image_stats_min_max": cue_ranges,
            }
        else:
            results[name] = {
                "label": LABELS[name],
                "out_of_domain_by_features": _rate(int(by_feat.sum()), n),
                "out_of_domain_by_image_cues": _rate(int(by_cues.sum()), n),
                "out_of_domain_by_image_cue": {
                    c.statistic: int(by_cue[:, j].sum()) for j, c in enumerate(cues)
                },
                "out_of_domain_by_features_or_image_cues": _rate(int((by_feat | by_cues).sum()), n),
                "out_of_domain_by_gate": _rate(int(by_gate.sum()), n),
                "distance_min": round(float(d.min()), 3),
                "distance_median": round(float(np.median(d)), 3),
                "image_stats_min_max": cue_ranges,
            }
        print(name, results[name])
    calib_values = data["calib_stats"]
    calib_out = _outside(cues, calib_values).any(axis=1)
    det_card = read_card(MODELS / args.detector)
    report = {
        "detector": f"{det_card.name} {det_card.version}",
        "extractor": EXTRACTOR,
        "principal_components": args.k,
        "threshold": round(threshold, 4),
        "chosen_on": chosen_on,
        "training_distance": {
            "median": round(float(np.median(d_train)), 3),
            "max": round(float(d_train.max()), 3),
        },
        "calibration_distance": {
            "p01": round(q01, 3),
            "median": round(float(np.median(d_calib)), 3),
        },
        "image_cues": [c.to_dict() for c in cues],
        "calibration_out_by_image_cues": _rate(int(calib_out.sum()), len(calib_out)),
        **results,
        "command": "python benchmarks/domain_gate.py " + " ".join(sys.argv[1:]),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.write:
        entry = {
            **RADIOGRAPH_DOMAIN,
            "features": stats.to_dict(),
            "image_cues": [c.to_dict() for c in cues],
        }
        write_card(replace(det_card, domain=entry), MODELS / args.detector / "card.json")
        for name in args.classifiers:
            card = read_card(MODELS / name)
            write_card(replace(card, domain=dict(RADIOGRAPH_DOMAIN)), MODELS / name / "card.json")
        print("cards updated")
    return 0


def _outside(cues: Sequence[ImageCue], values: np.ndarray) -> np.ndarray:
    """(N, cues) True where an image's statistic lies outside its cue's range."""
    return np.array(
        [[not c.contains(float(v)) for c, v in zip(cues, row, strict=True)] for row in values]
    ).reshape(len(values), len(cues))


def _image_cues(train_stats: np.ndarray, n_train: int) -> list[ImageCue]:
    """One-class ranges of the image statistics, from the training phantoms alone: the
    training range widened on each side by its distance from the median, on a log scale
    (``low = min^2 / median``, ``high = max^2 / median``)."""
    cues = []
    for j, name in enumerate(STATISTICS):
        v = train_stats[:, j]
        lo, med, hi = float(v.min()), float(np.median(v)), float(v.max())
        cues.append(
            ImageCue(
                statistic=name,
                low=lo * lo / med,
                high=hi * hi / med,
                chosen_on=(
                    f"{n_train} training phantoms (min {lo:.4g}, median {med:.4g}, max {hi:.4g}):"
                    " their range widened on each side by its distance from the median, on a log"
                    " scale (low = min^2 / median, high = max^2 / median)"
                ),
            )
        )
    return cues


def _variant_pixels(pixels: np.ndarray, how: str) -> np.ndarray:
    """A phantom as it might be saved: unchanged, as an 8-bit PNG, or as a quality-95 JPEG."""
    import io

    from PIL import Image

    if how == "float":
        return pixels
    grey = (np.clip(pixels, 0.0, 1.0) * 255).round().astype(np.uint8)
    if how == "8-bit":
        return grey.astype(np.float32) / 255.0
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, "JPEG", quality=95)
    buffer.seek(0)
    return np.asarray(Image.open(buffer), np.float32) / 255.0


def variants(args: argparse.Namespace) -> int:
    """The committed image cues on phantoms drawn outside the training recipe (difficulty 0
    and 1, 128 to 512 px, saved as 8-bit PNG or JPEG) and on the bundled demo radiographs;
    merged into ``--out`` under ``image_cue_variants``."""
    from ankle_core.phantoms import make_case

    domain = ModelDomain.from_card(read_card(MODELS / args.detector).domain)
    if domain is None or not domain.image_cues:
        raise SystemExit("the detector card declares no image cues; run fit --write first")

    def inside(pixels: np.ndarray) -> bool:
        return all(c.contains(image_statistic(c.statistic, pixels)) for c in domain.image_cues)

    rows = []
    for difficulty in (0.0, 1.0):
        for size in (128, 256, 512):
            for how in ("float", "8-bit", "jpeg-95"):
                k = 0
                for i in range(args.n):
                    kind = ("lmaf", "sfo", "none")[i % 3]
                    case = make_case(args.seed + i, kind, size=size, difficulty=difficulty)
                    k += inside(_variant_pixels(case.radiograph.pixels, how))
                rows.append(
                    {"difficulty": difficulty, "size_px": size, "saved_as": how, "in": [k, args.n]}
                )
                print(rows[-1], flush=True)
    demo = sorted((ROOT / "demo_cases" / "radiographs").glob("*"))
    demo_in = sum(inside(read_radiograph(f).pixels) for f in demo)
    report = json.loads(args.out.read_text(encoding="utf-8")) if args.out.exists() else {}
    report["image_cue_variants"] = {
        "what": f"image cues alone, {args.n} phantoms per row (seeds {args.seed}..)",
        "phantoms": rows,
        "demo_radiographs_in": [int(demo_in), len(demo)],
        "command": "python benchmarks/domain_gate.py " + " ".join(sys.argv[1:]),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--train", type=Path, required=True)
    e.add_argument("--npz", type=Path, required=True)
    e.add_argument("--detector", default="lmaf-fragment-detector")
    e.add_argument("--train-step", type=int, default=2)
    e.add_argument("--n-fresh", type=int, default=150)
    e.add_argument("--fresh-seed", type=int, default=3_000_000)
    e.add_argument("--max-real", type=int, default=300, help="cap per real set (0: all)")
    e.add_argument(
        "--stats-only",
        action="store_true",
        help="keep the npz's detector features; (re)compute only the image statistics",
    )
    f = sub.add_parser("fit")
    f.add_argument("--npz", type=Path, required=True)
    f.add_argument("--out", type=Path, default=ROOT / "docs" / "domain_gate.json")
    f.add_argument("--detector", default="lmaf-fragment-detector")
    f.add_argument(
        "--classifiers",
        nargs="*",
        default=["lmaf-classifier-mobilenetv2", "lmaf-classifier-efficientnetb0"],
    )
    f.add_argument("--k", type=int, default=16, help="principal axes kept")
    f.add_argument("--write", action="store_true")
    v = sub.add_parser("variants")
    v.add_argument("--out", type=Path, default=ROOT / "docs" / "domain_gate.json")
    v.add_argument("--detector", default="lmaf-fragment-detector")
    v.add_argument("--n", type=int, default=12)
    v.add_argument("--seed", type=int, default=7_000_000)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    commands = {"extract": extract, "fit": fit, "variants": variants}
    return commands[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
