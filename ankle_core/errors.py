"""Exceptions raised by ``ankle_core``.

Every public entry point that reads user input (files, uploads, tables) raises
:class:`InvalidInputError` on bad input, with a message a clinician can act on. Model
loading raises :class:`ModelLoadError` and its subclasses; writing results as DICOM raises
:class:`ExportError`. Nothing else is meant to
escape the library's boundaries; callers (the CLI, the dashboard) catch these two
families and show their message, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "AnkleError",
    "ExportError",
    "InvalidInputError",
    "ModelLoadError",
    "PacsError",
    "UnknownModelError",
    "WeightsIntegrityError",
]


class AnkleError(Exception):
    """Base class of every error ``ankle_core`` raises on purpose."""


class InvalidInputError(AnkleError):
    """Raised when an input (file, upload, array or table) cannot be used.

    The message names the problem in plain words ("the file is not a DICOM or image file",
    "the series mixes two SeriesInstanceUIDs") and, where useful, what to do about it. It
    never contains patient identifiers or file contents.
    """


class ModelLoadError(AnkleError):
    """Raised when a model's weights or card cannot be loaded."""


class UnknownModelError(ModelLoadError):
    """Raised for a model name that is not installed; the message lists the valid names."""


class WeightsIntegrityError(ModelLoadError):
    """Raised when a weights file does not match the sha256 recorded in its card."""


class PacsError(AnkleError):
    """Raised when a PACS cannot be reached, refuses the login, or holds nothing usable.

    The message says what happened in plain words ("the PACS did not answer within 20 s",
    "the PACS refused the login") and never contains credentials or patient identifiers.
    """


class ExportError(AnkleError):
    """Raised when results cannot be written as DICOM (SR, Secondary Capture, Segmentation).

    The source header is normalised first (see :mod:`ankle_core.export.header`); what still
    fails becomes this error. The message says which object could not be built and what to
    do, and never quotes a header value (a patient name, ID or date could be one).
    """
