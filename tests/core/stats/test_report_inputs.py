"""``stats report`` reads Parquet files and folders of partitions like the CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ankle_core.stats.__main__ import main


def _report(source: Path, out: Path) -> dict[str, object]:
    args = ["report", str(source), "--truth", "y", "--scores", "a", "--n-boot", "40",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    data: dict[str, object] = json.loads((out / "report.json").read_text())
    return data


def test_parquet_and_partitions_give_the_csv_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    df = pd.DataFrame({"y": y, "a": np.round(rng.random(120) * 0.6 + 0.4 * y, 4)})
    df.to_csv(tmp_path / "p.csv", index=False)
    df.to_parquet(tmp_path / "p.parquet")
    parts = tmp_path / "p.parts"
    parts.mkdir()
    text = df.astype(str)  # every cell as text, as the Ray engine writes
    for i, start in enumerate(range(0, 120, 40)):
        text.iloc[start : start + 40].to_parquet(parts / f"part-{i}.parquet")
    want = _report(tmp_path / "p.csv", tmp_path / "csv")
    assert _report(tmp_path / "p.parquet", tmp_path / "pq") == want
    assert _report(parts, tmp_path / "parts") == want
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--truth", "y", "--scores", "a"]) == 2
