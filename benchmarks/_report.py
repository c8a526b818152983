"""The benchmarks' one way to hand their figures over: printed as JSON, optionally saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def emit(figures: dict[str, Any], path: Path | None = None) -> None:
    """Print ``figures`` as indented JSON and, with ``path``, write the same text there."""
    text = json.dumps(figures, indent=2)
    print(text)
    if path is not None:
        path.write_text(text, encoding="utf-8")
