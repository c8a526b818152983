"""The separable resampling path equals the Gaussian + affine_transform path it replaces."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy import ndimage

from ankle_core.preprocess.spatial import plan_grid, resample_to_grid
from ankle_core.preprocess.transform import GridTransform


def _reference(
    array: npt.NDArray[np.floating], transform: GridTransform, cval: float, anti_alias: bool
) -> npt.NDArray[np.float32]:
    """The full-window Gaussian then ``affine_transform`` (order 1), as before."""
    window = transform.original_footprint(margin=3.0)
    sub = np.asarray(array[window], dtype=np.float32)
    linear = transform.matrix[:3, :3]
    offset = transform.matrix[:3, 3] - np.array([s.start for s in window], dtype=np.float64)
    if anti_alias:
        sigma = np.maximum(0.0, (np.abs(linear).max(axis=1) - 1.0) / 2.0)
        if (sigma > 0.05).any():
            sub = ndimage.gaussian_filter(sub, sigma=sigma, mode="nearest", output=np.float32)
    out = np.empty(transform.grid_shape, dtype=np.float32)
    ndimage.affine_transform(
        sub, linear, offset=offset, output_shape=transform.grid_shape, output=out, order=1,
        mode="constant", cval=cval, prefilter=False,
    )  # fmt: skip
    return out


def _affine(rng: np.random.Generator, spacing: tuple[float, float, float]) -> np.ndarray:
    """A NIfTI affine whose axes are a random signed permutation of RAS."""
    perm = rng.permutation(3)
    signs = rng.choice([-1.0, 1.0], size=3)
    aff = np.zeros((4, 4))
    for i in range(3):
        aff[perm[i], i] = signs[i] * spacing[i]
    aff[:3, 3] = rng.normal(0, 20, size=3)
    aff[3, 3] = 1.0
    return aff


@pytest.mark.parametrize("seed", range(8))
def test_separable_equals_reference_on_random_volumes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(12, 40, size=3))
    spacing = tuple(float(v) for v in rng.uniform(0.3, 1.6, size=3))
    dtype = np.int16 if seed % 2 else np.float32
    hu = rng.normal(0, 400, size=shape).astype(dtype)
    hu[2:-2, 3:-3, 2:-2] += np.int16(300) if dtype == np.int16 else np.float32(300.0)
    affine = _affine(rng, spacing)  # type: ignore[arg-type]
    size = int(rng.integers(8, 24))
    transform = plan_grid(hu, affine, spacing_mm=float(rng.uniform(0.8, 2.5)), input_size=size)
    assert transform.axis_map() is not None
    for anti_alias in (True, False):
        got = resample_to_grid(hu, transform, cval=-1000.0, anti_alias=anti_alias)
        want = _reference(hu, transform, -1000.0, anti_alias)
        assert got.shape == want.shape and got.dtype == np.float32
        # outside the volume both give cval exactly; inside they agree to float rounding
        np.testing.assert_array_equal(got == -1000.0, want == -1000.0)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * float(np.abs(want).max()))


def test_edges_outside_get_cval_exactly() -> None:
    """A cube larger than the volume pads with cval, with no blending at the edge."""
    hu = np.full((6, 7, 5), 200.0, dtype=np.float32)
    transform = plan_grid(hu, np.diag([-1.0, 1.0, 1.0, 1.0]), spacing_mm=1.0, input_size=11)
    got = resample_to_grid(hu, transform, cval=-1000.0)
    want = _reference(hu, transform, -1000.0, True)
    np.testing.assert_array_equal(got, want)
    assert set(np.unique(got).tolist()) == {-1000.0, 200.0}


def test_one_voxel_axis_and_upsampling() -> None:
    """A one-slice axis and a grid finer than the volume (no Gaussian) both match."""
    rng = np.random.default_rng(3)
    hu = rng.normal(0, 100, size=(1, 9, 10)).astype(np.float32)
    transform = plan_grid(hu, np.diag([0.5, 0.5, 3.0, 1.0]), spacing_mm=0.25, input_size=9)
    got = resample_to_grid(hu, transform)
    want = _reference(hu, transform, -1000.0, True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)


def test_oblique_grid_keeps_the_affine_path() -> None:
    """A grid oblique to the volume has no axis map and still resamples."""
    hu = np.random.default_rng(4).normal(0, 100, size=(16, 16, 16)).astype(np.float32)
    c, s = np.cos(0.3), np.sin(0.3)
    matrix = np.array([[1.0, 0, 0, 0], [0, c, -s, 4], [0, s, c, 2], [0, 0, 0, 1]])
    transform = GridTransform(matrix, np.eye(4), (16, 16, 16), (8, 8, 8), (1.0, 1.0, 1.0))
    assert transform.axis_map() is None
    got = resample_to_grid(hu, transform)
    want = _reference(hu, transform, -1000.0, True)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
