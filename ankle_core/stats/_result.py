"""Shared plumbing for frozen result objects: JSON-safe ``to_dict`` and read-only arrays."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Result", "frozen_array", "jsonable"]


def frozen_array(values: npt.ArrayLike, dtype: type = np.float64) -> npt.NDArray[Any]:
    """Return a read-only copy of ``values`` as a numpy array of ``dtype``.

    Args:
        values: Anything numpy can turn into an array.
        dtype: The element type of the copy.

    Returns:
        A new array with ``flags.writeable`` set to ``False``.
    """
    arr: npt.NDArray[Any] = np.array(values, dtype=dtype, copy=True)
    arr.setflags(write=False)
    return arr


def jsonable(value: Any) -> Any:
    """Convert a result value to plain JSON types.

    Arrays become lists, numpy scalars become Python numbers, non-finite floats (NaN, ±inf)
    become ``None`` (strict JSON has no NaN), nested results become dicts.

    Args:
        value: A number, string, array, sequence, mapping, dataclass or ``None``.

    Returns:
        The same content made of ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``
        and ``None`` only.
    """
    if isinstance(value, Result):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


class Result:
    """Mixin for frozen dataclass results: ``to_dict()`` gives a JSON-serialisable dict."""

    def to_dict(self) -> dict[str, Any]:
        """Return every field as plain JSON types (NaN and inf become ``None``).

        Returns:
            A dict keyed by field name.
        """
        assert dataclasses.is_dataclass(self)
        return {f.name: jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}
