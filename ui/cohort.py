"""Cohort-performance helpers: the phantom cohort runner and the report's sections."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
import streamlit as st

from ankle_core.config import PROJECT_ROOT, Settings
from ankle_core.errors import AnkleError, InvalidInputError
from ankle_core.models.card import ModelCard
from ankle_core.stats import figures, metrics_at
from ankle_core.stats.report import CohortReport
from ui import resources, widgets

__all__ = [
    "REAL_COHORT_CACHE",
    "auc_frame",
    "phantom_predictions",
    "read_predictions_csv",
    "real_cohort_controls",
    "real_cohort_predictions",
    "show_report",
    "show_threshold_explorer",
]

Progress = Callable[[float, str], object]

#: Where the real models' cohort scores are cached (one small CSV per model version).
REAL_COHORT_CACHE = PROJECT_ROOT / "data" / "cohort_cache"


def read_predictions_csv(data: bytes) -> pd.DataFrame:
    """Parse an uploaded predictions CSV (one row per case).

    Raises:
        InvalidInputError: not a CSV table with at least two columns and two rows.
    """
    try:
        frame = pd.read_csv(io.BytesIO(data))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InvalidInputError("The file is not a readable CSV table.") from exc
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        raise InvalidInputError("The CSV needs a truth column, a score column and 2+ cases.")
    return frame


def phantom_predictions(
    kind: str, models: list[str], n: int, seed: int, settings: Settings, progress: Progress
) -> pd.DataFrame:
    """Make ``n`` labelled phantom cases in-process and score them with each model.

    Args:
        kind: ``"radiograph"`` (LMAF = 1 vs SFO = 0; the case-level p(LMAF) of the full
            pipeline, 0.5 when no fragment is found) or ``"ct"`` (fracture = 1).
        models: classifier names (radiograph; the default detector finds the fragments) or
            CT model names.
        n: number of cases (half positive).
        seed: first case seed.
        settings: where the models live and which device to use.
        progress: called with (fraction done, message).

    Returns:
        One row per case: ``case``, ``truth``, a subgroup column (``view`` or ``difficulty``)
        and one score column per model.
    """
    models_dir, device = str(settings.models_dir), settings.device
    phantoms = resources.phantom_cache()  # drawn once per machine, then read from disk
    rows: list[dict[str, object]] = []
    for i in range(n):
        positive = i % 2 == 0
        difficulty = round(0.2 + 0.6 * ((i // 2) % 3) / 2, 2)
        row: dict[str, object] = {"case": f"phantom-{seed + i:04d}", "truth": int(positive)}
        if kind == "radiograph":
            image, view = phantoms.radiograph(
                seed + i, "lmaf" if positive else "sfo", difficulty=difficulty
            )
            row["view"] = view
            for model in models:
                pipe = resources.radiograph_pipeline(
                    "lmaf-fragment-detector", model, models_dir, device
                )
                p = pipe.run(image).case_p_lmaf
                row[model] = 0.5 if p is None else p
        else:
            volume = phantoms.volume(seed + i, positive, difficulty=difficulty)
            row["difficulty"] = f"{difficulty:.1f}"
            for model in models:
                pipe_ct = resources.ct_pipeline(model, models_dir, device)
                row[model] = pipe_ct.run(volume, explain=False).probability
        rows.append(row)
        progress((i + 1) / n, f"Case {i + 1} of {n}")
    return pd.DataFrame(rows)


def real_cohort_predictions(
    models: list[str], settings: Settings, progress: Progress
) -> tuple[pd.DataFrame, str]:
    """Score the FracAtlas validation cohort with each real-image model (cached on disk).

    Args:
        models: installed fracture-localisation model names.
        settings: where the models live, the device and the reader limits.
        progress: called with (fraction done, message).

    Returns:
        The predictions table (``image``, ``truth``, ``view``, ``implants``, one column of
        image scores per model) and the rule that chose its images.

    Raises:
        InvalidInputError: when FracAtlas is not installed or the models share no unseen image.
    """
    from ankle_core.io import read_radiograph
    from ankle_core.realdata.sources import find_real_data
    from ankle_core.realdata.validation_cohort import (
        cache_file,
        cohort_frame,
        load_scores,
        save_scores,
        validation_cohort,
    )

    root = find_real_data("fracatlas-leg")
    if root is None:
        raise InvalidInputError(
            "FracAtlas is not installed: put fracatlas-leg/ under shared/data beside the "
            "checkout, or set ANKLE_REAL_DATA."
        )
    cards = resources.model_cards(str(settings.models_dir))
    chosen = {m: cards[m] for m in models}
    cohort = validation_cohort(root, {m: c.training for m, c in chosen.items()})
    scores: dict[str, dict[str, float]] = {}
    for k, name in enumerate(models):
        card = chosen[name]
        path = cache_file(REAL_COHORT_CACHE, card.name, card.version, card.weights_sha256)
        have = load_scores(path)
        todo = [im for im in cohort.images if im.name not in have]
        if todo:
            localiser = resources.fracture_localiser(
                name, str(settings.models_dir), settings.device
            )
            for i, im in enumerate(todo):
                radiograph = read_radiograph(im.path.read_bytes(), limits=settings.limits)
                have[im.name] = float(localiser.run(radiograph).image_score)
                progress((k + (i + 1) / len(todo)) / len(models), f"{name}: {i + 1}/{len(todo)}")
                if (i + 1) % 25 == 0:
                    save_scores(path, have)
            save_scores(path, have)
        scores[name] = have
    return cohort_frame(cohort, scores), cohort.rule


def real_cohort_controls(cards: Mapping[str, ModelCard], settings: Settings) -> None:
    """Pick real-image models and run them on the FracAtlas validation cohort (cached)."""
    from ankle_core.models.card import ModelTask, models_for_task
    from ankle_core.teaching import FRACATLAS_CREDIT

    names = models_for_task(cards, ModelTask.FRACTURE_LOCALISATION, spatial_dims=2)
    if not names:
        st.info("No real-image (fracture-localisation) model is installed.")
        return
    models = st.multiselect("Real-image models", names, default=names, key="cohort_real_models")
    st.caption(f"Data: {FRACATLAS_CREDIT}")
    # a callback flag, not the button's return value: it survives a rerun of the page
    st.button(
        "Run",
        type="primary",
        disabled=not models,
        key="cohort_real_run",
        on_click=lambda: st.session_state.update(cohort_real_go=True),
    )
    if st.session_state.pop("cohort_real_go", False):
        bar = st.progress(0.0, "Scoring the FracAtlas validation images…")
        try:
            frame, rule = real_cohort_predictions(
                list(models), settings, lambda f, m: bar.progress(min(f, 1.0), m)
            )
        except AnkleError as exc:
            widgets.show_error(exc)
        else:
            st.session_state["cohort_frame"] = frame
            st.session_state["cohort_real_rule"] = rule
        bar.empty()
    shown_rule = st.session_state.get("cohort_real_rule")
    if shown_rule:
        st.caption(f"Images: {shown_rule}")


def auc_frame(report: CohortReport) -> pd.DataFrame:
    """One row per model: AUC with DeLong and bootstrap CIs, and cases."""
    rows = []
    for name, m in report.per_model.items():
        d, b = m.auc_delong, m.auc_bootstrap
        rows.append(
            {
                "Model": name,
                "AUC": round(d.auc, 3),
                f"{report.level:.0%} CI (DeLong)": f"{d.ci_low:.3f} – {d.ci_high:.3f}",
                f"{report.level:.0%} CI (bootstrap)": f"{b.ci_low:.3f} – {b.ci_high:.3f}",
                "Positives": d.n_pos,
                "Negatives": d.n_neg,
            }
        )
    return pd.DataFrame(rows)


def show_threshold_explorer(
    frame: pd.DataFrame,
    truth: str,
    scores: list[str],
    operating_points: Mapping[str, float] | None = None,
) -> None:
    """A threshold slider updating sensitivity, specificity and the confusion matrix.

    Args:
        frame: the predictions table.
        truth: its truth column.
        scores: its score columns.
        operating_points: model -> the card's operating point, where the slider starts.
    """
    left, right = st.columns([1, 2], gap="large")
    model = left.selectbox("Model", scores, key="cohort_threshold_model")
    s = frame[model].to_numpy(dtype=float)
    lo, hi = float(np.nanmin(s)), float(np.nanmax(s))
    if hi <= lo:
        hi = lo + 1.0
    start = (lo + hi) / 2
    if operating_points and model in operating_points:
        start = float(np.clip(operating_points[model], lo, hi))
        left.caption(f"Starts at the card's operating point, {operating_points[model]:.3f}.")
    t = left.slider(
        "Threshold (score ≥ threshold is positive)",
        lo,
        hi,
        start,
        (hi - lo) / 100,
        key="cohort_threshold",
    )
    m = metrics_at(frame[truth].to_numpy(), s, float(t))
    a, b, c = right.columns(3)
    a.metric(
        "Sensitivity",
        f"{m.sensitivity.value:.1%}",
        help=f"Wilson CI {m.sensitivity.wilson_low:.1%} – {m.sensitivity.wilson_high:.1%}",
    )
    b.metric(
        "Specificity",
        f"{m.specificity.value:.1%}",
        help=f"Wilson CI {m.specificity.wilson_low:.1%} – {m.specificity.wilson_high:.1%}",
    )
    c.metric("Accuracy", f"{m.accuracy.value:.1%}")
    right.dataframe(
        pd.DataFrame(
            {"Truth positive": [m.tp, m.fn], "Truth negative": [m.fp, m.tn]},
            index=["Called positive", "Called negative"],
        ),
        key="cohort_confusion",
    )


# Figures the page shows as a sortable table instead of a Plotly table.
_PAGE_TABLES: dict[str, Callable[[CohortReport], pd.DataFrame]] = {"auc": auc_frame}


def show_report(report: CohortReport, html: str) -> None:
    """The report's on-page figures (from the one section list), two a row, and downloads."""
    for warning in report.warnings:
        st.warning(warning)
    shown = figures.report_figures(report, page_only=True)
    for row in range(0, len(shown), 2):
        for col, (spec, fig) in zip(st.columns(2, gap="large"), shown[row : row + 2], strict=False):
            with col:
                if spec.key in _PAGE_TABLES:
                    st.markdown(f"**{spec.title} with confidence intervals**")
                    st.dataframe(
                        _PAGE_TABLES[spec.key](report), hide_index=True, key=f"cohort_{spec.key}"
                    )
                else:
                    st.plotly_chart(fig, key=f"cohort_{spec.key}")
    a, b = st.columns(2)
    a.download_button(
        "HTML report",
        html,
        "cohort-report.html",
        "text/html",
        key="cohort_html",
        icon=":material/download:",
    )
    b.download_button(
        "JSON report",
        json.dumps(report.to_dict(), indent=1),
        "cohort-report.json",
        "application/json",
        key="cohort_json",
        icon=":material/download:",
    )
