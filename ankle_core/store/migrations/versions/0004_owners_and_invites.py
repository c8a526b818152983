"""Key the case history by the signed-in user, and readers by their sign-in or an invite.

Revision ID: 0004_owners_and_invites
Revises: 0003_reader_studies
Create Date: 2026-12-06

Additive only: nullable columns (existing rows keep NULL, so the old per-session history
and name-joined readers stay readable) and indexes.

- ``cases.owner_id``: sha256 of the OpenID Connect issuer and subject of the signed-in user
  who analysed the case (NULL in local mode); the history lists a user's cases by it.
- ``study_readers.subject``: the same digest for a reader who joined signed in (unique per
  study).
- ``study_readers.token_hash``: sha256 of a per-reader invite token (the token itself is
  never stored; unique).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_owners_and_invites"
down_revision = "0003_reader_studies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the owner and reader-identity columns and their indexes."""
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("owner_id", sa.String(64), nullable=True))
    op.create_index("ix_cases_owner_created", "cases", ["owner_id", "created_at"])
    with op.batch_alter_table("study_readers") as batch:
        batch.add_column(sa.Column("subject", sa.String(64), nullable=True))
        batch.add_column(sa.Column("token_hash", sa.String(64), nullable=True))
    op.create_index(
        "ix_study_readers_subject", "study_readers", ["study_code", "subject"], unique=True
    )
    op.create_index("ix_study_readers_token", "study_readers", ["token_hash"], unique=True)


def downgrade() -> None:
    """Remove them again (development only)."""
    op.drop_index("ix_study_readers_token", table_name="study_readers")
    op.drop_index("ix_study_readers_subject", table_name="study_readers")
    with op.batch_alter_table("study_readers") as batch:
        batch.drop_column("token_hash")
        batch.drop_column("subject")
    op.drop_index("ix_cases_owner_created", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("owner_id")
