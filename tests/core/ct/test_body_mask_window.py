"""The body mask taken in the model's field of view only matches the full-grid mask, and the
CT pipeline's boxes stay within one voxel of those the full-grid mask gives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from ankle_core.explain.boxes import BoxSettings
from ankle_core.explain.ct import cam_regions, cam_to_original, ct_grad_cam
from ankle_core.explain.gradcam import normalize01
from ankle_core.inference.ct import CtPipeline
from ankle_core.models.weights import LoadedModel
from ankle_core.phantoms.ct import make_volume
from ankle_core.preprocess.spatial import body_mask, body_mask_window
from ankle_core.preprocess.volume import preprocess_volume
from ankle_core.types import Volume


def _fine_phantom(shape: tuple[int, int, int]) -> Volume:
    """A phantom ankle resampled to a fine grid, as ``benchmarks/ct.py`` makes its volume."""
    fov = (160.0, 153.6, 153.6)  # the benchmark's field of view (400 x 512 x 512 voxels)
    small = make_volume(
        1_000_002, True, shape=(48, 64, 64), spacing_mm=(fov[0] / 48, fov[1] / 64, fov[2] / 64)
    )
    factors = [n / s for n, s in zip(shape, small.shape, strict=True)]
    big = ndimage.zoom(small.array, factors, order=1, grid_mode=True, mode="nearest")
    affine = np.asarray(small.affine, dtype=np.float64).copy()
    for axis_xyz, f in zip((2, 1, 0), factors, strict=True):
        affine[:3, axis_xyz] /= f
    spacing = tuple(float(s / f) for s, f in zip(small.spacing_mm, factors, strict=True))
    return Volume(np.rint(big).astype(np.float32), spacing, affine)  # type: ignore[arg-type]


def test_window_mask_fills_a_cavity_cut_by_the_window_edge() -> None:
    hu = np.full((40, 60, 60), -1000.0, np.float32)
    hu[5:35, 10:50, 10:50] = 40.0  # body
    hu[12:28, 20:40, 20:40] = -900.0  # an air cavity inside it (bowel gas, a sinus)
    window = (slice(0, 40), slice(0, 30), slice(0, 60))  # cuts the cavity in half
    full = body_mask(hu)[window]
    part = body_mask_window(hu, window)
    assert part.shape == full.shape
    assert part[20, 25, 30]  # the cut cavity is filled, as on the full grid
    np.testing.assert_array_equal(part, full)


@pytest.mark.parametrize(
    "window",
    [
        (slice(10, 70), slice(20, 90), slice(15, 100)),
        (slice(0, 80), slice(0, 128), slice(0, 128)),
        (slice(30, 31), slice(50, 60), slice(0, 7)),
    ],
)
def test_window_mask_equals_the_full_mask_on_the_benchmark_phantom(
    window: tuple[slice, slice, slice],
) -> None:
    volume = _fine_phantom((80, 128, 128))
    full = body_mask(volume.array)[window]
    part = body_mask_window(volume.array, window)
    np.testing.assert_array_equal(part, full)


def _reference_regions(pipeline: CtPipeline, volume: Volume):  # type: ignore[no-untyped-def]
    """The regions as the pipeline made them before: body mask over the whole grid."""
    prepared = preprocess_volume(volume, pipeline.preprocessing)
    settings = pipeline.explanation
    cam = ct_grad_cam(
        pipeline.model.network,
        prepared.array,
        layer=pipeline.layer,
        device=pipeline.model.device,
        method=settings.method,
    )
    heat, footprint = cam_to_original(cam, prepared.transform, order=pipeline.spline_order)
    boxes = settings.boxes
    inside = boxes.body(volume.array)  # the whole grid
    assert inside is not None
    heat = normalize01(heat * inside)
    threshold = boxes.threshold(heat[footprint], inside[footprint])
    regions = cam_regions(
        heat, volume.affine, boxes, footprint=footprint, mask=inside, threshold=threshold
    )
    return heat, regions


@pytest.mark.slow
def test_pipeline_boxes_within_one_voxel_of_the_full_grid_mask(tiny_model: LoadedModel) -> None:
    volume = _fine_phantom((100, 128, 128))
    pipeline = CtPipeline(tiny_model, boxes=BoxSettings(min_volume_mm3=0.0))
    result = pipeline.run(volume)
    heat, regions = _reference_regions(pipeline, volume)
    assert "body_mask" in result.timings_s
    assert result.heatmap is not None
    np.testing.assert_allclose(result.heatmap, heat, atol=1e-5)
    # a negative call reports its boxes as looked_regions (issue 22), not as findings
    found = result.regions or result.looked_regions
    assert len(found) == len(regions) > 0
    keys = ("z0", "y0", "x0", "z1", "y1", "x1")
    for ours, ref in zip(found, regions, strict=True):
        a = np.asarray([getattr(ours.box_voxels, k) for k in keys])
        b = np.asarray([getattr(ref.box_voxels, k) for k in keys])
        assert np.max(np.abs(a - b)) <= 1
