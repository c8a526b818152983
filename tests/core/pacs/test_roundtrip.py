"""``python -m ankle_core.pacs analyse --send`` against a real Orthanc, end to end."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest

from ankle_core.export import read_ct_report, read_radiograph_report
from ankle_core.inference.ct import CtPipeline, CtResult
from ankle_core.inference.radiograph import RadiographPipeline, RadiographResult
from ankle_core.io import read_radiograph, read_volume
from ankle_core.pacs import PacsClient, PacsConnection, dataset_bytes
from ankle_core.pacs.cli import main
from tests.core.pacs.conftest import Seeded
from tests.core.pacs.dicom_factory import rg3_path
from tests.core.pacs.orthanc import PASSWORD, USER, OrthancServer, free_port
from tests.core.pacs.tiny_models import CLASSIFIER, CT_MODEL
from tests.core.pacs.validate import dciodvfy_errors

pytestmark = [pytest.mark.pacs, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def _run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.setenv("ANKLE_PACS_PASSWORD", PASSWORD)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return Run(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class RoundTrip:
    rg3_run: Run
    ct_run: Run
    client: PacsClient


@pytest.fixture(scope="module")
def round_trip(orthanc: OrthancServer, seeded: Seeded, tiny_models_dir: Path) -> RoundTrip:
    """Analyse the RG3 study and the CT study once, with ``--send``."""
    mp = pytest.MonkeyPatch()
    try:
        common = ["--url", orthanc.url, "--user", USER, "--models-dir", str(tiny_models_dir),
                  "--device", "cpu", "--send"]  # fmt: skip
        rg3 = _run_cli(["analyse", *common, "--study", str(seeded.rg3.StudyInstanceUID)], mp)
        ct = _run_cli(["analyse", *common, "--study", seeded.ct_study_uid], mp)
    finally:
        mp.undo()
    client = PacsClient(PacsConnection(orthanc.url, USER, PASSWORD))
    return RoundTrip(rg3, ct, client)


def _sent_uids(run: Run) -> set[str]:
    return {line.split()[2] for line in run.out.splitlines() if line.startswith("sent ")}


def _results(client: PacsClient, study_uid: str, run: Run) -> dict[str, list[pydicom.Dataset]]:
    """The AI result objects a CLI run stored in a study, by modality (SR, OT, SEG)."""
    found: dict[str, list[pydicom.Dataset]] = {}
    wanted = _sent_uids(run)
    for series in client.list_series(study_uid):
        if series.description.startswith("AI "):
            for ds in client.retrieve_series(study_uid, series.series_uid):
                if ds.SOPInstanceUID in wanted:
                    found.setdefault(series.modality, []).append(ds)
    assert sum(len(v) for v in found.values()) == len(wanted), "every sent object is stored"
    return found


def test_cli_prints_findings_and_sent_uids(round_trip: RoundTrip) -> None:
    run = round_trip.rg3_run
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].startswith("series #1 CR image 1: ")
    sent = [line.split()[2] for line in lines if line.startswith("sent ")]
    assert [line.split()[1] for line in lines if line.startswith("sent ")] == ["SR", "SC"]
    assert all(uid.count(".") > 3 for uid in sent)
    assert PASSWORD not in run.out + run.err


def test_study_holds_sr_and_sc_that_reference_the_source(
    round_trip: RoundTrip, seeded: Seeded, tiny_models_dir: Path
) -> None:
    study_uid = str(seeded.rg3.StudyInstanceUID)
    results = _results(round_trip.client, study_uid, round_trip.rg3_run)
    (sr,) = results["SR"]
    (sc,) = results["OT"]
    for ds in (sr, sc):
        assert ds.StudyInstanceUID == study_uid
        assert ds.SeriesInstanceUID != seeded.rg3.SeriesInstanceUID
        assert ds.PatientID == seeded.rg3.PatientID  # filed in the right patient's study
        assert dciodvfy_errors(ds) == []
    assert sr.SeriesDescription == f"AI {CLASSIFIER} 0.0.1-test"
    assert sc.SeriesDescription.endswith("overlay") and sc.BurnedInAnnotation == "YES"
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == seeded.rg3.SOPInstanceUID
    report = read_radiograph_report(sr)
    assert report.referenced_sop_uids == (seeded.rg3.SOPInstanceUID,)
    expected: RadiographResult = RadiographPipeline.from_names(
        models_dir=tiny_models_dir, device="cpu"
    ).run(read_radiograph(rg3_path()))
    assert report.case_call == expected.case_call
    assert report.case_p_lmaf == pytest.approx(expected.case_p_lmaf, abs=1e-6)
    assert len(report.fragments) == len(expected.fragments) > 0
    for written, fragment in zip(report.fragments, expected.fragments, strict=True):
        assert written.call == fragment.call
        assert written.p_lmaf == pytest.approx(fragment.p_lmaf, abs=1e-6)
        assert np.allclose(written.polyline[0], fragment.box.as_xyxy()[:2], atol=1e-3)
        assert np.allclose(written.polyline[2], fragment.box.as_xyxy()[2:], atol=1e-3)


def test_ct_study_gets_sr_and_seg_and_skips_the_malformed_instance(
    round_trip: RoundTrip, seeded: Seeded, tiny_models_dir: Path
) -> None:
    run = round_trip.ct_run
    assert run.code == 0, run.err
    assert "series #2 CT: " in run.out
    assert "note: series #7 DX image 1 skipped" in run.out  # the malformed instance
    results = _results(round_trip.client, seeded.ct_study_uid, run)
    (sr,) = results["SR"]
    ct_uids = {ds.SOPInstanceUID for ds in seeded.ct}
    assert set(read_ct_report(sr).referenced_sop_uids) == ct_uids
    assert dciodvfy_errors(sr) == []
    volume = read_volume([dataset_bytes(ds) for ds in seeded.ct])
    expected: CtResult = CtPipeline.from_name(
        CT_MODEL, models_dir=tiny_models_dir, device="cpu"
    ).run(volume)
    report = read_ct_report(sr)
    assert report.probability == pytest.approx(expected.probability, abs=1e-6)
    assert report.call == expected.call
    assert len(report.regions) == len(expected.regions)
    for written, region in zip(report.regions, expected.regions, strict=True):
        x, y, z = region.center_mm
        assert np.allclose(written.center_lps, (-x, -y, z), atol=1e-3)
    if expected.regions:
        (seg,) = results["SEG"]
        assert dciodvfy_errors(seg) == []
        referenced = {
            item.ReferencedSOPInstanceUID
            for item in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence
        }
        assert referenced == ct_uids
        assert int(seg.NumberOfFrames) == len(seeded.ct) * len(expected.regions)
    else:
        assert "SEG" not in results


def test_sources_are_unchanged_after_the_round_trip(round_trip: RoundTrip, seeded: Seeded) -> None:
    client = round_trip.client
    rg3 = seeded.rg3
    (now,) = client.retrieve_series(str(rg3.StudyInstanceUID), str(rg3.SeriesInstanceUID))
    assert hashlib.sha256(now.PixelData).hexdigest() == seeded.rg3_pixel_sha256
    original = copy.deepcopy(rg3)
    for ds in (now, original):
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    assert now == original
    ct_series = str(seeded.ct[0].SeriesInstanceUID)
    again = {ds.SOPInstanceUID: ds for ds in client.retrieve_series(seeded.ct_study_uid, ct_series)}
    assert set(again) == {ds.SOPInstanceUID for ds in seeded.ct}
    for ds in seeded.ct:
        assert again[ds.SOPInstanceUID].PixelData == ds.PixelData


def _cli_subprocess(
    args: list[str], password: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANKLE_PACS")}
    env["ANKLE_PACS_PASSWORD"] = password
    env["PYTHONPATH"] = str(REPO)
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ankle_core.pacs", "analyse", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120,
    )  # fmt: skip
    return done, time.monotonic() - start


def test_cli_wrong_password_exits_with_one_line(orthanc: OrthancServer, seeded: Seeded) -> None:
    args = ["--url", orthanc.url, "--user", USER, "--study", str(seeded.rg3.StudyInstanceUID)]
    done, _ = _cli_subprocess(args, "not-the-password")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "refused the login" in done.stderr and "Traceback" not in done.stderr
    assert "not-the-password" not in done.stdout + done.stderr


def test_cli_unreachable_server_fails_within_the_timeout() -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    done, _ = _cli_subprocess(
        ["--url", url, "--user", USER, "--study", "1.2.3", "--timeout", "2"], "x"
    )
    assert done.returncode == 1
    assert "cannot be reached" in done.stderr and "Traceback" not in done.stderr


def test_cli_unknown_study(orthanc: OrthancServer, seeded: Seeded) -> None:
    args = ["--url", orthanc.url, "--user", USER, "--study", "1.2.3.999"]
    done, _ = _cli_subprocess(args, PASSWORD)
    assert done.returncode == 1
    assert "no study with this Study Instance UID" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
