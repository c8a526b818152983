"""The case library, difficulty bins, the quiz's commit-before-reveal rule and its results."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ankle_core.config import PROJECT_ROOT
from ankle_core.errors import InvalidInputError
from ankle_core.io import read_radiograph
from ankle_core.stats import auc_ci, cohen_kappa
from ankle_core.teaching import (
    SIGNS,
    ModelOpinion,
    QuizSession,
    bundled_cases,
    case_bytes,
    difficulty_bin,
    filter_cases,
    generated_cases,
    new_quiz,
    quiz_results,
    results_csv,
)
from ankle_core.teaching.quiz_pdf import results_pdf

DEMO = PROJECT_ROOT / "demo_cases"


def test_bundled_library_lists_every_demo_radiograph_marked_synthetic() -> None:
    cases = bundled_cases(DEMO)
    assert sorted(c.label for c in cases) == ["lmaf", "lmaf", "none", "none", "sfo", "sfo"]
    assert all(c.synthetic and "synthetic phantom" in c.provenance for c in cases)
    assert {c.view for c in cases} <= {"ap", "mortise"}


def test_signs_name_what_tells_the_classes_apart() -> None:
    sfo, lmaf = " ".join(SIGNS["sfo"]).lower(), " ".join(SIGNS["lmaf"]).lower()
    for word in ("round", "smooth", "corticated", "intact"):
        assert word in sfo
    for word in ("irregular", "not corticated", "donor"):
        assert word in lmaf


def test_generated_case_is_a_readable_png_with_its_label() -> None:
    (case, *_rest) = generated_cases(1, size=96)
    radiograph = read_radiograph(case_bytes(case))
    assert radiograph.shape == (96, 96)
    assert case.case_id.startswith("phantom:lmaf:") and case.synthetic


def test_filters_by_class_view_and_difficulty() -> None:
    cases = generated_cases(2, size=64)
    opinions = {c.case_id: ModelOpinion("LMAF", 0.95, 0.9) for c in cases}
    bins = {c.case_id: difficulty_bin(c.label, opinions[c.case_id]) for c in cases}
    easy = filter_cases(cases, difficulties=["easy"], difficulty_of=bins)
    assert easy and all(c.label == "lmaf" for c in easy)  # p(LMAF)=0.95 is only right for LMAF
    hard = filter_cases(cases, classes=["sfo"], difficulties=["hard"], difficulty_of=bins)
    assert len(hard) == 2
    views = {c.view for c in cases}
    one = sorted(views)[0]
    assert all(c.view == one for c in filter_cases(cases, views=[one]))


def test_quiz_refuses_a_reveal_before_a_commit_and_keeps_score() -> None:
    quiz = new_quiz(generated_cases(2, size=64), n=3, seed=4)
    assert len(quiz.cases) == 3 and quiz.current is quiz.cases[0]
    with pytest.raises(InvalidInputError):
        quiz.reveal(None)
    first = quiz.cases[0]
    quiz.commit(first.label, 80)
    with pytest.raises(InvalidInputError):
        quiz.commit("sfo", 10)  # an answer cannot be changed once committed
    assert quiz.n_scored == 0  # nothing counts before the reveal
    quiz.reveal(ModelOpinion("SFO", 0.2, 0.9))
    assert (quiz.n_correct, quiz.n_scored) == (1, 1)
    quiz.advance()
    assert quiz.current is quiz.cases[1]
    wrong = next(c for c in ("lmaf", "sfo", "none") if c != quiz.cases[1].label)
    quiz.commit(wrong, 50)
    quiz.reveal(None)
    assert (quiz.n_correct, quiz.n_scored) == (1, 2)


def _finished_quiz() -> QuizSession:
    cases = generated_cases(2, size=64)
    quiz = QuizSession(cases=tuple(cases))
    calls = ["lmaf", "lmaf", "none", "sfo", "sfo", "none"]  # truth order: lmaf sfo none ...
    for case, call, conf in zip(cases, calls, [90, 40, 70, 30, 60, 80], strict=True):
        quiz.commit(call, conf)
        quiz.reveal(ModelOpinion("LMAF" if case.label == "lmaf" else "SFO", 0.5, 0.5))
        quiz.advance()
    assert quiz.finished
    return quiz


def test_results_match_the_statistics_library() -> None:
    quiz = _finished_quiz()
    res = quiz_results(quiz.answers)
    truth = np.array([a.truth == "lmaf" for a in quiz.answers], dtype=int)
    scores = np.array([a.score for a in quiz.answers])
    assert res.auc is not None and res.auc.auc == pytest.approx(auc_ci(truth, scores).auc)
    assert res.sensitivity.numerator == 1 and res.sensitivity.denominator == 2
    assert res.specificity.numerator == 3 and res.specificity.denominator == 4
    expected = cohen_kappa([a.call for a in quiz.answers], [a.truth for a in quiz.answers])
    assert res.kappa_truth is not None and res.kappa_truth.kappa == pytest.approx(expected.kappa)
    assert res.kappa_model is not None
    assert [a.case_id for a in res.missed] == [a.case_id for a in quiz.answers if a.call != a.truth]


def test_csv_and_pdf_exports() -> None:
    quiz = _finished_quiz()
    res = quiz_results(quiz.answers)
    frame = pd.read_csv(io.BytesIO(results_csv(quiz.answers, res)), comment="#")
    assert len(frame) == 6 and frame["correct"].sum() == res.n_correct
    assert b"AUC" in results_csv(quiz.answers, res)
    pdf = results_pdf(quiz.answers, res)
    assert pdf.startswith(b"%PDF") and len(pdf) > 1000
