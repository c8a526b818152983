"""The heat map evaluated on demand equals the full-grid map, and the boxes found on a 1 mm
sub-grid and refined stay within one voxel of the full-grid method's."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from ankle_core.explain.boxes import BoxSettings
from ankle_core.explain.ct import cam_regions, cam_to_original
from ankle_core.explain.ct_heat import HeatVolume, heat_regions
from ankle_core.explain.gradcam import normalize01
from ankle_core.preprocess.spatial import body_mask, coarse_outside, plan_grid
from ankle_core.preprocess.transform import GridTransform


def _scene(
    seed: int, flip: bool = False, scale: int = 1
) -> tuple[npt.NDArray[np.float32], np.ndarray, GridTransform, npt.NDArray[np.float32]]:
    """A fine (0.3 x 0.3 x 0.4 mm) body with an air cavity and a notch, a grid, a smooth CAM."""
    rng = np.random.default_rng(seed)
    shape = (60 * scale, 80 * scale, 72 * scale)
    _, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    body = ((yy - shape[1] / 2) / (0.42 * shape[1])) ** 2 + (
        (xx - shape[2] / 2) / (0.42 * shape[2])
    ) ** 2 < 1.0
    hu = np.broadcast_to(np.where(body, np.float32(60.0), np.float32(-1000.0)), shape).copy()
    c = [n // 2 for n in shape]
    hu[c[0] - 5 : c[0] + 5, c[1] - 10 : c[1] + 2, c[2] - 11 : c[2] - 1] = -900.0  # a hole
    hu[:, c[1] - 5 : c[1] + 5, c[2] + 12 * scale :] = -1000.0  # a notch of outside air
    hu += rng.normal(0, 5, size=shape).astype(np.float32)
    affine = np.diag([0.3, 0.3, 0.4, 1.0])
    if flip:  # x flipped and (z, x) swapped: the grid follows the volume up to a permutation
        affine = np.array([[0, 0, -0.4, 20.0], [0, 0.3, 0, 0], [0.3, 0, 0, 0], [0, 0, 0, 1]])
    transform = plan_grid(hu, affine, spacing_mm=1.0, input_size=16 * scale)
    n = 4 * scale
    cam = (0.2 + 0.1 * rng.random((n, n, n))).astype(np.float32)
    for amplitude in (3.0, 2.0, 1.4):  # three hot spots of distinct strength
        at = tuple(int(v) for v in rng.integers(1, n - 1, size=3))
        cam[at] += amplitude
    return hu, affine, transform, cam


def _full_grid(
    hu: npt.NDArray[np.float32], affine: np.ndarray, transform: GridTransform, cam: np.ndarray
) -> tuple[npt.NDArray[np.float32], float, tuple[object, ...]]:
    """The map and boxes with the body mask and the spline over the whole grid."""
    settings = BoxSettings(min_volume_mm3=5.0)
    heat, footprint = cam_to_original(cam, transform, order=3)
    inside = body_mask(hu, threshold_hu=-500.0)
    heat = normalize01(heat * inside)
    threshold = settings.threshold(heat[footprint], inside[footprint])
    regions = cam_regions(heat, affine, settings, footprint=footprint, mask=inside,
                          threshold=threshold)  # fmt: skip
    return heat, threshold, regions


@pytest.mark.parametrize(("seed", "flip"), [(0, False), (1, True)])
def test_small_field_of_view_is_searched_on_every_voxel(seed: int, flip: bool) -> None:
    """Too few samples for a sub-grid: every voxel is one, and the result is the full grid's."""
    _check(seed, flip, scale=1, min_samples=250_000, thr_tol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "flip"), [(2, False), (3, True)])
def test_boxes_within_one_voxel_of_the_full_grid(seed: int, flip: bool) -> None:
    """A sub-grid of (2, 3, 3) voxels (0.8 x 0.9 x 0.9 mm), refined: within one voxel."""
    _check(seed, flip, scale=2, min_samples=50_000, thr_tol=0.03)


