"""The library never imports Streamlit (STYLE.md: imports go pages -> ui -> ankle_core)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import ankle_core


def test_importing_every_ankle_core_module_does_not_import_streamlit() -> None:
    root = Path(ankle_core.__file__).parent
    names = ["ankle_core"] + [
        m.name
        for m in pkgutil.walk_packages([str(root)], prefix="ankle_core.")
        if not m.name.endswith("__main__") and ".migrations." not in m.name
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n"
        "print(len(sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(names) > 10
