"""Ratio benchmarks for ankle_core.stats, runnable by hand: ``python benchmarks/stats.py``.

Prints, from one run on this machine:
1. fast DeLong (Sun & Xu 2014, O(n log n)) against the O(n²) pairwise reference of DeLong
   et al. (1988), for two correlated scores, at n = 2,000 and n = 100,000 (the reference is
   skipped above ``REFERENCE_MAX_N`` cases: its m×n comparison matrix would need tens of GB);
2. the vectorised stratified bootstrap of the AUC (2,000 replicates) against a plain
   Python loop of the same replicates, at n = 2,000;
3. the time of ``mrmc_or`` (both covariances) for 10 readers × 1,000 cases.

``--quick`` runs tiny sizes (for a smoke test). Timings are medians of a few repeats of
``time.perf_counter``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ankle_core.device import configure_threads_for_cli

configure_threads_for_cli(sys.argv[1:])  # before torch loads: passive waits, chosen threads

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from ankle_core.stats import delong_test, mrmc_or  # noqa: E402
from ankle_core.stats.bootstrap import bootstrap_auc  # noqa: E402

REFERENCE_MAX_N = 20_000


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reference_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """DeLong et al. (1988) with the full m×n comparison matrices; returns the p-value."""
    v10, v01, aucs = [], [], []
    for s in (a, b):
        x, z = s[y == 1], s[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    cov = s10 / len(v10[0]) + s01 / len(v01[0])
    z = (aucs[0] - aucs[1]) / np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    return float(2 * stats.norm.sf(abs(z)))


def loop_bootstrap(
    y: np.ndarray, s: np.ndarray, n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """The plain way: one Python iteration, one rank computation per replicate."""
    pos, neg = s[y == 1], s[y == 0]
    m, n = pos.size, neg.size
    out = np.empty(n_boot)
    for i in range(n_boot):
        sample = np.r_[pos[rng.integers(0, m, m)], neg[rng.integers(0, n, n)]]
        ranks = stats.rankdata(sample)
        out[i] = (ranks[:m].sum() - m * (m + 1) / 2) / (m * n)
    return out


def _cohort(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = (rng.uniform(size=n) < 0.4).astype(int)
    shared = rng.normal(size=n)
    return y, y + shared + rng.normal(size=n), 0.8 * y + shared + rng.normal(size=n)


def _reader_table(readers: int, cases: int, rng: np.random.Generator) -> pd.DataFrame:
    truth = (rng.uniform(size=cases) < 0.4).astype(int)
    case_effect = rng.normal(size=cases)
    rows = []
    for cond, shift in (("unaided", 1.0), ("aided", 1.3)):
        for r in range(readers):
            score = np.clip(
                np.round(3 + shift * truth + case_effect + rng.normal(size=cases)), 1, 5
            )
            rows.append(
                pd.DataFrame(
                    {
                        "case": np.arange(cases),
                        "reader": r,
                        "condition": cond,
                        "truth": truth,
                        "score": score,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def _delong_line(n: int, data: tuple[np.ndarray, np.ndarray, np.ndarray], repeats: int) -> str:
    y, a, b = data
    fast = _median_time(lambda: delong_test(y, a, b), repeats)
    if n > REFERENCE_MAX_N:
        pairs = 0.24 * n * n  # m·n with 40% positives
        return (
            f"DeLong n={n:>7,}: fast {fast * 1e3:8.2f} ms; O(n²) reference skipped "
            f"(n > {REFERENCE_MAX_N:,}: {pairs:,.0f} pairs, ~{pairs * 8 / 1e9:.0f} GB per matrix)"
        )
    slow = _median_time(lambda: reference_delong(y, a, b), repeats)
    assert abs(reference_delong(y, a, b) - delong_test(y, a, b).p_value) < 1e-9
    return (
        f"DeLong n={n:>7,}: fast {fast * 1e3:8.2f} ms, O(n²) reference {slow * 1e3:9.2f} ms, "
        f"ratio {slow / fast:7.1f}x"
    )


def run(quick: bool = False) -> list[str]:
    """Run the benchmarks and return the printed lines."""
    rng = np.random.default_rng(0)
    lines: list[str] = []
    sizes = (500, 5_000) if quick else (2_000, 100_000)
    repeats = 1 if quick else 3
    for n in sizes:
        lines.append(_delong_line(n, _cohort(n, rng), repeats))
    n, n_boot = (500, 200) if quick else (2_000, 2_000)
    y, a, _ = _cohort(n, rng)
    vec = _median_time(lambda: bootstrap_auc(y, a, n_boot, np.random.default_rng(1)), repeats)
    loop = _median_time(lambda: loop_bootstrap(y, a, n_boot, np.random.default_rng(1)), 1)
    lines.append(
        f"Bootstrap n={n:,}, B={n_boot:,}: vectorised {vec * 1e3:8.1f} ms, "
        f"Python loop {loop * 1e3:8.1f} ms, ratio {loop / vec:5.1f}x"
    )
    readers, cases = (3, 100) if quick else (10, 1_000)
    table = _reader_table(readers, cases, rng)
    for cov in ("jackknife", "delong"):
        t = _median_time(lambda cov=cov: mrmc_or(table, cov), repeats)  # type: ignore[misc]
        lines.append(f"mrmc_or {readers} readers x {cases:,} cases ({cov}): {t * 1e3:8.1f} ms")
    for line in lines:
        print(line)
    return lines


def main() -> None:
    """Parse ``--quick`` and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (smoke test)")
    run(parser.parse_args().quick)


if __name__ == "__main__":
    main()
