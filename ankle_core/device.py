"""Choosing the torch device: CUDA when present, otherwise the CPU."""

from __future__ import annotations

import torch

from ankle_core.errors import InvalidInputError

__all__ = ["resolve_device"]


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a ``torch.device``.

    Args:
        spec: ``"auto"`` picks CUDA when ``torch.cuda.is_available()``, else the CPU.

    Returns:
        The device to run on.

    Raises:
        InvalidInputError: CUDA was asked for but is not available, or the spec is unknown.

    >>> resolve_device("cpu").type
    'cpu'
    """
    if isinstance(spec, torch.device):
        return spec
    text = spec.strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if text == "cpu":
        return torch.device("cpu")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInputError("CUDA was requested but no CUDA GPU is available here.")
        return torch.device(text)
    raise InvalidInputError(f"Unknown device {spec!r}: use 'auto', 'cpu' or 'cuda'.")
