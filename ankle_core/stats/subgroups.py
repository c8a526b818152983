"""AUC with confidence interval for each level of a subgroup column (site, view, age band).

Same conventions as :func:`ankle_core.stats.roc.auc_ci`. A level with fewer than
``min_per_class`` cases of either class gets no AUC (``auc=None``) and a reason, instead of
failing the whole analysis.

References:
    DeLong ER et al. (1988) Biometrics 44:837–845; Efron B (1987) J Am Stat Assoc 82:171–185.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError
from ankle_core.stats._result import Result
from ankle_core.stats._validate import as_binary_truth, as_scores
from ankle_core.stats.roc import AucWithCI, CiMethod, auc_ci

__all__ = ["SubgroupAuc", "subgroup_auc"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubgroupAuc(Result):
    """The AUC of one subgroup level.

    Attributes:
        level: The subgroup value, as text.
        n: Cases in the level.
        n_pos: Positives.
        n_neg: Negatives.
        auc: AUC with CI, or None when the level has too few cases of a class.
        reason: Why ``auc`` is None ("" otherwise).
    """

    level: str
    n: int
    n_pos: int
    n_neg: int
    auc: AucWithCI | None
    reason: str


def subgroup_auc(
    y: npt.ArrayLike,
    score: npt.ArrayLike,
    groups: npt.ArrayLike,
    *,
    method: CiMethod = "delong",
    level: float = 0.95,
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
    min_per_class: int = 2,
) -> tuple[SubgroupAuc, ...]:
    """AUC with CI per subgroup level, in sorted level order (DeLong 1988 or bootstrap).

    Args:
        y: Shape (N,), 0/1 truth.
        score: Shape (N,), scores.
        groups: Shape (N,), the subgroup label of each case (any type; missing values
            form a level named ``"nan"``/``"None"``).
        method: ``delong``, ``bootstrap`` or ``bca``.
        level: Coverage.
        n_boot: Replicates for the bootstrap methods.
        rng: Required for the bootstrap methods.
        min_per_class: Fewest cases per class for a level to get an AUC.

    Returns:
        One entry per level.
    """
    truth = as_binary_truth(y)
    s = as_scores(score, truth.size)
    labels = np.asarray(groups, dtype=object)
    if labels.ndim != 1 or labels.size != truth.size:
        raise InvalidInputError(
            f"the subgroup column has {labels.size} values but the truth has {truth.size}."
        )
    text = np.array([str(v) for v in labels], dtype=object)
    out = []
    for name in sorted(set(text.tolist())):
        mask = text == name
        n_pos = int(truth[mask].sum())
        n_neg = int(mask.sum() - n_pos)
        if min(n_pos, n_neg) < min_per_class:
            reason = (
                f"needs {min_per_class} cases per class; has {n_pos} positive, {n_neg} negative"
            )
            out.append(SubgroupAuc(name, int(mask.sum()), n_pos, n_neg, None, reason))
            continue
        auc = auc_ci(truth[mask], s[mask], method=method, level=level, n_boot=n_boot, rng=rng)
        out.append(SubgroupAuc(name, int(mask.sum()), n_pos, n_neg, auc, ""))
    return tuple(out)
