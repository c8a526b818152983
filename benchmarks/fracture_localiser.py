"""CPU latency of the lower-limb fracture localiser, torch vs ONNX Runtime, as a ratio.

Runnable by hand: ``python benchmarks/fracture_localiser.py [--n 20] [--threads 1] [--json OUT]
[--models-dir DIR]`` (``--models-dir``: another folder holding a ``fracatlas-leg-localiser``,
e.g. an earlier version, to time it on the same machine).

For ``--n`` FracAtlas validation radiographs (from ``shared/data/fracatlas-leg``) it times
:meth:`ankle_core.inference.FractureLocaliser.run` end to end (resize/normalise/pad,
network, heat-map peak decoding and NMS) with the installed ``fracatlas-leg-localiser`` in
torch and exported to ONNX Runtime (fixed square input), after one warm-up run each, with
the same thread count, and prints the medians, their ratio (one run: a shared machine makes
absolute times noisy, the ratio less so) and the largest difference of the image scores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from ankle_core.inference.localiser import LEG_LOCALISER_NAME, FractureLocaliser
from ankle_core.realdata.fracatlas import FRACATLAS, read_fracatlas, validation_split
from ankle_core.realdata.sources import find_real_data
from ankle_core.training.heatmap_localiser import load_pixels
from ankle_core.types import Radiograph
from benchmarks._report import emit


def _images(n: int) -> list[Radiograph]:
    root = find_real_data(FRACATLAS)
    if root is None:
        raise SystemExit("fracatlas-leg is not in the shared data folder.")
    _, val = validation_split(read_fracatlas(root))
    return [Radiograph(load_pixels(im.path)) for im in val[:n]]


def _time(loc: FractureLocaliser, images: list[Radiograph]) -> tuple[list[float], list[float]]:
    loc.run(images[0])  # warm-up
    times, scores = [], []
    for img in images:
        t0 = time.perf_counter()
        scores.append(loc.run(img).image_score)
        times.append(time.perf_counter() - t0)
    return times, scores


def main() -> int:
    """Time both runtimes and print a JSON summary."""
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--models-dir", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    images = _images(args.n)
    torch_loc = FractureLocaliser.from_name(
        LEG_LOCALISER_NAME, models_dir=args.models_dir, device="cpu"
    )
    onnx_loc = FractureLocaliser(torch_loc.model, runtime="onnx", threads=args.threads)
    t_torch, s_torch = _time(torch_loc, images)
    t_onnx, s_onnx = _time(onnx_loc, images)
    med_t, med_o = statistics.median(t_torch), statistics.median(t_onnx)
    out = {
        "model": f"{torch_loc.model.card.name} {torch_loc.model.card.version}",
        "images": len(images),
        "threads": args.threads,
        "torch_median_s": round(med_t, 4),
        "onnx_median_s": round(med_o, 4),
        "torch_over_onnx": round(med_t / med_o, 2),
        "max_image_score_difference": float(np.max(np.abs(np.subtract(s_torch, s_onnx)))),
        "machine": f"{platform.machine()}, shared CPU, torch {torch.__version__}",
        "load_average_1_5_15_min": [round(v, 2) for v in os.getloadavg()],
    }
    emit(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
