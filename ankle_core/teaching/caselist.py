"""Case lists for reader studies: bundled phantom cases, or an uploaded set checked file by file.

An uploaded set is radiograph files (DICOM, PNG, JPEG) plus a labels table (CSV with columns
``file`` and ``label``: ``lmaf``/``sfo``/``none``, or ``1``/``0`` for LMAF or not). Every
file is read with :func:`ankle_core.io.read_radiograph`; :func:`check_uploaded_cases` returns
the readable cases and names each bad file with the reason, so the owner can confirm a study
from the readable ones only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ankle_core.config import ReadLimits
from ankle_core.errors import InvalidInputError
from ankle_core.store.studies import StudyCase
from ankle_core.teaching.cases import CLASSES, TeachingCase, case_bytes
from ankle_core.teaching.real_cases import RealCase

__all__ = [
    "REAL_SOURCE",
    "CaseListCheck",
    "bundled_study_cases",
    "check_uploaded_cases",
    "parse_labels",
    "real_study_cases",
]

logger = logging.getLogger(__name__)

_BINARY = {"1": "lmaf", "0": "none"}
#: The ``source`` of a study case taken from the real collection.
REAL_SOURCE = "FracAtlas (real, CC BY 4.0)"


@dataclass(frozen=True)
class CaseListCheck:
    """The outcome of checking an uploaded case list.

    Attributes:
        readable: cases that read cleanly and have a label, in upload order.
        bad: ``(file name, reason)`` for each file left out.
    """

    readable: tuple[StudyCase, ...]
    bad: tuple[tuple[str, str], ...]


def parse_labels(data: bytes) -> dict[str, str]:
    """Read a labels CSV (``file``, ``label``) into ``{file name: class id}``.

    Args:
        data: the CSV's bytes (UTF-8).

    Returns:
        File base names mapped to ``lmaf``, ``sfo`` or ``none``.

    Raises:
        InvalidInputError: without ``file`` and ``label`` columns, or with an unknown label.

    >>> parse_labels(b"file,label\\nradiographs/a.png,LMAF\\nb.dcm,0\\n")
    {'a.png': 'lmaf', 'b.dcm': 'none'}
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError("The labels file is not UTF-8 text.") from exc
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
        raise InvalidInputError("The labels CSV needs the columns 'file' and 'label'.")
    labels = {}
    for row in reader:
        raw = (row["label"] or "").strip().lower()
        label = _BINARY.get(raw, raw)
        if label not in CLASSES:
            raise InvalidInputError(
                f"Unknown label {row['label']!r}: use lmaf, sfo, none (or 1/0 for LMAF or not)."
            )
        labels[(row["file"] or "").replace("\\", "/").rsplit("/", 1)[-1]] = label
    return labels


def check_uploaded_cases(
    files: Sequence[tuple[str, bytes]], labels: Mapping[str, str], limits: ReadLimits
) -> CaseListCheck:
    """Read every uploaded file; keep the readable, labelled ones; name the others.

    Args:
        files: ``(file name, bytes)`` pairs as uploaded.
        labels: from :func:`parse_labels`.
        limits: reader limits.

    Returns:
        The readable cases and the bad files with reasons.
    """
    from ankle_core.io import read_radiograph

    readable: list[StudyCase] = []
    bad: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, data in files:
        if name in seen:
            bad.append((name, "uploaded twice; the first copy is kept"))
            continue
        seen.add(name)
        if name not in labels:
            bad.append((name, "no label for this file in the labels CSV"))
            continue
        try:
            read_radiograph(data, limits=limits)
        except InvalidInputError as exc:
            bad.append((name, str(exc)))
            continue
        label = labels[name]
        readable.append(
            StudyCase(
                name, label, int(label == "lmaf"), "upload", hashlib.sha256(data).hexdigest(), data
            )
        )
    logger.info("case list: %d readable, %d bad", len(readable), len(bad))
    return CaseListCheck(tuple(readable), tuple(bad))


def bundled_study_cases(cases: Sequence[TeachingCase]) -> list[StudyCase]:
    """Study cases from library cases (bundled or generated phantoms).

    Args:
        cases: library cases.

    Returns:
        One study case each, id = the library case id.
    """
    out = []
    for case in cases:
        data = case_bytes(case)
        out.append(
            StudyCase(
                case.case_id,
                case.label,
                case.truth,
                case.provenance,
                hashlib.sha256(data).hexdigest(),
                data,
            )
        )
    return out


def real_study_cases(
    cases: Sequence[RealCase], n_fractured: int, n_normal: int, *, seed: int = 0
) -> list[StudyCase]:
    """Study cases drawn from the real collection: ``n_fractured`` fractured, ``n_normal`` not.

    The positive class of such a study is "fracture" (``truth`` 1), label ``"fracture"`` or
    ``"none"``; the case id is the real case's (``"fracatlas:<image id>"``), so pages can
    show its credit, truth and the real model's output.

    Args:
        cases: the real collection (or a filtered part of it).
        n_fractured: fractured cases to draw.
        n_normal: non-fractured cases to draw.
        seed: seed of the draw.

    Returns:
        The drawn cases, fractured and not interleaved in a seeded order.

    Raises:
        InvalidInputError: when the collection holds fewer cases of a kind than asked for,
            or when both counts are 0.
    """
    import random

    fractured = [c for c in cases if c.fractured]
    normal = [c for c in cases if not c.fractured]
    if n_fractured < 0 or n_normal < 0 or n_fractured + n_normal == 0:
        raise InvalidInputError("Ask for at least one real case.")
    if n_fractured > len(fractured) or n_normal > len(normal):
        raise InvalidInputError(
            f"The real collection holds {len(fractured)} fractured and {len(normal)} "
            f"non-fractured cases; {n_fractured} and {n_normal} were asked for."
        )
    rng = random.Random(seed)
    chosen = rng.sample(fractured, n_fractured) + rng.sample(normal, n_normal)
    rng.shuffle(chosen)
    out = []
    for case in chosen:
        data = case.path.read_bytes()
        out.append(
            StudyCase(
                case.case_id,
                "fracture" if case.fractured else "none",
                case.truth,
                REAL_SOURCE,
                hashlib.sha256(data).hexdigest(),
                data,
            )
        )
    return out
