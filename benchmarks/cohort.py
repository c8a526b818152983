"""The cohort page's default run, runnable by hand: ``python benchmarks/cohort.py``.

The Cohort page's default (24 phantom radiographs, LMAF vs SFO, every installed classifier)
through the same function the page calls (``ui.cohort.phantom_predictions``, with the
app's settings: chosen threads, ONNX Runtime, the phantoms kept under the cache folder), in
two fresh processes one after the other, as two server starts would. For each it prints the
run's time divided by the sum of the pipelines' own times (goal at most 1.2: the run adds
little to the models' work) and how many phantoms it drew or read from disk (the second
process must draw none). The models are loaded before the clock starts, as the app warms
them in the background. Compare ratios, not seconds; no test asserts on timings.

Usage::

    python benchmarks/cohort.py [--n 24]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ankle_core.device import configure_threads_for_cli  # noqa: E402

configure_threads_for_cli(sys.argv[1:])  # before torch loads: passive waits, chosen threads


def child(n: int) -> None:
    """One server's worth: warm the models, then time the page's cohort run (JSON out)."""
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)  # bare mode: no runtime warnings
    from ankle_core.inference.radiograph import RadiographPipeline
    from ui import cohort, resources

    settings = resources.settings()
    models_dir = str(settings.models_dir)
    cards = resources.model_cards(models_dir)
    models = [name for name, c in cards.items() if c.spatial_dims == 2 and "vs" in c.task]
    spent = [0.0]
    run = RadiographPipeline.run

    def timed_run(self: RadiographPipeline, radiograph: object) -> object:
        start = time.perf_counter()
        try:
            return run(self, radiograph)  # type: ignore[arg-type]
        finally:
            spent[0] += time.perf_counter() - start

    for model in models:  # loaded (and exported) before the clock, as the app warms them
        resources.radiograph_pipeline("lmaf-fragment-detector", model, models_dir, "cpu")
    RadiographPipeline.run = timed_run  # type: ignore[method-assign,assignment]
    start = time.perf_counter()
    frame = cohort.phantom_predictions("radiograph", models, n, 1000, settings, lambda f, m: None)
    total = time.perf_counter() - start
    phantoms = resources.phantom_cache()
    got = {"total_s": total, "pipelines_s": spent[0], "rows": len(frame), "models": models}
    print(json.dumps({**got, "draws": phantoms.draws, "hits": phantoms.hits}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=24, help="phantom cases (the page's default)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return 0
    print(f"load average at the start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    env = dict(os.environ, ANKLE_DEVICE="cpu", PYTHONPATH=str(ROOT))
    status = 0
    for label in ("first process", "second process (a new server)"):
        cmd = [sys.executable, __file__, "--child", "--n", str(args.n)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=ROOT)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        ratio = got["total_s"] / got["pipelines_s"]
        print(f"{label}: {got['rows']} cases x {len(got['models'])} classifiers "
              f"({', '.join(got['models'])}); run {got['total_s']:.2f} s, pipelines "
              f"{got['pipelines_s']:.2f} s, ratio {ratio:.2f} (goal <= 1.2); phantoms drawn "
              f"{got['draws']}, read from disk {got['hits']}")  # fmt: skip
        if label.startswith("second") and (got["draws"] > 0 or ratio > 1.2):
            status = 1
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return status


if __name__ == "__main__":
    sys.exit(main())
