"""A self-contained HTML cohort report: interactive Plotly figures, Plotly.js inline.

Nothing is fetched from the network when the page opens: the Plotly.js bundle is embedded
once (``include_plotlyjs=True``) in the first figure and reused by the others.
"""

from __future__ import annotations

import html
import logging

from ankle_core.stats.figures import all_figures
from ankle_core.stats.report import CohortReport

__all__ = ["render_html"]

logger = logging.getLogger(__name__)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
.warning { background: #fff3cd; border: 1px solid #e0b000; padding: .8em 1em; margin: 1em 0; }
table.summary td, table.summary th { padding: .2em .8em; text-align: left; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
"""


def _summary(report: CohortReport) -> str:
    rows = [
        ("Truth column", report.truth),
        ("Test cases", f"{report.n} ({report.n_pos} positive, {report.n_neg} negative)"),
        ("Validation cases", str(report.n_validation)),
        ("Models", ", ".join(report.models)),
        ("Threshold", f"{report.threshold_method} (chosen on: {report.threshold_source})"),
        ("Intervals", f"{report.level:.0%}; bootstrap B = {report.n_boot}, seed = {report.seed}"),
    ]
    if report.readers:
        rows.append(("Readers", ", ".join(report.readers)))
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="summary">{body}</table>'


def _mrmc_table(report: CohortReport) -> str:
    if not report.mrmc:
        return ""
    rows = []
    for cov, res in report.mrmc.items():
        c = res.components
        d = res.difference
        f = res.frrc.comparisons[-1]
        rows.append(
            f"<tr><td>{html.escape(cov)}</td><td>{d.difference:+.4f}</td>"
            f"<td>{d.ci_low:.4f} – {d.ci_high:.4f}</td><td>{res.rrrc.statistic:.3f}</td>"
            f"<td>{res.rrrc.df2:.2f}</td><td>{res.rrrc.p_value:.4g}</td>"
            f"<td>{f.p_value:.4g}</td><td>{c.var_r:.3g}</td><td>{c.var_tr:.3g}</td>"
            f"<td>{c.cov1:.3g}</td><td>{c.cov2:.3g}</td><td>{c.cov3:.3g}</td><td>{c.var_error:.3g}</td></tr>"
        )
    labels = (
        "Covariance",
        "AUC aided − unaided",
        "CI",
        "F",
        "ddf (Hillis)",
        "p (RRRC)",
        "p (fixed readers)",
        "σ²R",
        "σ²TR",
        "Cov1",
        "Cov2",
        "Cov3",
        "Var(error)",
    )
    head = "<tr>" + "".join(f"<th>{label}</th>" for label in labels) + "</tr>"
    return (
        f'<h2>MRMC (Obuchowski–Rockette)</h2><table class="summary">{head}{"".join(rows)}</table>'
    )


def render_html(report: CohortReport) -> str:
    """Render the report as one self-contained HTML page.

    Args:
        report: From :func:`ankle_core.stats.report.build_report`.

    Returns:
        The HTML text (a few MB: Plotly.js is inline, nothing is loaded from a CDN).
    """
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Cohort report</title>",
        f"<style>{_STYLE}</style></head><body><h1>Cohort report</h1>",
        "<p>Research software; not for clinical use. Every number is also in the JSON file.</p>",
        _summary(report),
    ]
    parts += [f'<div class="warning">⚠ {html.escape(w)}</div>' for w in report.warnings]
    for i, (title, fig) in enumerate(all_figures(report)):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0)))
    parts.append(_mrmc_table(report))
    parts.append("</body></html>")
    return "\n".join(parts)
