"""Plotly figures of a :class:`~ankle_core.stats.report.CohortReport` (no Streamlit here).

Each builder takes the report and returns a ``plotly.graph_objects.Figure``. Which ones are
drawn, in what order and under what title is :data:`ankle_core.stats.sections.SECTIONS`
(read by :func:`report_figures`); the HTML report and the dashboard's cohort page both
draw from it.
"""

from __future__ import annotations

import logging

import numpy as np
import plotly.graph_objects as go

from ankle_core.stats.report import CohortReport
from ankle_core.stats.sections import SECTIONS, ReportFigure

__all__ = [
    "all_figures",
    "auc_table_figure",
    "calibration_figure",
    "delong_matrix_figure",
    "kappa_figure",
    "mcnemar_matrix_figure",
    "metrics_figure",
    "mrmc_figure",
    "reader_study_figure",
    "report_figures",
    "roc_figure",
    "subgroup_figure",
]

logger = logging.getLogger(__name__)
_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _table_height(rows: int, row_px: int = 34) -> int:
    return 180 + row_px * (rows + 1)


def _ci(lo: float, hi: float) -> str:
    return "–" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{lo:.3f}–{hi:.3f}"


def roc_figure(report: CohortReport) -> go.Figure:
    """ROC curves with their pointwise bootstrap bands.

    Args:
        report: The cohort report.

    Returns:
        FPR on x, TPR on y, one curve and one shaded band per model.
    """
    fig = go.Figure()
    for i, (name, m) in enumerate(report.per_model.items()):
        colour = _COLOURS[i % len(_COLOURS)]
        band = m.band
        fig.add_trace(
            go.Scatter(
                x=np.r_[band.fpr_grid, band.fpr_grid[::-1]],
                y=np.r_[band.tpr_high, band.tpr_low[::-1]],
                fill="toself",
                fillcolor=_rgba(colour, 0.15),
                line={"width": 0},
                hoverinfo="skip",
                name=f"{name} {band.level:.0%} band",
                showlegend=False,
            )
        )
        a = m.auc_delong
        fig.add_trace(
            go.Scatter(
                x=m.roc.fpr,
                y=m.roc.tpr,
                mode="lines",
                line={"color": colour},
                name=f"{name}: AUC {a.auc:.3f} ({_ci(a.ci_low, a.ci_high)})",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": "grey"},
            showlegend=False,
        )
    )
    fig.update_layout(
        title="ROC curves (shaded: pointwise bootstrap band)",
        xaxis_title="1 − specificity (FPR)",
        yaxis_title="Sensitivity (TPR)",
        xaxis={"range": [0, 1], "constrain": "domain"},
        yaxis={"range": [0, 1.01], "scaleanchor": "x", "constrain": "domain"},
        height=600,
        # inside the plot, anchored at its bottom-right corner (the empty side of a ROC)
        legend={
            "x": 0.99,
            "y": 0.01,
            "xanchor": "right",
            "yanchor": "bottom",
            "bgcolor": "rgba(255,255,255,0.85)",
            "font": {"size": 11},
        },
    )
    return fig


def auc_table_figure(report: CohortReport) -> go.Figure:
    """Table of AUCs with DeLong, percentile-bootstrap and BCa intervals."""
    rows = list(report.per_model.values())
    cells = [
        [m.name for m in rows],
        [f"{m.auc_delong.auc:.3f}" for m in rows],
        [_ci(m.auc_delong.ci_low, m.auc_delong.ci_high) for m in rows],
        [_ci(m.auc_bootstrap.ci_low, m.auc_bootstrap.ci_high) for m in rows],
        [_ci(m.auc_bca.ci_low, m.auc_bca.ci_high) for m in rows],
    ]
    header = ["Model", "AUC", "DeLong CI", f"Bootstrap CI (B={report.n_boot})", "BCa CI"]
    fig = go.Figure(go.Table(header={"values": header}, cells={"values": cells}))
    fig.update_layout(title=f"AUC with {report.level:.0%} CIs", height=_table_height(len(rows)))
    return fig


def _matrix(
    names: tuple[str, ...],
    z: np.ndarray,
    text: list[list[str]],
    title: str,
    scale: str,
    colour_title: str,
) -> go.Figure:
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(names),
            y=list(names),
            text=text,
            texttemplate="%{text}",
            colorscale=scale,
            zmin=0,
            zmax=1,
            colorbar={"title": {"text": colour_title, "side": "right"}},
        )
    )
    fig.update_layout(title=title, yaxis={"autorange": "reversed"})
    return fig


