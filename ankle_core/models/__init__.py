"""ankle_core.models (being built)."""
