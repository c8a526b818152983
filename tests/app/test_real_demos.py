"""AppTest checks of the real demo cases and the general fracture localiser section."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ankle_core.inference.localiser import LEG_LOCALISER_NAME, LOCALISER_NAME
from ankle_core.realdata.demo import real_demo
from ankle_core.realdata.fracture_boxes import DATASET_CREDIT
from tests.app.apptest import open_page as _open
from ui.localiser_panel import LEG_TITLE, LOCALISER_TITLE

REPO = Path(__file__).resolve().parents[2]
RG3 = real_demo("real-rg3")
REAL_CT = real_demo("real-ct-totalseg")


def _texts(at: AppTest) -> str:
    texts = [*at.markdown, *at.caption, *at.subheader, *at.warning, *at.info]
    return "\n".join(str(t.value) for t in texts)


@pytest.fixture
def with_localiser(
    app_env: dict[str, str], tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The tiny models plus the committed fracture localisers, in one folder."""
    committed = [REPO / "models" / LOCALISER_NAME, REPO / "models" / LEG_LOCALISER_NAME]
    for folder in committed:
        if not (folder / "model.safetensors").is_file():
            pytest.skip(f"the committed {folder.name} is not in models/")
    models = tmp_path / "models"
    models.mkdir()
    for folder in [*tiny_models_dir.iterdir(), *committed]:
        if folder.is_dir():
            (models / folder.name).symlink_to(folder, target_is_directory=True)
    monkeypatch.setenv("ANKLE_MODELS_DIR", str(models))
    return models


@pytest.mark.slow
@pytest.mark.skipif(not RG3.available(), reason="pydicom-data's RG3_UNCR.dcm is not installed")
def test_radiograph_page_lists_and_analyses_real_rg3(app_env: dict[str, str]) -> None:
    at = _open("pages/radiograph.py")
    at.radio(key="rg_mode").set_value("Demo case").run()
    assert not at.exception, at.exception
    picker = at.selectbox(key="rg_demo")
    assert RG3.title in picker.options
    assert "lmaf_demo.png" in picker.value  # phantom cases stay first
    picker.set_value(RG3.title).run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert RG3.credit in text and RG3.description in text
    assert "Case call" in text
    assert any(RG3.title in c.value for c in at.caption)  # the viewer names the case
    # the localiser is not in the tiny models folder: one line says so
    assert "is not installed" in text


@pytest.mark.slow
def test_localiser_section_renders_with_committed_model(with_localiser: Path) -> None:
    at = _open("pages/radiograph.py")
    at.radio(key="rg_mode").set_value("Demo case").run()
    assert not at.exception, at.exception
    assert any(e.label == LOCALISER_TITLE for e in at.expander)
    # nothing runs that the user did not ask for: the localiser waits for its switch
    assert "suggested box(es)" not in _texts(at)
    assert f"Training data: {DATASET_CREDIT}" in _texts(at)
    at.toggle(key="loc_run").set_value(True).run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert DATASET_CREDIT in text
    assert "NOT been validated on ankles" in text  # the card's intended use
    assert "suggested box(es)" in text
    # the phantom demo gets several boxes at the card's low operating point (0.079)
    picker = at.selectbox(key="loc_box")
    assert len(picker.options) >= 2
    assert "Grad-CAM for box 1 · " not in _texts(at)  # computed only for a picked box
    picker.set_value(0).run()
    assert "Grad-CAM for box 1 · " in _texts(at)
    at.selectbox(key="loc_box").set_value(1).run()  # explain the second box: redraws without error
    assert not at.exception, at.exception
    assert "Grad-CAM for box 2 · " in _texts(at)


@pytest.mark.slow
@pytest.mark.skipif(not RG3.available(), reason="pydicom-data's RG3_UNCR.dcm is not installed")
def test_real_radiograph_shows_the_lower_limb_finding_first(with_localiser: Path) -> None:
    at = _open("pages/radiograph.py")
    at.radio(key="rg_mode").set_value("Demo case").run()
    at.selectbox(key="rg_demo").set_value(RG3.title).run()
    assert not at.exception, at.exception
    assert LEG_TITLE in at.markdown[0].value or any(LEG_TITLE in m.value for m in at.markdown)
    first = at.subheader[0].value  # before the phantom-trained fragment call
    assert "image score" in first and ("fracture suspected" in first or "no fracture" in first)
    assert "Case call" in "\n".join(h.value for h in at.subheader[1:])
    text = _texts(at)
    assert "FracAtlas" in text and "CC BY 4.0" in text  # the card's credit line
    assert "NOT for clinical use" in text
    # what the score is, and the call at the card's other operating points
    assert "Image score: the mean of two scores" in text
    assert "At the high-specificity operating point" in text
    if at.selectbox(key="leg_box").options:
        # the box's Grad-CAM is computed only once a box is picked
        assert "Grad-CAM for box 1 · " not in text
        at.selectbox(key="leg_box").set_value(0).run()
        assert not at.exception, at.exception
        assert "Grad-CAM for box 1 · " in _texts(at)


def test_phantom_radiograph_keeps_the_fragment_call_first(with_localiser: Path) -> None:
    at = _open("pages/radiograph.py")
    at.radio(key="rg_mode").set_value("Demo case").run()  # the first demo: a phantom
    assert not at.exception, at.exception
    assert "Case call" in at.subheader[0].value
    assert any(e.label == LEG_TITLE for e in at.expander)


def test_ct_page_lists_real_ct(app_env: dict[str, str]) -> None:
    at = _open("pages/ct_volume.py")
    at.radio(key="ct_mode").set_value("Demo case").run()
    assert not at.exception, at.exception
    options = at.selectbox(key="ct_demo").options
    if REAL_CT.available():
        assert REAL_CT.title in options
    else:
        assert REAL_CT.title not in options
        assert any(REAL_CT.missing_hint in c.value for c in at.caption)
