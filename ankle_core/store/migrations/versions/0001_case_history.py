"""Create the case-history table.

Revision ID: 0001_case_history
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_case_history"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``cases`` with an index on the session id."""
    op.create_table(
        "cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("input_sha256", sa.String(64), nullable=False),
        sa.Column("metadata_json", sa.JSON(), nullable=False),
        sa.Column("results_json", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(100), nullable=False),
    )
    op.create_index("ix_cases_session_id", "cases", ["session_id"])


def downgrade() -> None:
    """Drop the table (for development only; the app never downgrades)."""
    op.drop_index("ix_cases_session_id", table_name="cases")
    op.drop_table("cases")
