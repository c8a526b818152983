"""Where a batch run's cases come from, besides a folder: a manifest CSV.

Both engines take a list of case paths (files, or folders for DICOM series). Besides a
folder (``python -m ankle_core.inference radiograph DIR``), the list can come from a
**manifest** (``--manifest cases.csv``): a CSV with a ``path`` column (absolute, or relative
to the manifest's folder) and an optional ``case_id`` column, written into the predictions
CSV's ``file`` column instead of the file name (:func:`read_manifest`). A DICOMweb query
becomes such a manifest (``python -m ankle_core.pacs batch``, :mod:`ankle_core.pacs.batch`).
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ankle_core.errors import InvalidInputError

__all__ = ["CaseList", "read_manifest", "write_manifest"]


@dataclass(frozen=True)
class CaseList:
    """The cases of a batch run, in output order.

    Attributes:
        paths: files or folders (DICOM series).
        names: the predictions CSV's ``file`` value of each case (a manifest's
            ``case_id``), or None for the file names.
    """

    paths: tuple[Path, ...]
    names: tuple[str, ...] | None = None


def read_manifest(path: str | Path) -> CaseList:
    """The cases listed in a manifest CSV.

    Args:
        path: a CSV with a ``path`` column (absolute, or relative to the manifest's folder)
            and optionally ``case_id`` (a pseudonymous label; empty cells fall back to the
            file name).

    Returns:
        The cases in the manifest's order.

    Raises:
        InvalidInputError: no such file, no ``path`` column, no rows, or a path or case_id
            listed twice.
    """
    manifest = Path(path)
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    except OSError as exc:
        raise InvalidInputError(f"The manifest {manifest.name} cannot be read.") from exc
    if "path" not in columns:
        raise InvalidInputError(
            f"The manifest {manifest.name} needs a 'path' column (and optionally 'case_id')."
        )
    paths: list[Path] = []
    names: list[str] = []
    for row in rows:
        if not row.get("path"):
            continue
        p = Path(row["path"]).expanduser()
        paths.append(p if p.is_absolute() else manifest.parent / p)
        names.append(row.get("case_id") or p.name)
    if not paths:
        raise InvalidInputError(f"The manifest {manifest.name} lists no cases.")
    for what, values in (("path", [str(p) for p in paths]), ("case_id", names)):
        if len(set(values)) != len(values):
            raise InvalidInputError(f"The manifest {manifest.name} lists a {what} twice.")
    has_ids = "case_id" in columns
    return CaseList(tuple(paths), tuple(names) if has_ids else None)


def write_manifest(path: str | Path, cases: Sequence[Path], names: Sequence[str]) -> Path:
    """Write a manifest (``path``, ``case_id``) that :func:`read_manifest` reads back.

    Args:
        path: the CSV to write (atomically); paths under its folder are written relative.
        cases: the case paths.
        names: one ``case_id`` per case.

    Returns:
        ``path``.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "case_id"])
        for case, name in zip(cases, names, strict=True):
            p = Path(case)
            with contextlib.suppress(ValueError):  # outside the folder: kept absolute
                p = p.resolve().relative_to(out.parent.resolve())
            writer.writerow([p.as_posix(), name])
    os.replace(tmp, out)
    return out
