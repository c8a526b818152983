"""The recipes' DataLoaders: in-process loading draws exactly the batches of the old batch
generators, loader workers are reproducible, and rank-aware samplers split every epoch
into disjoint, equal shares."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ankle_core.training.batching import GroupBatchSampler
from ankle_core.training.datasets2d import ClassifierData, DetectorData, Sample
from ankle_core.training.datasets3d import CtCubeDataset
from ankle_core.training.loaders import (
    EpochKeys,
    SeededBatches,
    SeededItems,
    ShuffledBatches,
    collate_lists,
    distributed_batches,
    make_loader,
)
from ankle_core.types import Box2D

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> list[Sample]:
    from ankle_core.phantoms import export_dataset
    from ankle_core.training.datasets2d import load_samples

    root = tmp_path_factory.mktemp("xr")
    export_dataset(root, 9, "radiograph", seed=3, size=96)
    return [s for s in load_samples(root) if s.label in ("lmaf", "sfo")]


def _classifier(samples: list[Sample]) -> ClassifierData:
    from ankle_core.training.augment2d import AugmentConfig

    return ClassifierData(samples, 32, 0.5, "grey3", AugmentConfig())


def test_in_process_loader_draws_the_old_classifier_batches(samples: list[Sample]) -> None:
    data = _classifier(samples)
    order = SeededBatches(len(data), 3, seed=5)
    keyed = EpochKeys(order)
    loader = make_loader(SeededItems(data.example, 5, order), keyed, workers=0, device=CPU)
    for epoch in range(2):
        keyed.set_epoch(epoch)
        new = list(loader)
        old = list(data.batches(3, np.random.default_rng([5, epoch])))
        assert len(new) == len(old) == len(keyed)
        for (x_new, y_new), (x_old, y_old) in zip(new, old, strict=True):
            assert torch.equal(x_new, x_old) and torch.equal(y_new, y_old)


def test_in_process_loader_draws_the_old_detector_batches(samples: list[Sample]) -> None:
    from ankle_core.training.augment2d import AugmentConfig

    data = DetectorData(samples, 64, AugmentConfig(), crop_size=48)
    order = SeededBatches(len(data), 2, seed=1)
    keyed = EpochKeys(order)
    items = SeededItems(data.item, 1, order)
    loader = make_loader(items, keyed, workers=0, device=CPU, collate=collate_lists)
    keyed.set_epoch(3)
    new = list(loader)
    old = list(data.batches(2, np.random.default_rng([1, 3])))
    assert len(new) == len(old)
    for (xs_new, ts_new), (xs_old, ts_old) in zip(new, old, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(xs_new, xs_old, strict=True))
        for a, b in zip(ts_new, ts_old, strict=True):
            assert torch.equal(a["boxes"], b["boxes"])


def _cubes() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((10, 8, 8, 8)).astype(np.float16), np.arange(10) % 2


def test_ct_loader_draws_the_old_shuffled_batches() -> None:
    cubes, labels = _cubes()
    idx = np.arange(1, 9)
    old_ds = CtCubeDataset(cubes, labels, idx, augment=True, seed=2, max_rotation_deg=5)
    new_ds = CtCubeDataset(cubes, labels, idx, augment=True, seed=2, max_rotation_deg=5)
    keyed = EpochKeys(ShuffledBatches(len(idx), 3, seed=2000))
    loader = make_loader(new_ds, keyed, workers=0, device=CPU)
    for epoch in range(2):
        old_ds.transform.set_random_state(seed=7919 * epoch)  # type: ignore[union-attr]
        new_ds.transform.set_random_state(seed=7919 * epoch)  # type: ignore[union-attr]
        keyed.set_epoch(epoch)
        gen = torch.Generator().manual_seed(2000 + epoch)
        old = list(DataLoader(old_ds, batch_size=3, shuffle=True, generator=gen))
        new = list(loader)
        assert len(old) == len(new) == 3
        for (xa, ya), (xb, yb) in zip(old, new, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


@pytest.mark.slow
def test_a_spawned_loader_worker_prepares_the_items_this_process_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With workers each item is augmented from its own (seed, epoch, index) generator: the
    same batches whichever process prepares them, different from one epoch to the next."""
    # A spawned worker re-runs the parent's __main__ file; in a test process an earlier
    # AppTest may have left its page script there (seen in CI: "name '__args' is not defined")
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    cubes, labels = _cubes()
    idx = np.arange(10)

    def batches(workers: int) -> list[list[torch.Tensor]]:
        ds = CtCubeDataset(cubes, labels, idx, augment=True, seed=4, item_seeds=True)
        keyed = EpochKeys(ShuffledBatches(len(idx), 4, seed=9))
        loader = make_loader(ds, keyed, workers=workers, device=CPU)
        out = []
        for epoch in (0, 1, 0):  # epoch 0 twice: through the same persistent worker
            keyed.set_epoch(epoch)
            out.append([x for x, _ in loader])
        return out

    here, spawned = batches(0), batches(1)
    for a, b in zip(here, spawned, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert all(torch.equal(x, y) for x, y in zip(here[0], here[2], strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(here[0], here[1], strict=True))


@pytest.mark.parametrize("world", [2, 3])
def test_rank_aware_samplers_split_each_epoch_into_disjoint_equal_shares(world: int) -> None:
    n, size = 23, 3
    samplers = {
        "seeded": [SeededBatches(n, size, seed=0, world=world, rank_=r) for r in range(world)],
        "distributed": [
            distributed_batches(n, size, seed=0, world=world, rank_=r) for r in range(world)
        ],
        "grouped": [
            GroupBatchSampler([str(i // 2) for i in range(n)], size, seed=0, world=world, rank_=r)
            for r in range(world)
        ],
    }
    for name, per_rank in samplers.items():
        keyed = [EpochKeys(s) for s in per_rank]
        for k in keyed:
            k.set_epoch(1)
        shares = [[i for batch in k for i, _ in batch] for k in keyed]
        counts = {len(list(k)) for k in keyed}
        assert len(counts) == 1, name  # the same number of batches on every rank
        seen = [i for share in shares for i in share]
        assert len(seen) == len(set(seen)) and len(seen) >= n - world * size - size, name
        assert all(e == 1 for k in keyed for batch in k for _, e in batch)


def test_detector_items_keyed_by_epoch_without_a_stream_are_seeded_per_item() -> None:
    data = DetectorData.__new__(DetectorData)
    data.samples = [Sample(Path("x"), "p", "lmaf", (Box2D(1, 1, 5, 5),))]
    data.images = [np.random.default_rng(0).random((16, 16)).astype(np.float16)]
    data.boxes = [np.array([[1, 1, 5, 5]], np.float32)]
    from ankle_core.training.augment2d import AugmentConfig

    data.augment, data.crop_size = AugmentConfig(), None
    items = SeededItems(data.item, 0, None)
    assert torch.equal(items[(0, 2)][0], items[(0, 2)][0])
    assert not torch.equal(items[(0, 2)][0], items[(0, 3)][0])
