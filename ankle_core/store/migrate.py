"""Run the case-history migrations from code (no ``alembic.ini`` needed).

Alembic's scripts live in ``ankle_core/store/migrations``. :func:`upgrade` builds an
:class:`alembic.config.Config` in memory, hands Alembic an open connection and upgrades to
the requested revision. Every revision only adds (tables, nullable columns, indexes), so
upgrading never loses data. Reader-study tables arrive as a new revision file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "upgrade"]

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the bundled migration scripts.

    Returns:
        A config with ``script_location`` set; the connection is added by :func:`upgrade`.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest revision id among the bundled scripts."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise RuntimeError("No migration scripts found.")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision a database is at, or None for an empty (unversioned) database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision`` (default: the newest).

    Args:
        engine: a SQLAlchemy engine (SQLite, PostgreSQL, ...).
        revision: target revision id, or ``"head"``.
    """
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("case history schema at %s", current_revision(engine))
