"""No identifier reaches a log record, at any level, from any logger, during a read + export."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest

from ankle_core.export import export_ct, export_radiograph
from ankle_core.inference.radiograph import Fragment, RadiographResult
from ankle_core.io import read_radiograph, read_volume, suppress_identifying_warnings
from ankle_core.logs import redact
from ankle_core.types import Box2D
from tests.core.pacs.test_export import CLASSIFIER, _bytes, _ct_case, _sparse_dx

STUDY_UID = "1.2.826.0.1.3680043.8.498.424242"
SERIES_UID = "1.2.826.0.1.3680043.8.498.535353"
SOP_UID = "1.2.826.0.1.3680043.8.498.646464"
IDENTITY = {
    "PatientName": "Secretsurname^Secretgiven",
    "PatientID": "PID-SECRET-7731",
    "AccessionNumber": "ACC-SECRET-9",
    "PatientBirthDate": "19610217",
    "InstitutionName": "Secret General Hospital",
    "OtherPatientIDs": "OTHER-SECRET-ID",
}
NEEDLES = [
    "Secretsurname", "Secretgiven", "PID-SECRET-7731", "ACC-SECRET-9", "19610217",
    "Secret General", "OTHER-SECRET-ID", STUDY_UID, SERIES_UID, SOP_UID,
]  # fmt: skip


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []
        self.names: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.names.add(record.name.split(".")[0])


@pytest.fixture
def every_record() -> Iterator[_Everything]:
    """Capture every record at DEBUG (pydicom's element-by-element debug output included)."""
    factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    handler = _Everything()
    levels = {name: logging.getLogger(name).level for name in ("", "pydicom", "highdicom")}
    root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    pydicom.config.debug(True)
    logging.captureWarnings(True)
    suppress_identifying_warnings()  # what app.py and the command lines call at start
    try:
        yield handler
    finally:
        logging.captureWarnings(False)
        pydicom.config.debug(False)
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.setLogRecordFactory(factory)


def _identified(ds: pydicom.Dataset, sop_uid: str | None = None) -> pydicom.Dataset:
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    ds.StudyInstanceUID = STUDY_UID
    if sop_uid is not None:
        ds.SeriesInstanceUID = SERIES_UID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    return ds


def test_no_identifier_in_any_log_record_during_read_and_export(
    every_record: _Everything,
) -> None:
    source = _identified(_sparse_dx(), SOP_UID)
    radiograph = read_radiograph(_bytes(source))
    result = RadiographResult(
        (Fragment(Box2D(5, 5, 20, 20), None, 0.9, 0.8, "LMAF"),), 0.8, "LMAF", {}, "d 1", CLASSIFIER
    )
    export_radiograph(source, radiograph, result, np.zeros((64, 64), np.float32))
    sources, volume, ct_result = _ct_case()
    sources = [_identified(ds) for ds in sources]
    read_volume([_bytes(ds) for ds in sources])
    export_ct(sources, volume, ct_result)  # type: ignore[arg-type]
    logging.getLogger("ankle_core.test").exception("boom", exc_info=ValueError(f"'{SOP_UID}'"))

    assert {"pydicom", "highdicom"} <= every_record.names  # third-party records were captured
    assert len(every_record.lines) > 100
    leaked = [(n, line) for line in every_record.lines for n in NEEDLES if n in line]
    assert leaked == []


def test_redact_keeps_plain_words() -> None:
    assert redact("QIDO-RS study search: 3 result(s)", third_party=False) == (
        "QIDO-RS study search: 3 result(s)"
    )
    assert redact("Reading file 'x'", third_party=False) == "Reading file <value>"
