"""What a study or series search shows: dates, modalities and descriptions, never identity.

QIDO-RS answers carry the patient's name, ID and birth date; :func:`study_summary` and
:func:`series_summary` keep only what is needed to pick a study or series, so a search
result can be displayed without showing who the patient is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["SeriesSummary", "StudySummary", "series_summary", "study_summary", "uid_digest"]

RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})
CT_MODALITIES = frozenset({"CT"})


def uid_digest(uid: str) -> str:
    """A short, stable, non-reversible label for a UID (first 12 hex digits of its sha256).

    >>> uid_digest("1.2.3")
    'c47f5b18b8a4'
    """
    return hashlib.sha256(uid.encode("ascii", "replace")).hexdigest()[:12]


@dataclass(frozen=True)
class StudySummary:
    """One study found by a QIDO-RS search.

    Attributes:
        study_uid: Study Instance UID (needed to retrieve it; display :attr:`label`).
        date: study date ``YYYYMMDD`` or ``""``.
        modalities: modalities in the study, e.g. ``("CR",)``.
        description: study description or ``""``.
        n_series: number of series, or None when the server does not say.
        n_instances: number of instances, or None.
    """

    study_uid: str
    date: str
    modalities: tuple[str, ...]
    description: str
    n_series: int | None
    n_instances: int | None

    @property
    def label(self) -> str:
        """A display label without identifiers: date, modalities and a UID digest."""
        mods = "/".join(self.modalities) or "?"
        return f"{self.date or 'no date'} · {mods} · study {uid_digest(self.study_uid)}"


@dataclass(frozen=True)
class SeriesSummary:
    """One series of a study.

    Attributes:
        series_uid: Series Instance UID.
        modality: e.g. ``"CR"``, ``"CT"``, ``"SR"``.
        description: series description or ``""``.
        number: series number or None.
        n_instances: number of instances, or None.
    """

    series_uid: str
    modality: str
    description: str
    number: int | None
    n_instances: int | None

    @property
    def kind(self) -> str:
        """``"radiograph"`` (CR, DX), ``"ct"`` (CT) or ``"other"``."""
        if self.modality in RADIOGRAPH_MODALITIES:
            return "radiograph"
        if self.modality in CT_MODALITIES:
            return "ct"
        return "other"

    @property
    def label(self) -> str:
        """A display label: number, modality, description and instance count."""
        num = f"#{self.number} " if self.number is not None else ""
        count = f" ({self.n_instances} images)" if self.n_instances is not None else ""
        return f"{num}{self.modality} {self.description}".strip() + count


def _values(item: Mapping[str, Any], tag: str) -> list[Any]:
    element = item.get(tag)
    if not isinstance(element, Mapping):
        return []
    values = element.get("Value")
    return list(values) if isinstance(values, list) else []


def _text(item: Mapping[str, Any], tag: str) -> str:
    values = _values(item, tag)
    return str(values[0]) if values else ""


def _int(item: Mapping[str, Any], tag: str) -> int | None:
    values = _values(item, tag)
    try:
        return int(values[0]) if values else None
    except (TypeError, ValueError):
        return None


def study_summary(item: Mapping[str, Any]) -> StudySummary:
    """Summarise one QIDO-RS study result (DICOM JSON), dropping patient identity.

    Args:
        item: one element of a QIDO-RS ``/studies`` answer.

    Returns:
        The summary.
    """
    return StudySummary(
        study_uid=_text(item, "0020000D"),
        date=_text(item, "00080020"),
        modalities=tuple(str(m) for m in _values(item, "00080061")),
        description=_text(item, "00081030"),
        n_series=_int(item, "00201206"),
        n_instances=_int(item, "00201208"),
    )


def series_summary(item: Mapping[str, Any]) -> SeriesSummary:
    """Summarise one QIDO-RS series result (DICOM JSON).

    Args:
        item: one element of a QIDO-RS ``/studies/{uid}/series`` answer.

    Returns:
        The summary.
    """
    return SeriesSummary(
        series_uid=_text(item, "0020000E"),
        modality=_text(item, "00080060"),
        description=_text(item, "0008103E"),
        number=_int(item, "00200011"),
        n_instances=_int(item, "00201209"),
    )
