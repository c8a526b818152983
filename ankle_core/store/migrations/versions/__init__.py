"""One file per schema revision; each upgrade only adds, never drops data."""
