"""Teaching and reader studies: the case library, the predict-then-reveal quiz, reader studies.

Everything here is plain Python (no Streamlit): the dashboard's pages in ``pages/`` draw it
through ``ui/teaching.py`` and ``ui/reader_study.py``.

- ``cases``: the library of labelled phantom cases (each marked synthetic), the signs that
  tell an LMAF from an SFO, filters; ``difficulty``: bins from the model's confidence.
- ``quiz_phases``: the commit → reveal → advance phases and running score every quiz
  shares; ``quiz``: the phantom quiz's state (call and confidence committed before any reveal);
  ``quiz_results``: AUC with CI, sensitivity, specificity, Cohen's kappa vs truth and vs the
  model, missed cases, CSV; ``quiz_pdf``: the PDF.
- ``real_cases``: the real collection (curated FracAtlas radiographs with boxes, masks,
  views, implant flags, teaching notes; the credit line); ``real_quiz``: the quiz on them
  (fracture or not, confidence, a click where the fracture is; results with localisation).
- ``design``: rating scales, same-sitting and washout designs, each reader's seeded plan;
  ``keys``: study codes and scrypt-hashed study keys; ``caselist``: bundled or uploaded case
  lists checked file by file; ``studies``: create, join, resume, rate, open as owner;
  ``study_results``: the long table for ``ankle_core.stats``, the MRMC analysis, HTML report.
"""

from ankle_core.teaching.caselist import (
    REAL_SOURCE,
    CaseListCheck,
    bundled_study_cases,
    check_uploaded_cases,
    parse_labels,
    real_study_cases,
)
from ankle_core.teaching.cases import (
    CLASS_NAMES,
    CLASSES,
    DIFFICULTIES,
    SIGNS,
    TeachingCase,
    bundled_cases,
    case_bytes,
    filter_cases,
    generated_cases,
    teaching_library,
)
from ankle_core.teaching.design import (
    CONDITIONS,
    DESIGNS,
    SCALES,
    RatingScale,
    Step,
    next_step,
    reading_plan,
)
from ankle_core.teaching.difficulty import (
    ModelOpinion,
    class_of_call,
    confidence_in_truth,
    difficulty_bin,
)
from ankle_core.teaching.keys import hash_key, new_study_code, verify_key
from ankle_core.teaching.quiz import QuizAnswer, QuizSession, lmaf_score, new_quiz
from ankle_core.teaching.quiz_results import (
    QuizResults,
    answers_frame,
    quiz_results,
    results_csv,
)
from ankle_core.teaching.real_cases import (
    FRACATLAS_CREDIT,
    REAL_DIFFICULTIES,
    REAL_REGIONS,
    REAL_VIEWS,
    RealCase,
    RealFracture,
    filter_real_cases,
    real_cases,
)
from ankle_core.teaching.real_quiz import (
    RealQuizAnswer,
    RealQuizResults,
    RealQuizSession,
    fracture_score,
    new_real_quiz,
    quiz_from_token,
    real_answers_frame,
    real_quiz_results,
    real_results_csv,
)
from ankle_core.teaching.studies import (
    Invite,
    ReaderProgress,
    StudyKeyError,
    create_study,
    invite_reader,
    join_signed_in,
    join_with_invite,
    open_owner_study,
    reader_progress,
    submit_rating,
)
from ankle_core.teaching.study_results import (
    LONG_COLUMNS,
    StudyAnalysis,
    analyse_study,
    long_table,
    study_report_html,
)

__all__ = [
    "CLASSES",
    "CLASS_NAMES",
    "CONDITIONS",
    "DESIGNS",
    "DIFFICULTIES",
    "FRACATLAS_CREDIT",
    "LONG_COLUMNS",
    "REAL_DIFFICULTIES",
    "REAL_REGIONS",
    "REAL_SOURCE",
    "REAL_VIEWS",
    "SCALES",
    "SIGNS",
    "CaseListCheck",
    "Invite",
    "ModelOpinion",
    "QuizAnswer",
    "QuizResults",
    "QuizSession",
    "RatingScale",
    "ReaderProgress",
    "RealCase",
    "RealFracture",
    "RealQuizAnswer",
    "RealQuizResults",
    "RealQuizSession",
    "Step",
    "StudyAnalysis",
    "StudyKeyError",
    "TeachingCase",
    "analyse_study",
    "answers_frame",
    "bundled_cases",
    "bundled_study_cases",
    "case_bytes",
    "check_uploaded_cases",
    "class_of_call",
    "confidence_in_truth",
    "create_study",
    "difficulty_bin",
    "filter_cases",
    "filter_real_cases",
    "fracture_score",
    "generated_cases",
    "hash_key",
    "invite_reader",
    "join_signed_in",
    "join_with_invite",
    "lmaf_score",
    "long_table",
    "new_quiz",
    "new_real_quiz",
    "new_study_code",
    "next_step",
    "open_owner_study",
    "parse_labels",
    "quiz_from_token",
    "quiz_results",
    "reader_progress",
    "reading_plan",
    "real_answers_frame",
    "real_cases",
    "real_quiz_results",
    "real_results_csv",
    "real_study_cases",
    "results_csv",
    "study_report_html",
    "submit_rating",
    "teaching_library",
    "verify_key",
]
