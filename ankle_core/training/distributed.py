"""Data-parallel training helpers: ranks, the device of this rank, DDP, batch sharding.

Under ``torchrun`` or Ray Train (``--devices N``, :mod:`ankle_core.scale.train`) every
worker runs the same training code; these helpers make it data-parallel and are no-ops in a
single process:

- :func:`train_device` takes ``LOCAL_RANK`` into account (``cuda:<local rank>``) and accepts
  ``mps`` where present;
- :func:`prepare_model` wraps the network in ``DistributedDataParallel`` when a process group
  is up (gradients are averaged across ranks in each backward pass);
- :func:`shard` gives each rank every ``world``-th batch of the epoch's shared, seeded batch
  order, the same number on every rank (a last incomplete round is dropped), so ranks see
  disjoint data and never wait on each other;
- :func:`is_main_process` gates checkpoints, cards and console output to rank 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ankle_core.errors import InvalidInputError

__all__ = [
    "all_mean",
    "is_main_process",
    "local_rank",
    "prepare_model",
    "rank",
    "shard",
    "train_device",
    "unwrap",
    "world_size",
]

T = TypeVar("T")


def _up() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Processes in the training job (1 without a process group)."""
    return dist.get_world_size() if _up() else 1


def rank() -> int:
    """This process's global rank (0 without a process group)."""
    return dist.get_rank() if _up() else 0


def local_rank() -> int:
    """This process's rank on its node: ``LOCAL_RANK`` (set by torchrun and Ray Train)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    """True on rank 0: the process that writes checkpoints, cards and summaries."""
    return rank() == 0


def train_device(spec: str = "auto") -> torch.device:
    """The device this rank trains on.

    Args:
        spec: ``"auto"`` (CUDA, else Apple ``mps``, else CPU), ``"cpu"``, ``"cuda"`` (this
            rank's GPU, ``cuda:LOCAL_RANK``), ``"cuda:N"`` or ``"mps"``.

    Returns:
        The device.

    Raises:
        InvalidInputError: the device was asked for but is not available here.

    >>> train_device("cpu").type
    'cpu'
    """
    text = spec.strip().lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not has_mps:
            raise InvalidInputError("mps was requested but Apple's Metal backend is not here.")
        return torch.device("mps")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InvalidInputError("CUDA was requested but no CUDA GPU is available here.")
        return torch.device(text if ":" in text else f"cuda:{local_rank()}")
    raise InvalidInputError(f"Unknown device {spec!r}: use 'auto', 'cpu', 'cuda' or 'mps'.")


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """The network on ``device``, wrapped in DDP when several processes train together.

    Call the returned module in the training step (its backward pass averages the
    gradients across ranks); save :func:`unwrap` of it.
    """
    model = model.to(device)
    if world_size() <= 1:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a DDP wrapper (the module itself otherwise)."""
    inner = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    assert isinstance(inner, nn.Module)
    return inner


def shard(batches: Iterable[T]) -> Iterator[T]:
    """This rank's share of an epoch's batches: every ``world``-th, whole rounds only.

    Every rank must iterate the same batch order (seeded from the epoch), as the project's
    batch generators do.

    >>> list(shard(range(5)))  # one process: everything
    [0, 1, 2, 3, 4]
    """
    world, me = world_size(), rank()
    if world <= 1:
        yield from batches
        return
    round_: list[T] = []
    for batch in batches:
        round_.append(batch)
        if len(round_) == world:
            yield round_[me]
            round_ = []


def all_mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over ranks (the tensor itself in one process)."""
    if world_size() <= 1:
        return value
    out = value.detach().clone()
    dist.all_reduce(out)
    return out / world_size()
