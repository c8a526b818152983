"""ankle_core.export (being built)."""
