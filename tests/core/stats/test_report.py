"""Cohort report: build, JSON, HTML (offline Plotly) and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.stats.__main__ import main
from ankle_core.stats.figures import all_figures, roc_figure
from ankle_core.stats.report import build_report, find_reader_columns, parse_threshold_spec
from ankle_core.stats.report_html import render_html


@pytest.fixture
def predictions() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 160
    y = rng.integers(0, 2, n)
    shared = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "y": y,
            "model_a": 1 / (1 + np.exp(-(2 * y - 1 + shared))),
            "model_b": 1 / (1 + np.exp(-(1.5 * y - 0.7 + shared + rng.normal(size=n)))),
            "site": rng.choice(["A", "B"], n),
            "split": np.where(np.arange(n) % 3 == 0, "validation", "test"),
        }
    )
    for r in range(3):
        df[f"reader_{r}_unaided"] = np.clip(
            np.round(2.5 + 1.2 * y + shared + rng.normal(size=n)), 1, 5
        )
        df[f"reader_{r}_aided"] = np.clip(
            np.round(2.5 + 1.8 * y + shared + rng.normal(size=n)), 1, 5
        )
    return df


def test_build_report_numbers_and_json(predictions):
    rep = build_report(
        predictions,
        "y",
        ["model_a", "model_b"],
        subgroup="site",
        split="split",
        n_boot=200,
        reader_threshold=4,
    )
    test = predictions[predictions.split == "test"]
    assert rep.n == len(test)
    assert rep.threshold_source == "validation split"
    assert not rep.warnings
    from sklearn.metrics import roc_auc_score

    assert rep.per_model["model_a"].auc_delong.auc == pytest.approx(
        roc_auc_score(test.y, test.model_a)
    )
    assert rep.readers == ("0", "1", "2")
    assert set(rep.mrmc) == {"jackknife", "delong"}
    assert rep.reader_study is not None
    assert rep.reader_study.call_source == "score >= 4"
    assert len(rep.mcnemar) == 2
    text = json.dumps(rep.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["per_model"]["model_b"]["auc_bootstrap"]["n_boot"] == 200
    assert back["mrmc"]["jackknife"]["components"]["var_error"] > 0


def test_reader_study_needs_a_threshold_for_ratings(predictions):
    rep = build_report(predictions, "y", ["model_a"], split="split", n_boot=50)
    assert rep.reader_study is None and rep.mrmc
    assert any("reader threshold" in w for w in rep.warnings)


def test_same_data_thresholds_are_flagged(predictions):
    rep = build_report(predictions, "y", ["model_a"], n_boot=50)
    assert rep.threshold_source == "same data (optimistic)"
    assert rep.per_model["model_a"].metrics_chosen.same_data_as_threshold
    assert "optimistic" in render_html(rep)


def test_html_is_offline_and_interactive(predictions):
    rep = build_report(
        predictions, "y", ["model_a", "model_b"], subgroup="site", split="split", n_boot=50
    )
    page = render_html(rep)
    assert "<script src=" not in page  # no CDN
    assert page.count("Plotly.newPlot") == len(all_figures(rep))
    assert "plotly.js v" in page or "plotly.js" in page.lower()
    fig = roc_figure(rep)
    assert len(fig.data) == 2 * 2 + 1


def test_every_section_figure_has_a_builder():
    from ankle_core.stats import figures
    from ankle_core.stats.sections import SECTIONS

    specs = [spec for section in SECTIONS for spec in section.figures]
    assert specs and all(callable(getattr(figures, spec.builder, None)) for spec in specs)
    assert len({spec.key for spec in specs}) == len(specs)  # page widget keys are unique


def test_one_section_entry_reaches_json_and_html(predictions, monkeypatch):
    """Adding a statistic = its compute + one Section; JSON and HTML pick it up."""
    from ankle_core.stats import figures, report
    from ankle_core.stats.sections import SECTIONS, ReportFigure, Section

    extra = Section(
        "positives",
        lambda data, done: int(data.y.sum()),
        (ReportFigure("positives", "Positives (toy section)", "auc_table_figure"),),
    )
    monkeypatch.setattr(report, "SECTIONS", (*SECTIONS, extra))
    monkeypatch.setattr(figures, "SECTIONS", (*SECTIONS, extra))
    rep = build_report(predictions, "y", ["model_a"], split="split", n_boot=20)
    assert rep.to_dict()["extra"] == {"positives": rep.n_pos}
    assert "<h2>Positives (toy section)</h2>" in render_html(rep)
    assert all_figures(rep)[-1][0] == "Positives (toy section)"


def test_reader_columns_and_threshold_spec():
    cols = ["reader_1_unaided", "reader_1_aided", "reader_2_aided", "reader_x_unaided_2", "model"]
    assert find_reader_columns(cols) == {"1": ("reader_1_unaided", "reader_1_aided")}
    assert parse_threshold_spec("sensitivity:0.9") == ("sensitivity", 0.9)
    assert parse_threshold_spec(0.3) == ("fixed", 0.3)
    with pytest.raises(InvalidInputError):
        parse_threshold_spec("best")


def test_missing_column_raises(predictions):
    with pytest.raises(InvalidInputError, match="lacks"):
        build_report(predictions, "y", ["nope"])


def test_cli_writes_html_and_json(predictions, tmp_path, capsys):
    csv = tmp_path / "predictions.csv"
    predictions.to_csv(csv, index=False)
    out = tmp_path / "out"
    args = [
        "report",
        str(csv),
        "--truth",
        "y",
        "--scores",
        "model_a,model_b",
        "--n-boot",
        "50",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    data = json.loads((out / "report.json").read_text())
    assert data["models"] == ["model_a", "model_b"]
    assert (out / "report.html").stat().st_size > 1_000_000  # Plotly.js is inline
    assert main(["report", str(csv), "--truth", "y", "--scores", "nope", "--out", str(out)]) == 2


def test_library_does_not_import_streamlit():
    """In a fresh interpreter: other tests in the same session may import streamlit."""
    code = (
        "import sys, ankle_core.stats, ankle_core.stats.figures, ankle_core.stats.report_html; "
        "assert 'streamlit' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
