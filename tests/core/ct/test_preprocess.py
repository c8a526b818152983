"""CT preprocessing: RAS reorientation, resampling, crop/pad, windows, and the kept transform."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.preprocess import (
    BONE_WINDOW,
    CtPreprocessing,
    normalize_ct,
    orientation_matrix,
    plan_grid,
    preprocess_volume,
    window_hu,
)
from ankle_core.types import Volume


def test_shape_dtype_and_range(oblique_volume: Volume) -> None:
    prepared = preprocess_volume(oblique_volume, CtPreprocessing(spacing_mm=2.0, input_size=40))
    assert prepared.array.shape == (40, 40, 40)
    assert prepared.array.dtype == np.float32
    assert prepared.array.min() >= -0.25 - 1e-6 and prepared.array.max() <= 0.75 + 1e-6
    assert prepared.transform.grid_shape == (40, 40, 40)


def test_study_normalisation_is_documented_values() -> None:
    out = normalize_ct(np.array([-2000.0, -1000.0, 0.0, 400.0, 3000.0]))
    np.testing.assert_allclose(out, [-0.25, -0.25, 1000 / 1400 - 0.25, 0.75, 0.75], atol=1e-6)
    bone = window_hu(np.array([-500.0, 400.0, 1300.0]), BONE_WINDOW)
    np.testing.assert_allclose(bone, [0.0, 0.5, 1.0], atol=1e-6)
    volume_mean = normalize_ct(np.array([-1000.0, 400.0]), mean="volume")
    assert abs(float(volume_mean.mean())) < 1e-6


def test_orientation_makes_ras() -> None:
    # an LPS-like axial scan: x index runs to patient Left, y index to Posterior
    affine = np.diag([-0.5, -0.5, 2.0, 1.0])
    matrix, shape, spacing = orientation_matrix(affine, (10, 20, 30))
    assert shape == (10, 20, 30) and spacing == (2.0, 0.5, 0.5)
    vol = Volume(np.zeros((10, 20, 30), np.float32), (2.0, 0.5, 0.5), affine)
    ras_grid = np.array([[0, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]], float)
    orig = (np.concatenate([ras_grid, np.ones((4, 1))], 1) @ matrix.T)[:, :3]
    ras = vol.voxel_to_ras(orig)
    assert ras[1, 0] > ras[0, 0]  # +x index -> towards R
    assert ras[2, 1] > ras[0, 1]  # +y index -> towards A
    assert ras[3, 2] > ras[0, 2]  # +z index -> towards S


def test_permuted_axes_reorient() -> None:
    # array axes (z, y, x) hold (A, S, R): a sagittal-like acquisition
    affine = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 1.0, 0, 0], [0, 0, 0, 1]])
    _, shape, _ = orientation_matrix(affine, (7, 8, 9))
    assert shape == (8, 7, 9)


def _dot_volume(dot: tuple[int, int, int], volume: Volume) -> Volume:
    arr = np.array(volume.array)
    arr[dot] = 3000.0
    return Volume(arr, volume.spacing_mm, volume.affine)


@pytest.mark.parametrize("dot", [(17, 33, 21), (9, 20, 30), (30, 45, 12)])
def test_round_trip_of_a_voxel_on_an_oblique_anisotropic_volume(
    oblique_volume: Volume, dot: tuple[int, int, int]
) -> None:
    """A bright dot comes back to its voxel (within half a voxel) and to the same mm."""
    volume = _dot_volume(dot, oblique_volume)
    cfg = CtPreprocessing(spacing_mm=1.0, input_size=96, anti_alias=False, window=(0.0, 3000.0))
    prepared = preprocess_volume(volume, cfg)
    t = prepared.transform
    # the dot's centroid on the model grid (linear interpolation spreads it over a few voxels)
    heat = np.clip(prepared.array + 0.25 - 40 / 3000, 0, None)
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    win = tuple(slice(max(0, p - 3), p + 4) for p in peak)
    sub = heat[win]
    grid = np.stack(
        np.meshgrid(
            *[np.arange(s.start, s.start + n) for s, n in zip(win, sub.shape, strict=True)],
            indexing="ij",
        ),
        -1,
    )
    centroid = (grid * sub[..., None]).sum(axis=(0, 1, 2)) / sub.sum()
    back = t.to_original_index(centroid)
    assert np.all(np.abs(back - np.asarray(dot)) < 0.5), (back, dot)
    np.testing.assert_allclose(t.to_patient_mm(centroid), volume.voxel_to_ras(back), atol=1e-6)
    # and exactly: the dot's own index -> model grid -> back, and to the same patient mm
    m = t.from_original_index(dot)
    np.testing.assert_allclose(t.to_original_index(m), dot, atol=1e-9)
    np.testing.assert_allclose(t.to_patient_mm(m), volume.voxel_to_ras(dot), atol=1e-9)
    # the dot is where the grid says, to within one model voxel
    assert np.all(np.abs(np.asarray(peak) - m) <= 1.0)


def test_grid_affine_agrees_with_to_patient_mm(oblique_volume: Volume) -> None:
    t = preprocess_volume(oblique_volume, CtPreprocessing(spacing_mm=1.5, input_size=48)).transform
    zyx = np.array([[0.0, 0, 0], [10, 20, 30], [47, 47, 47]])
    homog = np.concatenate([zyx[:, ::-1], np.ones((3, 1))], 1)
    np.testing.assert_allclose((homog @ t.grid_affine.T)[:, :3], t.to_patient_mm(zyx))
    # isotropic grid spacing: the grid affine's columns have the requested length
    np.testing.assert_allclose(np.linalg.norm(t.grid_affine[:3, :3], axis=0), 1.5)


def test_cube_centres_on_the_body() -> None:
    arr = np.full((60, 60, 60), -1000.0, np.float32)
    arr[40:56, 5:15, 30:50] = 300.0  # an off-centre body
    vol = Volume(arr, (1.0, 1.0, 1.0), np.eye(4))
    t = plan_grid(arr, vol.affine, spacing_mm=1.0, input_size=24)
    centre = t.to_original_index([(24 - 1) / 2] * 3)
    # the cube stays inside the volume and covers the body's centre
    assert abs(centre[0] - 47.5) <= 0.5 + 1e-9 and abs(centre[2] - 39.5) <= 0.5 + 1e-9
    assert t.to_original_index([0, 0, 0])[1] >= 0


def test_small_volume_is_padded_with_air() -> None:
    arr = np.full((10, 10, 10), 100.0, np.float32)
    prepared = preprocess_volume(
        Volume(arr, (1.0, 1.0, 1.0), np.eye(4)), CtPreprocessing(spacing_mm=1.0, input_size=20)
    )
    a = prepared.array
    assert a[0, 0, 0] == pytest.approx(-0.25)  # air outside the scan
    assert a[10, 10, 10] == pytest.approx(1100 / 1400 - 0.25, abs=1e-5)


def test_int16_source_is_read_without_float64(oblique_volume: Volume) -> None:
    arr16 = np.asarray(oblique_volume.array, dtype=np.int16)
    t = plan_grid(arr16, oblique_volume.affine, spacing_mm=2.0, input_size=32)
    from ankle_core.preprocess import resample_to_grid

    out = resample_to_grid(arr16, t)
    assert out.dtype == np.float32 and out.shape == (32, 32, 32)


def test_config_round_trips_through_a_card_dict() -> None:
    cfg = CtPreprocessing(spacing_mm=2.0, input_size=64, window=BONE_WINDOW, mean="volume")
    assert CtPreprocessing.from_dict(cfg.to_dict()) == cfg


def _cylinder(radius_mm: float, shape: tuple[int, int, int], spacing: float) -> np.ndarray:
    """A water cylinder along the first array axis, in air, with a thin 'table' beside it."""
    hu = np.full(shape, -1000.0, dtype=np.float32)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    c = (shape[1] - 1) / 2.0
    hu[:, ((yy - c) ** 2 + (xx - c) ** 2) * spacing**2 <= radius_mm**2] = 0.0
    hu[:, -2:, :] = 200.0  # a separate component: not body
    return hu


def test_body_section_is_the_axial_area_of_the_largest_component() -> None:
    from ankle_core.preprocess.spatial import body_section_cm2

    hu = _cylinder(40.0, (20, 120, 120), 1.0)
    area = body_section_cm2(hu, np.diag([1.0, 1.0, 2.0, 1.0]))
    assert area == pytest.approx(np.pi * 4.0**2, rel=0.03)  # the cylinder, not the table
    # The same body stored with its long axis along x (sagittal slices): still axial area.
    turned = np.ascontiguousarray(np.transpose(hu, (1, 2, 0)))  # (y, x, z) stored as (z, y, x)
    affine = np.array([[0, 0, 1.0, 0], [0, 1.0, 0, 0], [2.0, 0, 0, 0], [0, 0, 0, 1]])
    assert body_section_cm2(turned, affine) == pytest.approx(area, rel=0.01)
    assert body_section_cm2(np.full((4, 4, 4), -1000.0), np.eye(4)) == 0.0
