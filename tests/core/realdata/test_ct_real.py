"""The CT pipeline on real CT (TotalSegmentator's example, NIfTI and JPEG 2000 DICOM series)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from ankle_core.explain.ct import cam_to_original
from ankle_core.inference.ct import OUT_OF_DOMAIN, CtPipeline, CtResult
from ankle_core.models.weights import LoadedModel
from ankle_core.preprocess.spatial import body_section_cm2
from ankle_core.preprocess.volume import preprocess_volume
from ankle_core.types import Volume

pytestmark = pytest.mark.slow

_RESULTS: dict[int, CtResult] = {}
FALLBACK_NAME = "tiny-ct-real"


def body_mask(volume: Volume, hu: float = -500.0, dilate: int = 2) -> npt.NDArray[np.bool_]:
    """Voxels above ``hu``, holes filled slice by slice and in 3D, dilated ``dilate`` voxels."""
    arr = np.asarray(volume.array)
    mask = arr > hu
    mask = np.stack([ndimage.binary_fill_holes(s) for s in mask])
    mask = ndimage.binary_fill_holes(mask)
    return ndimage.binary_dilation(mask, iterations=dilate)


def _run(model: LoadedModel, volume: Volume) -> CtResult:
    key = id(volume)
    if key not in _RESULTS:
        _RESULTS[key] = CtPipeline(model).run(volume)
    return _RESULTS[key]


def test_body_mask_is_plausible(real_ct: Volume) -> None:
    mask = body_mask(real_ct)
    assert 0.15 < mask.mean() < 0.9  # a body, not the whole box, not nothing


def test_pipeline_runs_end_to_end(ct_model: LoadedModel, real_ct: Volume) -> None:
    result = _run(ct_model, real_ct)
    assert 0.0 <= result.probability <= 1.0 and np.isfinite(result.probability)
    # a real abdomen is outside the ankle-phantom model's domain: the call is withheld, the
    # raw call kept, and its boxes are not findings (they stay as "where the model looked")
    assert result.call == OUT_OF_DOMAIN and not result.domain.in_domain
    assert result.raw_call in ("fracture", "no fracture", "indeterminate — review")
    assert result.regions == ()
    assert result.heatmap is not None
    heat = np.asarray(result.heatmap)
    assert heat.shape == real_ct.array.shape and heat.dtype == np.float32
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0 and float(heat.max()) > 0.0
    assert result.looked_regions, "no Grad-CAM region on a real CT"
    for region in result.looked_regions:
        lo, hi = np.array(region.box_mm_min), np.array(region.box_mm_max)
        assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)
        assert all(s > 0 for s in region.size_mm) and region.volume_mm3 > 0
        # the mm box holds the region centre, converted by the volume's own affine
        centre = np.array(real_ct.voxel_to_ras(np.array(region.center_voxel)))
        assert np.all(centre >= lo - 1e-3) and np.all(centre <= hi + 1e-3)
    assert result.timings_s["total"] > 0


def test_an_abdomen_is_flagged_as_not_an_ankle(ct_model: LoadedModel, real_ct: Volume) -> None:
    (warning,) = _run(ct_model, real_ct).warnings
    assert "does not look like an ankle CT" in warning
    assert body_section_cm2(real_ct.array, real_ct.affine) > 600  # measured 720-830 cm²


def test_cam_mapping_lands_in_the_body(ct_model: LoadedModel, real_ct: Volume) -> None:
    """Geometry alone: a model-grid map that marks the body maps back onto the body."""
    from ankle_core.preprocess.volume import CtPreprocessing

    config = CtPreprocessing.from_dict(ct_model.card.preprocessing)
    prepared = preprocess_volume(real_ct, config)
    lo, hi = config.window
    mean = 0.25 if config.mean == "volume" else float(config.mean)
    threshold = (-500.0 - lo) / (hi - lo) - mean
    marker = (prepared.array > threshold).astype(np.float32)
    assert marker.any()
    heat, _ = cam_to_original(marker, prepared.transform, order=3)
    mask = body_mask(real_ct)
    assert float(heat[mask].sum()) >= 0.95 * float(heat.sum())


def test_heatmap_and_boxes_stay_inside_the_body(ct_model: LoadedModel, real_ct: Volume) -> None:
    """>= 95% of the heat-map mass and every region centre inside the body (HU > -500).

    With the committed demo model. The pipeline restricts the heat map to the body before it
    draws boxes; the test below checks that for a model that responds to air.
    """
    result = _run(ct_model, real_ct)
    assert result.heatmap is not None
    mask = body_mask(real_ct)
    heat = np.asarray(result.heatmap)
    assert float(heat[mask].sum()) >= 0.95 * float(heat.sum())
    # the pipeline masks the map to the body (a subset of this mask): no heat in the air at all
    assert float(heat[~mask].sum()) == 0.0
    for region in result.looked_regions:
        z, y, x = (round(c) for c in region.center_voxel)
        assert mask[z, y, x], f"region {region.rank} centred in air"


def test_a_model_that_responds_to_air_still_explains_only_the_body(
    random_ct_model: LoadedModel, real_ct: Volume
) -> None:
    """The random network's Grad-CAM falls mostly in the air (about 6% in the body before the
    mask); the pipeline's body mask keeps every bit of heat on the patient. (Its regions hug
    the body surface, so a box *centre* may still lie in air: that is checked for the demo
    model only, above.)"""
    result = CtPipeline(random_ct_model).run(real_ct)
    assert result.heatmap is not None
    heat = np.asarray(result.heatmap)
    assert heat.max() > 0
    mask = body_mask(real_ct)
    assert float(heat[~mask].sum()) == 0.0
    assert result.regions or result.looked_regions, "the masked map still yields regions"
