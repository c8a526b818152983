"""Add reader studies: studies, their cases, readers and ratings.

Revision ID: 0003_reader_studies
Revises: 0002_source_format
Create Date: 2026-11-24

Additive only: four new tables; the case history is untouched. The study key is stored
hashed (scrypt); a unique (reader, case, condition) makes rating writes idempotent.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reader_studies"
down_revision = "0002_source_format"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``studies``, ``study_cases``, ``study_readers`` and ``study_ratings``."""
    op.create_table(
        "studies",
        sa.Column("code", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("design", sa.String(16), nullable=False),
        sa.Column("washout_days", sa.Float(), nullable=False),
        sa.Column("scale", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(255), nullable=False),
    )
    op.create_table(
        "study_cases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("study_code", sa.String(16), sa.ForeignKey("studies.code"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("truth", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.UniqueConstraint("study_code", "case_id", name="uq_study_case"),
    )
    op.create_index("ix_study_cases_study_code", "study_cases", ["study_code"])
    op.create_table(
        "study_readers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("study_code", sa.String(16), sa.ForeignKey("studies.code"), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("study_code", "name", name="uq_study_reader"),
    )
    op.create_index("ix_study_readers_study_code", "study_readers", ["study_code"])
    op.create_table(
        "study_ratings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("reader_id", sa.String(32), sa.ForeignKey("study_readers.id"), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("condition", sa.String(16), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("call", sa.Integer(), nullable=False),
        sa.Column("reading_time_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("reader_id", "case_id", "condition", name="uq_study_rating"),
    )
    op.create_index("ix_study_ratings_reader_id", "study_ratings", ["reader_id"])


def downgrade() -> None:
    """Drop the reader-study tables (development only; the app never downgrades)."""
    op.drop_index("ix_study_ratings_reader_id", table_name="study_ratings")
    op.drop_table("study_ratings")
    op.drop_index("ix_study_readers_study_code", table_name="study_readers")
    op.drop_table("study_readers")
    op.drop_index("ix_study_cases_study_code", table_name="study_cases")
    op.drop_table("study_cases")
    op.drop_table("studies")
