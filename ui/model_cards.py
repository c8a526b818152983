"""Render a model card: identity, data, metrics with CIs, operating points, intended use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from ankle_core.models.card import ModelCard

__all__ = ["metrics_frame", "render_card"]


def metrics_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per metric: value, 95% CI and n.

    Nested groups (``{"test": {"auc": {...}}}``) become ``test · auc``; plain numbers are
    shown as values without an interval.
    """
    rows: list[dict[str, str]] = []
    _metric_rows("", metrics, rows)
    return pd.DataFrame(rows, columns=["Metric", "Value", "95% CI", "n"])


def _metric_rows(prefix: str, metrics: Mapping[str, Any], rows: list[dict[str, str]]) -> None:
    for name, m in metrics.items():
        label = f"{prefix}{name}"
        if isinstance(m, Mapping) and "value" in m:
            ci = m.get("ci95") or m.get("ci")
            ci_text = f"{ci[0]:.3f} – {ci[1]:.3f}" if isinstance(ci, list | tuple) else "—"
            value = m["value"]
            text = f"{value:.3f}" if isinstance(value, float) else str(value)
            rows.append(
                {"Metric": label, "Value": text, "95% CI": ci_text, "n": str(m.get("n", "—"))}
            )
        elif isinstance(m, Mapping):
            _metric_rows(f"{label} · ", m, rows)
        elif isinstance(m, int | float | str):
            rows.append({"Metric": label, "Value": str(m), "95% CI": "—", "n": "—"})


def render_card(card: ModelCard) -> None:
    """One card, in an expander-friendly layout."""
    st.markdown(
        f"**Task** `{card.task}` · **architecture** `{card.architecture}` · "
        f"**{card.spatial_dims}D** input {' × '.join(map(str, card.input_size))} · "
        f"labels {', '.join(card.labels)}"
    )
    st.info(f"**Intended use.** {card.intended_use}", icon=":material/target:")
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Test metrics (95% CI)**")
        frame = metrics_frame(card.metrics)
        if frame.empty:
            st.caption("No metrics recorded in this card.")
        else:
            st.dataframe(frame, hide_index=True)
        ops = card.operating_points
        st.markdown("**Operating points** (probability of the positive class)")
        st.dataframe(
            pd.DataFrame(
                [
                    {"Point": "default", "Threshold": ops.default},
                    {
                        "Point": "high sensitivity (rule-out at or below)",
                        "Threshold": ops.high_sensitivity,
                    },
                    {
                        "Point": "high specificity (rule-in at or above)",
                        "Threshold": ops.high_specificity,
                    },
                ]
            ),
            hide_index=True,
        )
        st.caption(f"Chosen on: {ops.chosen_on}")
    with right:
        st.markdown("**Training data and provenance**")
        st.json(dict(card.training), expanded=1)
        st.markdown("**Preprocessing**")
        st.json(dict(card.preprocessing), expanded=1)
        if card.explanation:
            st.markdown("**Recommended explanation** (the CT page's default heat map)")
            st.json(dict(card.explanation), expanded=1)
        st.caption(
            f"Weights sha256 `{card.weights_sha256[:16]}…` ({card.weights_dtype}); "
            "checked at every load."
        )
