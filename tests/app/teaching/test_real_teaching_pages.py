"""AppTest flows of the real (FracAtlas) teaching library and the click quiz."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ankle_core.inference.localiser import LOCALISER_NAME
from ankle_core.teaching import FRACATLAS_CREDIT, RealQuizSession, real_cases
from tests.app.apptest import open_page as _open
from ui.teaching_real import REAL_ROOT

REPO = Path(__file__).resolve().parents[3]


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [h.value for h in at.subheader] + [w.value for w in at.warning]
    parts += [s.value for s in at.success] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


@pytest.fixture
def with_localiser(
    app_env: dict[str, str], tiny_models_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The tiny models plus the committed real-image localiser, in one folder."""
    committed = REPO / "models" / LOCALISER_NAME
    if not (committed / "model.safetensors").is_file():
        pytest.skip(f"the committed {LOCALISER_NAME} is not in models/")
    models = tmp_path / "models"
    models.mkdir()
    for folder in [*tiny_models_dir.iterdir(), committed]:
        if folder.is_dir():
            (models / folder.name).symlink_to(folder, target_is_directory=True)
    monkeypatch.setenv("ANKLE_MODELS_DIR", str(models))
    return models


def test_real_library_is_the_default_with_filters_credit_and_truth_on_demand(
    app_env: dict[str, str],
) -> None:
    at = _open("pages/library.py")
    text = _text(at)
    assert "64 of 64 real cases" in text
    assert FRACATLAS_CREDIT in text
    assert "Teaching note." in text and "implants:" in text
    assert "synthetic phantom" not in text  # the phantoms are the other collection
    images_before = [str(i.proto) for i in at.get("image")]
    assert len(images_before) == 6  # six cases a page
    at.toggle[0].set_value(True).run()  # truth boxes and masks on the first case
    assert not at.exception, at.exception
    images_after = [str(i.proto) for i in at.get("image")]
    assert images_after[0] != images_before[0] and images_after[1:] == images_before[1:]
    at.selectbox(key="rl_fractured").set_value("no").run()
    assert "28 of 64 real cases" in _text(at)
    at.selectbox(key="rl_fractured").set_value("yes").run()
    at.multiselect(key="rl_views").set_value(["lateral"]).run()
    at.multiselect(key="rl_regions").set_value(["ankle"]).run()
    assert not at.exception, at.exception
    expected = [
        c
        for c in real_cases(REAL_ROOT)
        if c.fractured and "lateral" in c.views and c.region == "ankle"
    ]
    assert f"{len(expected)} of 64 real cases" in _text(at)
    at.selectbox(key="rl_implants").set_value("yes").run()
    assert not at.exception, at.exception
    at.sidebar.radio(key="lib_collection").set_value("phantom").run()
    assert "synthetic phantom" in _text(at)


def _answer_all(at: AppTest, n: int) -> RealQuizSession:
    for i in range(n):
        quiz: RealQuizSession = at.session_state["real_quiz"]
        case = quiz.cases[i]
        assert f"Case {i + 1} of {n}" in _text(at)
        assert "Teaching note." not in _text(at)  # nothing revealed before the commit
        if case.fractured:  # click the centre of the first true box
            x0, y0, x1, y1 = case.fractures[0].box
            at.session_state[f"rquiz_pt_{i}"] = ((x0 + x1) / 2, (y0 + y1) / 2)
            at.radio(key=f"rquiz_call_{i}").set_value("fracture")
        else:
            at.radio(key=f"rquiz_call_{i}").set_value("no fracture")
        at.slider(key=f"rquiz_conf_{i}").set_value(80)
        at.button(key=f"rquiz_commit_{i}").click().run()
        assert not at.exception, at.exception
        text = _text(at)
        assert "Right" in text and "Teaching note." in text and FRACATLAS_CREDIT in text
        if case.fractured:
            assert "**inside** a true fracture box" in text
        at.button(key=f"rquiz_next_{i}").click().run()
        assert not at.exception, at.exception
    return quiz


