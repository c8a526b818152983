"""Exported files read back through ankle_core.io unchanged; tables match the files."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ankle_core import io as aio
from ankle_core.config import PROJECT_ROOT
from ankle_core.phantoms import export_dataset, export_demo, make_case, make_volume
from ankle_core.phantoms.cli import main

DEMO = PROJECT_ROOT / "demo_cases"


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "labels.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def radiograph_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rg")
    export_dataset(out, 9, "radiograph", seed=3, size=128, difficulty=0.4)
    return out


def test_radiographs_round_trip(radiograph_set: Path) -> None:
    rows = _rows(radiograph_set)
    assert len(rows) == 9
    for row in rows:
        path = radiograph_set / row["file"]
        read = aio.read_radiograph(path)
        case = make_case(
            int(row["seed"]), row["label"], size=128, difficulty=float(row["difficulty"])
        )
        step = 1.0 / ((1 << int(row["bits_stored"])) - 1)
        err = float(np.abs(read.pixels - case.radiograph.pixels).max())
        assert err <= 0.5 * step + 1e-6, (row["file"], err)
        if row["format"] == "dicom":
            assert read.pixel_spacing_mm == pytest.approx(
                case.radiograph.pixel_spacing_mm, abs=1e-6
            )
        assert row["view"] == case.view and int(row["n_boxes"]) == len(case.boxes)


def test_radiograph_mix_and_headers(radiograph_set: Path) -> None:
    rows = _rows(radiograph_set)
    assert {r["label"] for r in rows} == {"lmaf", "sfo", "none"}
    assert {r["format"] for r in rows} == {"dicom", "png"}
    photometrics, syntaxes = set(), set()
    for row in rows:
        if row["format"] != "dicom":
            continue
        ds = pydicom.dcmread(radiograph_set / row["file"])
        photometrics.add(ds.PhotometricInterpretation)
        syntaxes.add(ds.file_meta.TransferSyntaxUID)
        assert ds.PatientName == f"PHANTOM^{row['patient_id'].split('-')[1]}"
        assert ds.PatientID == row["patient_id"]
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.SOPClassUID in ("1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1")
        assert ds.Modality in ("DX", "CR") and ds.BodyPartExamined == "ANKLE"
        assert row["photometric"] == ds.PhotometricInterpretation
    assert "MONOCHROME1" in photometrics and "MONOCHROME2" in photometrics
    compressed = {s for s in syntaxes if s.is_compressed}
    assert len(compressed) >= 2  # RLE, JPEG-LS and JPEG 2000 lossless in every 7 cases


def test_annotations_match_labels(radiograph_set: Path) -> None:
    rows = _rows(radiograph_set)
    coco = json.loads((radiograph_set / "annotations.json").read_text(encoding="utf-8"))
    assert coco["categories"] == [{"id": 1, "name": "lmaf"}, {"id": 2, "name": "sfo"}]
    images = {im["file_name"]: im for im in coco["images"]}
    assert set(images) == {r["file"] for r in rows}
    for row in rows:
        image = images[row["file"]]
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        assert len(anns) == int(row["n_boxes"])
        case = make_case(
            int(row["seed"]), row["label"], size=128, difficulty=float(row["difficulty"])
        )
        for ann, box in zip(anns, case.boxes, strict=True):
            assert ann["bbox"] == [box.x0, box.y0, box.width, box.height]
            assert ann["category_id"] == {"lmaf": 1, "sfo": 2}[row["label"]]
            x, y, w, h = ann["bbox"]
            assert x >= 0 and y >= 0 and x + w <= image["width"] and y + h <= image["height"]


def test_ct_round_trip(tmp_path: Path) -> None:
    export_dataset(tmp_path, 2, "ct", seed=1, size=64)
    rows = _rows(tmp_path)
    assert {r["format"] for r in rows} == {"nifti", "dicom-series"}
    assert {r["label"] for r in rows} == {"0", "1"}
    coco = json.loads((tmp_path / "annotations.json").read_text(encoding="utf-8"))
    boxes = {v["file_name"]: v["bbox3d"] for v in coco["volumes"]}
    for row in rows:
        original = make_volume(
            int(row["seed"]),
            row["fractured"] == "True",
            shape=(48, 64, 64),
            spacing_mm=(2.0, 1.6, 1.6),
            difficulty=float(row["difficulty"]),
        )
        read = aio.read_volume(tmp_path / row["file"])
        assert read.shape == original.shape
        assert float(np.abs(read.array - original.array).max()) <= 0.5 + 1e-3
        np.testing.assert_allclose(read.spacing_mm, original.spacing_mm, atol=1e-4)
        np.testing.assert_allclose(read.affine, original.affine, atol=1e-3)
        box = original.metadata["fracture_box"]
        assert boxes[row["file"]] == (list(box) if box is not None else None)
        if box is not None:
            assert [int(row[k]) for k in ("z0", "y0", "x0", "z1", "y1", "x1")] == list(box)
    series = next(r for r in rows if r["format"] == "dicom-series")
    first = pydicom.dcmread(sorted((tmp_path / series["file"]).iterdir())[0])
    assert first.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
    assert first.PixelRepresentation == 1 and float(first.RescaleIntercept) == -1024.0


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["export", "--out", str(tmp_path), "--n", "3", "--kind", "radiograph", "--size", "96"])
        == 0
    )
    assert "Wrote 3" in capsys.readouterr().out
    assert len(_rows(tmp_path)) == 3
    with pytest.raises(SystemExit):
        main(["export", "--out", str(tmp_path)])


def test_bundled_demo_is_small_complete_and_reproducible(tmp_path: Path) -> None:
    # the phantom demo only: demo_cases/fracatlas holds the real teaching images (issue 25)
    files = [p for p in DEMO.rglob("*") if p.is_file() and "fracatlas" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 3 * 1024 * 1024
    assert "synthetic" in (DEMO / "README.md").read_text(encoding="utf-8").lower()
    rows = _rows(DEMO)
    assert sorted(r["label"] for r in rows if r["kind"] == "radiograph") == [
        "lmaf",
        "lmaf",
        "none",
        "none",
        "sfo",
        "sfo",
    ]
    assert sorted(r["label"] for r in rows if r["kind"] == "ct") == ["0", "1"]
    assert any(r["photometric"] == "MONOCHROME1" for r in rows)
    assert any(r["compression"] in ("rle", "jpegls", "j2k") for r in rows)
    export_demo(tmp_path)
    assert _rows(tmp_path) == rows
    for row in rows:
        if row["kind"] == "radiograph":
            a, b = (
                aio.read_radiograph(DEMO / row["file"]),
                aio.read_radiograph(tmp_path / row["file"]),
            )
            np.testing.assert_array_equal(a.pixels, b.pixels)
        else:
            va, vb = aio.read_volume(DEMO / row["file"]), aio.read_volume(tmp_path / row["file"])
            np.testing.assert_array_equal(va.array, vb.array)
    assert json.loads((DEMO / "annotations.json").read_text()) == json.loads(
        (tmp_path / "annotations.json").read_text()
    )


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools (dciodvfy) not installed")
def test_dicom_objects_validate(radiograph_set: Path, tmp_path: Path) -> None:
    export_dataset(tmp_path, 2, "ct", seed=1, size=32)
    files = sorted(radiograph_set.rglob("*.dcm")) + sorted(tmp_path.rglob("slice_0000.dcm"))
    assert len(files) >= 6
    for path in files:
        result = subprocess.run(
            ["dciodvfy", str(path)], capture_output=True, text=True, check=False
        )
        problems = [
            line for line in result.stderr.splitlines() if line.startswith(("Error", "Warning"))
        ]
        assert problems == [], (path.name, problems)


def test_paired_ct_export_shares_anatomy_within_a_pair(tmp_path: Path) -> None:
    export_dataset(tmp_path, 4, "ct", seed=2, size=32, difficulty=0.3, paired=True)
    rows = _rows(tmp_path)
    assert [r["label"] for r in rows] == ["1", "0", "1", "0"]
    assert rows[0]["patient_id"] == rows[1]["patient_id"] != rows[2]["patient_id"]
    assert rows[0]["seed"] == rows[1]["seed"] and rows[0]["difficulty"] == rows[1]["difficulty"]
    assert all(0.0 <= float(r["difficulty"]) <= 0.3 for r in rows)
    fx = aio.read_volume(tmp_path / rows[0]["file"]).array
    intact = aio.read_volume(tmp_path / rows[1]["file"]).array
    changed = np.abs(fx - intact) > 1.0
    box = [int(rows[0][k]) for k in ("z0", "y0", "x0", "z1", "y1", "x1")]
    inside = np.zeros_like(changed)
    inside[box[0] : box[3], box[1] : box[4], box[2] : box[5]] = True
    # The pair differs only around the fracture (and its displaced fragment).
    assert changed.any() and changed[inside].sum() >= 0.5 * changed.sum()
    with pytest.raises(ValueError, match="even"):
        export_dataset(tmp_path / "odd", 3, "ct", paired=True)
    with pytest.raises(ValueError, match="CT"):
        export_dataset(tmp_path / "xr", 2, "radiograph", paired=True)
    with pytest.raises(SystemExit):
        main(["export", "--out", str(tmp_path / "c"), "--n", "3", "--kind", "ct", "--paired"])
