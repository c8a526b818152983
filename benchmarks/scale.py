"""Archive-scale ratio benchmark, runnable by hand: ``python benchmarks/scale.py``.

Prints (and writes as JSON with ``--json``), from one run on this machine:

1. ``radiograph``: the same N exported phantom radiographs (default 500) through the local
   engine (1 process, and 2 spawned workers x 1 thread) and the Ray engine with 1 and with
   2 single-threaded actors on a local cluster: the steady cases/s and the start-up overhead
   of each (a 2-point fit: every configuration also runs the first N/10 cases), the ratios
   of the steady rates, and the peak memory of the run (the process tree's largest resident
   set, sampled).
2. ``ct``: the same for 40 CT phantoms.
3. ``cohort``: the cohort report (``build_report``, B = 1000) at 10^5 and 10^6 synthetic
   cases: seconds and peak memory (each size in a fresh process).

Every timing is one run; the machine is shared, so the load average is printed with each
figure and ratios (taken minutes apart) are what to read. Phantoms are synthetic: nothing
here is a clinical result.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]


def _load() -> float:
    return round(os.getloadavg()[0], 1)


class _PeakRss:
    """Samples the resident memory of this process and all its descendants (MB)."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree_rss_mb(self) -> float:
        pids, total = {os.getpid()}, 0.0
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(stat[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                continue
        todo = [os.getpid()]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in pids:
                    pids.add(child)
                    todo.append(child)
        for pid in pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += float(line.split()[1]) / 1024
            except OSError:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, self._tree_rss_mb())

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cli(kind: str, folder: Path, out: Path, extra: list[str]) -> dict[str, Any]:
    """One batch CLI run in a fresh process: wall seconds, peak memory, its summary line."""
    cmd = [sys.executable, "-m", "ankle_core.inference", kind, str(folder), "--out", str(out),
           "--no-progress", "--device", "cpu", *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    load = _load()
    t0 = time.perf_counter()
    with _PeakRss() as rss:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return {"wall_s": round(wall, 1), "peak_mb": round(rss.peak), "load": load,
            "summary": done.stdout.strip().splitlines()[-1]}  # fmt: skip


_SUMMARY = re.compile(r"([0-9.]+) s, ([0-9.]+) cases/s")


def _subset(folder: Path, dest: Path, k: int) -> Path:
    """A folder of links to the first ``k`` cases of ``folder``."""
    dest.mkdir()
    for f in sorted(p for p in folder.iterdir() if p.is_file() or p.is_dir())[:k]:
        (dest / f.name).symlink_to(f)
    return dest


def _engines(kind: str, folder: Path, n: int, batch: int, small: int) -> dict[str, Any]:
    """Local (1 process x 2 threads; 2 workers x 1 thread) against Ray (1 and 2 actors x 1
    thread), each on all ``n`` cases and on the first ``small``.

    Throughput is the steady rate of the two-point fit, ``(n - small) / (t_n - t_small)``
    with ``t`` the run time the CLI reports (engine start-up included, Python's imports
    not); the start-up overhead is ``t_n - n / rate``. Both are per configuration, so the
    ratios compare how fast each engine works once running, and start-up is shown beside
    them (Ray's local cluster takes tens of seconds to start on 2 cores).
    """
    configs = {
        "local_1x2threads": ["--threads", "2"],
        "local_2x1thread": ["--workers", "2", "--threads", "1"],
        "ray_1x1thread": ["--engine", "ray", "--workers", "1", "--threads", "1"],
        "ray_2x1thread": ["--engine", "ray", "--workers", "2", "--threads", "1"],
    }
    out: dict[str, Any] = {"n": n, "n_small": small, "batch_size": batch}
    with tempfile.TemporaryDirectory() as tmp:
        few = _subset(folder, Path(tmp) / "few", small)
        for name, extra in configs.items():
            args = [*extra, "--batch-size", str(batch)]
            res = _cli(kind, folder, Path(tmp) / f"{name}.csv", args)
            res_small = _cli(kind, few, Path(tmp) / f"{name}-few.csv", args)
            t_n = float(_SUMMARY.findall(res["summary"])[-1][0])
            t_small = float(_SUMMARY.findall(res_small["summary"])[-1][0])
            rate = (n - small) / (t_n - t_small) if t_n > t_small else float("nan")
            res.update(
                run_s=t_n,
                run_small_s=t_small,
                steady_cases_per_s=round(rate, 3),
                startup_s=round(t_n - n / rate, 1),
                cases_per_s=round(n / t_n, 3),
            )
            out[name] = res
            print(f"{kind} {name}: {res}", flush=True)
    rates = {name: out[name]["steady_cases_per_s"] for name in configs}
    best_local = max(rates["local_1x2threads"], rates["local_2x1thread"])
    out["ratio_ray2_over_ray1"] = round(rates["ray_2x1thread"] / rates["ray_1x1thread"], 2)
    out["ratio_ray2_over_best_local"] = round(rates["ray_2x1thread"] / best_local, 2)
    print(
        f"{kind}: steady Ray 2 / Ray 1 = {out['ratio_ray2_over_ray1']} (goal >= 1.6); "
        f"Ray 2 / best local = {out['ratio_ray2_over_best_local']} (goal >= 0.9)",
        flush=True,
    )
    return out


def radiograph(n: int, models_dir: str | None) -> dict[str, Any]:
    """Section 1: exported phantom radiographs through both engines."""
    from ankle_core.phantoms import export_dataset

    with tempfile.TemporaryDirectory() as tmp:
        export_dataset(Path(tmp), n, "radiograph", seed=2026)
        folder = Path(tmp) / "radiographs"
        res = _engines("radiograph", folder, n, batch=4, small=max(8, n // 10))
    return res


def ct(n: int) -> dict[str, Any]:
    """Section 2: CT phantoms (NIfTI) through both engines."""
    from ankle_core.phantoms.ct import make_volume
    from ankle_core.phantoms.writers import write_ct_nifti

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "ct"
        folder.mkdir()
        for i in range(n):
            write_ct_nifti(folder / f"case_{i:03d}.nii.gz", make_volume(9000 + i, i % 2 == 0))
        res = _engines("ct", folder, n, batch=2, small=max(4, n // 5))
    return res


def _cohort_one(n: int, n_boot: int) -> None:
    """Child process: one cohort report at n cases; prints its seconds and peak memory."""
    import numpy as np
    import pandas as pd

    from ankle_core.stats.report import build_report

    rng = np.random.default_rng(n)
    y = (rng.random(n) < 0.3).astype(int)
    raw = rng.normal(size=n) + 1.2 * y
    # two models, scores rounded to 4 decimals as the batch CSVs write them
    df = pd.DataFrame(
        {"y": y, "model_a": np.round(1 / (1 + np.exp(-raw)), 4),
         "model_b": np.round(1 / (1 + np.exp(-(raw + rng.normal(size=n)))), 4)}
    )  # fmt: skip
    t0 = time.perf_counter()
    build_report(df, "y", ["model_a", "model_b"], n_boot=n_boot, seed=0)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "n_boot": n_boot, "seconds": round(seconds, 1),
                      "peak_mb": round(peak_mb)}))  # fmt: skip


def cohort(sizes: list[int], n_boot: int) -> list[dict[str, Any]]:
    """Section 3: the cohort report at each size, each in a fresh process."""
    results = []
    for n in sizes:
        load = _load()
        done = subprocess.run(
            [sys.executable, __file__, "_cohort_one", str(n), str(n_boot)],
            cwd=ROOT, capture_output=True, text=True, check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        res = {**json.loads(done.stdout.strip().splitlines()[-1]), "load": load}
        print(f"cohort: {res}", flush=True)
        results.append(res)
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; print and optionally save the figures."""
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "_cohort_one":
        _cohort_one(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sections", nargs="*", default=["radiograph", "ct", "cohort"])
    p.add_argument("--n-radiographs", type=int, default=500)
    p.add_argument("--n-ct", type=int, default=40)
    p.add_argument("--cohort-sizes", default="100000,1000000")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--models-dir", default=None)
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args(argv)
    results: dict[str, Any] = {"cores": os.cpu_count(), "load_start": _load()}
    if "cohort" in args.sections:
        sizes = [int(s) for s in args.cohort_sizes.split(",")]
        results["cohort"] = cohort(sizes, args.n_boot)
    if "radiograph" in args.sections:
        results["radiograph"] = radiograph(args.n_radiographs, args.models_dir)
    if "ct" in args.sections:
        results["ct"] = ct(args.n_ct)
    results["load_end"] = _load()
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
