"""The recipes' training data as torch ``DataLoader``s: workers, pinned memory, rank shares.

Every recipe (detector, classifier, CT) builds **one** ``DataLoader`` per training run and
iterates it once per epoch:

- ``--loader-workers W`` prepares (reads, augments) batches in W worker processes,
  **spawned**, never forked (a forked child of a process that already ran torch can hang in
  OpenMP, and CUDA cannot be forked), kept alive across epochs (``persistent_workers``).
  ``pin_memory`` is on when training on CUDA, so host-to-GPU copies can overlap compute.
- **Rank-aware samplers**: under DDP (``--devices N``, torchrun) each rank draws only its
  own share of every epoch, the same number of batches on every rank; the loop
  (:func:`~ankle_core.training.loop.fit` with ``per_rank=True``) then takes them all.
- **Reproducible augmentation.** The samplers yield ``(index, epoch)`` keys. With
  ``W = 0`` (the default) items are prepared in this process in batch order from the
  epoch's one seeded stream, exactly as before the loaders existed, so results are
  unchanged; with ``W > 0`` each item draws from its own generator seeded by
  ``(seed, epoch, index)``, the same whichever worker prepares it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any

import numpy as np
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    RandomSampler,
    Sampler,
)

from ankle_core.training.distributed import rank, world_size

__all__ = [
    "EpochKeys",
    "SeededBatches",
    "SeededItems",
    "ShuffledBatches",
    "collate_lists",
    "distributed_batches",
    "item_generator",
    "make_loader",
    "rank_share",
]

Key = tuple[int, int]  # (dataset index, epoch)


def item_generator(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one item's augmentation in a loader worker.

    >>> a = item_generator(0, 1, 2).random(); a == item_generator(0, 1, 2).random()
    True
    """
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def rank_share(batches: list[list[int]], world: int, me: int) -> list[list[int]]:
    """Every ``world``-th batch from ``me`` on, whole rounds only (equal counts per rank).

    >>> rank_share([[0], [1], [2], [3], [4]], 2, 1)
    [[1], [3]]
    """
    if world <= 1:
        return batches
    whole = len(batches) - len(batches) % world
    return batches[me:whole:world]


class SeededBatches(Sampler[list[int]]):
    """Shuffled batches from a numpy generator seeded by ``[seed, epoch]``, this rank's share.

    The radiograph recipes' batch order: ``rng.permutation(n)`` cut into ``batch_size``
    chunks; under DDP rank r takes chunks r, r + N, ... of whole rounds. :attr:`rng` is the
    epoch's generator after the permutation: in-process loading (:class:`SeededItems`
    without workers) continues that one stream for the augmentation.

    Args:
        n: dataset length.
        batch_size: items per batch.
        seed: base seed.
        world: ranks (None: the process group's).
        rank_: this rank (None: the process group's).

    >>> s = SeededBatches(5, 2, seed=0, world=1, rank_=0)
    >>> sorted(i for b in s for i in b)
    [0, 1, 2, 3, 4]
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        *,
        seed: int,
        world: int | None = None,
        rank_: int | None = None,
    ) -> None:
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.world = world_size() if world is None else int(world)
        self.rank = rank() if rank_ is None else int(rank_)
        self.epoch = 0
        self.rng: np.random.Generator = np.random.default_rng([self.seed, 0])

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration draws."""
        self.epoch = int(epoch)

    def _batches(self) -> list[list[int]]:
        self.rng = np.random.default_rng([self.seed, self.epoch])
        order = self.rng.permutation(self.n)
        chunks = [
            [int(i) for i in order[s : s + self.batch_size]]
            for s in range(0, self.n, self.batch_size)
        ]
        return rank_share(chunks, self.world, self.rank)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()

    def __len__(self) -> int:
        chunks = -(-self.n // self.batch_size)
        return chunks if self.world <= 1 else chunks // self.world


class ShuffledBatches(Sampler[list[int]]):
    """torch's shuffled batches (``DataLoader(shuffle=True)``), reseeded ``seed + epoch``.

    The CT recipe's batch order in one process: a ``RandomSampler`` with a generator seeded
    ``seed + epoch`` under a ``BatchSampler`` (the last batch may be short), exactly what
    ``DataLoader(dataset, batch_size, shuffle=True, generator=...)`` draws.

    >>> s = ShuffledBatches(5, 2, seed=0)
    >>> [len(b) for b in s]
    [2, 2, 1]
    """

    def __init__(self, n: int, batch_size: int, *, seed: int) -> None:
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose order the next iteration draws."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        # a DataLoader given this generator draws its workers' base seed from it first
        torch.empty((), dtype=torch.int64).random_(generator=gen)
        sampler = RandomSampler(range(self.n), generator=gen)
        yield from BatchSampler(sampler, self.batch_size, drop_last=False)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)


