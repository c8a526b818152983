"""Networks, weights and model cards.

- ``card``: :class:`ModelCard` and :class:`OperatingPoints`, read from ``card.json``.
- ``weights``: :func:`load_model` (hash-checked safetensors) and :func:`save_model`.
- ``registry``: architecture builders by name (``register_architecture``).
- ``classifier2d``, ``detector``, ``cnn3d``: the networks themselves (registered on import).
"""

from ankle_core.models.card import SYNTHETIC_DISCLAIMER, ModelCard, OperatingPoints
from ankle_core.models.registry import architectures, build_network, register_architecture
from ankle_core.models.weights import LoadedModel, list_models, load_model, save_model

__all__ = [
    "SYNTHETIC_DISCLAIMER",
    "LoadedModel",
    "ModelCard",
    "OperatingPoints",
    "architectures",
    "build_network",
    "list_models",
    "load_model",
    "register_architecture",
    "save_model",
]
