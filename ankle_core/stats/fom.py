"""Figures of merit of every (test, reader) pair and their covariance across cases.

Used by the Obuchowski–Rockette analysis (:mod:`ankle_core.stats.mrmc`).

References:
    DeLong ER et al. (1988) Biometrics 44:837–845 (structural components).
    Hillis SL, Obuchowski NA, Berbaum KS (2008) Acad Radiol 15:647–661 (jackknife and
    DeLong covariance in OR analysis).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from ankle_core.errors import InvalidInputError
from ankle_core.stats.delong import delong_components

__all__ = ["Covariance", "Fom", "fom_covariance"]

FloatArray = npt.NDArray[np.float64]
Covariance = Literal["delong", "jackknife"]
Fom = Literal["auc", "accuracy", "sensitivity", "specificity"]


def fom_covariance(
    values: FloatArray, truth: npt.NDArray[np.int64], fom: Fom, covariance: Covariance
) -> tuple[FloatArray, FloatArray]:
    """FOMs of every (test, reader) and their covariance matrix.

    For the AUC, ``delong`` is DeLong's (1988) structural-component covariance and
    ``jackknife`` is (c − 1)/c · Σ_k (θ₍k₎ − θ̄)(θ₍k₎ − θ̄)ᵀ over leave-one-case-out FOMs
    (computed exactly from placement values). For binary FOMs (means of 0/1 indicators) the
    two coincide, and the jackknife is used.

    Args:
        values: Shape (t, r, c): scores for ``auc``, 0/1 calls otherwise.
        truth: Shape (c,), 0/1.
        fom: The figure of merit.
        covariance: ``delong`` or ``jackknife``.

    Returns:
        ``(foms, cov)`` of shapes (t, r) and (t·r, t·r); row index = i·r + j.
    """
    t, r, c = values.shape
    flat = values.reshape(t * r, c)
    if fom == "auc":
        comp = delong_components(truth, flat)
        foms = comp.aucs
        if covariance == "delong":
            return foms.reshape(t, r), comp.covariance
        m, n = comp.v10.shape[1], comp.v01.shape[1]
        jack = np.empty((t * r, c))
        jack[:, truth == 1] = (m * foms[:, None] - comp.v10) / (m - 1)
        jack[:, truth == 0] = (n * foms[:, None] - comp.v01) / (n - 1)
    else:
        correct = (flat == truth[None, :]).astype(np.float64)
        if fom == "accuracy":
            sel = np.ones(c, dtype=bool)
        elif fom == "sensitivity":
            sel = truth == 1
        elif fom == "specificity":
            sel = truth == 0
        else:
            raise InvalidInputError(f"unknown figure of merit {fom!r}.")
        k = int(sel.sum())
        foms = correct[:, sel].mean(axis=1)
        jack = np.repeat(foms[:, None], c, axis=1)
        jack[:, sel] = (k * foms[:, None] - correct[:, sel]) / (k - 1)
    centred = jack - jack.mean(axis=1, keepdims=True)
    cov = (c - 1) / c * (centred @ centred.T)
    return foms.reshape(t, r), cov
