"""Files in, typed images out: the readers of ankle_core.

:func:`read_radiograph` reads DICOM (every transfer syntax pydicom's plugins decode), PNG
and JPEG into a :class:`~ankle_core.types.Radiograph`; :func:`read_volume` reads NIfTI,
DICOM series (folder, list or ``.zip``) and multi-frame DICOM into a
:class:`~ankle_core.types.Volume` in patient RAS millimetres. Formats are recognised from
the content. :func:`deidentify` applies the DICOM PS3.15 Basic Application Level
Confidentiality Profile, and the readers only return metadata taken from a de-identified
header (call :func:`suppress_identifying_warnings` once at the edge to keep pydicom's
value-quoting warnings off the console). :func:`audit_paths` (and
``python -m ankle_core.io audit``) reports, file by file, what the readers find and apply.
Every bad input raises :class:`~ankle_core.errors.InvalidInputError`; nothing else escapes.
"""

from ankle_core.io._guard import suppress_identifying_warnings
from ankle_core.io.audit import AuditRow, audit_paths
from ankle_core.io.deid import deidentify
from ankle_core.io.radiograph import read_radiograph
from ankle_core.io.volume import read_volume

__all__ = [
    "AuditRow",
    "audit_paths",
    "deidentify",
    "read_radiograph",
    "read_volume",
    "suppress_identifying_warnings",
]
