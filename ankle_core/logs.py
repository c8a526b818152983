"""Keep patient identifiers out of every log record, including third-party libraries'.

pydicom quotes header values in its warnings and, at DEBUG, logs every element it reads;
highdicom logs the source SOP Instance UID at INFO; a DICOMweb library may log URLs with
UIDs. Filters on named loggers miss records logged on their children, so
:func:`install_log_redaction` installs one **log record factory** that redacts every record
when it is created, whatever logger or handler it goes to:

- any UID-like string (four or more dot-separated numbers) becomes ``<uid>``;
- anything quoted (``'...'`` or ``"..."``) becomes ``<value>``;
- for records of other libraries (not ``ankle_core``), the message is also cut at its first
  colon, where values usually start, and its arguments are dropped;
- an attached exception keeps its traceback and type but loses its message.

It is installed once, at the edge: ``app.py`` (through
:func:`ankle_core.io.suppress_identifying_warnings`) and the command lines. The library
itself never changes logging at import time.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

__all__ = ["install_log_redaction", "redact"]

_UID = re.compile(r"(?<![\w.])[0-9]+(?:\.[0-9]+){3,}(?![\w.])")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'")
_MARK = "_ankle_redacted"


def redact(message: str, *, third_party: bool) -> str:
    """A log message with UIDs and quoted values removed.

    Args:
        message: the formatted message.
        third_party: cut the message at its first colon too (records of other libraries).

    Returns:
        The redacted message.

    >>> redact('copy from dataset "1.2.826.0.1.3680043.8.498.1"', third_party=False)
    'copy from dataset <value>'
    >>> redact("Invalid value for VR PN: 'Doe^Jane'", third_party=True)
    'Invalid value for VR PN: [withheld]'
    """
    if third_party:
        cut = message.find(":")
        if cut >= 0:
            message = message[:cut] + ": [withheld]"
    return _UID.sub("<uid>", _QUOTED.sub("<value>", message))


def install_log_redaction() -> None:
    """Redact every log record created from now on in this process (idempotent).

    Wraps the current :func:`logging.getLogRecordFactory`, so it composes with other
    factories. Records whose message cannot be formatted keep only their template.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, _MARK, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        third_party = not record.name.startswith("ankle_core")
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: keep the template only
            message = str(record.msg)
        record.msg = redact(message, third_party=third_party)
        record.args = ()
        if record.exc_info and record.exc_info[0] is not None:
            # Exception messages quote values ("'Male' is not a valid PatientSexValues"):
            # keep the traceback's frames and the exception's type, never its message.
            kind, _, trace = record.exc_info
            frames = "".join(traceback.format_tb(trace))
            record.exc_text = f"Traceback (most recent call last):\n{frames}{kind.__name__}"
            record.exc_info = None
        return record

    setattr(factory, _MARK, True)
    logging.setLogRecordFactory(factory)
