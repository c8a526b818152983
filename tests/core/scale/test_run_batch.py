"""Batched inference: ``run_batch`` gives what ``run`` gives, case by case."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ankle_core.inference.ct import CtPipeline
from ankle_core.inference.radiograph import RadiographPipeline
from ankle_core.io import read_radiograph
from ankle_core.models.weights import load_model
from ankle_core.phantoms.ct import make_volume
from ankle_core.types import Volume


def test_radiograph_run_batch_equals_run_case_by_case(
    tiny_models_dir: Path, radiograph_folder: Path
) -> None:
    pipeline = RadiographPipeline.from_names(
        "tiny-detector", "tiny-mobilenet_v2", models_dir=tiny_models_dir, device="cpu"
    )
    images = [read_radiograph(p) for p in sorted(radiograph_folder.glob("case_000[1-5]*"))]
    assert len({r.pixels.shape for r in images}) >= 1 and len(images) == 5
    one = [pipeline.run(r) for r in images]
    many = pipeline.run_batch(images)
    assert len(many) == len(one)
    for a, b in zip(one, many, strict=True):
        assert a.case_call == b.case_call
        assert [f.call for f in a.fragments] == [f.call for f in b.fragments]
        assert len(a.fragments) == len(b.fragments) > 0
        for f, g in zip(a.fragments, b.fragments, strict=True):
            # batched convolutions round differently in the last bits, nothing more
            np.testing.assert_allclose(f.box.as_xyxy(), g.box.as_xyxy(), atol=1e-3)
            assert f.detection_score == pytest.approx(g.detection_score, abs=1e-6)
            assert f.p_lmaf == pytest.approx(g.p_lmaf, abs=1e-6)
    assert pipeline.run_batch([]) == []


def test_ct_run_batch_equals_run_case_by_case(tiny_model_dir: Path) -> None:
    pipeline = CtPipeline(load_model(tiny_model_dir, device="cpu"))
    small = {"shape": (16, 32, 32), "spacing_mm": (4.0, 3.2, 3.2)}
    volumes: list[Volume] = [
        make_volume(seed, seed % 2 == 0, **small)  # type: ignore[arg-type]
        for seed in (1_000_010, 1_000_011, 1_000_012)
    ]
    one = [pipeline.run(v) for v in volumes]
    many = pipeline.run_batch(volumes)
    for a, b in zip(one, many, strict=True):
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
        assert a.call == b.call
        assert a.heatmap is not None and b.heatmap is not None
        np.testing.assert_allclose(a.heatmap, b.heatmap, atol=1e-4)
        assert [r.to_dict()["box_voxels"] for r in a.regions] == [
            r.to_dict()["box_voxels"] for r in b.regions
        ]
    plain = pipeline.run_batch(volumes[:2], explain=False)
    assert [r.heatmap for r in plain] == [None, None]
    assert [r.probability for r in plain] == pytest.approx(
        [r.probability for r in one[:2]], abs=1e-6
    )
