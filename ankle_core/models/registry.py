"""Registry of network builders, keyed by the ``architecture`` name a model card records.

A builder takes the card's ``architecture_params`` plus the card itself and returns an
``nn.Module`` with freshly initialised weights (the loader then fills them from
``model.safetensors``). Modules that define networks register them with
:func:`register_architecture`; the registry imports those modules on first use, so that
importing ``ankle_core.models`` stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ankle_core.errors import ModelLoadError

if TYPE_CHECKING:
    from torch import nn

    from ankle_core.models.card import ModelCard

__all__ = ["Builder", "architectures", "build_network", "register_architecture"]

Builder = Callable[..., "nn.Module"]

#: Modules that register builders when imported. Add a module here when you add networks.
_BUILDER_MODULES: tuple[str, ...] = (
    "ankle_core.models.classifier2d",
    "ankle_core.models.detector",
    "ankle_core.models.cnn3d",
    "ankle_core.models.retinanet_localiser",
    "ankle_core.models.fracture_heatmap",
)
#: Where the bundled architectures live, so that building one imports only its module (a 2D
#: model never imports MONAI). Architectures not listed are found by importing them all.
_HOMES: dict[str, str] = {
    "lmaf_classifier": "ankle_core.models.classifier2d",
    "retinanet_fragment": "ankle_core.models.detector",
    "ct_mobilenet3d": "ankle_core.models.cnn3d",
    "ct_resnet": "ankle_core.models.cnn3d",
    "ct_efficientnet": "ankle_core.models.cnn3d",
}
_REGISTRY: dict[str, Builder] = {}
_loaded = False


def register_architecture(name: str) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder(**architecture_params) -> nn.Module`` under ``name``."""

    def decorator(builder: Builder) -> Builder:
        if name in _REGISTRY and _REGISTRY[name] is not builder:
            raise ValueError(f"Architecture {name!r} is registered twice.")
        _REGISTRY[name] = builder
        return builder

    return decorator


def _load_builder_modules() -> None:
    global _loaded
    if _loaded:
        return
    for module in _BUILDER_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a real missing dependency, not an absent module
                raise
    _loaded = True


def architectures() -> list[str]:
    """Sorted names of every registered architecture."""
    _load_builder_modules()
    return sorted(_REGISTRY)


def build_network(card: ModelCard, **overrides: Any) -> nn.Module:
    """Instantiate the network a card describes (weights not loaded).

    Args:
        card: the model card; ``card.architecture`` selects the builder and
            ``card.architecture_params`` are its keyword arguments.
        **overrides: keyword arguments that replace the card's parameters.

    Raises:
        ModelLoadError: the architecture is unknown.
    """
    home = _HOMES.get(card.architecture)
    if card.architecture not in _REGISTRY and home is not None:
        importlib.import_module(home)
    if card.architecture not in _REGISTRY:
        _load_builder_modules()
    builder = _REGISTRY.get(card.architecture)
    if builder is None:
        raise ModelLoadError(
            f"Unknown architecture {card.architecture!r}; known: {', '.join(sorted(_REGISTRY))}."
        )
    params = {**dict(card.architecture_params), **overrides}
    return builder(**params)
