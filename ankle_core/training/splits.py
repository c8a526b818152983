"""Patient-grouped, label-stratified data splits.

Every split keeps all images of one group (patient, or source image for augmented copies)
on one side, and keeps the class proportions close to the whole set's. Used by the radiograph
and CT training CLIs, and by evaluation code that must not leak between splits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sklearn.model_selection import StratifiedGroupKFold

from ankle_core.errors import InvalidInputError

__all__ = ["Split", "group_kfold", "split_grouped"]

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    """Indices into the original sample list (sorted, disjoint, groups never straddle)."""

    train: IntArray
    val: IntArray
    test: IntArray


def _group_labels(labels: Sequence[object], groups: Sequence[object]) -> dict[object, object]:
    if len(labels) != len(groups):
        raise InvalidInputError(
            f"labels and groups differ in length ({len(labels)} vs {len(groups)})."
        )
    if len(labels) == 0:
        raise InvalidInputError("There are no samples to split.")
    per_group: dict[object, list[object]] = {}
    for lab, grp in zip(labels, groups, strict=True):
        per_group.setdefault(grp, []).append(lab)
    # a group's stratum is its most frequent label (ties: the first seen)
    return {g: max(set(labs), key=labs.count) for g, labs in per_group.items()}


def split_grouped(
    labels: Sequence[object],
    groups: Sequence[object],
    *,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> Split:
    """Stratified train/validation/test split grouped by ``groups``.

    Groups are shuffled within each label stratum with ``np.random.default_rng(seed)`` and
    dealt out by the cumulative fractions, so each split gets about its share of every class.

    Args:
        labels: one label per sample.
        groups: one group id per sample (e.g. patient id).
        fractions: train, validation and test shares; they must sum to 1.
        seed: the random seed (recorded in model cards).

    Returns:
        A :class:`Split` of sample indices.

    >>> s = split_grouped([0, 1] * 10, list(range(20)), seed=1)
    >>> len(s.train) + len(s.val) + len(s.test)
    20
    """
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        raise InvalidInputError(f"Split fractions must be non-negative and sum to 1: {fractions}.")
    stratum_of = _group_labels(labels, groups)
    rng = np.random.default_rng(seed)
    assignment: dict[object, int] = {}
    for stratum in sorted(set(stratum_of.values()), key=str):
        members = [g for g, s in stratum_of.items() if s == stratum]
        members.sort(key=str)
        order = rng.permutation(len(members))
        n = len(members)
        cut1 = round(fractions[0] * n)
        cut2 = round((fractions[0] + fractions[1]) * n)
        for rank, idx in enumerate(order):
            assignment[members[idx]] = 0 if rank < cut1 else (1 if rank < cut2 else 2)
    parts: list[list[int]] = [[], [], []]
    for i, grp in enumerate(groups):
        parts[assignment[grp]].append(i)
    train, val, test = (np.asarray(p, dtype=np.int64) for p in parts)
    return Split(train=train, val=val, test=test)


def group_kfold(
    labels: Sequence[object], groups: Sequence[object], *, k: int = 5, seed: int = 0
) -> list[tuple[IntArray, IntArray]]:
    """Stratified k-fold cross-validation grouped by ``groups`` (scikit-learn's
    ``StratifiedGroupKFold`` with shuffling).

    Returns:
        ``k`` pairs of (train indices, held-out indices).
    """
    _group_labels(labels, groups)
    if k < 2:
        raise InvalidInputError("k-fold cross-validation needs k >= 2.")
    y = np.asarray([str(x) for x in labels])
    g = np.asarray([str(x) for x in groups])
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    try:
        return [
            (np.asarray(tr, dtype=np.int64), np.asarray(te, dtype=np.int64))
            for tr, te in folds.split(np.zeros(len(y)), y, g)
        ]
    except ValueError as exc:
        raise InvalidInputError(f"Cannot make {k} folds from these groups: {exc}") from exc
