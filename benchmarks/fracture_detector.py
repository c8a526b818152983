"""CPU latency of the general fracture localiser, torch vs ONNX Runtime, per image.

Runnable by hand: ``python benchmarks/fracture_detector.py [--n 20] [--threads 1] [--json OUT]``.

For ``--n`` real validation radiographs of ``radiographs-fracture-boxes`` (RG3 when the data
set is absent) it times :meth:`FractureLocaliser.run` end to end (resize/normalise/pad,
network, anchor decoding + NMS) with the torch network and with the same network exported to
ONNX (``ankle_core.models.onnx_runtime``, fixed 384^2 input), after one warm-up run each,
and prints the median and 90th percentile per image, plus the largest absolute difference of
the raw network outputs between the runtimes and whether the kept boxes agree. The model is
the installed ``fracture-detector-xr``; ``--untrained`` uses a random localiser instead
(latency does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ankle_core.device import configure_threads_for_cli
from benchmarks._report import emit

configure_threads_for_cli(sys.argv[1:])  # before torch loads: passive waits, chosen threads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ankle_core.inference.localiser import LOCALISER_NAME, FractureLocaliser  # noqa: E402
from ankle_core.io import read_radiograph  # noqa: E402
from ankle_core.models.detector import prepare_detector_input  # noqa: E402
from ankle_core.models.weights import LoadedModel, load_model  # noqa: E402
from ankle_core.realdata.demo import real_demo  # noqa: E402
from ankle_core.realdata.fracture_boxes import read_fracture_boxes  # noqa: E402
from ankle_core.realdata.sources import FRACTURE_BOXES, find_real_data  # noqa: E402
from ankle_core.types import Radiograph  # noqa: E402


def _images(n: int) -> list[Radiograph]:
    root = find_real_data(FRACTURE_BOXES)
    if root is None:
        image = real_demo("real-rg3").load()
        assert isinstance(image, Radiograph)
        return [image]
    files = [im.path for im in read_fracture_boxes(root, splits=("valid",))][:n]
    return [read_radiograph(p) for p in files]


def _model(untrained: bool) -> LoadedModel:
    if not untrained:
        return load_model(LOCALISER_NAME, device="cpu")
    from ankle_core.models.card import ModelCard
    from ankle_core.models.retinanet_localiser import build_fracture_localiser

    net = build_fracture_localiser().eval()
    card = ModelCard("untrained", "0", "retinanet_mobilenet_v2_fpn", "x", 2, ("b", "f"), (384, 384))
    return LoadedModel(card=card, network=net, device=torch.device("cpu"))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--untrained", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = _model(args.untrained)
    images = _images(args.n)
    runners = {
        "torch": FractureLocaliser(model, runtime="torch"),
        "onnx": FractureLocaliser(model, runtime="onnx", threads=args.threads),
    }
    times: dict[str, list[float]] = {k: [] for k in runners}
    agree = 0
    for image in images:
        results = {}
        for name, runner in runners.items():
            runner.run(image) if not times[name] else None  # warm-up once
            t0 = time.perf_counter()
            results[name] = runner.run(image)
            times[name].append(time.perf_counter() - t0)
        tb = [f.box.as_xyxy() for f in results["torch"].boxes]
        ob = [f.box.as_xyxy() for f in results["onnx"].boxes]
        agree += int(len(tb) == len(ob) and np.allclose(tb, ob, atol=0.5))
    prepared = prepare_detector_input(np.asarray(images[0].pixels), model.network)  # type: ignore[arg-type]
    with torch.no_grad():
        ref = runners["torch"].core(prepared.tensor)
    onnx_session = runners["onnx"]._onnx
    assert onnx_session is not None
    got = onnx_session(prepared.tensor)
    max_diff = max(float((a - b).abs().max()) for a, b in zip(ref, got, strict=True))
    out = {
        "model": f"{model.card.name} {model.card.version}",
        "images": len(images),
        "input": f"{model.card.input_size[0]} px long side, padded square",
        "threads": args.threads,
        "machine": f"{platform.machine()} CPU, shared with other jobs (timings are noisy)",
        "torch_s": {
            "median": round(statistics.median(times["torch"]), 4),
            "p90": round(float(np.percentile(times["torch"], 90)), 4),
        },
        "onnx_s": {
            "median": round(statistics.median(times["onnx"]), 4),
            "p90": round(float(np.percentile(times["onnx"], 90)), 4),
        },
        "max_abs_output_difference": max_diff,
        "images_with_identical_boxes": agree,
    }
    emit(out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
