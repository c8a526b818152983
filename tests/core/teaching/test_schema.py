"""The reader-study revision is additive, and the teaching library never imports Streamlit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect, text

from ankle_core.store import CaseStore, current_revision, head_revision, upgrade


def test_revision_0003_adds_study_tables_and_keeps_the_case_history(tmp_path: Path) -> None:
    store = CaseStore.from_url(f"sqlite:///{tmp_path / 'h.sqlite'}", migrate=False)
    upgrade(store.engine, "0002_source_format")
    # a row as revision 0002 knew it: the ORM now maps columns added later (owner_id, 0004)
    with store.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cases (id, session_id, created_at, kind, input_sha256, "
                "metadata_json, results_json, model_name, model_version, source_format) "
                "VALUES ('kept0000000000000000000000000000', 'session-abc', "
                "'2026-01-01 00:00:00', 'ct', :sha, '{}', '{\"p\": 0.5}', 'm', '1', NULL)"
            ),
            {"sha": "0" * 64},
        )
    upgrade(store.engine)
    assert current_revision(store.engine) == head_revision()
    tables = set(inspect(store.engine).get_table_names())
    assert {"studies", "study_cases", "study_readers", "study_ratings"} <= tables
    assert [c.id for c in store.list_cases("session-abc")] == ['kept0000000000000000000000000000']


def test_teaching_library_does_not_import_streamlit() -> None:
    code = "import sys, ankle_core.teaching, ankle_core.store; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
