"""Grouped batches: whole groups per batch, every sample once per epoch, seeded shuffles."""

from __future__ import annotations

import pytest

from ankle_core.training.batching import GroupBatchSampler


def test_batches_hold_whole_groups_and_cover_every_sample_once() -> None:
    groups = [f"p{i // 2}" for i in range(20)] + ["solo"]
    sampler = GroupBatchSampler(groups, batch_size=4, seed=1)
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(21))
    assert all(len(b) <= 4 for b in batches) and len(sampler) == len(batches)
    for batch in batches:
        keys = [groups[i] for i in batch]
        assert all(keys.count(k) == groups.count(k) for k in keys)


def test_shuffle_is_seeded_per_epoch_and_oversized_groups_stay_whole() -> None:
    groups = [f"p{i // 2}" for i in range(40)]
    sampler = GroupBatchSampler(groups, batch_size=8, seed=0)
    first = list(sampler)
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    big = GroupBatchSampler(["a"] * 5 + ["b"], batch_size=2)
    assert sorted(len(b) for b in big) == [1, 5]
    with pytest.raises(ValueError, match="batch_size"):
        GroupBatchSampler(groups, batch_size=0)
