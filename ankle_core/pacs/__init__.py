"""ankle_core.pacs (being built)."""
