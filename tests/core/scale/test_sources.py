"""Case sources of the batch CLIs: a manifest CSV (both engines give the same rows, named by
case_id) and a DICOMweb query staged through the PACS module (a fake PACS client)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ankle_core.errors import InvalidInputError, PacsError
from ankle_core.inference.__main__ import main as infer_main
from ankle_core.pacs.batch import DicomwebQuery, stage_dicomweb
from ankle_core.pacs.summaries import SeriesSummary, StudySummary, uid_digest
from ankle_core.scale.sources import read_manifest, write_manifest
from tests.core.pacs.dicom_factory import make_ct_series, phantom_hu
from tests.core.scale.helpers import predictions


def _xr_args(out: Path, models: Path, *source: str) -> list[str]:
    return [
        "radiograph", *source, "--out", str(out), "--models-dir", str(models),
        "--detector", "tiny-detector", "--classifier", "tiny-mobilenet_v2",
        "--device", "cpu", "--no-progress", "--batch-size", "1",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def manifest(radiograph_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three cases (the corrupt one among them) listed out of order, with case ids."""
    files = sorted(p for p in radiograph_folder.iterdir() if p.name != "broken.png")
    chosen = [files[3], radiograph_folder / "broken.png", files[0]]
    path = tmp_path_factory.mktemp("manifest") / "cases.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case_id", "path"])
        for k, f in enumerate(chosen):
            writer.writerow([f"case-{k}", str(f)])
    return path


