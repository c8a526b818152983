"""Record the input's format and list a session's cases by time through an index.

Revision ID: 0002_source_format
Revises: 0001_case_history
Create Date: 2026-11-24

Additive only: a nullable column (existing rows keep NULL) and a composite index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_source_format"
down_revision = "0001_case_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``cases.source_format`` (nullable) and ``ix_cases_session_created``."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("source_format", sa.String(32), nullable=True))
    op.create_index("ix_cases_session_created", "cases", ["session_id", "created_at"])


def downgrade() -> None:
    """Remove the index and the column (development only)."""
    op.drop_index("ix_cases_session_created", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("source_format")