def delong_matrix_figure(report: CohortReport) -> go.Figure:
    """Heatmap of Holm-adjusted DeLong p-values, annotated with AUC differences (row − column)."""
    comp = report.comparison
    if comp is None:
        return go.Figure().update_layout(title="DeLong: a single model, nothing to compare")
    p = comp.matrix("p_holm")
    d = comp.matrix("difference")
    k = len(comp.names)
    text = [
        ["" if i == j else f"Δ {d[i, j]:+.3f}<br>p {p[i, j]:.3g}" for j in range(k)]
        for i in range(k)
    ]
    title = (
        f"DeLong tests (Holm-adjusted p); global χ²={comp.chi2:.2f}, df={comp.df}, "
        f"p={comp.p_global:.3g}"
    )
    return _matrix(comp.names, p, text, title, "Blues_r", "Holm-adjusted p")


def mcnemar_matrix_figure(report: CohortReport, threshold: str = "chosen") -> go.Figure:
    """Heatmap of exact McNemar p-values between models' calls.

    Args:
        report: The cohort report.
        threshold: ``chosen`` or ``fixed 0.5``.

    Returns:
        Annotated with the accuracy difference (row − column).
    """
    names = report.models
    k = len(names)
    z = np.full((k, k), np.nan)
    text = [[""] * k for _ in range(k)]
    idx = {n: i for i, n in enumerate(names)}
    for pair in report.mcnemar:
        if pair.threshold != threshold:
            continue
        i, j = idx[pair.model_a], idx[pair.model_b]
        z[i, j] = z[j, i] = pair.test.p_exact
        text[i][j] = f"Δacc {pair.test.difference:+.3f}<br>p {pair.test.p_exact:.3g}"
        text[j][i] = f"Δacc {-pair.test.difference:+.3f}<br>p {pair.test.p_exact:.3g}"
    title = f"McNemar exact tests at the {threshold} thresholds"
    return _matrix(names, z, text, title, "Blues_r", "exact p")


def metrics_figure(report: CohortReport) -> go.Figure:
    """Table of accuracy, sensitivity, specificity, PPV, NPV and F1 at 0.5 and chosen thresholds."""
    cols: list[list[str]] = [[] for _ in range(9)]
    for m in report.per_model.values():
        for label, r in (
            ("0.5", m.metrics_fixed),
            (f"{m.threshold.method} {m.threshold.value:.3g}", m.metrics_chosen),
        ):
            cols[0].append(m.name)
            cols[1].append(label)
            cols[2].append(f"{r.tp}/{r.fp}/{r.tn}/{r.fn}")
            for c, metric in enumerate(
                (r.accuracy, r.sensitivity, r.specificity, r.ppv, r.npv, r.f1), start=3
            ):
                is_f1 = c == 8
                lo, hi = (
                    (metric.boot_low, metric.boot_high)
                    if is_f1
                    else (metric.wilson_low, metric.wilson_high)
                )
                cols[c].append(f"{metric.value:.3f} ({_ci(lo, hi)})")
    header = [
        "Model",
        "Threshold",
        "TP/FP/TN/FN",
        "Accuracy",
        "Sensitivity",
        "Specificity",
        "PPV",
        "NPV",
        "F1*",
    ]
    fig = go.Figure(go.Table(header={"values": header}, cells={"values": cols}))
    fig.update_layout(
        title="Metrics at thresholds (Wilson CIs; *F1: bootstrap CI)",
        height=_table_height(len(cols[0]), row_px=48),
    )
    return fig


def calibration_figure(report: CohortReport) -> go.Figure:
    """Reliability curves of the models whose scores are probabilities."""
    fig = go.Figure()
    for i, (name, m) in enumerate(report.per_model.items()):
        if m.calibration is None:
            continue
        c = m.calibration
        fig.add_trace(
            go.Scatter(
                x=c.curve.mean_predicted,
                y=c.curve.observed,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": c.curve.observed_high - c.curve.observed,
                    "arrayminus": c.curve.observed - c.curve.observed_low,
                },
                mode="lines+markers",
                line={"color": _COLOURS[i % len(_COLOURS)]},
                name=(
                    f"{name}: Brier {c.brier:.3f}, intercept {c.intercept:+.2f}, "
                    f"slope {c.slope:.2f}"
                ),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line={"dash": "dot", "color": "grey"},
            showlegend=False,
        )
    )
    fig.update_layout(
        title="Calibration (reliability curves, Wilson CIs)",
        xaxis_title="Mean predicted probability",
        yaxis_title="Observed fraction positive",
        xaxis={"range": [0, 1]},
        yaxis={"range": [0, 1]},
    )
    return fig


def kappa_figure(report: CohortReport) -> go.Figure:
    """Heatmap of Cohen's kappa between models' calls at the chosen thresholds."""
    names = report.models
    k = len(names)
    z = np.eye(k)
    text = [["" for _ in range(k)] for _ in range(k)]
    idx = {n: i for i, n in enumerate(names)}
    for pair in report.kappa:
        i, j = idx[pair.model_a], idx[pair.model_b]
        z[i, j] = z[j, i] = pair.kappa.kappa
        text[i][j] = text[j][i] = (
            f"κ {pair.kappa.kappa:.2f}<br>({_ci(pair.kappa.ci_low, pair.kappa.ci_high)})"
        )
    fleiss = "" if report.fleiss is None else f"; Fleiss κ = {report.fleiss.kappa:.3f}"
    title = f"Cohen's kappa at the chosen thresholds{fleiss}"
    return _matrix(names, z, text, title, "Greens", "Cohen's κ")


