"""The benchmark's --quick path runs (no timing assertions)."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_quick_benchmark_runs(capsys):
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "stats.py"
    spec = importlib.util.spec_from_file_location("stats_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lines = module.run(quick=True)
    assert any(line.startswith("DeLong") and "ratio" in line for line in lines)
    assert any("mrmc_or" in line for line in lines)
    assert "Bootstrap" in capsys.readouterr().out
