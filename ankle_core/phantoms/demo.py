"""The bundled demo set in ``demo_cases/``: six radiographs and two CT volumes.

``python -m ankle_core.phantoms export --demo --out demo_cases`` rebuilds it exactly (same
seeds, same formats, same pixels): two LMAF, two SFO and two intact ankles at 512 px
(difficulty 0.3, textbook-leaning signs) written as DICOM (JPEG-LS, RLE, JPEG 2000 and one
MONOCHROME1) and PNG (8- and 16-bit), plus one fractured and one intact CT as NIfTI, with
``labels.csv``, ``annotations.json`` and a README saying they are synthetic phantoms.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ankle_core.phantoms.ct import make_volume
from ankle_core.phantoms.export import (
    Annotations,
    Variant,
    radiograph_row,
    volume_row,
    write_radiograph_variant,
    write_tables,
)
from ankle_core.phantoms.radiograph import make_case
from ankle_core.phantoms.writers import write_ct_nifti

__all__ = ["DEMO_CT", "DEMO_RADIOGRAPHS", "README", "export_demo"]

logger = logging.getLogger(__name__)

DEMO_DIFFICULTY = 0.3
DEMO_SIZE = 512
# (seed, kind, variant): seeds picked for clear, unblended signs and a mix of views/sides.
DEMO_RADIOGRAPHS: tuple[tuple[int, str, Variant], ...] = (
    (5, "lmaf", Variant("dicom", 12, "DX", compression="jpegls")),
    (9, "sfo", Variant("dicom", 12, "CR", monochrome1=True)),
    (11, "none", Variant("png", 8)),
    (8, "lmaf", Variant("png", 8)),
    (2, "sfo", Variant("dicom", 12, "DX", compression="rle")),
    (9, "none", Variant("dicom", 12, "DX", compression="j2k")),
)
# (seed, fractured); small volumes keep the folder light.
DEMO_CT: tuple[tuple[int, bool], ...] = ((10, True), (3, False))
DEMO_CT_SHAPE = (40, 96, 96)
DEMO_CT_SPACING = (2.4, 1.0667, 1.0667)

README = """# Demo cases (synthetic phantoms, not patients)

Every file here is a **synthetic phantom** made by `ankle_core.phantoms`. None comes from a
patient; the headers say `PHANTOM^<n>` / `PHANTOM-<n>` and PatientIdentityRemoved YES.
They show the dashboard and the teaching pages without generating anything, and they prove
plumbing, not clinical performance.

- `radiographs/`: six AP or mortise ankle radiographs at 512 px: two lateral malleolar
  avulsion fractures (LMAF), two subfibular ossicles (SFO), two without a fragment. Mixed
  formats: DICOM (uncompressed MONOCHROME1; JPEG-LS, RLE and JPEG 2000 lossless) and PNG.
- `ct/`: two ankle CT volumes (NIfTI, HU): one with a fracture plane, one intact.
- `labels.csv`: one row per file (label, seed, view, format, CT fracture box).
- `annotations.json`: COCO boxes of the fragments (`bbox` = [x, y, w, h] pixels;
  categories 1 lmaf, 2 sfo) and, under `volumes`, the CT fracture boxes (`bbox3d` =
  [z0, y0, x0, z1, y1, x1] voxels, upper bounds exclusive).

Rebuild exactly with:

    python -m ankle_core.phantoms export --demo --out demo_cases

See `docs/phantoms.md` for what the phantoms model and what they do not.
"""


def export_demo(out: Path) -> list[dict[str, Any]]:
    """Write the demo set to ``out`` (``radiographs/``, ``ct/``, tables and README).

    Args:
        out: destination folder (created if needed; existing demo files are overwritten).

    Returns:
        The ``labels.csv`` rows.
    """
    out.mkdir(parents=True, exist_ok=True)
    folder = out / "radiographs"
    folder.mkdir(exist_ok=True)
    ann = Annotations(seed=None)
    rows: list[dict[str, Any]] = []
    for number, (seed, kind, variant) in enumerate(DEMO_RADIOGRAPHS, start=1):
        case = make_case(seed, kind, size=DEMO_SIZE, difficulty=DEMO_DIFFICULTY)
        path = write_radiograph_variant(folder, f"case_{number:02d}", case, number, variant)
        row = radiograph_row(out, path, case, number, variant, DEMO_DIFFICULTY)
        rows.append(row)
        ann.add_radiograph(row["file"], case, row["patient_id"])
    ct_folder = out / "ct"
    ct_folder.mkdir(exist_ok=True)
    for i, (seed, fractured) in enumerate(DEMO_CT, start=1):
        number = len(DEMO_RADIOGRAPHS) + i
        vol = make_volume(
            seed,
            fractured,
            shape=DEMO_CT_SHAPE,
            spacing_mm=DEMO_CT_SPACING,
            difficulty=DEMO_DIFFICULTY,
        )
        path = write_ct_nifti(ct_folder / f"ct_{i:02d}.nii.gz", vol)
        row = volume_row(out, path, vol, number, "nifti", DEMO_DIFFICULTY)
        rows.append(row)
        ann.add_volume(row["file"], vol, row["patient_id"])
    write_tables(out, rows, ann)
    (out / "README.md").write_text(README, encoding="utf-8")
    logger.info("Wrote the demo set to %s", out)
    return rows
