"""Run Debian's ``dciodvfy`` (dicom3tools) on a data set and count its errors."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from pydicom.dataset import Dataset


def dciodvfy_errors(ds: Dataset) -> list[str]:
    """The ``Error`` lines dciodvfy reports for ``ds`` (skips the test when not installed)."""
    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy is not installed (apt-get install dicom3tools)")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "object.dcm"
        ds.save_as(path, enforce_file_format=True)
        done = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    lines = (done.stdout + done.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]
