"""De-identification following DICOM PS3.15 Annex E, Basic Application Level Confidentiality.

:func:`deidentify` applies the actions of :mod:`ankle_core.io.deid_profile` to a copy of a
data set, at every nesting level: dummy values (``D``), empty values (``Z``), removal
(``X``), new UIDs (``U``, one new UID per original UID, consistent within a call, or across
calls that share a ``uid_map``). It also removes private attributes, curves (50xx) and
overlay data and comments (60xx), and records what was done in
``PatientIdentityRemoved``, ``DeidentificationMethod`` and
``DeidentificationMethodCodeSequence`` (DCM 113100). ``BurnedInAnnotation`` is kept as it is:
pixels are never altered here, so a caller must warn when it is ``YES`` or absent.
"""

from __future__ import annotations

import copy
import secrets
from collections.abc import MutableMapping
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import input_boundary
from ankle_core.io.deid_profile import PROFILE_BY_TAG

__all__ = ["DEID_METHOD", "deidentify", "resolve_action"]

DEID_METHOD = "PS3.15 E.1-1 Basic Application Level Confidentiality Profile"

_DUMMY_TEXT: dict[str, Any] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "PN": "ANONYMOUS",
}
_NUMERIC_VRS = {"FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "AT"}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW"}
# File meta attributes that name the sending site or application.
_META_REMOVE = {0x00020016, 0x00020100, 0x00020102}


def resolve_action(action: str) -> str:
    """Reduce a combined Table E.1-1 action to the one applied here, conservatively.

    Without knowing each IOD's attribute type, removal is preferred to a dummy value:
    ``X/Z``, ``X/D`` and ``X/Z/D`` become ``X``; ``Z/D`` becomes ``Z``; ``X/Z/U*`` (reference
    sequences) becomes ``U*``: the sequence is kept and cleaned item by item, its UIDs
    replaced.

    >>> [resolve_action(a) for a in ("X/Z", "Z/D", "X/Z/U*", "U")]
    ['X', 'Z', 'U*', 'U']
    """
    if action == "X/Z/U*":
        return "U*"
    if action.startswith("X/"):
        return "X"
    if action == "Z/D":
        return "Z"
    return action


@input_boundary("DICOM header")
def deidentify(
    dataset: Dataset,
    *,
    uid_map: MutableMapping[str, str] | None = None,
    limits: ReadLimits | None = None,
) -> Dataset:
    """Return a de-identified copy of ``dataset`` (the input is not modified).

    Args:
        dataset: a pydicom data set, with or without ``file_meta``.
        uid_map: original UID -> replacement, shared by calls that must agree (e.g. the
            slices of one series). A new, private map is used when None; replacement UIDs
            are derived from a per-map random salt, so they are consistent within the map
            and unlinkable across maps.
        limits: reader limits (``max_sequence_depth``).

    Returns:
        The de-identified copy, with ``PatientIdentityRemoved`` ``"YES"`` and the
        DCM 113100 method code.

    Raises:
        InvalidInputError: when sequences nest deeper than the limit or an attribute
            cannot be parsed.
    """
    limits = limits or ReadLimits()
    out = copy.deepcopy(dataset)
    mapping: MutableMapping[str, str] = uid_map if uid_map is not None else {}
    salt = mapping.setdefault("__salt__", secrets.token_hex(16))
    _clean(out, mapping, salt, depth=0, max_depth=limits.max_sequence_depth)
    meta = getattr(out, "file_meta", None)
    if isinstance(meta, FileMetaDataset):
        for tag in list(meta.keys()):
            if int(tag) in _META_REMOVE:
                del meta[tag]
        _clean(meta, mapping, salt, depth=0, max_depth=limits.max_sequence_depth)
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEID_METHOD
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    out.DeidentificationMethodCodeSequence = Sequence([code])
    return out


def _new_uid(original: str, mapping: MutableMapping[str, str], salt: str) -> str:
    original = str(original).strip()
    if not original:
        return original
    if original not in mapping:
        mapping[original] = str(generate_uid(prefix=None, entropy_srcs=[salt, original]))
    return mapping[original]


def _is_removed_by_rule(tag: int) -> bool:
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2 == 1:  # private groups
        return True
    if 0x5000 <= group <= 0x50FF:  # curves
        return True
    return 0x6000 <= group <= 0x60FF and element in (0x3000, 0x4000)  # overlay data/comments


def _clean(
    ds: Dataset, mapping: MutableMapping[str, str], salt: str, depth: int, max_depth: int
) -> None:
    if depth > max_depth:
        raise InvalidInputError(
            f"The DICOM header nests sequences more than {max_depth} levels deep; it was "
            "refused as unsafe to read."
        )
    for tag in list(ds.keys()):
        itag = int(tag)
        if _is_removed_by_rule(itag):
            del ds[tag]
            continue
        elem = ds[tag]
        action = resolve_action(PROFILE_BY_TAG.get(itag, "K"))
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = Sequence() if elem.VR == "SQ" else _empty(elem.VR)
        elif action in ("D", "C"):  # "C" (clean): no semantic cleaning here, so a dummy
            elem.value = (
                Sequence() if elem.VR == "SQ" else _dummy(elem.VR, elem.value, mapping, salt)
            )
        elif action == "U":
            elem.value = _replace_uids(elem.value, mapping, salt)
        elif elem.VR == "SQ":  # "K" or "U*": keep the sequence, clean each item
            for item in elem.value:
                _clean(item, mapping, salt, depth + 1, max_depth)


def _replace_uids(value: Any, mapping: MutableMapping[str, str], salt: str) -> Any:
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [_new_uid(str(v), mapping, salt) for v in value]
    if value is None:
        return value
    return _new_uid(str(value), mapping, salt)


def _empty(vr: str) -> Any:
    if vr in _NUMERIC_VRS:
        return None
    if vr in _BINARY_VRS:
        return b""
    return ""


def _dummy(vr: str, value: Any, mapping: MutableMapping[str, str], salt: str) -> Any:
    if vr == "UI":
        return _replace_uids(value, mapping, salt)
    if vr in _NUMERIC_VRS:
        return 0
    if vr in _BINARY_VRS:
        return b"\x00\x00"
    return _DUMMY_TEXT.get(vr, "ANONYMIZED")
