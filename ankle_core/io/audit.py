"""A per-file audit of what the readers find in, and do to, a set of files.

One :class:`AuditRow` per file: format, modality, SOP class, photometric interpretation,
transfer syntax, bits stored, spacing and its source, what the reader applied (inversion,
rescale, VOI LUT/window/percentile) and every problem in words. A file that cannot be read is
a row with its reason, never an exception. Only de-identified header facts appear.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.io._guard import input_boundary
from ankle_core.io.dicom import read_dicom_radiograph
from ankle_core.io.dicom_header import clean_header, has_pixels, header_facts, n_frames, parse_dicom
from ankle_core.io.nifti import read_nifti_volume
from ankle_core.io.raster import read_raster_radiograph
from ankle_core.io.sources import read_bytes, sniff

__all__ = ["AuditRow", "audit_paths", "format_table", "write_csv"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRow:
    """What the readers make of one file. Empty strings stand for "not applicable"."""

    path: str
    format: str = ""
    modality: str = ""
    sop_class: str = ""
    photometric: str = ""
    transfer_syntax: str = ""
    bits_stored: str = ""
    spacing_mm: str = ""
    spacing_source: str = ""
    inverted: str = ""
    rescale: str = ""
    voi: str = ""
    readable: bool = True
    problems: str = ""


def audit_paths(
    paths: Iterable[str | os.PathLike[str]], *, limits: ReadLimits | None = None
) -> list[AuditRow]:
    """Audit files and folders (recursed), one row per file.

    Args:
        paths: files and/or folders.
        limits: reader limits.

    Returns:
        Rows in a stable order; ``path`` is relative to the folder given (or the file name
        for a file given directly).
    """
    limits = limits or ReadLimits()
    rows: list[AuditRow] = []
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*") if p.is_file())
            for path in files:
                rows.append(_row(path, str(path.relative_to(root)), limits))
        else:
            rows.append(_row(root, root.name, limits))
    return rows


def _row(path: Path, shown: str, limits: ReadLimits) -> AuditRow:
    try:
        fields_ = _inspect(path, limits)
    except InvalidInputError as exc:
        return AuditRow(path=shown, readable=False, problems=str(exc))
    return AuditRow(path=shown, **fields_)


@input_boundary("file")
def _inspect(path: Path, limits: ReadLimits) -> dict[str, Any]:
    data = read_bytes(path, limits)
    kind = sniff(data[:1024])
    if kind == "dicom":
        return _inspect_dicom(data, limits)
    if kind in ("png", "jpeg"):
        r = read_raster_radiograph(data, kind, limits)
        return _from_metadata(kind, dict(r.metadata), None)
    if kind in ("nifti", "gzip"):
        v = read_nifti_volume(data, limits)
        spacing = " x ".join(f"{s:g}" for s in v.spacing_mm)
        return {
            "format": "nifti",
            "spacing_mm": spacing,
            "spacing_source": "NIfTI header",
            "rescale": _yes(v.metadata.get("rescale_applied")),
            "problems": f"3D volume {v.shape}, orientation {v.metadata['orientation']}",
        }
    raise InvalidInputError("not a DICOM, PNG, JPEG or NIfTI file")


def _inspect_dicom(data: bytes, limits: ReadLimits) -> dict[str, Any]:
    ds = parse_dicom(data, limits)
    facts = header_facts(clean_header(ds, limits))
    if not has_pixels(ds):
        out = _from_metadata("dicom", facts, None)
        out["readable"] = False
        out["problems"] = "no pixel data"
        return out
    frames = n_frames(ds)
    if frames > 1:
        out = _from_metadata("dicom", facts, None)
        out["problems"] = f"multi-frame ({frames} frames): read it as a volume"
        return out
    r = read_dicom_radiograph(data, limits)
    return _from_metadata("dicom", dict(r.metadata), r.pixel_spacing_mm)


def _from_metadata(
    kind: str, meta: dict[str, Any], spacing: tuple[float, float] | None
) -> dict[str, Any]:
    voi = meta.get("voi") or ""
    if voi == "window":
        voi = f"window {meta.get('window_center'):g}/{meta.get('window_width'):g}"
    return {
        "format": kind,
        "modality": meta.get("modality") or "",
        "sop_class": meta.get("sop_class") or "",
        "photometric": meta.get("photometric_interpretation") or "",
        "transfer_syntax": meta.get("transfer_syntax") or "",
        "bits_stored": str(meta.get("bits_stored") or ""),
        "spacing_mm": " x ".join(f"{s:g}" for s in spacing) if spacing else "",
        "spacing_source": meta.get("spacing_source") or "",
        "inverted": _yes(meta.get("inverted")),
        "rescale": _yes(meta.get("rescale_applied")),
        "voi": voi,
        "problems": "; ".join(meta.get("problems") or []),
    }


def _yes(value: Any) -> str:
    return "" if value is None else ("yes" if value else "no")


def format_table(rows: Sequence[AuditRow]) -> str:
    """Rows as an aligned plain-text table (one header line, one line per row)."""
    names = [f.name for f in fields(AuditRow)]
    cells = [names] + [[_cell(getattr(r, n)) for n in names] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(names))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def write_csv(rows: Sequence[AuditRow], out: str | os.PathLike[str]) -> None:
    """Write rows to a CSV file with a header line."""
    names = [f.name for f in fields(AuditRow)]
    with Path(out).open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in asdict(row).items()})
