"""The local engine: spawned workers after in-process inference (the fork hang), rows
streamed as they finish, ``--resume`` keyed on input sha256 and model version."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ankle_core.inference.__main__ import main as infer_main
from ankle_core.inference.batch import run_cases
from ankle_core.inference.radiograph_cli import (
    CSV_COLUMNS,
    PipelineConfig,
    find_images,
    model_version,
    predict_file,
    predict_files,
    run_batch,
)
from ankle_core.scale.common import input_sha256
from tests.core.scale.helpers import predictions


def _config(models: Path) -> PipelineConfig:
    return PipelineConfig(
        detector="tiny-detector",
        classifier="tiny-mobilenet_v2",
        models_dir=str(models),
        device="cpu",
    )


def _cli(folder: Path, out: Path, models: Path, *extra: str) -> int:
    return infer_main(
        [
            "radiograph", str(folder), "--out", str(out), "--models-dir", str(models),
            "--detector", "tiny-detector", "--classifier", "tiny-mobilenet_v2",
            "--device", "cpu", "--no-progress", *extra,
        ]
    )  # fmt: skip


@pytest.mark.timeout(300)
def test_two_spawned_workers_run_after_inference_in_this_process(
    tiny_models_dir: Path, radiograph_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A spawned child re-runs the parent's __main__ file; in a test process an earlier AppTest
    # may have left its page script there. The CLI's own __main__ is a module (by name).
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    # inference here first: a forked pool would inherit torch's OpenMP state and hang
    first = sorted(radiograph_folder.glob("case_*"))[0]
    assert predict_file(str(first), _config(tiny_models_dir))["status"] == "ok"
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    assert _cli(radiograph_folder, one, tiny_models_dir, "--batch-size", "2") == 0
    args = ("--workers", "2", "--threads", "1", "--batch-size", "2")
    assert _cli(radiograph_folder, two, tiny_models_dir, *args) == 0
    rows = predictions(two)
    assert rows == predictions(one)
    assert len(rows) == 11 and sum(r["status"] == "error" for r in rows) == 1
    assert all(len(r["input_sha256"]) == 64 for r in rows if r["file"] != "broken.png")


class _InterruptedError(RuntimeError):
    pass


def _dies_after_first_batch(paths: Sequence[str], config: PipelineConfig) -> list[dict[str, Any]]:
    if "broken.png" not in {Path(p).name for p in paths}:  # the first batch holds it
        raise _InterruptedError("killed")
    return predict_files(paths, config)


def test_rows_are_streamed_and_resume_skips_finished_cases(
    tiny_models_dir: Path, radiograph_folder: Path, tmp_path: Path
) -> None:
    config = _config(tiny_models_dir)
    files = find_images(radiograph_folder)
    out = tmp_path / "p.csv"
    version = model_version(config)
    with pytest.raises(_InterruptedError):
        run_cases(
            _dies_after_first_batch, files, config, out, CSV_COLUMNS,
            model_version=version, desc="x", unit="file", batch_size=3, progress=False,
        )  # fmt: skip
    streamed = predictions(out)
    assert [r["file"] for r in streamed] == [f.name for f in files[:3]]  # kept on disk
    assert {r["model_version"] for r in streamed} == {version}
    summary = run_batch(files, config, out, batch_size=3, progress=False, resume=True)
    assert (summary.skipped, summary.ran, summary.cases) == (3, len(files) - 3, len(files))
    assert summary.failures == 1
    fresh = tmp_path / "fresh.csv"
    run_batch(files, config, fresh, batch_size=3, progress=False)
    assert predictions(out) == predictions(fresh)
    again = run_batch(files, config, out, progress=False, resume=True)
    assert (again.skipped, again.ran) == (len(files), 0)
    assert predictions(out) == predictions(fresh)


def test_input_sha256_covers_a_folder_and_never_raises(tmp_path: Path) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.dcm").write_bytes(b"one")
    before = input_sha256(tmp_path / "s")
    (tmp_path / "s" / "a.dcm").write_bytes(b"two")
    assert input_sha256(tmp_path / "s") != before and len(before) == 64
    assert input_sha256(tmp_path / "missing").startswith("unreadable:")
