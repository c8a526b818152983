"""The audit: one row per file, reasons for the bad ones, never a crash."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

from ankle_core.io import audit_paths
from ankle_core.io.__main__ import main
from ankle_core.io.audit import format_table
from tests.core.io.conftest import REPO_ROOT, make_slice, pydicom_file, to_bytes


def _corpus(folder: Path) -> None:
    (folder / "nested").mkdir(parents=True)
    shutil.copy(pydicom_file("CT_small.dcm"), folder / "ct.dcm")
    shutil.copy(pydicom_file("RG1_UNCR.dcm"), folder / "nested" / "chest.dcm")
    shutil.copy(pydicom_file("rtplan.dcm"), folder / "plan.dcm")
    shutil.copy(pydicom_file("emri_small.dcm"), folder / "nested" / "mr_multiframe.dcm")
    burned = make_slice((0, 0, 0))
    burned.BurnedInAnnotation = "YES"
    (folder / "burned.dcm").write_bytes(to_bytes(burned))
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.dcm").write_bytes(b"")
    data = Path(pydicom_file("MR_small.dcm")).read_bytes()
    (folder / "truncated.dcm").write_bytes(data[: data.rfind(b"\xe0\x7f\x10\x00") + 500])


def test_audit_rows(tmp_path: Path) -> None:
    _corpus(tmp_path)
    rows = {r.path: r for r in audit_paths([tmp_path])}
    assert len(rows) == 8
    ct = rows["ct.dcm"]
    assert ct.readable and ct.modality == "CT" and ct.sop_class == "CT Image Storage"
    assert ct.rescale == "yes" and ct.voi == "percentile" and ct.spacing_source == "PixelSpacing"
    chest = rows[str(Path("nested") / "chest.dcm")]
    assert chest.inverted == "yes" and chest.voi.startswith("window")
    assert "PixelSpacing is 0\\0: spacing unknown" in chest.problems
    assert chest.photometric == "MONOCHROME1" and chest.bits_stored == "15"
    assert rows["plan.dcm"].problems == "no pixel data" and not rows["plan.dcm"].readable
    assert "multi-frame" in rows[str(Path("nested") / "mr_multiframe.dcm")].problems
    assert "BurnedInAnnotation YES" in rows["burned.dcm"].problems
    for bad in ("notes.txt", "empty.dcm", "truncated.dcm"):
        assert not rows[bad].readable and rows[bad].problems, bad
    table = format_table(list(rows.values()))
    lines = table.splitlines()
    assert len(lines) == 9 and lines[0].startswith("path")
    assert len({line.index("dicom") for line in lines if " dicom " in line}) == 1  # aligned


def test_cli_prints_table_writes_csv_and_exits_0(tmp_path: Path, capsys: object) -> None:
    folder = tmp_path / "in"
    _corpus(folder)
    out = tmp_path / "audit.csv"
    assert main(["audit", str(folder), "--csv", str(out)]) == 0
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8
    assert {r["path"] for r in rows if r["readable"] == "no"} >= {"notes.txt", "empty.dcm"}
    assert all(r["problems"] for r in rows if r["readable"] == "no")


def test_cli_as_module(tmp_path: Path) -> None:
    _corpus(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ankle_core.io", "audit", str(tmp_path / "plan.dcm"), "nope.dcm"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "no pixel data" in done.stdout and "does not exist" in done.stdout


def test_import_does_not_pull_streamlit() -> None:
    code = "import sys, ankle_core.io; assert 'streamlit' not in sys.modules; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
