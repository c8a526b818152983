"""The CT pipeline end to end on a small phantom volume, with a tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.explain.boxes import BoxSettings
from ankle_core.explain.ct_heat import HeatVolume
from ankle_core.explain.gradcam import count_hooks
from ankle_core.inference.ct import BOXED_CALLS, INDETERMINATE, CtPipeline, CtResult
from ankle_core.models.weights import LoadedModel
from ankle_core.phantoms.ct import make_volume


@pytest.fixture(scope="module")
def phantom():  # type: ignore[no-untyped-def]
    return make_volume(
        1_000_003, True, shape=(24, 48, 48), spacing_mm=(3.0, 2.0, 2.0), oblique_deg=6.0
    )


def test_run_end_to_end(tiny_model: LoadedModel, phantom) -> None:  # type: ignore[no-untyped-def]
    result = CtPipeline(tiny_model, boxes=BoxSettings(min_volume_mm3=0.0)).run(phantom)
    assert isinstance(result, CtResult)
    assert 0.0 <= result.probability <= 1.0
    assert result.call in {"fracture", "no fracture", INDETERMINATE}
    assert result.heatmap is not None and result.heatmap.shape == phantom.shape
    assert result.heatmap.dtype == np.float32
    heat = np.asarray(result.heatmap)
    assert heat.shape == phantom.shape and heat.dtype == np.float32
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0
    # the map is lazy and read-only: a slice is computed on demand and equals the whole map's
    assert isinstance(result.heatmap, HeatVolume)
    np.testing.assert_array_equal(result.heatmap[5], heat[5])
    with pytest.raises(TypeError):
        result.heatmap[0] = 1.0  # type: ignore[index]
    assert set(result.timings_s) >= {"preprocess", "forward", "gradcam", "boxes", "total"}
    assert result.model == "tiny-ct 0.0.1" and result.gradcam_layer == "features.2"
    regions = result.regions or result.looked_regions
    assert regions, "a random network still gives a non-constant map"
    # ranked boxes are findings only under a fracture or indeterminate call
    assert bool(result.regions) == (result.call in BOXED_CALLS)
    for rank, region in enumerate(regions):
        assert region.rank == rank
        box = region.box_voxels
        assert 0 <= box.z0 < box.z1 <= phantom.shape[0]
        assert 0 <= box.x0 < box.x1 <= phantom.shape[2]
        np.testing.assert_allclose(region.center_mm, phantom.voxel_to_ras(region.center_voxel))
        assert all(lo <= hi for lo, hi in zip(region.box_mm_min, region.box_mm_max, strict=True))
        assert 0.0 < region.mean <= region.peak <= 1.0
    scores = [r.peak * r.mean for r in regions]
    assert scores == sorted(scores, reverse=True)
    assert count_hooks(tiny_model.network) == 0


def test_without_explanation(tiny_model: LoadedModel, phantom) -> None:  # type: ignore[no-untyped-def]
    result = CtPipeline(tiny_model).run(phantom, explain=False)
    assert result.heatmap is None and result.regions == ()
    assert "gradcam" not in result.timings_s


def test_min_region_volume_filters(tiny_model: LoadedModel, phantom) -> None:  # type: ignore[no-untyped-def]
    big = CtPipeline(tiny_model, boxes=BoxSettings(min_volume_mm3=1e9)).run(phantom)
    assert big.regions == () and big.looked_regions == ()


def test_calls_follow_the_operating_points(tiny_model: LoadedModel) -> None:
    from dataclasses import replace

    from ankle_core.models.card import OperatingPoints

    card = replace(
        tiny_model.card,
        operating_points=OperatingPoints(0.5, 0.2, 0.8, "test"),
    )
    pipeline = CtPipeline(replace(tiny_model, card=card))
    assert pipeline.call_for(0.9) == "fracture"
    assert pipeline.call_for(0.1) == "no fracture"
    assert pipeline.call_for(0.5) == INDETERMINATE


def test_indeterminate_text_matches_the_radiograph_pipeline() -> None:
    from ankle_core.inference import radiograph

    assert INDETERMINATE == radiograph.INDETERMINATE


def test_explanation_follows_the_card_and_a_call_may_override_it(
    tiny_model: LoadedModel,
    phantom,  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    from ankle_core.explain.ct import PAPER_GRADCAM, CamSettings

    assert CtPipeline(tiny_model).explanation == PAPER_GRADCAM  # a card without the entry
    settings = {"method": "hirescam", "min_cells": 16, "otsu_classes": 3}
    model = replace(tiny_model, card=replace(tiny_model.card, explanation=settings))
    pipeline = CtPipeline(model)
    assert pipeline.explanation == CamSettings("hirescam", 16, BoxSettings(otsu_classes=3))
    own = pipeline.run(phantom)
    study = pipeline.run(phantom, explanation=PAPER_GRADCAM)
    assert own.explanation == pipeline.explanation and study.explanation == PAPER_GRADCAM
    assert study.gradcam_layer == "features.2"
    assert own.gradcam_layer == "features.1"  # 16 cells a side needs the shallower block
    assert own.heatmap is not None and study.heatmap is not None
    assert not np.allclose(own.heatmap, study.heatmap)
    assert pipeline.run(phantom).gradcam_layer == "features.1"  # the override did not stick
    assert count_hooks(tiny_model.network) == 0


def test_a_malformed_explanation_entry_is_a_model_load_error(tiny_model: LoadedModel) -> None:
    from dataclasses import replace

    from ankle_core.errors import ModelLoadError

    card = replace(tiny_model.card, explanation={"method": "scorecam"})
    with pytest.raises(ModelLoadError, match="explanation"):
        CtPipeline(replace(tiny_model, card=card))


def test_a_trunk_sized_body_is_flagged_and_an_ankle_is_not(
    tiny_model: LoadedModel,
    phantom,  # type: ignore[no-untyped-def]
) -> None:
    from ankle_core.types import Volume

    assert CtPipeline(tiny_model).run(phantom, explain=False).warnings == ()
    hu = np.full((12, 64, 64), -1000.0, dtype=np.float32)
    yy, xx = np.mgrid[:64, :64]
    hu[:, (yy - 31.5) ** 2 + (xx - 31.5) ** 2 <= 28**2] = 30.0  # 28 cm across: an abdomen
    trunk = Volume(hu, (5.0, 5.0, 5.0), np.diag([5.0, 5.0, 5.0, 1.0]))
    result = CtPipeline(tiny_model).run(trunk, explain=False)
    (warning,) = result.warnings
    assert "does not look like an ankle CT" in warning and 0.0 <= result.probability <= 1.0
    unchecked = CtPipeline(tiny_model, max_body_section_cm2=None).run(trunk, explain=False)
    assert unchecked.warnings == ()


def test_an_out_of_scope_volume_gets_no_call_and_no_boxes(tiny_model: LoadedModel) -> None:
    from ankle_core.inference.ct import OUT_OF_DOMAIN
    from ankle_core.types import Volume

    hu = np.full((12, 64, 64), -1000.0, dtype=np.float32)
    yy, xx = np.mgrid[:64, :64]
    hu[:, (yy - 31.5) ** 2 + (xx - 31.5) ** 2 <= 28**2] = 30.0
    trunk = Volume(hu, (5.0, 5.0, 5.0), np.diag([5.0, 5.0, 5.0, 1.0]))
    result = CtPipeline(tiny_model, boxes=BoxSettings(min_volume_mm3=0.0)).run(trunk)
    assert result.call == OUT_OF_DOMAIN and result.withheld
    assert "does not look like an ankle CT" in result.domain.reason
    assert result.raw_call in ("fracture", "no fracture", INDETERMINATE)
    assert result.regions == () and result.heatmap is not None  # the map stays, boxes do not


@pytest.mark.parametrize(
    ("call", "boxed"), [("fracture", True), (INDETERMINATE, True), ("no fracture", False)]
)
def test_boxes_are_findings_only_for_fracture_or_indeterminate(
    tiny_model: LoadedModel,
    phantom,  # type: ignore[no-untyped-def]
    call: str,
    boxed: bool,
) -> None:
    from dataclasses import replace

    from ankle_core.models.card import OperatingPoints

    # place the operating points around the network's own probability to force each call
    p = CtPipeline(tiny_model).run(phantom, explain=False).probability
    assert 0.0 < p < 1.0
    lo, hi = {
        "fracture": (0.0, p / 2),
        INDETERMINATE: (p / 2, (1 + p) / 2),
        "no fracture": ((1 + p) / 2, 1.0),
    }[call]
    card = replace(tiny_model.card, operating_points=OperatingPoints((lo + hi) / 2, lo, hi, "t"))
    result = CtPipeline(replace(tiny_model, card=card), boxes=BoxSettings(min_volume_mm3=0.0)).run(
        phantom
    )
    assert result.call == call
    assert bool(result.regions) == boxed
    assert bool(result.looked_regions) == (not boxed)
