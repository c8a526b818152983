"""Case history and reader studies in any SQLAlchemy database.

``CaseStore.from_url(settings.database_url)`` opens a SQLite file by default or PostgreSQL
by URL and upgrades the schema with the Alembic scripts in ``migrations/`` (additive
revisions only: data is never dropped). A case keeps the session's random id, the input's
sha256, de-identified metadata, the results and the model names and versions; never a
patient identifier. This package never imports Streamlit.
"""

from ankle_core.store.cases import CASE_KINDS, CaseRecord, CaseStore, scrub_metadata
from ankle_core.store.jsonable import to_jsonable
from ankle_core.store.migrate import current_revision, head_revision, upgrade
from ankle_core.store.studies import StudyStore
from ankle_core.store.tables import Base, CaseRow

__all__ = [
    "CASE_KINDS",
    "Base",
    "CaseRecord",
    "CaseRow",
    "CaseStore",
    "StudyStore",
    "current_revision",
    "head_revision",
    "scrub_metadata",
    "to_jsonable",
    "upgrade",
]
