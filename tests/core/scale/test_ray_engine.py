"""The Ray engine on a local cluster: the same CSV as the local engine, and an interrupted
run that resumes without redoing the cases it finished."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ankle_core.inference.__main__ import main as infer_main
from ankle_core.inference.radiograph_cli import CSV_COLUMNS
from ankle_core.scale.common import read_rows
from tests.core.scale.helpers import predictions

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[3]


def _args(folder: Path, out: Path, models: Path, *extra: str) -> list[str]:
    return [
        "radiograph", str(folder), "--out", str(out), "--models-dir", str(models),
        "--detector", "tiny-detector", "--classifier", "tiny-mobilenet_v2",
        "--device", "cpu", "--no-progress", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def many_radiographs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ankle_core.phantoms import export_dataset

    root = tmp_path_factory.mktemp("many")
    export_dataset(root, 16, "radiograph", seed=5, size=128)
    return root / "radiographs"


def test_interrupted_ray_run_resumes_without_redoing_finished_cases(
    tiny_models_dir: Path, many_radiographs: Path, tmp_path: Path, ray_cluster: None
) -> None:
    out = tmp_path / "p.csv"
    parts = tmp_path / "p.parts"
    args = _args(many_radiographs, out, tiny_models_dir, "--engine", "ray", "--batch-size", "1")
    # a second driver joins this module's cluster (--address), so killing it kills its job
    # (Ray stops that job's actors) and nothing of the cluster
    address = ray.get_runtime_context().gcs_address
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = (
        "import sys; from ankle_core.inference.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--address", address], cwd=ROOT, env=env,
        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not list(parts.glob("part-*.parquet")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the Ray run ended before writing a partition"
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the driver, mid-run
        proc.wait()
    assert not out.exists()  # killed before the end: no CSV yet, only partitions
    finished = len(list(parts.glob("part-*.parquet")))
    assert 1 <= finished < 16

    local = tmp_path / "local.csv"
    assert infer_main(_args(many_radiographs, local, tiny_models_dir, "--batch-size", "1")) == 0
    assert infer_main([*args, "--resume"]) == 0  # in this process: its Ray session
    assert predictions(out) == predictions(local)
    # the resumed run added partitions for the rest only: no case was predicted twice
    from ankle_core.scale import read_partitions

    rows = read_partitions(parts)
    assert len(rows) == 16 and len({r["input_sha256"] for r in rows}) == 16


def test_both_engines_write_the_same_csv(
    tiny_models_dir: Path, radiograph_folder: Path, tmp_path: Path, ray_cluster: None
) -> None:
    local, on_ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert infer_main(_args(radiograph_folder, local, tiny_models_dir, "--batch-size", "1")) == 0
    extra = ("--engine", "ray", "--workers", "2", "--threads", "1", "--batch-size", "1")
    assert infer_main(_args(radiograph_folder, on_ray, tiny_models_dir, *extra)) == 0
    rows = predictions(on_ray)
    assert rows == predictions(local)
    assert len(rows) == 11 and [r["status"] for r in rows].count("error") == 1
    assert len(read_rows(on_ray, CSV_COLUMNS)) == 11


def test_ct_cases_are_read_in_the_actors_and_match_the_local_engine(
    tiny_model_dir: Path, tmp_path: Path, ray_cluster: None
) -> None:
    # CT cases are read inside the model actors (no separate reading task, no volume in
    # the object store); the rows must still equal the local engine's, corrupt file included
    from ankle_core.inference.ct_cli import CT_KIND
    from ankle_core.phantoms.ct import make_volume
    from ankle_core.phantoms.writers import write_ct_nifti

    assert CT_KIND.read_in_actor
    folder = tmp_path / "ct"
    folder.mkdir()
    small = {"shape": (16, 40, 40), "spacing_mm": (4.0, 3.0, 3.0)}
    for i in range(3):
        write_ct_nifti(folder / f"case_{i}.nii.gz", make_volume(1_000_020 + i, i == 0, **small))  # type: ignore[arg-type]
    (folder / "broken.nii.gz").write_bytes(b"\x1f\x8b not really a gzip file")
    base = ["ct", str(folder), "--model", str(tiny_model_dir), "--device", "cpu",
            "--no-progress", "--batch-size", "2"]  # fmt: skip
    local, on_ray = tmp_path / "local.csv", tmp_path / "ray.csv"
    assert infer_main([*base, "--out", str(local)]) == 0
    assert infer_main([*base, "--out", str(on_ray), "--engine", "ray", "--workers", "2",
                       "--threads", "1"]) == 0  # fmt: skip
    rows = predictions(on_ray)
    assert rows == predictions(local)
    assert len(rows) == 4 and [r["status"] for r in rows].count("error") == 1
