"""Benchmark of the radiograph two-stage pipeline (runnable by hand; prints ratios).

From one run on the same phantom radiographs it measures:

- the two-stage latency per radiograph (median, p95) of the default configuration (the
  installed demo models: RetinaNet MobileNetV3-Large FPN + MobileNetV2) and of the study's
  ResNet-50-FPN detector (random init, same input size; timing only), and their ratio;
- torch against ONNX Runtime for the default configuration (ratio);
- the overhead of the Grad-CAM explanations (fragment saliency + detector saliency of the
  top box) as a ratio of the bare pipeline;
- the peak resident memory of the process (``resource.getrusage``).

Usage::

    python benchmarks/radiograph.py [--quick] [--n 20] [--threads 2] [--models-dir models]

Figures depend on the machine and its load; compare ratios, not seconds. No test asserts
on timings.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ankle_core.device import configure_threads_for_cli  # noqa: E402

configure_threads_for_cli(sys.argv[1:])  # before torch loads: passive waits, chosen threads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ankle_core.inference import RadiographPipeline  # noqa: E402
from ankle_core.models import LoadedModel, build_network, load_model  # noqa: E402
from ankle_core.phantoms import make_case  # noqa: E402
from ankle_core.types import Radiograph  # noqa: E402


def _timed(fn: Callable[[Radiograph], object], images: Sequence[Radiograph]) -> list[float]:
    fn(images[0])  # warm-up
    out = []
    for image in images:
        t0 = time.perf_counter()
        fn(image)
        out.append(time.perf_counter() - t0)
    return out


def _summary(name: str, times: Sequence[float]) -> float:
    median = statistics.median(times)
    p95 = float(np.percentile(times, 95))
    print(f"{name:<44} median {median * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms")
    return median


def _resnet_detector(default: LoadedModel) -> LoadedModel:
    params = {
        **dict(default.card.architecture_params),
        "backbone": "resnet50_fpn",
        "fpn_channels": 256,
        "norm_groups": 32,
    }
    card = replace(
        default.card, name="retinanet-resnet50-fpn (random init)", architecture_params=params
    )
    torch.manual_seed(0)
    network = build_network(card).eval()
    for p in network.parameters():
        p.requires_grad_(False)
    return LoadedModel(card=card, network=network, device=torch.device("cpu"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 radiographs, for a smoke run")
    parser.add_argument("--n", type=int, default=20, help="radiographs")
    parser.add_argument("--size", type=int, default=512, help="radiograph side, pixels")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--onnx-cache", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    n = 5 if args.quick else args.n
    kinds = ("lmaf", "sfo", "none")
    images = [make_case(5_000_000 + i, kinds[i % 3], size=args.size).radiograph for i in range(n)]
    det = load_model("lmaf-fragment-detector", models_dir=args.models_dir, device="cpu")
    clf = load_model("lmaf-classifier-mobilenetv2", models_dir=args.models_dir, device="cpu")
    default = RadiographPipeline(det, clf)
    resnet = RadiographPipeline(_resnet_detector(det), clf, detection_threshold=0.0)
    t0 = time.perf_counter()
    onnx = RadiographPipeline(det, clf, runtime="onnx", onnx_cache_dir=args.onnx_cache)
    export_s = time.perf_counter() - t0

    def explained(image: Radiograph) -> None:
        result = default.run(image)
        default.fragment_saliency(image, result)
        if result.fragments:
            default.detector_saliency(image, 0)

    print(f"{n} phantom radiographs of {args.size}^2 px, {args.threads} torch threads")
    print(f"detector input long side {det.card.input_size[0]} px; ONNX export {export_s:.1f} s")
    runs = {
        "default (MobileNetV3-FPN + MobileNetV2), torch": default.run,
        "study detector (ResNet-50-FPN) + MobileNetV2": resnet.run,
        "default, ONNX Runtime": onnx.run,
        "default + Grad-CAM (fragments + top box)": explained,
    }
    med_default, med_resnet, med_onnx, med_cam = (
        _summary(name, _timed(fn, images)) for name, fn in runs.items()
    )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"ResNet-50-FPN / default latency ratio     {med_resnet / med_default:6.2f}")
    print(f"torch / ONNX Runtime latency ratio        {med_default / med_onnx:6.2f}")
    print(f"Grad-CAM overhead (explained / bare)      {med_cam / med_default:6.2f}")
    print(f"peak resident memory                      {peak_mb:6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
