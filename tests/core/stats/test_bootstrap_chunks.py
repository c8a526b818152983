"""Chunked bootstrap draws: the same numbers as whole (B, n) matrices, whatever the chunk."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.stats import bootstrap
from ankle_core.stats.bootstrap import resampled_sums, stratified_indices
from ankle_core.stats.metrics import metrics_at


@pytest.mark.parametrize("chunk", [1, 7, 50, 10_000])
def test_resampled_sums_match_whole_index_matrices(chunk: int) -> None:
    values = (np.random.default_rng(0).random(13) < 0.4).astype(float)
    whole = values[np.random.default_rng(9).integers(0, 13, size=(31, 13))].sum(axis=1)
    got = resampled_sums(values, 31, np.random.default_rng(9), chunk_elements=chunk)
    assert np.array_equal(got, whole)


def test_metrics_at_bootstrap_is_unchanged_by_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 400)
    s = rng.random(400) + 0.4 * y
    default = metrics_at(y, s, 0.7, n_boot=300, rng=np.random.default_rng(1))
    monkeypatch.setattr(bootstrap, "_CHUNK_ELEMENTS", 500)  # a handful of replicates a chunk
    chunked = metrics_at(y, s, 0.7, n_boot=300, rng=np.random.default_rng(1))
    assert repr(chunked) == repr(default)  # NaN fields (F1's Wilson) compare by repr
    # and equal to the former whole-matrix draw: positives' replicates, then negatives'
    pos_idx, _ = stratified_indices(y, 300, np.random.default_rng(1))
    calls = s >= 0.7
    sens = calls[pos_idx].mean(axis=1)
    assert default.sensitivity.boot_low == pytest.approx(np.nanquantile(sens, 0.025))
    assert default.sensitivity.boot_high == pytest.approx(np.nanquantile(sens, 0.975))
