"""The shared typed containers: validation, immutability and coordinate helpers."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.types import Box2D, Box3D, Radiograph, Volume


def test_radiograph_freezes_a_private_copy() -> None:
    pixels = np.full((4, 5), 0.5, np.float32)
    rad = Radiograph(pixels, (0.2, 0.2))
    assert rad.shape == (4, 5)
    assert not rad.pixels.flags.writeable
    pixels[0, 0] = 0.0  # the caller's array stays theirs and writable
    assert rad.pixels[0, 0] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        rad.pixels[0, 0] = 1.0


@pytest.mark.parametrize(
    "pixels",
    [np.full((3, 3), np.nan), np.full((3, 3), 2.0), np.zeros((2, 2, 2))],
    ids=["nan", "out-of-range", "3d"],
)
def test_radiograph_rejects_bad_pixels(pixels: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        Radiograph(pixels.astype(np.float32))


@pytest.mark.parametrize("spacing", [(0.0, 0.0), (-1.0, 0.2), (float("nan"), 0.1)])
def test_radiograph_unusable_spacing_becomes_unknown(spacing: tuple[float, float]) -> None:
    assert Radiograph(np.zeros((2, 2), np.float32), spacing).pixel_spacing_mm is None


def test_volume_voxel_ras_round_trip_on_oblique_affine() -> None:
    theta = np.deg2rad(20)
    rot = np.array(
        [[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot @ np.diag([0.7, 0.8, 2.5])
    affine[:3, 3] = [-50.0, 20.0, 7.0]
    vol = Volume(np.zeros((6, 7, 8), np.float32), (2.5, 0.8, 0.7), affine)
    zyx = np.array([[3.0, 2.0, 5.0], [0.0, 6.0, 7.0]])
    ras = vol.voxel_to_ras(zyx)
    assert np.allclose(vol.ras_to_voxel(ras), zyx)
    # index (z, y, x) = (1, 0, 0) moves along the third affine column
    assert np.allclose(vol.voxel_to_ras([1, 0, 0]) - vol.voxel_to_ras([0, 0, 0]), affine[:3, 2])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"spacing_mm": (0.0, 1.0, 1.0)},
        {"affine": np.full((4, 4), np.nan)},
        {"array": np.full((2, 2, 2), np.inf, np.float32)},
    ],
)
def test_volume_rejects_bad_geometry(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "array": np.zeros((2, 2, 2), np.float32),
        "spacing_mm": (1.0, 1.0, 1.0),
        "affine": np.eye(4),
    }
    args.update(kwargs)
    with pytest.raises(InvalidInputError):
        Volume(**args)  # type: ignore[arg-type]


def test_box2d_geometry_and_iou() -> None:
    a = Box2D(0, 0, 4, 2)
    assert a.center == (2.0, 1.0) and a.area == 8
    assert a.iou(a) == 1.0
    assert a.iou(Box2D(10, 10, 11, 11)) == 0.0
    with pytest.raises(InvalidInputError):
        Box2D(3, 0, 1, 1)


def test_box3d_center_contains_and_iou() -> None:
    box = Box3D(2, 2, 2, 5, 6, 7)
    assert box.center == (3.0, 3.5, 4.0)
    assert box.contains(box.center)
    assert not box.contains((1.0, 3.0, 3.0))
    assert box.iou(Box3D(2, 2, 2, 5, 6, 7)) == 1.0
    assert box.volume_voxels == 3 * 4 * 5
