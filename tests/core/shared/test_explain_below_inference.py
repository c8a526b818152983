"""``explain`` sits strictly below ``inference``: no module of it names the pipelines.

A static scan of the source (no import needed), so a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ankle_core.explain


def _imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_explain_never_imports_inference() -> None:
    package = Path(ankle_core.explain.__file__).parent
    offenders = {
        f"{path.name}: {name}"
        for path in sorted(package.glob("*.py"))
        for name in _imported_modules(path)
        if name == "ankle_core.inference" or name.startswith("ankle_core.inference.")
    }
    assert not offenders
    assert len(list(package.glob("*.py"))) >= 5  # the scan did find the package's modules


def test_the_seg_export_takes_no_threshold_of_its_own() -> None:
    import ankle_core.export.ct_seg as ct_seg

    names = _imported_modules(Path(ct_seg.__file__))
    assert not any(n.startswith("ankle_core.explain") for n in names)
    assert "ankle_core.export.series" in names  # the scan did read the module's imports