def _check(seed: int, flip: bool, *, scale: int, min_samples: int, thr_tol: float) -> None:
    hu, affine, transform, cam = _scene(seed, flip, scale)
    want_heat, want_thr, want = _full_grid(hu, affine, transform, cam)
    heat = HeatVolume(cam, transform, hu=hu, body_threshold_hu=-500.0)
    settings = BoxSettings(min_volume_mm3=5.0)
    scaled, thr, found = heat_regions(heat, affine, settings, min_samples=min_samples)
    assert abs(thr - want_thr) <= thr_tol * want_thr
    assert len(found) == len(want) > 0
    for ours, ref in zip(found, want, strict=True):
        a = np.asarray([*ours.lower, *ours.upper])
        b = np.asarray(ref.box_voxels.as_tuple())  # type: ignore[attr-defined]
        assert np.max(np.abs(a - b)) <= 1
    # the scaled map equals the full-grid map (its maximum lies in the top region)
    np.testing.assert_allclose(np.asarray(scaled), want_heat, atol=1e-4)


def test_reads_equal_the_whole_map() -> None:
    hu, _, transform, cam = _scene(5, flip=True)
    heat = HeatVolume(cam, transform, hu=hu, body_threshold_hu=-500.0, scale=(0.0, 2.0))
    whole = np.asarray(heat)
    assert heat.shape == whole.shape == hu.shape and heat.dtype == whole.dtype == np.float32
    assert float(whole.max()) > 0.1
    np.testing.assert_allclose(heat[30], whole[30], atol=1e-6)
    np.testing.assert_allclose(heat[:, 41], whole[:, 41], atol=1e-6)
    np.testing.assert_allclose(heat[..., 7], whole[..., 7], atol=1e-6)
    np.testing.assert_allclose(heat[10:40:3, ::-2, 5:9], whole[10:40:3, ::-2, 5:9], atol=1e-6)
    assert heat[-1].shape == (80, 72)
    with pytest.raises(IndexError):
        heat[60]


def test_oblique_grid_uses_the_general_spline() -> None:
    """A grid oblique to the volume has no axis map; the map equals ``cam_to_original``."""
    c, s = np.cos(0.4), np.sin(0.4)
    matrix = np.array([[1.5, 0, 0, 2], [0, 1.5 * c, -1.5 * s, 20], [0, 1.5 * s, 1.5 * c, 5],
                       [0, 0, 0, 1]])  # fmt: skip
    transform = GridTransform(matrix, np.eye(4), (30, 40, 40), (16, 16, 16), (1.5, 1.5, 1.5))
    assert transform.axis_map() is None
    cam = np.random.default_rng(6).random((4, 4, 4)).astype(np.float32)
    want, _ = cam_to_original(cam, transform, order=3)
    heat = HeatVolume(cam, transform, order=3)
    hi = float(heat.spline(tuple(np.arange(n) for n in transform.original_shape)).max())  # type: ignore[arg-type]
    np.testing.assert_allclose(np.asarray(heat.rescaled(0.0, hi)), want, atol=1e-5)


@pytest.mark.parametrize("shape", [(37, 50, 63), (5, 6, 7), (1, 8, 9), (20, 1, 30)])
@pytest.mark.parametrize("factor", [1, 2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_coarse_outside_is_the_block_grid_with_holes_filled(
    shape: tuple[int, int, int], factor: int, dtype: type
) -> None:
    """Blocks with any voxel above the threshold are body; air blocks not reaching the border
    through air blocks are holes (``binary_fill_holes`` of the block grid)."""
    x = np.random.default_rng(sum(shape) + factor).normal(-700, 300, size=shape).astype(dtype)
    x.flat[::97] = 5  # scattered body voxels, some alone in their block
    blocks = tuple(-(-n // factor) for n in shape)
    padded = np.zeros([b * factor for b in blocks], dtype=bool)
    padded[: shape[0], : shape[1], : shape[2]] = x > -500
    body = padded.reshape(blocks[0], factor, blocks[1], factor, blocks[2], factor)
    want = ~ndimage.binary_fill_holes(body.any(axis=(1, 3, 5)))
    np.testing.assert_array_equal(coarse_outside(x, -500.0, factor), want)
