"""Batches that keep a group's samples together (counterfactual pairs, a patient's scans).

The CT phantom exporter can write each seed twice, once with its fracture and once without
(``python -m ankle_core.phantoms export --kind ct --paired``), under one ``patient_id``. When
both halves of a pair land in the same mini-batch, each optimisation step sees two volumes
that differ only by the fracture, so the gradient points at the fracture rather than at the
anatomy; trained on shuffled single volumes, the demo 3D MobileNet stayed at chance on a
2-core CPU budget (see docs/ct.md). With real data the same sampler keeps a patient's scans
together, which is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

__all__ = ["GroupBatchSampler"]


class GroupBatchSampler:
    """Yield lists of dataset positions, each batch made of whole groups.

    Groups are shuffled each epoch (seeded) and packed in order into batches of about
    ``batch_size`` samples: a group is never split, so a batch exceeds ``batch_size`` only
    when a single group is larger than it. Pass as ``DataLoader(batch_sampler=...)``.

    Under DDP each rank takes every N-th batch of whole rounds (the same batches on every
    rank; see :func:`~ankle_core.training.loaders.rank_share`).

    Args:
        groups: the group key of each dataset position.
        batch_size: target samples per batch (at least 1).
        seed: seed of the shuffle; epoch ``e`` uses ``[seed, e]``.
        world: ranks (None: the process group's, 1 without one).
        rank_: this rank (None: the process group's).

    >>> sampler = GroupBatchSampler(["a", "a", "b", "b", "c", "c"], batch_size=4, seed=0)
    >>> sorted(len(b) for b in sampler)
    [2, 4]
    """

    def __init__(
        self,
        groups: Sequence[str],
        batch_size: int,
        *,
        seed: int = 0,
        world: int | None = None,
        rank_: int | None = None,
    ) -> None:
        from ankle_core.training.distributed import rank, world_size

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        members: dict[str, list[int]] = {}
        for position, key in enumerate(groups):
            members.setdefault(str(key), []).append(position)
        self._groups = list(members.values())
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.epoch = 0
        self.world = world_size() if world is None else int(world)
        self.rank = rank() if rank_ is None else int(rank_)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose shuffle the next iteration uses."""
        self.epoch = int(epoch)

    def _all(self) -> Iterator[list[int]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self._groups))
        batch: list[int] = []
        for g in order:
            group = self._groups[int(g)]
            if batch and len(batch) + len(group) > self.batch_size:
                yield batch
                batch = []
            batch.extend(group)
        if batch:
            yield batch

    def __iter__(self) -> Iterator[list[int]]:
        if self.world <= 1:
            yield from self._all()
            return
        from ankle_core.training.loaders import rank_share

        yield from rank_share(list(self._all()), self.world, self.rank)

    def __len__(self) -> int:
        return sum(1 for _ in self)
