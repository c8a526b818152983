"""Exports survive real-world header quirks: each gives valid SR/SC/SEG or a clean ExportError.

Every quirk below was seen in real headers (or is the audit's example). Each is applied to a
copy of a radiograph source (exported to SR + Secondary Capture) and of a CT series
(exported to SR + Segmentation). Every object must pass ``dciodvfy`` with no error, unless
the export refuses with an :class:`ExportError` whose message quotes no header value.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from ankle_core.errors import ExportError
from ankle_core.export import export_ct, export_radiograph
from ankle_core.export.header import export_view, normalise_sex
from ankle_core.inference.radiograph import Fragment, RadiographResult
from ankle_core.io import read_radiograph
from ankle_core.types import Box2D
from tests.core.pacs.test_export import CLASSIFIER, _bytes, _ct_case, _sparse_dx
from tests.core.pacs.validate import dciodvfy_errors

Quirk = Callable[[pydicom.Dataset], None]
LONG = "Verylongname" * 9  # 108 characters


def _set(**values: object) -> Quirk:
    def apply(ds: pydicom.Dataset) -> None:
        for keyword, value in values.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)

    return apply


def _raw(ds: pydicom.Dataset, tag: int, vr: str, value: bytes) -> None:
    """Put a value as read from a file (converted only on access, where it fails)."""
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


#: name -> (quirk, True when a clean ExportError is the right answer)
QUIRKS: dict[str, tuple[Quirk, bool]] = {
    "sex U": (_set(PatientSex="U"), False),
    "sex Male": (_set(PatientSex="Male"), False),
    "sex m": (_set(PatientSex="m"), False),
    "sex female": (_set(PatientSex="female"), False),
    "sex X": (_set(PatientSex="X"), False),
    "sex missing": (_set(PatientSex=None), False),
    "no SliceThickness": (_set(SliceThickness=None), False),
    "SliceThickness 0": (_set(SliceThickness="0"), False),
    "long PatientName": (_set(PatientName=f"{LONG}^{LONG}"), False),
    "long ReferringPhysicianName": (_set(ReferringPhysicianName=LONG), False),
    "long InstitutionName": (_set(InstitutionName=LONG), False),
    "long StudyDescription": (_set(StudyDescription=LONG), False),
    "long StationName": (_set(StationName="STATION-" * 4), False),
    "long Manufacturer": (_set(Manufacturer=LONG), False),
    "birth date ISO": (_set(PatientBirthDate="1980-01-01"), False),
    "birth date 30 Feb": (_set(PatientBirthDate="19800230"), False),
    "study date slashes": (_set(StudyDate="2024/05/01"), False),
    "study time 25:61": (_set(StudyTime="2561"), False),
    "study time colons": (_set(StudyTime="10:10:10"), False),
    "content date unknown": (_set(ContentDate="unknown"), False),
    "age without unit": (_set(PatientAge="42"), False),
    "weight with unit": (lambda ds: _raw(ds, 0x00101030, "DS", b"70kg"), False),
    "slice thickness text": (lambda ds: _raw(ds, 0x00180050, "DS", b"n/a "), False),
    "lower-case laterality": (_set(Laterality="l"), False),
    "long PatientID": (_set(PatientID="ID" * 40), True),
    "long AccessionNumber": (_set(AccessionNumber="ACC" * 7), True),
}

RESULT = RadiographResult(
    (Fragment(Box2D(5, 5, 20, 20), None, 0.9, 0.8, "LMAF"),), 0.8, "LMAF", {}, "d 1", CLASSIFIER
)


def _quirk_values(ds: pydicom.Dataset) -> list[str]:
    """The string values a quirk set, to check that no error message quotes them."""
    out = []
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "PatientBirthDate",
                    "StudyDate", "StudyTime", "PatientSex", "InstitutionName"):  # fmt: skip
        value = str(ds.get(keyword, "") or "")
        if len(value) >= 2:
            out.append(value)
    return out


def _check(
    make: Callable[[], list[pydicom.Dataset]], source_values: list[str], refuse: bool
) -> None:
    try:
        objects = make()
    except ExportError as exc:
        assert refuse, f"unexpected refusal: {exc}"
        assert not any(v in str(exc) for v in source_values), "the message quotes the header"
        return
    assert not refuse, "an over-long filing identifier must not be exported cut"
    for ds in objects:
        assert dciodvfy_errors(ds) == [], ds.SOPClassUID.name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_radiograph_export_survives(name: str) -> None:
    quirk, refuse = QUIRKS[name]
    source = _sparse_dx()
    source.PatientSex, source.StudyDate, source.StudyTime = "F", "20240501", "101010"
    radiograph = read_radiograph(_bytes(source))
    quirk(source)
    before = copy.deepcopy(source)
    _check(
        lambda: export_radiograph(source, radiograph, RESULT, np.zeros((64, 64), np.float32)),
        _quirk_values(source),
        refuse,
    )
    assert source == before  # the source is never altered


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(QUIRKS))
def test_ct_export_survives(name: str) -> None:
    quirk, refuse = QUIRKS[name]
    sources, volume, result = _ct_case()
    for ds in sources:
        quirk(ds)
    _check(lambda: export_ct(sources, volume, result), _quirk_values(sources[0]), refuse)  # type: ignore[arg-type]


def test_normalised_view_fixes_values_and_leaves_the_source_alone() -> None:
    source = _sparse_dx()
    source.PatientSex, source.PatientBirthDate, source.StudyTime = "Male", "1980-01-01", "10:10"
    source.PatientName = f"{LONG}^x"
    before = copy.deepcopy(source)
    view = export_view(source, slice_thickness=2.5)
    assert view.PatientSex == "M" and view.PatientBirthDate == "" and view.StudyTime == ""
    assert len(str(view.PatientName).split("^")[0]) == 64
    assert float(view.SliceThickness) == 2.5
    assert source == before
    assert [normalise_sex(v) for v in ("U", "FEMALE", "o")] == ["", "F", "O"]


def test_an_unexpected_writer_failure_becomes_an_export_error_without_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def failing(*args: object, **kwargs: object) -> None:
        raise ValueError("'SECRET^VALUE' is not a valid PatientSexValues")

    monkeypatch.setattr("ankle_core.export.ct_seg.Segmentation", failing)
    sources, volume, result = _ct_case()
    with pytest.raises(ExportError, match="segmentation could not be built") as caught:
        export_ct(sources, volume, result)  # type: ignore[arg-type]
    assert "SECRET" not in str(caught.value)