@pytest.fixture(scope="module")
def local_manifest_csv(
    tiny_models_dir: Path, manifest: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The local engine's predictions for the manifest (shared by the tests below)."""
    out = tmp_path_factory.mktemp("local") / "m.csv"
    assert infer_main(_xr_args(out, tiny_models_dir, "--manifest", str(manifest))) == 0
    return out


def test_manifest_reads_paths_relative_to_itself_and_refuses_bad_tables(tmp_path: Path) -> None:
    (tmp_path / "m.csv").write_text("path\na.png\n/abs/b.dcm\n\n")
    cases = read_manifest(tmp_path / "m.csv")
    assert cases.paths == (tmp_path / "a.png", Path("/abs/b.dcm")) and cases.names is None
    written = write_manifest(tmp_path / "w.csv", cases.paths, ["x", "y"])
    again = read_manifest(written)
    assert again.paths == cases.paths and again.names == ("x", "y")
    assert "a.png,x" in written.read_text()  # under the manifest's folder: relative
    for text, message in (
        ("file\na.png\n", "needs a 'path' column"),
        ("path\n", "lists no cases"),
        ("path,case_id\na.png,1\nb.png,1\n", "case_id twice"),
        ("path\na.png\na.png\n", "path twice"),
    ):
        (tmp_path / "bad.csv").write_text(text)
        with pytest.raises(InvalidInputError, match=message):
            read_manifest(tmp_path / "bad.csv")
    with pytest.raises(InvalidInputError, match="cannot be read"):
        read_manifest(tmp_path / "missing.csv")


def test_local_engine_runs_a_manifest_in_its_order_named_by_case_id(
    tiny_models_dir: Path,
    radiograph_folder: Path,
    manifest: Path,
    local_manifest_csv: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "m.csv"
    rows = predictions(local_manifest_csv)
    assert [r["file"] for r in rows] == ["case-0", "case-1", "case-2"]
    assert [r["status"] for r in rows] == ["ok", "error", "ok"]
    # the same predictions as the folder run, case for case
    folder = tmp_path / "same-cases"  # the manifest's cases as a folder
    folder.mkdir()
    for case in read_manifest(manifest).paths:
        shutil.copy(case, folder / case.name)
    folder_out = tmp_path / "f.csv"
    assert infer_main(_xr_args(folder_out, tiny_models_dir, str(folder))) == 0
    by_sha = {r["input_sha256"]: r for r in predictions(folder_out)}
    for row in rows:
        same = dict(by_sha[row["input_sha256"]])
        assert {**same, "file": row["file"]} == row
    assert infer_main(_xr_args(out, tiny_models_dir, str(radiograph_folder), "--manifest",
                               str(manifest))) == 2  # fmt: skip


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_both_engines_give_the_same_rows_for_a_manifest(
    tiny_models_dir: Path,
    manifest: Path,
    local_manifest_csv: Path,
    tmp_path: Path,
    ray_cluster: None,
) -> None:
    pytest.importorskip("ray")
    local, on_ray = local_manifest_csv, tmp_path / "ray.csv"
    ray_args = ["--engine", "ray", "--workers", "1", "--threads", "1"]
    assert infer_main([*_xr_args(on_ray, tiny_models_dir, "--manifest", str(manifest)),
                       *ray_args]) == 0  # fmt: skip
    rows = predictions(on_ray)
    assert rows == predictions(local) and rows[0]["file"] == "case-0"
    from ankle_core.scale import parts_dir, read_partitions

    assert sorted(r["file"] for r in read_partitions(parts_dir(on_ray))) == [
        f"case-{k}" for k in range(3)
    ]


class FakePacs:
    """What stage_dicomweb uses of PacsClient, over data sets held in memory."""

    def __init__(self, series: dict[str, dict[str, list[Dataset]]]) -> None:
        self.series = series  # study uid -> series uid -> data sets
        self.retrieved: list[str] = []

    def search_studies(
        self, *, modality: str | None = None, **criteria: object
    ) -> list[StudySummary]:
        found = []
        for study, series in self.series.items():
            modalities = tuple(sorted({s[0].Modality for s in series.values()}))
            if modality is None or modality in modalities:
                found.append(StudySummary(study, "20240501", modalities, "", None, None))
        return found

    def list_series(self, study_uid: str) -> list[SeriesSummary]:
        return [
            SeriesSummary(uid, ds[0].Modality, "", None, len(ds))
            for uid, ds in self.series[study_uid].items()
        ]

    def retrieve_series_noting(
        self, study_uid: str, series_uid: str
    ) -> tuple[list[Dataset], list[str]]:
        if series_uid == "gone":
            raise PacsError("The PACS has no such object.")
        self.retrieved.append(series_uid)
        return list(self.series[study_uid][series_uid]), []


def _fake_pacs() -> tuple[FakePacs, str, str]:
    study = str(generate_uid())
    ct = make_ct_series(phantom_hu((8, 32, 32)), study_uid=study, patient_name="Secret^Name")
    ct_series = str(ct[0].SeriesInstanceUID)
    from tests.core.pacs.dicom_factory import rg3_path

    cr = pydicom.dcmread(rg3_path())
    cr_study = str(cr.StudyInstanceUID)
    pacs = FakePacs(
        {
            study: {ct_series: ct, "gone": [ct[0]]},
            cr_study: {str(cr.SeriesInstanceUID): [cr]},
        }
    )
    return pacs, study, ct_series


def test_dicomweb_query_stages_de_identified_series_once(tmp_path: Path) -> None:
    from ankle_core.io import read_volume

    pacs, study, series = _fake_pacs()
    query = DicomwebQuery(date_from="20240101")
    staged = stage_dicomweb(pacs, query, "ct", tmp_path / "staging")
    name = f"{uid_digest(study)}-{uid_digest(series)}"
    assert [p.name for p in staged.paths] == [name] and staged.names == (name,)
    assert pacs.retrieved == [series]  # the unretrievable series was skipped
    slices = sorted(staged.paths[0].iterdir())
    assert len(slices) == 8 and not list((tmp_path / "staging").glob("*.partial"))
    first = pydicom.dcmread(slices[0])
    assert first.PatientIdentityRemoved == "YES" and "Secret" not in str(first.PatientName)
    assert study not in first.StudyInstanceUID and series not in slices[0].read_text("latin-1")
    assert read_volume(staged.paths[0]).array.shape[0] == 8
    # a second run finds the series staged: nothing is retrieved again, the files are the same
    before = [p.read_bytes() for p in slices]
    again = stage_dicomweb(pacs, query, "ct", tmp_path / "staging")
    assert again == staged and pacs.retrieved == [series]
    assert [p.read_bytes() for p in sorted(again.paths[0].iterdir())] == before
    radiographs = stage_dicomweb(pacs, query, "radiograph", tmp_path / "staging")
    assert len(radiographs.paths) == 1 and radiographs.paths[0].suffix == ".dcm"
    with pytest.raises(InvalidInputError, match="date range or a Study"):
        stage_dicomweb(pacs, DicomwebQuery(), "ct", tmp_path / "staging")


def test_pacs_batch_command_runs_the_ct_cli_over_the_staged_cases(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ankle_core.pacs.cli as pacs_cli

    pacs, _, _ = _fake_pacs()
    monkeypatch.setattr(pacs_cli, "_client", lambda args, settings: pacs)
    models = tmp_path / "models"
    shutil.copytree(tiny_model_dir, models / "tiny-ct")
    out = tmp_path / "ct.csv"
    status = pacs_cli.main(
        ["batch", "ct", "--url", "http://127.0.0.1:9", "--from", "20240101", "--staging",
         str(tmp_path / "staging"), "--", "--out", str(out), "--models-dir", str(models),
         "--model", "tiny-ct", "--device", "cpu", "--no-progress", "--no-explain"]
    )  # fmt: skip
    assert status == 0
    rows = predictions(out)
    assert len(rows) == 1 and rows[0]["status"] == "ok", rows
    assert (
        rows[0]["file"]
        == (tmp_path / "staging" / "ct-manifest.csv").read_text().split(",")[-1].strip()
    )