def subgroup_figure(report: CohortReport) -> go.Figure:
    """Forest plot of AUC (DeLong CI) per subgroup level and model."""
    fig = go.Figure()
    for i, (name, m) in enumerate(report.per_model.items()):
        ok = [g for g in m.subgroups if g.auc is not None]
        fig.add_trace(
            go.Scatter(
                x=[g.auc.auc for g in ok if g.auc],
                y=[f"{g.level} (n={g.n}) · {name}" for g in ok],
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [g.auc.ci_high - g.auc.auc for g in ok if g.auc],
                    "arrayminus": [g.auc.auc - g.auc.ci_low for g in ok if g.auc],
                },
                mode="markers",
                marker={"color": _COLOURS[i % len(_COLOURS)]},
                name=name,
            )
        )
    fig.update_layout(
        title=f"AUC by {report.subgroup} (DeLong CIs)",
        xaxis_title="AUC",
        xaxis={"range": [0, 1]},
        height=_table_height(sum(len(m.subgroups) for m in report.per_model.values()), 28),
    )
    return fig


def mrmc_figure(report: CohortReport) -> go.Figure:
    """Each reader's AUC without and with the AI, and the OR (jackknife) summary."""
    res = report.mrmc.get("jackknife")
    if res is None:
        return go.Figure().update_layout(title="MRMC: no reader columns")
    fig = go.Figure()
    for j, reader in enumerate(res.readers):
        fig.add_trace(
            go.Scatter(
                x=list(res.tests), y=res.foms[:, j], mode="lines+markers", name=f"reader {reader}"
            )
        )
    d = res.difference
    fig.update_layout(
        title=(
            f"Reader AUC, aided − unaided = {d.difference:+.3f} ({_ci(d.ci_low, d.ci_high)}); "
            f"OR-Hillis F={res.rrrc.statistic:.2f}, df=({res.rrrc.df1:.0f}, {res.rrrc.df2:.1f}), "
            f"p={res.rrrc.p_value:.3g}"
        ),
        yaxis_title="AUC",
    )
    return fig


def reader_study_figure(report: CohortReport) -> go.Figure:
    """Table of each reader's accuracy, sensitivity and specificity without and with AI."""
    study = report.reader_study
    if study is None:
        return go.Figure().update_layout(title="Reader study: not available")
    cols: list[list[str]] = [[] for _ in range(6)]
    for m in study.per_reader:
        cols[0].append(m.reader)
        cols[1].append(m.condition)
        for c, metric in enumerate((m.accuracy, m.sensitivity, m.specificity), start=2):
            cols[c].append(f"{metric.value:.3f} ({_ci(metric.wilson_low, metric.wilson_high)})")
        test = study.mcnemar[m.reader]
        cols[5].append(f"p = {test.p_exact:.3g}" if m.condition == "aided" else "")
    pooled = "<br>".join(
        f"{name}: Δ {res.difference.difference:+.3f} "
        f"({_ci(res.difference.ci_low, res.difference.ci_high)}), p = {res.rrrc.p_value:.3g}"
        for name, res in study.mrmc.items()
    )
    header = ["Reader", "Condition", "Accuracy", "Sensitivity", "Specificity", "McNemar (exact)"]
    fig = go.Figure(go.Table(header={"values": header}, cells={"values": cols}))
    fig.update_layout(
        title=f"Reader study ({study.call_source}); pooled OR-Hillis, aided − unaided:<br>{pooled}",
        title_font_size=12,
        height=_table_height(len(cols[0])) + 60,
        margin={"t": 120},
    )
    return fig


def report_figures(
    report: CohortReport, *, page_only: bool = False
) -> list[tuple[ReportFigure, go.Figure]]:
    """Every figure of :data:`~ankle_core.stats.sections.SECTIONS` that applies, in order.

    Args:
        report: The cohort report.
        page_only: Only the figures the dashboard's cohort page shows (``on_page``).

    Returns:
        ``(figure spec, Plotly figure)`` pairs in reading order.
    """
    out = []
    for section in SECTIONS:
        for spec in section.figures:
            if (page_only and not spec.on_page) or not spec.applies(report):
                continue
            build = globals()[spec.builder]
            out.append((spec, build(report, *spec.args)))
    return out


def all_figures(report: CohortReport) -> list[tuple[str, go.Figure]]:
    """Every figure that applies to the report, titled, in reading order (the HTML's list)."""
    return [(spec.title, fig) for spec, fig in report_figures(report)]
