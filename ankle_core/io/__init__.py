"""ankle_core.io (being built)."""
