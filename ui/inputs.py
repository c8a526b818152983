"""Pick an input: upload a file, a bundled demo case from ``demo_cases/``, or a real demo.

Real demo cases (:mod:`ankle_core.realdata.demo`: the RG3 radiograph, the TotalSegmentator
CT) are listed beside the phantom cases with their description and credit; their file's
bytes travel like an upload's, so the case history keys them on the same sha256.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ankle_core.config import PROJECT_ROOT
from ankle_core.realdata.demo import REAL_DEMO_CASES, RealDemoCase
from ui.analysis import sha256_hex

__all__ = ["DEMO_ROOT", "InputFile", "choose_input", "list_demo_cases", "list_real_demos"]

DEMO_ROOT = PROJECT_ROOT / "demo_cases"
_RADIOGRAPH_SUFFIXES = {".dcm", ".png", ".jpg", ".jpeg"}
_VOLUME_SUFFIXES = {".nii", ".gz", ".zip"}
_SERIES_MIN_FILES = 3


@dataclass(frozen=True)
class InputFile:
    """An input's display name, bytes and sha256 (the case's only link to its input)."""

    name: str
    data: bytes
    sha256: str
    source: str  # "upload" or "demo"


def _is_ct_slice(path: Path) -> bool:
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        header = dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except (InvalidDicomError, OSError, ValueError):
        return False
    return str(header.get("Modality", "")) == "CT"


def _series_folders(root: Path) -> list[Path]:
    """Folders of 3+ DICOM files whose first file is a CT slice."""
    folders = {p.parent for p in root.rglob("*.dcm")}
    series = []
    for folder in folders:
        files = sorted(folder.glob("*.dcm"))
        if len(files) >= _SERIES_MIN_FILES and _is_ct_slice(files[0]):
            series.append(folder)
    return sorted(series)


def list_demo_cases(kind: str, root: Path | None = None) -> dict[str, Path]:
    """Bundled demo cases of one kind, by display name.

    Args:
        kind: ``"radiograph"`` (single DICOM/PNG/JPEG files) or ``"ct"`` (NIfTI files,
            zipped series, or folders of DICOM slices).
        root: the demo folder (default: :data:`DEMO_ROOT`).

    Returns:
        ``{relative name: path}``, sorted by name.
    """
    root = DEMO_ROOT if root is None else root
    if not root.is_dir():
        return {}
    series = _series_folders(root)
    found: dict[str, Path] = {}
    if kind == "radiograph":
        for path in root.rglob("*"):
            if path.suffix.lower() in _RADIOGRAPH_SUFFIXES and path.parent not in series:
                found[str(path.relative_to(root))] = path
    else:
        for path in root.rglob("*"):
            suffix = path.suffix.lower()
            is_volume = suffix in _VOLUME_SUFFIXES and (
                suffix != ".gz" or path.name.endswith(".nii.gz")
            )
            if path.is_file() and is_volume:
                found[str(path.relative_to(root))] = path
        for folder in series:
            found[str(folder.relative_to(root)) + "/ (DICOM series)"] = folder
    labels = _demo_labels(root)
    return {
        f"{name} — {labels[name]}" if name in labels else name: path
        for name, path in sorted(found.items())
    }


_LABELS = {"lmaf": "LMAF", "sfo": "SFO", "none": "no fragment"}


def _demo_labels(root: Path) -> dict[str, str]:
    """``{relative file: ground truth in words}`` from ``labels.csv`` when there is one."""
    table = root / "labels.csv"
    if not table.is_file():
        return {}
    with table.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    labels: dict[str, str] = {}
    for row in rows:
        if row.get("kind") == "ct":
            labels[row.get("file", "")] = (
                "fracture" if row.get("fractured", "").lower() in ("1", "true") else "intact"
            )
        else:
            label = row.get("label", "")
            labels[row.get("file", "")] = _LABELS.get(label, label)
    return labels


def list_real_demos(kind: str) -> dict[str, RealDemoCase]:
    """The real demo cases of one kind, by picker label (present or not).

    Args:
        kind: ``"radiograph"`` or ``"ct"``.

    Returns:
        ``{title: case}`` in :data:`~ankle_core.realdata.demo.REAL_DEMO_CASES` order.
    """
    return {c.title: c for c in REAL_DEMO_CASES if c.kind == kind}


def _show_real_demo(case: RealDemoCase) -> None:
    st.caption(case.description)
    st.caption(f":material/copyright: {case.credit}")


def _read_demo(path: Path) -> bytes:
    if path.is_file():
        return path.read_bytes()
    buffer = io.BytesIO()  # a folder of slices travels like an uploaded .zip
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for member in sorted(path.glob("*.dcm")):
            archive.write(member, member.name)
    return buffer.getvalue()


def choose_input(kind: str, upload_types: list[str], key: str) -> InputFile | None:
    """Upload-or-demo picker.

    Args:
        kind: ``"radiograph"`` or ``"ct"``.
        upload_types: accepted file extensions for the uploader.
        key: widget key prefix (unique per page).

    Returns:
        The chosen input, or None while nothing is chosen.
    """
    demos = list_demo_cases(kind)
    real = list_real_demos(kind)
    present = {title: case for title, case in real.items() if case.available()}
    modes = ["Upload a file", "Demo case"] if demos or real else ["Upload a file"]
    mode = st.radio("Input", modes, horizontal=True, key=f"{key}_mode")
    if mode == "Demo case":
        for case in real.values():
            if case.title not in present:
                st.caption(f":material/info: {case.title} is not available: {case.missing_hint}")
        options = list(demos) + list(present)
        if not options:
            return None
        name = st.selectbox("Bundled demo case", options, key=f"{key}_demo")
        if name is None:
            return None
        if name in present:
            _show_real_demo(present[name])
            path = present[name].locate()
            if path is None:  # removed since the list was made
                st.caption(f"{name} is not available: {present[name].missing_hint}")
                return None
            data = _read_demo(path)
        else:
            data = _read_demo(demos[name])
        return InputFile(name=name, data=data, sha256=sha256_hex(data), source="demo")
    upload = st.file_uploader("Upload", type=upload_types, key=f"{key}_upload")
    if upload is None:
        return None
    data = upload.getvalue()
    return InputFile(name=upload.name, data=data, sha256=sha256_hex(data), source="upload")
