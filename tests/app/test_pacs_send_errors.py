"""'Send results to PACS' survives any failure with a message that quotes no header value.

Before the fix the panel caught only ``AnkleError``: a highdicom ``ValueError`` such as
``'Male' is not a valid PatientSexValues`` (a header value in the message) crashed the page.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

HEADER_VALUE = "Male-DOE^JOHN"


def _send_page(failure: str) -> None:
    from types import SimpleNamespace

    import streamlit as st
    from pydicom.dataset import Dataset

    import ui.pacs_panel as panel
    from ankle_core.config import Settings
    from ankle_core.errors import AnkleError, ExportError
    from ui.inputs import InputFile

    def export_fails(*_: object) -> list[object]:
        if failure == "library":
            raise ValueError(f"{HEADER_VALUE!r} is not a valid PatientSexValues")
        if failure == "export":
            raise ExportError("The results cannot be exported: a header value is unusable.")
        if failure == "ankle":
            raise AnkleError("The results cannot be exported.")
        return [Dataset()]

    class _Client:
        def __init__(self, connection: object) -> None:
            pass

        def store(self, objects: object, study_uid: str) -> list[str]:
            raise RuntimeError(f"Authorization: Basic {HEADER_VALUE}")

    panel.export_radiograph = export_fails  # type: ignore[assignment]
    panel.PacsClient = _Client  # type: ignore[assignment,misc]
    source = InputFile(name="PACS study", data=b"", sha256="a" * 64, source="pacs")
    st.session_state[panel._STATE] = {"a" * 64: panel.PacsSource("1.2.3", (Dataset(),), "x")}
    settings = Settings(pacs_url="https://pacs.hospital.org/dicom-web")
    analysis = SimpleNamespace(radiograph=None, result=None, saliency=None)
    panel.send_results_panel("radiograph", analysis, source, settings, key="rg")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure,says",
    [
        ("library", "could not be written as DICOM"),
        ("export", "a header value is unusable. Nothing was sent"),
        ("ankle", "Nothing was sent"),
        ("send", "Sending to the PACS failed"),
    ],
)
def test_send_failures_become_messages_without_header_values(failure: str, says: str) -> None:
    import ui.pacs_panel as panel

    saved = (panel.export_radiograph, panel.PacsClient)
    try:
        at = AppTest.from_function(_send_page, args=(failure,), default_timeout=60)
        at.run()
        at.button(key="rg_send").click().run()
    finally:
        panel.export_radiograph, panel.PacsClient = saved  # type: ignore[assignment,misc]
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert says in errors
    assert HEADER_VALUE not in errors and "Male" not in errors