def distributed_batches(
    n: int, batch_size: int, *, seed: int, world: int | None = None, rank_: int | None = None
) -> BatchSampler:
    """Batches of torch's ``DistributedSampler``: this rank's shuffled share (equal sizes).

    Args:
        n: dataset length.
        batch_size: items per batch.
        seed: shuffle seed (``set_epoch`` on the result's ``sampler`` varies it).
        world: ranks (None: the process group's).
        rank_: this rank (None: the process group's).
    """
    sampler: DistributedSampler[int] = DistributedSampler(
        range(n),  # type: ignore[arg-type]
        num_replicas=world_size() if world is None else int(world),
        rank=rank() if rank_ is None else int(rank_),
        shuffle=True,
        seed=int(seed),
        drop_last=True,  # every rank the same number of items, so of batches
    )
    return BatchSampler(sampler, batch_size, drop_last=False)


class EpochKeys(Sampler[list[Key]]):
    """A batch sampler's batches with each index keyed by the epoch: ``[(i, epoch), ...]``.

    ``set_epoch`` is passed on to the inner batch sampler (or to its ``sampler``, as for a
    ``BatchSampler`` over a ``DistributedSampler``).
    """

    def __init__(self, inner: Iterable[list[int]]) -> None:
        self.inner = inner
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch of the next iteration."""
        self.epoch = int(epoch)
        targets: tuple[Any, ...] = (self.inner, getattr(self.inner, "sampler", None))
        for target in targets:
            if hasattr(target, "set_epoch"):
                target.set_epoch(self.epoch)
                return

    def __iter__(self) -> Iterator[list[Key]]:
        for batch in self.inner:
            yield [(int(i), self.epoch) for i in batch]

    def __len__(self) -> int:
        assert isinstance(self.inner, Sized)
        return len(self.inner)


class SeededItems(Dataset[Any]):
    """Items ``example(index, rng)`` keyed by ``(index, epoch)``.

    Args:
        example: a picklable callable (e.g. a bound method of the recipe's data) that
            prepares one item with a numpy generator.
        seed: base seed of the per-item generators (:func:`item_generator`).
        stream: the batch sampler whose :attr:`SeededBatches.rng` in-process loading
            continues (``None`` in loader workers: each item seeds its own generator).
    """

    def __init__(
        self,
        example: Callable[[int, np.random.Generator], Any],
        seed: int,
        stream: SeededBatches | None,
    ) -> None:
        self.example = example
        self.seed = int(seed)
        self.stream = stream

    def __getitem__(self, key: Key) -> Any:
        index, epoch = key
        if self.stream is not None:
            rng = self.stream.rng
        else:
            rng = item_generator(self.seed, epoch, index)
        return self.example(int(index), rng)


def collate_lists(items: list[tuple[Any, Any]]) -> tuple[list[Any], list[Any]]:
    """Collate ``(image, target)`` pairs of different sizes into two lists (detector)."""
    return [x for x, _ in items], [t for _, t in items]


def make_loader(
    dataset: Dataset[Any],
    batches: Sampler[list[Key]],
    *,
    workers: int,
    device: torch.device,
    collate: Callable[[list[Any]], Any] | None = None,
    global_rng: bool = False,
) -> DataLoader[Any]:
    """The recipe's training ``DataLoader``.

    Args:
        dataset: the items (keyed by ``(index, epoch)``).
        batches: the batch sampler (:class:`EpochKeys`); call its ``set_epoch`` before
            each epoch's iteration.
        workers: loader worker processes (0: prepare batches in this process).
        device: the training device (``pin_memory`` on CUDA).
        collate: how items become a batch (None: torch's default, stacking tensors).
        global_rng: draw each iteration's worker base seed from torch's global generator,
            as a plain ``DataLoader`` does (the CT recipe's grouped batches always did);
            otherwise from a private one, so the loader leaves the global stream (dropout,
            initialisation) as it was before the loaders existed.

    Returns:
        The loader: spawned, persistent workers when ``workers`` > 0.
    """
    if workers < 0:
        raise ValueError(f"loader workers must be at least 0, got {workers}.")
    options: dict[str, Any] = {
        "batch_sampler": batches,
        "num_workers": int(workers),
        "pin_memory": device.type == "cuda",
    }
    if collate is not None:
        options["collate_fn"] = collate
    if not global_rng:
        options["generator"] = torch.Generator().manual_seed(0)
    if workers > 0:
        options["persistent_workers"] = True
        options["multiprocessing_context"] = "spawn"
    return DataLoader(dataset, **options)
