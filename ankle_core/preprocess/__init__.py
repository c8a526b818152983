"""ankle_core.preprocess (being built)."""
