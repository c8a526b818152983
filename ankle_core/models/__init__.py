"""Networks, weights and model cards.

- ``card``: :class:`ModelCard` and :class:`OperatingPoints`, read from ``card.json``; a
  card's ``task`` is a :class:`ModelTask`, and :func:`models_for_task` picks models by it.
- ``weights``: :func:`load_model` (hash-checked safetensors) and :func:`save_model`.
- ``registry``: architecture builders by name (``register_architecture``).
- ``classifier2d``, ``detector``, ``cnn3d``: the networks themselves (registered on import).
"""

from ankle_core.models.card import (
    SYNTHETIC_DISCLAIMER,
    ModelCard,
    ModelTask,
    OperatingPoints,
    models_for_task,
)
from ankle_core.models.registry import architectures, build_network, register_architecture
from ankle_core.models.weights import LoadedModel, list_models, load_model, save_model

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
