"""ankle_core.phantoms (being built)."""
