"""Networks, weights and model cards.

- ``card``: :class:`ModelCard` and :class:`OperatingPoints`, read from ``card.json``; a
  card's ``task`` is a :class:`ModelTask`, and :func:`models_for_task` picks models by it.
- ``weights``: :func:`load_model` (hash-checked safetensors) and :func:`save_model`.
- ``registry``: architecture builders by name (``register_architecture``).
- ``classifier2d``, ``detector``, ``cnn3d``: the networks themselves (registered on import).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ankle_core.models.card import (
    SYNTHETIC_DISCLAIMER,
    ModelCard,
    ModelTask,
    OperatingPoints,
    models_for_task,
)
from ankle_core.models.registry import architectures, build_network, register_architecture

if TYPE_CHECKING:
    from ankle_core.models.weights import LoadedModel, list_models, load_model, save_model

#: Names whose module imports torch: loaded on first use, so that reading cards (the
#: dashboard's first page) does not pay for torch.
_LAZY = {
    name: "ankle_core.models.weights"
    for name in ("LoadedModel", "list_models", "load_model", "save_model")
}

__all__ = [
    "SYNTHETIC_DISCLAIMER",
    "LoadedModel",
    "ModelCard",
    "ModelTask",
    "OperatingPoints",
    "architectures",
    "build_network",
    "list_models",
    "load_model",
    "models_for_task",
    "register_architecture",
    "save_model",
]


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
