"""Alembic environment, driven from code by :func:`ankle_core.store.migrate.upgrade`.

There is no ``alembic.ini``: the caller passes an open SQLAlchemy connection in
``config.attributes["connection"]``. Offline (SQL script) mode is supported for review with
``config.attributes["url"]``.
"""

from __future__ import annotations

from alembic import context

from ankle_core.store.tables import Base

config = context.config
target_metadata = Base.metadata


def run_offline() -> None:
    """Emit SQL to the output buffer instead of executing it."""
    context.configure(
        url=config.attributes["url"],
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the connection the caller handed over."""
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
