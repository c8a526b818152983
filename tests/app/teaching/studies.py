"""Helpers of the reader-study app tests: a 4-case study on the app's database, quick readers."""

from __future__ import annotations

from datetime import UTC, datetime

from ankle_core.config import PROJECT_ROOT
from ankle_core.store import CaseStore, StudyStore
from ankle_core.store.studies import StudyRecord
from ankle_core.teaching import (
    bundled_cases,
    bundled_study_cases,
    create_study,
    invite_reader,
    reader_progress,
    submit_rating,
)

KEY = "owner-key-123"


def store_for(url: str) -> StudyStore:
    """The study store on the app's database (migrated)."""
    return StudyStore(CaseStore.from_url(url).engine)


def four_case_study(store: StudyStore, design: str = "same-sitting") -> StudyRecord:
    """A study of 2 LMAF and 2 non-LMAF bundled phantoms, 5-point scale."""
    cases = bundled_cases(PROJECT_ROOT / "demo_cases")
    pick = [c for c in cases if c.label == "lmaf"][:2] + [c for c in cases if c.label != "lmaf"][:2]
    return create_study(
        store,
        name="Four cases",
        cases=bundled_study_cases(pick),
        design=design,
        scale="5-point",
        key=KEY,
    )


def read_everything(store: StudyStore, code: str, name: str, skill: float) -> None:
    """A simulated reader who rates every step; ``skill`` in [0, 1] separates the classes."""
    study = store.get_study(code)
    assert study is not None
    reader = invite_reader(store, study, name).reader
    while (progress := reader_progress(store, reader.id, now=datetime.now(UTC))).step is not None:
        step = progress.step
        lmaf = study.truth[step.case_id] == 1
        bonus = 1 if step.condition == "aided" else 0
        sure = min(2, round(skill * 2) + bonus)
        rating = 3 + sure if lmaf else 3 - sure
        if step.case_id.endswith("04.png"):  # one hard case keeps the AUCs below 1
            rating = 3
        submit_rating(store, progress, step, rating, 1.0)