def test_real_quiz_needs_a_click_for_a_fracture_then_scores_and_exports(
    app_env: dict[str, str],
) -> None:
    at = _open("pages/quiz.py")
    at.number_input(key="rquiz_n").set_value(5)
    at.button(key="rquiz_start").click().run()
    assert not at.exception, at.exception
    quiz: RealQuizSession = at.session_state["real_quiz"]
    assert at.query_params["rq"]  # the URL carries the quiz
    # a fracture call without a click is refused with a clear message
    at.radio(key="rquiz_call_0").set_value("fracture")
    at.button(key="rquiz_commit_0").click().run()
    assert "Click on the image" in _text(at)
    assert quiz.phase == "commit"
    quiz = _answer_all(at, 5)
    assert "Your results" in _text(at)
    measures = next(df.value for df in at.dataframe if "Measure" in df.value.columns)
    rows = dict(zip(measures["Measure"], measures["Your result"], strict=True))
    assert rows["Correct calls"] == "5/5"
    n_fractured = sum(c.fractured for c in quiz.cases)
    if n_fractured:
        assert rows["Localisation accuracy (click in a true box)"].endswith(
            f"{n_fractured}/{n_fractured}"
        )
    assert len(at.get("download_button")) == 2
    assert FRACATLAS_CREDIT in _text(at)


def test_real_quiz_resumes_from_the_url_after_a_reload(app_env: dict[str, str]) -> None:
    at = _open("pages/quiz.py")
    at.number_input(key="rquiz_n").set_value(3)
    at.button(key="rquiz_start").click().run()
    quiz: RealQuizSession = at.session_state["real_quiz"]
    at.radio(key="rquiz_call_0").set_value("no fracture")
    at.button(key="rquiz_commit_0").click().run()
    at.button(key="rquiz_next_0").click().run()
    token = at.query_params["rq"]
    token = token[0] if isinstance(token, list) else token
    fresh = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    fresh.query_params["rq"] = token
    fresh.run()
    fresh.switch_page("pages/quiz.py").run()
    assert not fresh.exception, fresh.exception
    resumed: RealQuizSession = fresh.session_state["real_quiz"]
    assert [c.image_id for c in resumed.cases] == [c.image_id for c in quiz.cases]
    assert len(resumed.answers) == 1 and "Case 2 of 3" in _text(fresh)


@pytest.mark.slow
def test_real_quiz_reveal_shows_the_real_model_when_installed(with_localiser: Path) -> None:
    at = _open("pages/quiz.py")
    at.number_input(key="rquiz_n").set_value(2)
    at.button(key="rquiz_start").click().run()
    at.radio(key="rquiz_call_0").set_value("no fracture")
    at.button(key="rquiz_commit_0").click().run()
    assert not at.exception, at.exception
    assert f"The AI ({LOCALISER_NAME}) said" in _text(at)
    at.toggle(key="rquiz_heat_0").set_value(True).run()
    assert not at.exception, at.exception
    answer = at.session_state["real_quiz"].answers[0]
    assert answer.model_score is not None and 0.0 <= answer.model_score <= 1.0


def _created_demo(at: AppTest) -> tuple[str, str]:
    at.button(key="own_demo").click().run()
    assert not at.exception, at.exception
    match = re.search(r"code \*\*([A-Z0-9]+)\*\*, study key `([^`]+)`", _text(at))
    assert match, _text(at)
    return match.group(1), match.group(2)


