"""Source headers made acceptable to the export libraries, in one place.

Real headers carry values that highdicom or a validator rejects: ``PatientSex`` written
``Male``, ``m`` or ``U``; a CT without ``SliceThickness``; names and descriptions longer than
their value representation allows; dates such as ``1980-01-01`` or ``20230230``. The SR,
Secondary Capture and Segmentation writers never hand a source to highdicom directly: they
take :func:`export_view` / :func:`export_views`, a *view* of the source (a new data set
sharing every unchanged element; the source is never altered) in which

- the Type 2 patient and study attributes results copy are present (empty when missing);
- ``PatientSex`` is ``M``, ``F``, ``O`` or empty (``Male``/``m`` -> ``M``, ``U`` -> empty);
- dates (DA), times (TM) and date-times (DT) that are not valid become empty;
- an age (AS) not of the form ``nnnD/W/M/Y`` becomes empty; a decimal (DS) or integer (IS)
  string that is not a number is dropped; one that is too long is rewritten to fit;
- descriptive text (SH, LO, ST, LT, PN, CS, AE) longer than its VR allows is cut to fit,
  and a code string is upper-cased;
- a missing or non-positive ``SliceThickness`` takes the series' slice spacing.

Identifiers a PACS files results under (``PatientID``, ``AccessionNumber``, ``StudyID``)
are never cut: an over-long one raises :class:`~ankle_core.errors.ExportError`, since a cut
value would file the result under another identifier. No message here quotes a value.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from ankle_core.errors import AnkleError, ExportError
from ankle_core.export.series import filing_view

__all__ = ["MAX_LENGTH", "export_boundary", "export_view", "export_views", "normalise_sex"]

logger = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

#: Longest value (per value of a multi-value; per component group for PN) by VR, PS3.5 6.2.
MAX_LENGTH = {
    "AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64,
    "LT": 10240, "PN": 64, "SH": 16, "ST": 1024, "TM": 14, "UI": 64,
}  # fmt: skip
_TEXT = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST"})
_FILING_IDS = {
    "PatientID": "patient ID",
    "AccessionNumber": "accession number",
    "StudyID": "study ID",
}
_SEX = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F", "O": "O", "OTHER": "O"}
_TM = re.compile(r"^([01]\d|2[0-3])([0-5]\d([0-5]\d|60)?(\.\d{1,6})?)?$")
_AS = re.compile(r"^\d{3}[DWMY]$")
_CS_BAD = re.compile(r"[^A-Z0-9 _]")


def export_boundary(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an export function so that any failure becomes an :class:`ExportError`.

    Errors of the library keep their message (written to quote no header value); anything
    else (highdicom's ``ValueError`` quotes the offending value) gets a fixed message, and
    only its class name is logged.

    Args:
        what: the object in plain words ("structured report", "segmentation").
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except ExportError:
                raise
            except AnkleError as exc:
                raise ExportError(str(exc)) from exc
            except Exception as exc:
                logger.warning("%s export failed: %s", what, type(exc).__name__)
                raise ExportError(
                    f"The {what} could not be built from this image's header (an attribute "
                    "holds a value the DICOM writer rejects). The analysis itself is fine; "
                    "correct the header in the PACS, or save the PDF report instead."
                ) from exc

        return wrapper

    return decorate


def normalise_sex(value: Any) -> str:
    """``PatientSex`` as DICOM's ``M``, ``F``, ``O``, or empty when unknown.

    >>> [normalise_sex(v) for v in ("Male", "m", " f ", "U", "other", None)]
    ['M', 'M', 'F', '', 'O', '']
    """
    return _SEX.get(str(value or "").strip().upper(), "")


def export_view(source: Dataset, *, slice_thickness: float | None = None) -> Dataset:
    """A normalised view of one source data set for the export libraries.

    Args:
        source: the source image's data set (not altered).
        slice_thickness: mm, used when the source has no valid ``SliceThickness`` (CT).

    Returns:
        A new data set sharing the source's unchanged elements (see the module docstring).

    Raises:
        ExportError: a filing identifier is longer than its VR allows.
    """
    view = filing_view(source)
    if view is source:
        view = Dataset()
        for element in source:
            view.add(element)
        if hasattr(source, "file_meta"):
            view.file_meta = source.file_meta
    for keyword, words in _FILING_IDS.items():
        limit = MAX_LENGTH["LO" if keyword == "PatientID" else "SH"]
        if len(str(view.get(keyword) or "")) > limit:
            raise ExportError(
                f"The source image's {words} is longer than DICOM allows; the result would be "
                "filed under a different value, so it was not exported. Correct the header in "
                "the PACS and retry."
            )
    for tag in list(view.keys()):
        try:
            element = view[tag]  # converts a raw element: a value such as "70kg" fails here
        except Exception:  # pydicom raises ValueError, TypeError... on unparseable values
            del view[tag]
            continue
        if element.VR == "SQ" or element.tag.is_private or element.tag.group == 0x7FE0:
            continue
        fixed = _fixed(element)
        if fixed is None:
            del view[tag]
        elif fixed is not element:
            view[tag] = fixed
    # Elements are shared with the source: replace them, never assign to their value.
    view[0x00100040] = DataElement(0x00100040, "CS", normalise_sex(view.get("PatientSex")))
    thickness = _positive(view.get("SliceThickness"))
    if thickness is None and slice_thickness is not None:
        value = format_number_as_ds(float(slice_thickness))
        view[0x00180050] = DataElement(0x00180050, "DS", value)
    return view


def export_views(sources: Sequence[Dataset]) -> list[Dataset]:
    """:func:`export_view` of every slice of a series, with the series' slice spacing.

    The spacing (for slices without a valid ``SliceThickness``) is the median distance
    between consecutive slice positions along the slices' normal, else
    ``SpacingBetweenSlices``, else 1 mm.

    Args:
        sources: the series' slices (not altered).

    Returns:
        The views, in the order given.
    """
    spacing = _series_spacing(sources)
    return [export_view(ds, slice_thickness=spacing) for ds in sources]


def _series_spacing(sources: Sequence[Dataset]) -> float:
    try:
        iop = np.asarray(sources[0].ImageOrientationPatient, dtype=np.float64)
        normal = np.cross(iop[:3], iop[3:])
        depths = sorted(
            float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=np.float64)))
            for ds in sources
        )
        gaps = [b - a for a, b in itertools.pairwise(depths) if b - a > 1e-3]
        if gaps:
            return float(np.median(gaps))
    except (AttributeError, TypeError, ValueError, IndexError):
        pass
    for ds in sources:
        spacing = _positive(ds.get("SpacingBetweenSlices"))
        if spacing is not None:
            return spacing
    return 1.0


def _positive(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) and out > 0 else None


def _values(element: DataElement) -> list[Any]:
    value = element.value
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def _fixed(element: DataElement) -> DataElement | None:
    """The element itself when acceptable, a corrected copy, or None to drop it."""
    vr = element.VR
    values = _values(element)
    if not values or vr not in MAX_LENGTH:
        return element
    if vr == "DA":
        return _replace(element, [v for v in map(_date, values) if v] or "")
    if vr == "TM":
        ok = all(_TM.match(str(v).strip()) for v in values)
        return element if ok else _replace(element, "")
    if vr == "DT":
        ok = all(re.fullmatch(r"\d{4}(\d{2}){0,5}(\.\d{1,6})?([+-]\d{4})?", str(v)) for v in values)
        return element if ok else _replace(element, "")
    if vr == "AS":
        return element if all(_AS.match(str(v)) for v in values) else _replace(element, "")
    if vr in ("DS", "IS"):
        return _number(element, values)
    if vr in _TEXT:
        return _text(element, values)
    return element


def _date(value: Any) -> str:
    text = str(value).strip()
    try:
        return dt.datetime.strptime(text, "%Y%m%d").strftime("%Y%m%d") if len(text) == 8 else ""
    except ValueError:
        return ""


def _number(element: DataElement, values: list[Any]) -> DataElement | None:
    out: list[Any] = []
    for value in values:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not np.isfinite(number):
            return None
        if element.VR == "IS":
            if number != int(number) or abs(number) >= 2**31:
                return None
            out.append(int(number))
        else:
            out.append(value if len(str(value)) <= 16 else format_number_as_ds(number))
    return _replace(element, out if len(out) > 1 else out[0]) if out != values else element


def _text(element: DataElement, values: list[Any]) -> DataElement:
    vr, limit = element.VR, MAX_LENGTH[element.VR]
    out: list[str] = []
    for value in values:
        text = str(value)
        if vr == "PN":
            text = "=".join(group[:limit] for group in text.split("="))
        else:
            text = text[:limit]
        if vr == "CS":
            text = _CS_BAD.sub("_", text.strip().upper())
        out.append(text)
    if out == [str(v) for v in values]:
        return element
    return _replace(element, out if len(out) > 1 else out[0])


def _replace(element: DataElement, value: Any) -> DataElement:
    return DataElement(element.tag, element.VR, value)
