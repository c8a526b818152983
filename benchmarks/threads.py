"""Thread-configuration benchmark, runnable by hand: ``python benchmarks/threads.py``.

The radiograph pipeline (the installed demo models, torch runtime, so that only the threads
differ) on the same phantom radiographs, each setting in a fresh process (OpenMP reads its
wait policy once, when torch loads), while a second process keeps one core busy, as other
work does on a shared machine:

- unconfigured: torch's defaults (OpenMP spin-waits) with ``torch.set_num_threads(1)`` and
  ``(2)``;
- configured: :func:`ankle_core.device.configure_threads` (passive waits) at 1 and 2 threads,
  and with its own choice (the cores this process may use);
- the app's default: configured threads and ONNX Runtime (``runtime="auto"``).

Prints the median time per image of each, the load average, and the ratio of the configured
run (its own choice) to the better unconfigured run (goal: at most 1.0). The settings run in
rounds, interleaved, so a change in the machine's load touches them all alike. Compare
ratios, not seconds; no test asserts on timings.

Usage::

    python benchmarks/threads.py [--images 6] [--rounds 3] [--no-busy]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: (label, configured, threads (0: configure_threads chooses), runtime)
SETTINGS: tuple[tuple[str, bool, int, str], ...] = (
    ("unconfigured, 1 thread", False, 1, "torch"),
    ("unconfigured, 2 threads", False, 2, "torch"),
    ("configured, 1 thread", True, 1, "torch"),
    ("configured, 2 threads", True, 2, "torch"),
    ("configured, own choice", True, 0, "torch"),
    ("configured, own choice, ONNX Runtime", True, 0, "auto"),
)
_OUR_ENV = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "ANKLE_THREADS",
            "ANKLE_THREAD_PLAN")  # fmt: skip


def child(configured: bool, threads: int, runtime: str, n_images: int, cache: str) -> None:
    """In a fresh process: build the pipeline with these settings and time it (JSON out)."""
    if configured:
        from ankle_core.device import configure_threads

        configure_threads(threads=threads or None)
    import torch

    if not configured:
        torch.set_num_threads(threads)
    from ankle_core.inference.radiograph import RadiographPipeline
    from ankle_core.phantoms.disk_cache import PhantomDiskCache

    phantoms = PhantomDiskCache(Path(cache) / "phantoms")
    labels = ("lmaf", "sfo")
    images = [phantoms.radiograph(500 + i, labels[i % 2])[0] for i in range(n_images)]
    pipeline = RadiographPipeline.from_names(
        device="cpu", runtime=runtime, onnx_cache_dir=Path(cache) / "onnx"
    )
    pipeline.run(images[0])  # warm-up
    times = []
    for image in images:
        start = time.perf_counter()
        pipeline.run(image)
        times.append(time.perf_counter() - start)
    print(json.dumps({"median_s": statistics.median(times), "threads": torch.get_num_threads(),
                      "policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
                      "runtime": pipeline.runtime}))  # fmt: skip


def _run_child(setting: tuple[str, bool, int, str], n_images: int, cache: str) -> dict[str, object]:
    _, configured, threads, runtime = setting
    env = {k: v for k, v in os.environ.items() if k not in _OUR_ENV}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, __file__, "--child", json.dumps([configured, threads, runtime]),
           "--images", str(n_images), "--cache", cache]  # fmt: skip
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--images", type=int, default=6, help="radiographs per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--no-busy", action="store_true", help="no process keeping a core busy")
    parser.add_argument("--cache", default=str(ROOT / ".cache" / "ankle"), help="cache folder")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        configured, threads, runtime = json.loads(args.child)
        child(bool(configured), int(threads), str(runtime), args.images, args.cache)
        return 0
    busy = None
    if not args.no_busy:
        # spins until this process ends (even when it is killed: the loop checks its parent)
        spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"
        busy = subprocess.Popen([sys.executable, "-c", spin])
    try:
        _run_child(SETTINGS[-1], 2, args.cache)  # draws the phantoms and exports ONNX once
        load_before = os.getloadavg()
        medians: dict[str, list[float]] = {s[0]: [] for s in SETTINGS}
        seen: dict[str, dict[str, object]] = {}
        for _ in range(args.rounds):
            for setting in SETTINGS:
                got = _run_child(setting, args.images, args.cache)
                medians[setting[0]].append(float(got["median_s"]))  # type: ignore[arg-type]
                seen[setting[0]] = got
        load_after = os.getloadavg()
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    cores = len(os.sched_getaffinity(0))
    print(f"Radiograph pipeline, {args.images} phantom radiographs per run, median over "
          f"{args.rounds} interleaved rounds; {cores} cores; "
          f"{'one core kept busy by another process' if busy else 'no busy process'}")  # fmt: skip
    print(f"load average (1, 5, 15 min): before {load_before[0]:.1f} {load_before[1]:.1f} "
          f"{load_before[2]:.1f}, after {load_after[0]:.1f} {load_after[1]:.1f} "
          f"{load_after[2]:.1f}")  # fmt: skip
    result = {k: statistics.median(v) for k, v in medians.items()}
    for label, value in result.items():
        info = seen[label]
        print(f"  {label:<40} {value * 1000:8.1f} ms/image   (torch threads {info['threads']}, "
              f"OMP_WAIT_POLICY {info['policy']}, runtime {info['runtime']})")  # fmt: skip
    best_unconfigured = min(result[s[0]] for s in SETTINGS if not s[1])
    own = result["configured, own choice"]
    ratio = own / best_unconfigured
    print(f"configured (own choice) / better unconfigured: {ratio:.2f} (goal <= 1.0)")
    onnx = result["configured, own choice, ONNX Runtime"]
    print(f"app default (configured + ONNX Runtime) / better unconfigured: "
          f"{onnx / best_unconfigured:.2f}")  # fmt: skip
    return 0 if ratio <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
