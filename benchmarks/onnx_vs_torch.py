"""ONNX Runtime against torch, per model, runnable by hand: ``python benchmarks/onnx_vs_torch.py``.

For each installed model that the dashboard runs (the fragment detector's network, the
LMAF/SFO classifiers on one crop, the CT network, the general localiser's network), the
same input through torch and through ONNX Runtime (exported once into the cache folder),
timed in alternation (so a change in the machine's load touches both alike), median of
``--repeats``, at ``--threads`` threads chosen by :func:`ankle_core.device.configure_threads`.
Prints each ratio torch / ONNX Runtime, the largest output difference and the load average.
Compare ratios, not seconds; no test asserts on timings.

Usage::

    python benchmarks/onnx_vs_torch.py [--threads 2] [--repeats 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ankle_core.device import configure_threads_for_cli  # noqa: E402

configure_threads_for_cli(sys.argv[1:] or ["--threads", "2"])  # before torch loads

import torch  # noqa: E402
from torch import nn  # noqa: E402

from ankle_core.config import Settings  # noqa: E402
from ankle_core.models.onnx_runtime import onnx_session_for  # noqa: E402
from ankle_core.models.weights import LoadedModel, list_models, load_model  # noqa: E402


def _cases(models_dir: Path) -> list[tuple[str, LoadedModel, nn.Module, torch.Tensor, bool]]:
    from ankle_core.models.detector import DetectorCore

    installed = set(list_models(models_dir))
    out = []
    for name in sorted(installed):
        model = load_model(name, models_dir=models_dir, device="cpu")
        arch = model.card.architecture
        if arch in ("retinanet_fragment", "retinanet_mobilenet_v2_fpn"):
            side = -(-int(model.card.input_size[0]) // 32) * 32
            core = DetectorCore(model.network).eval()  # type: ignore[arg-type]
            out.append((name, model, core, torch.rand(1, 3, side, side), False))
        elif arch == "lmaf_classifier":
            size = int(model.card.input_size[-1])
            out.append((name, model, model.network, torch.randn(1, 3, size, size), True))
        elif model.card.spatial_dims == 3:
            size = int(model.card.preprocessing.get("input_size", model.card.input_size[0]))
            x = torch.rand(1, 1, size, size, size)
            out.append((name, model, model.network, x, False))
    return out


def _median_pair(a: Callable[[], object], b: Callable[[], object], n: int) -> tuple[float, float]:
    ta, tb = [], []
    a(), b()  # warm-up
    for _ in range(n):
        for fn, times in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
    return statistics.median(ta), statistics.median(tb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    cache = Settings.from_env().cache_dir / "onnx"
    print(f"{torch.get_num_threads()} torch threads, OMP_WAIT_POLICY "
          f"{os.environ.get('OMP_WAIT_POLICY')}; load average "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()))  # fmt: skip
    for name, model, network, x, dynamic in _cases(args.models_dir):
        session = onnx_session_for(network, x, weights_sha256=model.card.weights_sha256,
                                   dynamic_batch=dynamic, cache_dir=cache)  # fmt: skip

        def run_torch(net: nn.Module = network, inp: torch.Tensor = x) -> object:
            with torch.no_grad():
                return net(inp)

        def run_onnx(inp: torch.Tensor = x, sess: object = session) -> object:
            return sess(inp)  # type: ignore[operator]

        t_torch, t_onnx = _median_pair(run_torch, run_onnx, args.repeats)
        ref = run_torch()
        ref_t = ref if isinstance(ref, tuple | list) else (ref,)
        got = run_onnx()
        # relative to the output's own scale: random inputs can drive logits into the
        # thousands (EfficientNet-B0 on noise), where float32 rounding alone differs by ~1
        diff = max(float(((a - b).abs() / a.abs().clamp(min=1.0)).max())  # type: ignore[call-overload]
                   for a, b in zip(ref_t, got, strict=False))  # fmt: skip
        print(f"  {name:<34} torch {t_torch * 1000:8.1f} ms  ONNX Runtime {t_onnx * 1000:8.1f} ms"
              f"  ratio {t_torch / t_onnx:5.2f}  max rel. diff {diff:.1e}")  # fmt: skip
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
