"""The real FracAtlas collection, its filters, and the real quiz's rules, token and results."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ankle_core.config import PROJECT_ROOT
from ankle_core.errors import InvalidInputError
from ankle_core.stats import auc_ci
from ankle_core.store import StudyStore
from ankle_core.teaching import (
    FRACATLAS_CREDIT,
    REAL_REGIONS,
    REAL_VIEWS,
    RealCase,
    RealFracture,
    RealQuizSession,
    filter_real_cases,
    new_real_quiz,
    quiz_from_token,
    real_cases,
    real_quiz_results,
    real_results_csv,
)
from ankle_core.teaching.quiz_pdf import real_results_pdf

REAL = PROJECT_ROOT / "demo_cases" / "fracatlas"


def _case(name: str, fractured: bool, **kw: object) -> RealCase:
    fields: dict[str, object] = {
        "case_id": f"fracatlas:{name}",
        "image_id": name,
        "path": Path(name),
        "fractured": fractured,
        "region": "ankle",
        "difficulty": "subtle" if fractured else "normal",
        "views": ("frontal",),
        "hardware": False,
        "multiscan": False,
        "split": None,
        "width": 100,
        "height": 80,
        "signs": ("lucent line",),
        "note": "Look at the fibula.",
        "fractures": (
            RealFracture((10.0, 10.0, 30.0, 20.0), ((10.0, 10.0, 30.0, 10.0, 30.0, 20.0),)),
        )
        if fractured
        else (),
    }
    fields.update(kw)
    return RealCase(**fields)  # type: ignore[arg-type]


def test_bundled_collection_has_the_curated_64_with_truth_matching_annotations() -> None:
    cases = real_cases(REAL)
    assert len(cases) == 64
    assert sum(c.fractured for c in cases) == 36
    assert {c.region for c in cases} == set(REAL_REGIONS)
    assert {v for c in cases for v in c.views} == set(REAL_VIEWS)
    assert any(c.hardware for c in cases)
    for c in cases:
        assert c.fractured == bool(c.fractures), c.image_id
        assert c.note and c.signs
        for f in c.fractures:
            x0, y0, x1, y1 = f.box
            assert 0 <= x0 < x1 <= c.width + 1 and 0 <= y0 < y1 <= c.height + 1
            assert f.polygons and all(len(p) >= 6 for p in f.polygons)


def test_bundled_images_open_at_their_listed_size_without_truncation() -> None:
    for c in real_cases(REAL)[:64:8]:
        with Image.open(io.BytesIO(c.path.read_bytes())) as im:
            im.load()
            assert im.size == (c.width, c.height)


def test_credit_names_fracatlas_and_its_licence() -> None:
    assert "FracAtlas" in FRACATLAS_CREDIT and "CC BY 4.0" in FRACATLAS_CREDIT
    readme = (REAL / "README.md").read_text()
    assert "CC BY 4.0" in readme and "Changes made" in readme


def test_missing_list_is_empty_and_malformed_list_is_a_clear_error(tmp_path: Path) -> None:
    assert real_cases(tmp_path) == []
    (tmp_path / "cases.json").write_text(json.dumps({"cases": [{"image_id": "x.jpg"}]}))
    with pytest.raises(InvalidInputError, match="malformed"):
        real_cases(tmp_path)


def test_filters_by_view_fracture_region_and_implants() -> None:
    cases = [
        _case("a.jpg", True),
        _case("b.jpg", False, views=("lateral",), region="foot"),
        _case("c.jpg", True, views=("frontal", "lateral"), hardware=True),
    ]
    names = lambda cs: [c.image_id for c in cs]  # noqa: E731
    assert names(filter_real_cases(cases, views=["lateral"])) == ["b.jpg", "c.jpg"]
    assert names(filter_real_cases(cases, fractured=False)) == ["b.jpg"]
    assert names(filter_real_cases(cases, regions=["ankle"])) == ["a.jpg", "c.jpg"]
    assert names(filter_real_cases(cases, implants=True)) == ["c.jpg"]
    assert names(filter_real_cases(cases, views=[], fractured=None)) == []


def test_fracture_call_needs_a_click_inside_the_image_and_hits_are_scored() -> None:
    quiz = RealQuizSession(cases=(_case("a.jpg", True), _case("b.jpg", False)))
    with pytest.raises(InvalidInputError, match="Click"):
        quiz.commit(True, 80, None)
    with pytest.raises(InvalidInputError, match="outside"):
        quiz.commit(True, 80, (500.0, 5.0))
    answer = quiz.commit(True, 80, (15.0, 12.0))
    assert answer.hit is True
    with pytest.raises(InvalidInputError):
        quiz.advance()
    quiz.reveal(0.9, True)
    quiz.advance()
    answer = quiz.commit(False, 60, (1.0, 1.0))
    assert answer.click is None and answer.hit is None


def test_token_round_trip_resumes_each_phase_and_rejects_damage() -> None:
    cases = [_case("a.jpg", True), _case("b.jpg", False), _case("c.jpg", True)]
    pool = {c.image_id: c for c in cases}
    quiz = new_real_quiz(cases, 3, seed=4)
    for step in range(3):
        quiz.commit(True, 70 + step, (20.0, 15.0))
        back = quiz_from_token(quiz.to_token(), pool)
        assert back.phase == "committed" and back.answers == quiz.answers
        quiz.reveal(0.3 * step, step > 0)
        back = quiz_from_token(quiz.to_token(), pool)
        assert back.phase == "revealed" and back.answers == quiz.answers
        quiz.advance()
    back = quiz_from_token(quiz.to_token(), pool)
    assert back.finished and [c.image_id for c in back.cases] == [c.image_id for c in quiz.cases]
    with pytest.raises(InvalidInputError, match="damaged"):
        quiz_from_token("not-a-token", pool)
    with pytest.raises(InvalidInputError, match="damaged"):
        quiz_from_token(quiz.to_token(), {})


def _answered() -> RealQuizSession:
    cases = [_case(f"f{i}.jpg", True) for i in range(3)] + [
        _case(f"n{i}.jpg", False) for i in range(3)
    ]
    quiz = RealQuizSession(cases=tuple(cases))
    plan = [  # (call, confidence, click, model score)
        (True, 90, (15.0, 15.0), 0.8),  # hit
        (True, 60, (80.0, 70.0), 0.6),  # called right, click missed
        (False, 55, None, 0.2),  # missed fracture
        (False, 80, None, 0.1),
        (True, 30, (50.0, 50.0), 0.7),  # false positive
        (False, 95, None, 0.05),
    ]
    for call, conf, click, m in plan:
        quiz.commit(call, conf, click)
        quiz.reveal(m, m >= 0.5)
        quiz.advance()
    return quiz


def test_results_match_hand_counts_and_the_stats_library() -> None:
    quiz = _answered()
    r = real_quiz_results(quiz.answers)
    assert r.n == 6 and r.n_correct == 4
    assert (r.sensitivity.numerator, r.sensitivity.denominator) == (2, 3)
    assert (r.specificity.numerator, r.specificity.denominator) == (2, 3)
    assert (r.localisation.numerator, r.localisation.denominator) == (1, 2)
    truth = np.array([a.truth for a in quiz.answers])
    scores = np.array([a.score for a in quiz.answers])
    assert r.auc is not None and r.auc.auc == pytest.approx(auc_ci(truth, scores).auc)
    assert r.kappa_truth is not None and r.kappa_truth.kappa == pytest.approx(1 / 3)
    assert r.kappa_model is not None
    # wrong calls plus the fracture call whose click missed
    assert {a.case_id for a in r.missed} == {
        "fracatlas:f1.jpg",
        "fracatlas:f2.jpg",
        "fracatlas:n1.jpg",
    }
    with pytest.raises(InvalidInputError):
        real_quiz_results([])


def test_csv_and_pdf_carry_the_answers_and_the_credit() -> None:
    quiz = _answered()
    r = real_quiz_results(quiz.answers)
    data = real_results_csv(quiz.answers, r)
    assert b"FracAtlas" in data.splitlines()[0]
    frame = pd.read_csv(io.BytesIO(data), comment="#")
    assert list(frame["click_in_true_box"].astype(str)[:2]) == ["True", "False"]
    pdf = real_results_pdf(quiz.answers, r)
    assert pdf.startswith(b"%PDF")
    assert len(pdf) > 1000


def test_drawing_tints_the_truth_mask_and_marks_the_click_and_model_boxes() -> None:
    from ankle_core.teaching.real_draw import CLICK_COLOUR, MODEL_COLOUR, draw_real_case

    case = _case("a.jpg", True)
    pixels = np.full((80, 100), 0.5, dtype=np.float32)
    plain = draw_real_case(pixels, case, truth=False)
    assert plain.shape == (80, 100, 3) and np.all(plain == plain[0, 0])
    drawn = draw_real_case(pixels, case, click=(70.0, 50.0), model_boxes=[(60.0, 5.0, 90.0, 30.0)])
    assert drawn[12, 25, 1] > drawn[12, 25, 0]  # inside the mask polygon: green tint
    assert tuple(drawn[50, 70]) == CLICK_COLOUR
    assert tuple(drawn[15, 60]) == MODEL_COLOUR
    assert np.all(drawn[75, 5] == plain[75, 5])  # far from everything: untouched


def test_real_study_cases_draw_the_asked_mix_and_make_a_study(study_store: StudyStore) -> None:
    from ankle_core.teaching import REAL_SOURCE, create_study, real_study_cases

    cases = real_cases(REAL)
    drawn = real_study_cases(cases, 3, 2, seed=1)
    assert sorted(c.truth for c in drawn) == [0, 0, 1, 1, 1]
    assert all(c.source == REAL_SOURCE and c.case_id.startswith("fracatlas:") for c in drawn)
    assert {c.label for c in drawn} == {"fracture", "none"}
    assert [c.case_id for c in real_study_cases(cases, 3, 2, seed=1)] == [c.case_id for c in drawn]
    study = create_study(
        study_store,
        name="real",
        cases=drawn,
        design="same-sitting",
        scale="5-point",
        key="k3y-k3y-k3y-k3y",
    )
    assert sorted(study.case_ids) == sorted(c.case_id for c in drawn)
    with pytest.raises(InvalidInputError, match="holds"):
        real_study_cases(cases, 37, 0)
    with pytest.raises(InvalidInputError):
        real_study_cases(cases, 0, 0)
