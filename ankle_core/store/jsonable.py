"""Turn pipeline results into JSON-ready values for the case history.

Results are frozen dataclasses holding boxes, tuples, mappings and sometimes large arrays
(a CT heat map). :func:`to_jsonable` keeps every scalar and small array and replaces a large
array by a short description, so a stored case stays small.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MAX_ARRAY_ELEMENTS", "to_jsonable"]

#: Arrays with more elements than this are summarised, not stored.
MAX_ARRAY_ELEMENTS = 64


def to_jsonable(value: Any) -> Any:
    """Convert ``value`` recursively to dicts, lists, str, int, float, bool and None.

    Args:
        value: dataclasses, mappings, sequences, numpy scalars and arrays, dates, paths.

    Returns:
        A JSON-serialisable value. Non-finite floats become None; arrays larger than
        :data:`MAX_ARRAY_ELEMENTS` become ``{"array_shape": [...], "dtype": "..."}``.

    >>> from ankle_core.types import Box2D
    >>> to_jsonable({"box": Box2D(1, 2, 3, 4), "p": np.float32(0.5)})
    {'box': {'x0': 1, 'y0': 2, 'x1': 3, 'y1': 4}, 'p': 0.5}
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.size > MAX_ARRAY_ELEMENTS:
            return {"array_shape": list(value.shape), "dtype": str(value.dtype)}
        return to_jsonable(value.tolist())
    if hasattr(value, "__array__") and hasattr(value, "shape") and hasattr(value, "dtype"):
        # an array computed on demand (a CT result's lazy heat map): described, never made
        size = math.prod(int(n) for n in value.shape)
        if size > MAX_ARRAY_ELEMENTS:
            return {"array_shape": [int(n) for n in value.shape], "dtype": str(value.dtype)}
        return to_jsonable(np.asarray(value).tolist())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return value.name
    return str(value)
