"""The dashboard's PACS panel (``ui/pacs_panel.py``) against a real Orthanc, with AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.core.pacs.conftest import Seeded
from tests.core.pacs.orthanc import PASSWORD, USER, OrthancServer

pytestmark = [pytest.mark.pacs, pytest.mark.slow]


def _page(url: str, user: str, password: str, models_dir: str) -> None:
    """A minimal radiograph page using the panel as the pages would."""
    import streamlit as st

    from ankle_core.config import Settings
    from ankle_core.inference.radiograph import RadiographPipeline
    from ui import pacs_panel
    from ui.analysis import analyse_radiograph

    settings = Settings(pacs_url=url, pacs_user=user, pacs_password=password, device="cpu")
    source = pacs_panel.choose_pacs_input("radiograph", settings, key="rg")
    if source is not None:
        pipeline = RadiographPipeline.from_names(models_dir=models_dir, device="cpu")
        analysis = analyse_radiograph(pipeline, source.data, settings.limits)
        st.markdown(f"**{source.name}** sha {source.sha256[:12]} call {analysis.result.case_call}")
        pacs_panel.send_results_panel("radiograph", analysis, source, settings, key="rg")


def test_panel_searches_retrieves_and_sends(
    orthanc: OrthancServer, seeded: Seeded, tiny_models_dir: Path
) -> None:
    at = AppTest.from_function(
        _page, args=(orthanc.url, USER, PASSWORD, str(tiny_models_dir)), default_timeout=120
    )
    at.run()
    assert not at.exception
    at.selectbox(key="rg_modality").set_value("CR")
    at.button[0].click().run()  # the form's "Search the PACS"
    assert not at.exception
    _pick_study(at, "rg_study", seeded.rg3.StudyInstanceUID)
    at.button(key="rg_retrieve").click().run()
    assert not at.exception, at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "call " in shown and "PACS " in shown
    at.button(key="rg_send").click().run()
    assert not at.exception, at.exception
    (frame,) = at.dataframe
    sent = frame.value
    assert list(sent["Object"]) == ["SR", "OT"]
    assert all(str(d).startswith("AI lmaf-classifier") for d in sent["Series description"])
    everything = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.success])
    everything += sent.to_string()
    for identity in (str(seeded.rg3.PatientID), "CompressedSamples", PASSWORD):
        assert identity not in everything


def _ct_page(url: str, user: str, password: str, models_dir: str) -> None:
    """A minimal CT page using the panel as the pages would."""
    import streamlit as st

    from ankle_core.config import Settings
    from ankle_core.inference.ct import CtPipeline
    from ui import pacs_panel
    from ui.analysis import analyse_ct

    settings = Settings(pacs_url=url, pacs_user=user, pacs_password=password, device="cpu")
    source = pacs_panel.choose_pacs_input("ct", settings, key="ct")
    if source is not None:
        pipeline = CtPipeline.from_name(models_dir=models_dir, device="cpu")
        analysis = analyse_ct(pipeline, source.data, settings.limits)
        n = len(analysis.result.regions)
        st.markdown(f"**{source.name}** p {analysis.result.probability:.3f} regions {n}")
        pacs_panel.send_results_panel("ct", analysis, source, settings, key="ct")


def _pick_study(at: AppTest, key: str, study_uid: str) -> None:
    """Select ``study_uid`` in the study box; other tests may file more studies for the same
    patient in the session's shared Orthanc, so ours is not always listed first."""
    n = len(at.selectbox(key=key).options)
    for index in range(n):
        if at.selectbox(key=key).value.study_uid == study_uid or index + 1 == n:
            break
        at.selectbox(key=key).select_index(index + 1).run()
    assert at.selectbox(key=key).value.study_uid == study_uid


def test_panel_ct_series_round_trip(
    orthanc: OrthancServer, seeded: Seeded, tiny_models_dir: Path
) -> None:
    at = AppTest.from_function(
        _ct_page, args=(orthanc.url, USER, PASSWORD, str(tiny_models_dir)), default_timeout=120
    )
    at.run()
    at.text_input(key="ct_pid").set_value(str(seeded.ct[0].PatientID))
    at.button[0].click().run()
    _pick_study(at, "ct_study", seeded.ct_study_uid)
    series = at.selectbox(key="ct_series")
    assert series.value.modality == "CT" and len(series.options) == 1  # the DX series is hidden
    at.button(key="ct_retrieve").click().run()
    assert not at.exception, at.exception
    (line,) = [m.value for m in at.markdown if "PACS " in m.value]
    n_regions = int(line.rsplit(" ", 1)[1])
    at.button(key="ct_send").click().run()
    assert not at.exception, at.exception
    sent = at.dataframe[0].value
    assert list(sent["Object"]) == (["SR", "SEG"] if n_regions else ["SR"])
