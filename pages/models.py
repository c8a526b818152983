"""Models: the card of every installed model, and how to add a site-trained one."""

from __future__ import annotations

import streamlit as st

from ui import resources, widgets
from ui.auth import require_role
from ui.model_cards import render_card
from ui.shell import ensure_app_shell

ensure_app_shell()
require_role("models")
st.title("Models")
st.caption(
    "Every model ships with a card beside its weights: what it is, what it was trained on, "
    "how well it did on held-out data, and the thresholds it uses."
)
settings = resources.settings()
cards = resources.model_cards(str(settings.models_dir))
widgets.research_note()

if not cards:
    st.warning(f"No model is installed in `{settings.models_dir.name}/`.")
for name, card in cards.items():
    with st.expander(
        f"**{name}** · version {card.version} · {card.task}", expanded=len(cards) == 1
    ):
        render_card(card)

st.subheader("Adding a site-trained model")
st.markdown(
    """
1. Train on your own labelled data with the training CLI, for example
   `python -m ankle_core.training classifier --data /path/to/site_cases --out runs/site-clf
   --name site-lmaf-classifier --version 1.0.0`
   (run `python -m ankle_core.training --help` for the detector, classifier and CT commands).
   The run writes a model folder: `model.safetensors` and a `card.json` with the data, the
   test metrics with confidence intervals, the operating points and the weights' sha256.
2. Review the card, set its `intended_use` and `version`, then copy the folder into
   `models/` (or the folder named by `ANKLE_MODELS_DIR`).
3. It appears on this page and in the model pickers within a minute. Its weights are
   hash-checked at every load; an edited or corrupted file is refused.
"""
)
