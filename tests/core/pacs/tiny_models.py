"""Tiny random-weight models for the PACS tests: the dashboard tests' builders, reused.

The detector's threshold is 0, so it always reports a few boxes: the reports then carry
fragments. Only their plumbing is tested here, not their accuracy.
"""

from tests.app.fixtures import CLASSIFIER, CT_MODEL, DETECTOR, make_tiny_models

__all__ = ["CLASSIFIER", "CT_MODEL", "DETECTOR", "make_tiny_models"]
