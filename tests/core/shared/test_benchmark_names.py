"""The benchmark scripts must not shadow installed modules.

``python benchmarks/x.py`` puts ``benchmarks/`` first on ``sys.path``, so a script named like
an installed package (``onnx.py`` did) replaces it for every benchmark: ONNX export then
failed with "'onnx' is not a package" and the benchmarks silently measured torch instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"


def test_no_benchmark_script_is_named_like_an_installed_module() -> None:
    scripts = sorted(p.stem for p in BENCHMARKS.glob("*.py"))
    assert "threads" in scripts  # the folder was found
    shadowing = [name for name in scripts if importlib.util.find_spec(name) is not None]
    assert shadowing == [], f"rename these benchmark scripts: {shadowing}"
