"""Grouped splits, settings from the environment, device choice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ankle_core.config import Settings
from ankle_core.device import resolve_device
from ankle_core.errors import InvalidInputError
from ankle_core.training.splits import group_kfold, split_grouped


def _cohort() -> tuple[list[int], list[str]]:
    rng = np.random.default_rng(0)
    groups = [f"p{i // 3}" for i in range(300)]  # 100 patients, 3 images each
    per_patient = rng.integers(0, 2, 100)
    return [int(per_patient[i // 3]) for i in range(300)], groups


def test_split_is_grouped_stratified_and_seeded() -> None:
    labels, groups = _cohort()
    split = split_grouped(labels, groups, seed=3)
    parts = [set(np.asarray(groups)[idx]) for idx in (split.train, split.val, split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert len(split.train) + len(split.val) + len(split.test) == 300
    overall = np.mean(labels)
    for idx in (split.train, split.val, split.test):
        assert abs(np.mean(np.asarray(labels)[idx]) - overall) < 0.12
    again = split_grouped(labels, groups, seed=3)
    assert np.array_equal(split.test, again.test)
    assert not np.array_equal(split.test, split_grouped(labels, groups, seed=4).test)


def test_kfold_never_straddles_groups() -> None:
    labels, groups = _cohort()
    folds = group_kfold(labels, groups, k=5, seed=0)
    assert len(folds) == 5
    g = np.asarray(groups)
    for train, held in folds:
        assert not set(g[train]) & set(g[held])


@pytest.mark.parametrize(
    "labels,groups,fractions",
    [
        ([0, 1], ["a"], (0.7, 0.15, 0.15)),
        ([], [], (0.7, 0.15, 0.15)),
        ([0, 1], ["a", "b"], (0.5, 0.5, 0.5)),
    ],
)
def test_bad_split_requests_raise(
    labels: list[int], groups: list[str], fractions: tuple[float, float, float]
) -> None:
    with pytest.raises(InvalidInputError):
        split_grouped(labels, groups, fractions=fractions)


def test_settings_from_env_reads_limits_and_keeps_secrets_out_of_repr() -> None:
    settings = Settings.from_env(
        {"ANKLE_MAX_UPLOAD_MB": "1", "ANKLE_PACS_PASSWORD": "s3cret", "ANKLE_DEVICE": "cpu"}
    )
    assert settings.limits.max_file_bytes == 1024 * 1024
    assert settings.device == "cpu"
    assert "s3cret" not in repr(settings)


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InvalidInputError):
        resolve_device("tpu")
