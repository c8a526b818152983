"""Schema migrations: upgrading keeps data, and the ORM matches the newest revision."""

from __future__ import annotations

import ast
from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from ankle_core.store import Base, CaseStore, current_revision, head_revision, upgrade
from ankle_core.store.migrate import MIGRATIONS_DIR

FIRST = "0001_case_history"


def test_upgrade_from_first_revision_keeps_existing_cases(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine, FIRST)
    assert current_revision(engine) == FIRST
    assert "source_format" not in {c["name"] for c in inspect(engine).get_columns("cases")}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cases (id, session_id, created_at, kind, input_sha256, "
                "metadata_json, results_json, model_name, model_version) VALUES "
                "(:id, :sid, :at, 'ct', :sha, :meta, :res, 'ct-model', '0.1.0')"
            ),
            {
                "id": "a" * 32,
                "sid": "session-old1",
                "at": datetime(2026, 1, 2, tzinfo=UTC),
                "sha": "b" * 64,
                "meta": '{"modality": "CT"}',
                "res": '{"probability": 0.8}',
            },
        )
    engine.dispose()

    store = CaseStore.from_url(database_url)  # upgrades to head
    assert current_revision(store.engine) == head_revision()
    old = store.get_case("session-old1", "a" * 32)
    assert old is not None
    assert old.results["probability"] == 0.8 and old.metadata["modality"] == "CT"
    assert old.source_format is None
    indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("cases")}
    assert "ix_cases_session_created" in indexes
    store.dispose()


def test_orm_matches_the_head_schema(database_url: str) -> None:
    store = CaseStore.from_url(database_url)
    CaseStore.from_url(database_url).dispose()  # a second upgrade is a no-op
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    store.dispose()


def test_no_revision_drops_anything_on_upgrade() -> None:
    for script in sorted((MIGRATIONS_DIR / "versions").glob("[0-9]*.py")):
        tree = ast.parse(script.read_text())
        upgrade_fn = next(
            n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"
        )
        calls = {
            n.func.attr
            for n in ast.walk(upgrade_fn)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
        }
        assert not {c for c in calls if c.startswith("drop")}, script.name
