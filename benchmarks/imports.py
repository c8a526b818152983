"""Import time of each entry point, runnable by hand: ``python benchmarks/imports.py``.

Each entry point's imports run in a fresh interpreter (median of ``--repeats``), and the
heavy libraries it pulled in are listed: the dashboard's shell and each page module, every
``python -m ankle_core...`` command's ``--help``, and the two pipelines. A bare interpreter
(``python -c pass``) is the floor. Compare ratios, not seconds (the load average is
printed); no test asserts on timings.

Usage::

    python benchmarks/imports.py [--repeats 3]
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
HEAVY = ("torch", "monai", "captum", "onnxruntime", "torchvision", "scipy", "plotly")

#: label -> Python code run in a fresh interpreter (imports only).
ENTRY_POINTS: dict[str, str] = {
    "bare interpreter": "pass",
    "dashboard shell (app.py imports)": "import ui.resources, ui.history, ui.shell, ui.widgets",
    "page: radiograph": "import ui.radiograph_panel, ui.localiser_panel, ui.pacs_panel",
    "page: CT": "import ui.ct_panel, ui.volume_views",
    "page: cohort": "import ui.cohort",
    "page: teaching library": "import ui.teaching",
    "radiograph pipeline": "from ankle_core.inference.radiograph import RadiographPipeline",
    "CT pipeline": "from ankle_core.inference.ct import CtPipeline",
}
CLIS = ("inference", "training", "io", "phantoms", "stats", "pacs")


def _measure(code: str) -> tuple[float, list[str]]:
    probe = (
        "import sys, json, time; t = time.perf_counter();\n"
        f"{code}\n"
        f"print(json.dumps([time.perf_counter() - t, [m for m in {HEAVY!r} if m in sys.modules]]))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True,
                         text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - start
    _, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, list(loaded)


def _measure_cli(module: str) -> tuple[float, list[str]]:
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['{module}', '--help']\n"
        "try:\n"
        f"    runpy.run_module('ankle_core.{module}', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass"
    )
    return _measure(code)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rows: list[tuple[str, float, list[str]]] = []
    jobs = [(k, lambda c=c: _measure(c)) for k, c in ENTRY_POINTS.items()]
    jobs += [(f"python -m ankle_core.{m} --help", lambda m=m: _measure_cli(m)) for m in CLIS]
    for label, job in jobs:
        runs = [job() for _ in range(args.repeats)]
        rows.append((label, statistics.median(r[0] for r in runs), runs[-1][1]))
    floor = rows[0][1]
    print(f"{'entry point':<44} {'wall s':>7} {'x bare':>7}  heavy modules imported")
    for label, wall, loaded in rows:
        print(f"{label:<44} {wall:7.2f} {wall / floor:7.1f}  {', '.join(loaded) or '-'}")
    print(f"load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
