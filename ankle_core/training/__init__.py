"""ankle_core.training (being built)."""
