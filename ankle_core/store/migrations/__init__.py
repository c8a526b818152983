"""Alembic migration scripts of the case-history schema (run by ``ankle_core.store.migrate``)."""
