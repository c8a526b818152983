"""A "PACS" source for the radiograph and CT pages: connect, search, pick, analyse, send back.

Two self-contained functions, each rendering its own widgets:

- :func:`choose_pacs_input` connects with the address and credentials from Settings
  (``ANKLE_PACS_URL``, ``ANKLE_PACS_USER``, ``ANKLE_PACS_PASSWORD`` or ``ANKLE_PACS_TOKEN``,
  ``ANKLE_PACS_CA_BUNDLE``; no widget edits where credentials go, and the password is never
  typed, shown or stored), searches studies (patient ID, accession
  number, date range; modality preset by the page), lets the user pick a study, a series
  and, for radiographs, an image, and returns an :class:`~ui.inputs.InputFile` like the
  upload picker does (``source="pacs"``). Its ``sha256`` is the hash of the UIDs, so the
  case history records the study's UIDs hashed and never the patient's identity.
- :func:`send_results_panel` shows a "Send results to PACS" button under the analysis; it
  builds the DICOM results (SR and overlay Secondary Capture for a radiograph; SR and
  Segmentation for CT) and stores them in the source study, then lists what was sent. Any
  failure of the export or the send is shown as a message that says what to do and quotes
  no header value.
- :func:`render_pacs_settings`: the admin page's read-only view and connection test.

The original data sets (identity included) stay in this browser session's memory only,
keyed by the input's sha256; they are never displayed, logged or written to disk.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st
from pydicom.dataset import Dataset

from ankle_core.config import Settings
from ankle_core.errors import AnkleError, ExportError
from ankle_core.export import export_ct, export_radiograph
from ankle_core.pacs import (
    PacsClient,
    PacsConnection,
    SeriesSummary,
    StudySummary,
    dataset_bytes,
    load_radiographs,
    load_volume,
    series_zip,
    uids_sha256,
)
from ankle_core.pacs.connection import display_url
from ui.inputs import InputFile, choose_input

if TYPE_CHECKING:
    from ankle_core.inference.localiser import LocaliserResult
    from ui.analysis import CtAnalysis, RadiographAnalysis

__all__ = [
    "PacsSource",
    "choose_case_source",
    "choose_pacs_input",
    "render_pacs_settings",
    "send_results_panel",
]

logger = logging.getLogger(__name__)

_MODALITIES = {"radiograph": ("CR", "DX"), "ct": ("CT",)}
_STATE = "ankle_pacs_sources"


@dataclass(frozen=True)
class PacsSource:
    """What an input retrieved from the PACS came from (kept in session memory only).

    Attributes:
        study_uid: Study Instance UID (where results are sent).
        datasets: the source instance (radiograph) or slices (CT), identity included.
        label: display label without identifiers.
    """

    study_uid: str
    datasets: tuple[Dataset, ...] = field(repr=False)
    label: str


def _client(settings: Settings, key: str) -> PacsClient | None:
    """The configured PACS's client; the address and credentials are the server's, not editable."""
    if not settings.pacs_url:
        st.info(
            "No PACS is configured. The server's administrator sets ANKLE_PACS_URL (and its "
            "credentials) in the server's environment; see docs/pacs.md.",
            icon=":material/info:",
        )
        return None
    try:
        client = PacsClient(PacsConnection.from_settings(settings))
    except AnkleError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    st.caption(f":material/dns: PACS {display_url(client.connection.url)} (set by the server)")
    return client


def _search(client: PacsClient, kind: str, key: str) -> list[StudySummary]:
    with st.form(f"{key}_pacs_search"):
        left, right = st.columns(2)
        patient_id = left.text_input("Patient ID", key=f"{key}_pid")
        accession = right.text_input("Accession number", key=f"{key}_acc")
        dates = st.date_input(
            "Study dates", value=[], min_value=dt.date(1970, 1, 1), key=f"{key}_dates"
        )
        modality = st.selectbox("Modality", _MODALITIES[kind], key=f"{key}_modality")
        submitted = st.form_submit_button("Search the PACS")
    found_key = f"{key}_pacs_found"
    if submitted:
        date_from, date_to = _date_range(dates)
        try:
            st.session_state[found_key] = client.search_studies(
                patient_id=patient_id.strip() or None,
                accession_number=accession.strip() or None,
                date_from=date_from,
                date_to=date_to,
                modality=modality,
            )
        except AnkleError as exc:
            st.error(str(exc), icon=":material/error:")
            st.session_state[found_key] = []
    found: list[StudySummary] = st.session_state.get(found_key, [])
    return found


def _date_range(dates: Any) -> tuple[dt.date | None, dt.date | None]:
    values = list(dates) if isinstance(dates, list | tuple) else [dates]
    values = [d for d in values if isinstance(d, dt.date)]
    if not values:
        return None, None
    return values[0], values[-1]


def _remember(sha256: str, source: PacsSource) -> None:
    sources: dict[str, PacsSource] = st.session_state.setdefault(_STATE, {})
    sources[sha256] = source


def _retrieve_radiographs(
    client: PacsClient, study: StudySummary, series: SeriesSummary, key: str
) -> list[tuple[InputFile, PacsSource]]:
    datasets, skipped = client.retrieve_series_noting(study.study_uid, series.series_uid)
    images, notes = load_radiographs(datasets, f"series {series.label}")
    for note in [*skipped, *notes]:
        st.warning(note, icon=":material/warning:")
    out = []
    for image in images:
        ds = image.dataset
        sha = uids_sha256(study.study_uid, series.series_uid, str(ds.SOPInstanceUID))
        name = f"PACS {study.label} · {image.label}"
        out.append(
            (
                InputFile(name=name, data=dataset_bytes(ds), sha256=sha, source="pacs"),
                PacsSource(study.study_uid, (ds,), name),
            )
        )
    return out


def _retrieve_ct(
    client: PacsClient, study: StudySummary, series: SeriesSummary
) -> list[tuple[InputFile, PacsSource]]:
    datasets, skipped = client.retrieve_series_noting(study.study_uid, series.series_uid)
    loaded, notes = load_volume(datasets, f"series {series.label}")
    for note in [*skipped, *notes]:
        st.warning(note, icon=":material/warning:")
    if loaded is None:
        return []
    sha = uids_sha256(study.study_uid, series.series_uid)
    name = f"PACS {study.label} · {loaded.label}"
    data = series_zip(loaded.datasets)
    return [
        (
            InputFile(name=name, data=data, sha256=sha, source="pacs"),
            PacsSource(study.study_uid, loaded.datasets, name),
        )
    ]


def choose_case_source(
    kind: str, upload_types: list[str], settings: Settings, key: str
) -> InputFile | None:
    """The page's input: a file or demo case, or a study from the PACS.

    Args:
        kind: ``"radiograph"`` or ``"ct"``.
        upload_types: file suffixes the uploader accepts.
        settings: the app's settings (PACS address and credentials).
        key: widget key prefix, unique per page.

    Returns:
        The chosen input, or None while nothing is chosen.
    """
    mode = st.radio("Source", ["File or demo", "PACS"], horizontal=True, key=f"{key}_source")
    if mode == "PACS":
        return choose_pacs_input(kind, settings, key)
    return choose_input(kind, upload_types, key=key)


def choose_pacs_input(kind: str, settings: Settings, key: str) -> InputFile | None:
    """Connect, search, pick and retrieve; the PACS counterpart of ``inputs.choose_input``.

    Args:
        kind: ``"radiograph"`` (CR, DX series) or ``"ct"`` (CT series).
        settings: the app's settings (PACS address, user, password or token, timeout).
        key: widget key prefix, unique per page (e.g. ``"rg"``).

    Returns:
        The retrieved image (radiograph: one DICOM instance's bytes; CT: a ``.zip`` of the
        series' slices) as an InputFile with ``source="pacs"`` and ``sha256`` = hash of its
        UIDs, or None while nothing is retrieved.
    """
    client = _client(settings, key)
    if client is None:
        return None
    studies = _search(client, kind, key)
    if not studies:
        st.caption("No study to show yet: search the PACS.")
        return None
    study = st.selectbox("Study", studies, format_func=lambda s: s.label, key=f"{key}_study")
    if study is None:
        return None
    try:
        series_all = client.list_series(study.study_uid)
    except AnkleError as exc:
        st.error(str(exc), icon=":material/error:")
        return None
    usable = [s for s in series_all if s.kind == kind]
    if not usable:
        st.warning(f"This study has no {' or '.join(_MODALITIES[kind])} series.")
        return None
    series = st.selectbox("Series", usable, format_func=lambda s: s.label, key=f"{key}_series")
    if series is None:
        return None
    picked_key = f"{key}_pacs_retrieved"
    wanted = (study.study_uid, series.series_uid)
    if st.button("Retrieve and analyse", key=f"{key}_retrieve", type="primary"):
        try:
            with st.spinner("Retrieving from the PACS…"):
                items = (
                    _retrieve_radiographs(client, study, series, key)
                    if kind == "radiograph"
                    else _retrieve_ct(client, study, series)
                )
        except AnkleError as exc:
            st.error(str(exc), icon=":material/error:")
            items = []
        st.session_state[picked_key] = (wanted, [item for item, _ in items])
        for item, source in items:
            _remember(item.sha256, source)
    retrieved = st.session_state.get(picked_key)
    if not retrieved or retrieved[0] != wanted or not retrieved[1]:
        return None
    inputs: list[InputFile] = retrieved[1]
    if len(inputs) == 1:
        return inputs[0]
    chosen: InputFile | None = st.selectbox(
        "Image", inputs, format_func=lambda f: f.name, key=f"{key}_image"
    )
    return chosen


def _sent_frame(rows: Sequence[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["Object", "Series description", "SOP Instance UID"])


def send_results_panel(
    kind: str,
    analysis: RadiographAnalysis | CtAnalysis,
    source: InputFile,
    settings: Settings,
    key: str,
    localiser: LocaliserResult | None = None,
) -> None:
    """A "Send results to PACS" button for a PACS input's analysis, and what was sent.

    Renders nothing for inputs that did not come from the PACS.

    Args:
        kind: ``"radiograph"`` or ``"ct"``.
        analysis: the page's analysis of ``source`` (``ui.analysis.RadiographAnalysis`` or
            ``CtAnalysis``).
        source: the input returned by :func:`choose_pacs_input`.
        settings: the app's settings (same PACS as the search).
        key: widget key prefix, unique per page.
        localiser: the fracture localiser's result on a radiograph (sent as its own SR and
            overlay).
    """
    if source.source != "pacs":
        return
    sources: dict[str, PacsSource] = st.session_state.get(_STATE, {})
    origin = sources.get(source.sha256)
    if origin is None:
        st.caption("Retrieve the image from the PACS again to send results back.")
        return
    sent_key = f"{key}_pacs_sent_{source.sha256[:16]}"
    st.caption(
        "Sends the results as new series in this study: "
        + (
            "a structured report (SR) and an overlay image marked NOT FOR DIAGNOSTIC USE."
            if kind == "radiograph"
            else "a structured report (SR) and a segmentation of the Grad-CAM regions."
        )
    )
    if st.button("Send results to PACS", key=f"{key}_send"):
        _send(kind, analysis, origin, settings, sent_key, localiser)
    rows = st.session_state.get(sent_key)
    if rows:
        st.success(f"Sent {len(rows)} object(s) to the PACS.", icon=":material/cloud_done:")
        st.dataframe(_sent_frame(rows), hide_index=True)


def _send(
    kind: str,
    analysis: Any,
    origin: PacsSource,
    settings: Settings,
    sent_key: str,
    localiser: LocaliserResult | None = None,
) -> None:
    """Build and store the result objects; every failure becomes a message (no header value)."""
    try:
        objects = _objects(kind, analysis, origin, localiser)
    except (ExportError, AnkleError) as exc:  # their messages quote no header value
        st.error(
            f"The results could not be written as DICOM: {exc} Nothing was sent; the analysis "
            "on screen is unaffected.",
            icon=":material/error:",
        )
        return
    except Exception as exc:  # a third-party writer's own error may quote header values
        logger.warning("DICOM export failed (%s)", type(exc).__name__)
        st.error(
            "The results could not be written as DICOM for this study (its headers hold a "
            f"value the DICOM writer rejects: {type(exc).__name__}). Nothing was sent; the "
            "analysis on screen is unaffected. Report this to your administrator.",
            icon=":material/error:",
        )
        return
    try:
        client = PacsClient(PacsConnection.from_settings(settings))
        with st.spinner("Sending to the PACS…"):
            uids = client.store(objects, study_uid=origin.study_uid)
    except AnkleError as exc:
        st.error(f"{exc} Nothing more was sent; try again later.", icon=":material/error:")
        return
    except Exception as exc:
        logger.warning("sending to the PACS failed (%s)", type(exc).__name__)
        st.error(
            f"Sending to the PACS failed ({type(exc).__name__}). Try again; if it keeps "
            "failing, ask your administrator to check the PACS.",
            icon=":material/error:",
        )
        return
    st.session_state[sent_key] = [
        (str(ds.Modality), str(ds.SeriesDescription), uid)
        for ds, uid in zip(objects, uids, strict=True)
    ]


def render_pacs_settings(settings: Settings) -> None:
    """The admin's read-only view of the configured PACS, and a connection test."""
    if not settings.pacs_url:
        st.info("No PACS is configured (ANKLE_PACS_URL).", icon=":material/info:")
        return
    auth = "token" if settings.pacs_token else "user and password" if settings.pacs_user else "none"
    st.dataframe(
        pd.DataFrame(
            [
                ("Address", display_url(settings.pacs_url)),
                ("Authentication", auth),
                ("User", settings.pacs_user or "-"),
                ("CA bundle", str(settings.pacs_ca_bundle or "system trust store")),
                ("Timeout", f"{settings.pacs_timeout_s:g} s"),
            ],
            columns=["Setting", "Value"],
        ),
        hide_index=True,
    )
    if st.button("Test the connection", key="pacs_admin_test"):
        try:
            client = PacsClient(PacsConnection.from_settings(settings))
            client.search_studies(limit=1)
        except AnkleError as exc:
            st.error(str(exc), icon=":material/error:")
        else:
            st.success("The PACS answered a study search.", icon=":material/check_circle:")


def _objects(
    kind: str, analysis: Any, origin: PacsSource, localiser: LocaliserResult | None = None
) -> list[Dataset]:
    if kind == "radiograph":
        return export_radiograph(
            origin.datasets[0], analysis.radiograph, analysis.result, analysis.saliency, localiser
        )
    return export_ct(origin.datasets, analysis.volume, analysis.result)
