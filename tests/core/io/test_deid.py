"""De-identification: every Table E.1-1 attribute carrying a synthetic identifier is gone."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ankle_core.io import deidentify, read_radiograph, read_volume
from ankle_core.io.deid import resolve_action
from ankle_core.io.deid_profile import ACTIONS, ADDED_SINCE_2023, BASIC_PROFILE, EDITION
from tests.core.io.conftest import make_slice, to_bytes

_TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"}


def _marker(n: int) -> str:
    return f"IDX{n:04d}"


def _value(vr: str, n: int) -> tuple[Any, str] | None:
    """A value for VR that carries a unique, searchable identifier, and that identifier."""
    if vr in _TEXT_VRS:
        return _marker(n), _marker(n)
    if vr == "DA":
        day = (dt.date(1931, 1, 1) + dt.timedelta(days=n)).strftime("%Y%m%d")
        return day, day
    if vr == "TM":
        tm = f"{n // 3600 % 24:02d}{n // 60 % 60:02d}{n % 60:02d}.{n:04d}"
        return tm, tm
    if vr == "DT":
        day = (dt.date(1931, 1, 1) + dt.timedelta(days=n)).strftime("%Y%m%d")
        value = f"{day}12{n % 60:02d}00.{n:04d}"
        return value, value
    if vr == "UI":
        uid = f"1.2.826.0.1.3680043.9.{7000 + n}"
        return uid, uid
    if vr == "AS":
        return "087Y", "087Y"
    if vr in ("OB", "UN", "OW"):
        return _marker(n).encode(), _marker(n)
    if vr == "SQ":
        item = Dataset()
        item.PatientName = f"NESTED{n:04d}"
        item.add_new(0x00091001, "LO", f"PRIV{n:04d}")
        return Sequence([item]), f"NESTED{n:04d}"
    return None  # numeric VRs carry no searchable string


def _identified_dataset(writable: bool = False) -> tuple[Dataset, list[str]]:
    ds = make_slice((0.0, 0.0, 0.0))
    markers: list[str] = []
    for n, (tag, _keyword, _action) in enumerate(BASIC_PROFILE):
        if writable and tag >> 16 in (0x0000, 0x0002):  # command and file meta groups
            continue
        if not dictionary_has_tag(tag):  # newer than pydicom's dictionary: tested below
            continue
        vr = dictionary_VR(tag)
        made = _value(vr, n)
        if made is None:
            continue
        value, marker = made
        ds.add_new(tag, vr, value)
        markers.append(marker)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.add_new(0x00291010, "LO", "PRIVATETOP")  # private, top level
    ds.add_new(0x50000010, "LO", "CURVEDATA")  # a curve group
    ds.add_new(0x60004000, "LT", "OVERLAYCOMMENT")
    markers += ["PRIVATETOP", "CURVEDATA", "OVERLAYCOMMENT", "PRIV0"]
    return ds, markers


def _all_text(ds: Dataset) -> str:
    parts: list[str] = []
    for elem in ds.iterall():
        value = elem.value
        if isinstance(value, bytes):
            parts.append(value.decode("latin-1"))
        elif elem.VR != "SQ":
            parts.append(str(value))
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        parts += [str(e.value) for e in meta]
    return "\n".join(parts)


def test_profile_table_is_data_with_valid_actions() -> None:
    assert len(BASIC_PROFILE) > 500
    assert {action for _, _, action in BASIC_PROFILE} <= ACTIONS
    tags = [tag for tag, _, _ in BASIC_PROFILE]
    assert len(tags) == len(set(tags))
    rows = {kw: action for _, kw, action in BASIC_PROFILE}
    assert rows["PatientName"] == "Z" and rows["PatientID"] == "Z"
    assert rows["SOPInstanceUID"] == "U" and rows["InstitutionName"] == "X/Z/D"
    assert resolve_action("X/Z/D") == "X"


def test_deidentify_removes_every_identifier() -> None:
    ds, markers = _identified_dataset()
    assert len(markers) > 450
    original = _all_text(ds)
    assert all(m in original for m in markers[:50])
    out = deidentify(ds)
    text = _all_text(out)
    left = [m for m in markers if m in text]
    assert left == []
    assert out.PatientIdentityRemoved == "YES"
    codes = out.DeidentificationMethodCodeSequence
    assert codes[0].CodeValue == "113100" and codes[0].CodingSchemeDesignator == "DCM"
    assert out.DeidentificationMethod
    # the input is untouched
    assert str(ds.PatientName) == _marker(
        next(i for i, r in enumerate(BASIC_PROFILE) if r[1] == "PatientName")
    )


def test_uids_are_replaced_consistently_within_a_call() -> None:
    ds = make_slice((0, 0, 0))
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence = Sequence([ref])
    ds.BurnedInAnnotation = "YES"
    a, b = deidentify(ds), deidentify(ds)
    assert a.SOPInstanceUID != ds.SOPInstanceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    assert a.SOPClassUID == ds.SOPClassUID  # class UIDs are not identifiers
    assert a.SOPInstanceUID != b.SOPInstanceUID  # unlinkable across calls
    assert pydicom.uid.UID(a.SOPInstanceUID).is_valid
    assert a.BurnedInAnnotation == "YES"
    shared: dict[str, str] = {}
    assert (
        deidentify(ds, uid_map=shared).SeriesInstanceUID
        == deidentify(ds, uid_map=shared).SeriesInstanceUID
    )


def test_readers_leak_no_identifier_to_metadata_or_log(caplog: pytest.LogCaptureFixture) -> None:
    ds, markers = _identified_dataset(writable=True)
    ds.BurnedInAnnotation = "YES"
    caplog.set_level(logging.DEBUG)
    r = read_radiograph(to_bytes(ds))
    dumped = json.dumps(dict(r.metadata))
    assert [m for m in markers if m in dumped] == []
    assert r.metadata["burned_in_annotation"] == "YES"
    assert any("BurnedInAnnotation YES" in p for p in r.metadata["problems"])
    slices = []
    for z in range(3):
        s, _ = _identified_dataset(writable=True)
        s.ImagePositionPatient = [0.0, 0.0, 2.0 * z]
        s.SOPInstanceUID = pydicom.uid.generate_uid()
        s.file_meta.MediaStorageSOPInstanceUID = s.SOPInstanceUID
        slices.append(to_bytes(s))
    v = read_volume(slices)
    dumped = json.dumps(dict(v.metadata))
    assert [m for m in markers if m in dumped] == []
    # a refused file: the message and the log carry no identifier either
    no_pixels, _ = _identified_dataset(writable=True)
    del no_pixels.PixelData
    with pytest.raises(Exception) as info:
        read_radiograph(to_bytes(no_pixels))
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert [m for m in markers if m in logged or m in str(info.value)] == []
    assert np.isfinite(r.pixels).all()


def test_pydicom_warnings_quoting_header_values_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ds = make_slice((0, 0, 0))
    ds.StudyInstanceUID = "1.2.SECRETNAME"  # invalid UI: pydicom quotes it in a warning
    ds.PatientName = "SECRETNAME^" + "X" * 80  # too long for PN
    blob = to_bytes(ds)
    caplog.set_level(logging.DEBUG)
    caplog.clear()  # writing the test file above warned too; only the reader counts
    with pytest.warns(UserWarning):
        r = read_radiograph(blob)
    assert r.shape == (8, 6)
    pydicom_records = [rec for rec in caplog.records if rec.name == "pydicom"]
    assert pydicom_records  # pydicom did warn ...
    assert all("SECRETNAME" not in rec.getMessage() for rec in caplog.records)  # ... redacted


def test_suppress_identifying_warnings_hides_only_value_quoting_ones() -> None:
    import warnings

    from ankle_core.io import suppress_identifying_warnings

    ds = make_slice((0, 0, 0))
    ds.StudyInstanceUID = "1.2.SECRETNAME"
    blob = to_bytes(ds)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        suppress_identifying_warnings()
        read_radiograph(blob)
        warnings.warn("an unrelated warning", UserWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert not any("SECRETNAME" in m for m in messages)
    assert "an unrelated warning" in messages


def test_profile_follows_the_2024b_edition_and_later() -> None:
    """The edition is listed, and the rows the 2023 table lacked are all there."""
    assert EDITION == "2026d"
    tags = {tag for tag, _, _ in BASIC_PROFILE}
    assert len(ADDED_SINCE_2023) == 47 and tags >= ADDED_SINCE_2023
    assert len(BASIC_PROFILE) == 653
    rows = {kw: action for _, kw, action in BASIC_PROFILE}
    # a few rows of the 2024b table that the 2023-based table lacked
    for keyword in (
        "IssuerOfClinicalTrialSubjectID",
        "SecondaryCaptureDeviceID",
        "EthnicGroupCodeSequence",
        "ROICreatorSequence",
        "ChannelLabel",
    ):
        assert rows[keyword] == "X", keyword
    assert rows["TableTopPositionAlignmentUID"] == "U"


def test_attributes_added_since_2023_are_removed_even_when_pydicom_does_not_know_them() -> None:
    ds = make_slice((0.0, 0.0, 0.0))
    ds.IssuerOfClinicalTrialSubjectID = "ISSUER-SECRET"
    ds.SecondaryCaptureDeviceID = "SC-DEVICE-SECRET"
    ds.add_new(0x00100012, "LO", "NAME-TO-USE-SECRET")  # Name to Use (newer than pydicom)
    ds.add_new(0x00102162, "LO", "ETHNIC-SECRET")  # Ethnic Groups
    out = deidentify(ds)
    for tag in (0x00120041, 0x00181010, 0x00100012, 0x00102162):
        assert tag not in out
    assert "SECRET" not in _all_text(out)
