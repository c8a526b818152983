"""Imports inside ankle_core go down the layers that docs/architecture.md writes down.

The layer table is read from the document itself, so the two cannot drift. Every import is
checked: module-level and inside functions, under ``TYPE_CHECKING``, relative ones, and
module names given to ``importlib`` as string constants.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "ankle_core"
DOC = ROOT / "docs" / "architecture.md"

# Imports that break the order today and are being fixed on other branches. The lead
# empties this set as those land; never add to it to make a new import pass.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()


def layer_table() -> dict[str, int]:
    """Package -> layer number, from the ``| n | `pkg`, ... |`` rows of the document."""
    layers: dict[str, int] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        row = re.match(r"^\|\s*(\d+)\s*\|([^|]*)\|", line)
        if row:
            for name in re.findall(r"`([a-z_0-9]+)`", row[2]):
                layers[name] = int(row[1])
    return layers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, module: str) -> set[str]:
    """Every ``ankle_core`` module that ``path`` (the module ``module``) imports, anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module.split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
        elif (  # module names handed to importlib (registries, CLI dispatch)
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and re.fullmatch(r"ankle_core(\.[a-z_0-9]+)+", node.value)
        ):
            found.add(node.value)
    return {m for m in found if m == "ankle_core" or m.startswith("ankle_core.")}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def violations() -> set[tuple[str, str]]:
    """``(importer module, imported package as ankle_core.<pkg>)`` pairs that go up or sideways."""
    layers = layer_table()
    bad: set[tuple[str, str]] = set()
    for path in sorted(CORE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        importer = module_name(path)
        own = package_of(importer)
        if not own:  # ankle_core/__init__.py re-exports from any layer
            continue
        for target in imported_modules(path, importer):
            other = package_of(target)
            if not other or other == own or other not in layers:
                continue
            if layers[other] >= layers[own]:
                bad.add((importer, f"ankle_core.{other}"))
    return bad


def test_the_document_places_every_package() -> None:
    layers = layer_table()
    assert {"errors", "types", "stats", "models", "explain", "inference"} <= set(layers)
    present = {
        p.stem if p.is_file() else p.name
        for p in CORE.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert present - set(layers) == set(), "add the new package to docs/architecture.md"


def test_imports_only_go_down_the_layers() -> None:
    found = violations()
    new = found - KNOWN_VIOLATIONS
    assert not new, "imports against docs/architecture.md's layer order:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in sorted(new)
    )


def test_known_violations_are_still_real() -> None:
    """When a fix lands, its entry must go: the set only shrinks."""
    stale = KNOWN_VIOLATIONS - violations()
    assert not stale, f"fixed, remove from KNOWN_VIOLATIONS: {sorted(stale)}"


def test_the_walker_sees_function_level_and_importlib_imports(tmp_path: Path) -> None:
    source = (
        "import importlib\n"
        "def f():\n"
        "    from ankle_core.inference import ct\n"
        "    return importlib.import_module('ankle_core.training.cli')\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(source + "from ..models import card\n")
    found = imported_modules(probe, "ankle_core.stats.probe")
    assert {"ankle_core.inference", "ankle_core.training.cli", "ankle_core.models"} <= found
