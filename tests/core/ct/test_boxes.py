"""Otsu boxes on synthetic heat maps with known blobs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ankle_core.explain.boxes import BoxSettings, find_regions, otsu_threshold
from ankle_core.explain.ct import CamSettings, cam_regions

#: every region, no size floor, no body mask
_ALL = BoxSettings(body_threshold_hu=None, min_volume_mm3=0.0, max_boxes=None)


@pytest.fixture()
def heat() -> np.ndarray:
    """Three cuboid blobs on a faint background; values chosen so Otsu separates them."""
    h = np.full((20, 30, 40), 0.02, np.float32)
    h[2:6, 3:9, 4:12] = 0.6  # large, lukewarm: 4*6*8 = 192 voxels
    h[10:13, 15:18, 20:23] = 1.0  # small, hot: 27 voxels
    h[15:17, 25:27, 30:32] = 0.9  # tiny: 8 voxels
    return h


def test_exact_boxes_centres_and_ranking(heat: np.ndarray) -> None:
    regions = find_regions(heat)
    assert [r.rank for r in regions] == [0, 1, 2]
    # peak x mean: the hot blobs beat the large lukewarm one
    assert [(r.lower, r.upper) for r in regions] == [
        ((10, 15, 20), (13, 18, 23)),
        ((15, 25, 30), (17, 27, 32)),
        ((2, 3, 4), (6, 9, 12)),
    ]
    assert regions[0].center == (11.0, 16.0, 21.0)
    assert regions[2].center == (3.5, 5.5, 7.5)
    assert regions[0].n_voxels == 27 and regions[2].n_voxels == 192
    assert regions[0].peak == pytest.approx(1.0) and regions[2].mean == pytest.approx(0.6)


def test_ranking_by_integral_prefers_large_regions(heat: np.ndarray) -> None:
    regions = find_regions(heat, rank_by="integral")
    assert regions[0].lower == (2, 3, 4)
    assert regions[0].integral == pytest.approx(192 * 0.6, rel=1e-5)


def test_min_volume_filter_in_mm3(heat: np.ndarray) -> None:
    # voxels of 0.5 mm^3: the 8-voxel blob is 4 mm^3, the 27-voxel one 13.5 mm^3
    kept = find_regions(heat, voxel_volume=0.5, min_volume=5.0)
    assert [r.n_voxels for r in kept] == [27, 192]
    assert find_regions(heat, voxel_volume=0.5, min_volume=100.0) == ()
    assert len(find_regions(heat, max_regions=1)) == 1


def test_otsu_threshold_separates_blobs(heat: np.ndarray) -> None:
    t = otsu_threshold(heat)
    assert 0.02 < t < 0.6
    assert otsu_threshold(np.zeros((4, 4))) == 0.0  # constant: nothing above it
    assert find_regions(np.zeros((4, 4, 4))) == ()


def test_two_dimensional_maps_work() -> None:
    h = np.zeros((10, 10), np.float32)
    h[2:4, 5:8] = 1.0
    (region,) = find_regions(h)
    assert (region.lower, region.upper, region.center) == ((2, 5), (4, 8), (2.5, 6.0))


def test_cam_regions_give_mm_coordinates(heat: np.ndarray) -> None:
    affine = np.diag([0.5, 0.8, 2.0, 1.0])  # x, y, z voxel sizes
    affine[:3, 3] = [10.0, 20.0, 30.0]
    regions = cam_regions(heat, affine, BoxSettings(min_volume_mm3=0.0))
    top = regions[0]
    assert top.box_voxels.as_tuple() == (10, 15, 20, 13, 18, 23)
    assert top.center_voxel == (11.0, 16.0, 21.0)
    # RAS (x, y, z) = origin + index * size, index order reversed
    assert top.center_mm == pytest.approx((10 + 21 * 0.5, 20 + 16 * 0.8, 30 + 11 * 2.0))
    assert top.size_mm == pytest.approx((3 * 2.0, 3 * 0.8, 3 * 0.5))
    assert top.box_mm_min == pytest.approx((10 + 19.5 * 0.5, 20 + 14.5 * 0.8, 30 + 9.5 * 2.0))
    assert top.box_mm_max == pytest.approx((10 + 22.5 * 0.5, 20 + 17.5 * 0.8, 30 + 12.5 * 2.0))
    assert top.volume_mm3 == pytest.approx(27 * 0.8)
    assert top.to_dict()["box_voxels"] == [10, 15, 20, 13, 18, 23]


def test_cam_regions_respect_the_footprint(heat: np.ndarray) -> None:
    footprint = (slice(8, 20), slice(10, 30), slice(15, 40))
    regions = cam_regions(heat, np.eye(4), _ALL, footprint=footprint)
    # the first blob is outside; boxes come back in full-volume indices
    assert [r.box_voxels.as_tuple() for r in regions] == [
        (10, 15, 20, 13, 18, 23),
        (15, 25, 30, 17, 27, 32),
    ]


def test_otsu_over_the_body_finds_the_hot_spot_not_the_body() -> None:
    heat = np.zeros((20, 40, 40), dtype=np.float32)
    body = np.zeros(heat.shape, dtype=bool)
    body[2:18, 5:35, 5:35] = True
    rng = np.random.default_rng(0)
    heat[body] = rng.uniform(0.29, 0.31, int(body.sum()))  # warm all over the body
    heat[8:12, 10:14, 20:24] = 1.0  # the finding
    whole = cam_regions(heat, np.eye(4), _ALL)
    assert whole[0].box_voxels.volume_voxels >= 16 * 30 * 30 * 0.9  # the body, split from the air
    inside = cam_regions(heat, np.eye(4), _ALL, mask=body)
    top = inside[0].box_voxels
    assert (top.z0, top.y0, top.x0, top.z1, top.y1, top.x1) == (8, 10, 20, 12, 14, 24)
    assert otsu_threshold(heat, body) > otsu_threshold(heat)


def test_multi_otsu_keeps_only_the_hottest_class() -> None:
    values = np.r_[np.full(300, 0.05), np.full(200, 0.5), np.full(40, 0.95)].astype(np.float32)
    two, three = otsu_threshold(values), otsu_threshold(values, classes=3)
    assert int((values > three).sum()) == 40  # the hot class alone
    assert int((values > two).sum()) == 240  # warm and hot together
    heat = np.zeros((12, 12, 12), dtype=np.float32)
    heat[1:11, 1:11, 1:11] = 0.5  # a warm joint...
    heat[4:6, 5:7, 6:8] = 1.0  # ...with a hot finding in it
    box = find_regions(heat, otsu_classes=3)[0]
    assert (box.lower, box.upper) == ((4, 5, 6), (6, 7, 8))
    assert find_regions(heat)[0].lower == (1, 1, 1)


@pytest.mark.parametrize("classes", [1, 6])
def test_otsu_classes_out_of_range_are_refused(classes: int) -> None:
    with pytest.raises(ValueError, match="classes"):
        otsu_threshold(np.arange(10.0), classes=classes)


def test_box_settings_are_one_card_entry_read_by_one_parser(heat: np.ndarray) -> None:
    entry = {"method": "hirescam", "min_cells": 16, "otsu_classes": 3, "max_boxes": 1}
    settings = CamSettings.from_dict(entry)
    assert settings.boxes == BoxSettings(otsu_classes=3, max_boxes=1)
    assert CamSettings.from_dict(settings.to_dict()) == settings
    assert BoxSettings.from_dict(_ALL.to_dict()) == _ALL
    assert len(cam_regions(heat, np.eye(4), replace(_ALL, max_boxes=1))) == 1
    # 27 voxels of 1 mm^3: the default 20 mm^3 floor keeps the hot blob, drops the tiny one
    assert [r.volume_mm3 for r in cam_regions(heat, np.eye(4), BoxSettings())] == [27.0, 192.0]
    for bad in ({"rank_by": "size"}, {"min_volume_mm3": -1}, {"max_boxes": 0}, {"x": 1}):
        with pytest.raises(ValueError):
            BoxSettings.from_dict(bad)