def test_owner_creates_the_real_demo_study_in_one_click_and_a_reader_reads_it(
    with_localiser: Path,
) -> None:
    from ankle_core.store import CaseStore, StudyStore
    from ankle_core.teaching import REAL_SOURCE, open_owner_study
    from ankle_core.teaching.studies import invite_reader

    at = _open("pages/study_owner.py")
    code, key = _created_demo(at)
    store = StudyStore(CaseStore.from_url(os.environ["ANKLE_DATABASE_URL"]).engine)
    study = open_owner_study(store, code, key)
    assert len(study.case_ids) == 12 and all(c.startswith("fracatlas:") for c in study.case_ids)
    at.radio(key="own_source").set_value("Real FracAtlas cases").run()
    at.number_input(key="own_real_pos").set_value(3).run()
    assert not at.exception, at.exception
    assert "Create the study (9 cases)" in [b.label for b in at.button]
    invite = invite_reader(store, study, "Reader One")  # a reader joins by an invite link
    page = AppTest.from_file(str(REPO / "app.py"), default_timeout=180)
    page.query_params["invite"] = invite.token
    page.run()
    page.switch_page("pages/reader_study.py").run()
    assert not page.exception, page.exception
    text = _text(page)
    assert "Unaided" in text and FRACATLAS_CREDIT in text and "AI (" not in text
    assert "shows a fracture" in page.radio(key="rs_rating_0").label
    radio = page.radio(key="rs_rating_0")
    radio.set_value(radio.options[3])
    page.button(key="rs_submit_0").click().run()
    assert not page.exception, page.exception
    text = _text(page)
    assert "Aided" in text and f"AI ({LOCALISER_NAME})" in text and FRACATLAS_CREDIT in text
    assert REAL_SOURCE.startswith("FracAtlas")


@pytest.fixture
def tiny_fracatlas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FracAtlas-shaped data root made of the 64 bundled real cases; a fresh score cache."""
    import csv

    import ui.cohort

    root = tmp_path / "real" / "fracatlas-leg"
    (root / "images").mkdir(parents=True)
    fields = ["image_id", "fractured", "frontal", "lateral", "oblique", "hardware"]
    with (root / "dataset.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, [*fields, "fracatlas_split", "readable"])
        writer.writeheader()
        for c in real_cases(REAL_ROOT):
            (root / "images" / c.image_id).symlink_to(c.path)
            row = {v: int(v in c.views) for v in ("frontal", "lateral", "oblique")}
            row |= {"image_id": c.image_id, "fractured": int(c.fractured)}
            row |= {"hardware": int(c.hardware), "fracatlas_split": c.split or "", "readable": 1}
            writer.writerow(row)
    monkeypatch.setenv("ANKLE_REAL_DATA", str(root.parent))
    monkeypatch.setattr(ui.cohort, "REAL_COHORT_CACHE", tmp_path / "cache")
    return root


@pytest.mark.slow
def test_real_cohort_page_auc_equals_the_auc_of_its_predictions(
    with_localiser: Path, tiny_fracatlas: Path, tmp_path: Path
) -> None:
    import numpy as np

    from ankle_core.stats import auc_ci

    at = _open("pages/cohort.py")
    at.radio(key="cohort_source").set_value("Run a model on the FracAtlas validation cohort").run()
    at.button(key="cohort_real_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    frame = at.session_state["cohort_frame"]
    assert set(frame.columns) >= {"image", "truth", "view", "implants", LOCALISER_NAME}
    assert frame["truth"].sum() > 0 and (frame["truth"] == 0).sum() > 0
    assert "not trained on FracAtlas" in _text(at)
    shown = next(df.value for df in at.dataframe if "AUC" in df.value.columns)
    expected = auc_ci(frame["truth"].to_numpy(), frame[LOCALISER_NAME].to_numpy()).auc
    assert float(shown["AUC"].iloc[0]) == pytest.approx(round(expected, 3))
    cached = list((tmp_path / "cache").glob(f"{LOCALISER_NAME}-*.csv"))
    assert len(cached) == 1
    assert any("operating point" in c.value for c in at.caption)
    # a second run reads the cache: same scores
    at.button(key="cohort_real_run").click().run()
    again = at.session_state["cohort_frame"]
    assert np.allclose(again[LOCALISER_NAME].to_numpy(), frame[LOCALISER_NAME].to_numpy())
