"""3D Grad-CAM: layer choice, mapping back to the original grid, hooks and threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ankle_core.explain.ct import cam_to_original, ct_grad_cam, gradcam_layer
from ankle_core.explain.gradcam import count_hooks
from ankle_core.models.cnn3d import (
    build_ct_efficientnet,
    build_ct_mobilenet3d,
    build_ct_resnet,
)
from ankle_core.models.weights import LoadedModel
from ankle_core.preprocess import CtPreprocessing, preprocess_volume
from ankle_core.preprocess.transform import GridTransform
from ankle_core.types import Volume


def test_layer_choice_avoids_degenerate_maps() -> None:
    assert gradcam_layer(build_ct_mobilenet3d(width_mult=0.25), 64)[0] == "features.3"
    assert gradcam_layer(build_ct_mobilenet3d(width_mult=0.25), 128)[0] == "features.5"
    with torch.device("meta"):
        eff = build_ct_efficientnet(variant="b0")
        res = build_ct_resnet(depth=18)
    assert gradcam_layer(eff, 64)[0] == "_blocks.2"  # not the 2^3 last block
    assert gradcam_layer(eff, 128)[0] == "_blocks.4"
    assert gradcam_layer(res, 64)[0] == "layer3"
    assert gradcam_layer(res, 128)[0] == "layer4"


def test_cam_peak_lands_on_the_original_voxel(oblique_volume: Volume) -> None:
    """A one-cell CAM peak maps to the original voxels under that cell's centre."""
    t = preprocess_volume(oblique_volume, CtPreprocessing(spacing_mm=2.0, input_size=32)).transform
    cam = np.zeros((8, 8, 8), np.float32)
    cam[2, 5, 3] = 1.0
    heat, footprint = cam_to_original(cam, t, order=1)
    assert heat.shape == oblique_volume.shape and heat.dtype == np.float32
    assert heat.max() == pytest.approx(1.0, abs=1e-6) and heat.min() >= 0.0
    peak = np.unravel_index(int(np.argmax(heat)), heat.shape)
    cell_centre_grid = (np.array([2, 5, 3]) + 0.5) * 4 - 0.5  # stride 4 on the 32^3 grid
    expected = t.to_original_index(cell_centre_grid)
    # the peak is within one original voxel of the cell centre (linear interpolation)
    assert np.all(np.abs(np.asarray(peak) - expected) <= 1.0), (peak, expected)
    # outside the model's field of view the map is zero
    mask = np.zeros(heat.shape, bool)
    mask[footprint] = True
    assert not heat[~mask].any()


def test_spline_order_is_configurable() -> None:
    t = GridTransform(
        np.diag([0.5, 0.5, 0.5, 1.0]), np.eye(4), (16, 16, 16), (32, 32, 32), (1, 1, 1)
    )
    cam = np.random.default_rng(0).random((4, 4, 4)).astype(np.float32)
    nearest, _ = cam_to_original(cam, t, order=0)
    cubic, _ = cam_to_original(cam, t, order=3)
    assert len(np.unique(nearest)) <= 64 < len(np.unique(cubic))


def test_grad_cam_leaves_no_hooks_and_is_thread_safe(tiny_model: LoadedModel) -> None:
    net = tiny_model.network
    rng = np.random.default_rng(1)
    cubes = [rng.normal(0, 0.3, (32, 32, 32)).astype(np.float32) for _ in range(4)]
    serial = [ct_grad_cam(net, c) for c in cubes]
    assert count_hooks(net) == 0
    assert serial[0].shape == (8, 8, 8)  # features.2, stride 4, at a 32^3 input
    assert any(float(s.max()) > 0 for s in serial)
    results: list[np.ndarray | None] = [None] * 8
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = ct_grad_cam(net, cubes[i % 4])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    for i, res in enumerate(results):
        assert res is not None
        np.testing.assert_allclose(res, serial[i % 4], rtol=1e-4, atol=1e-6)
    assert count_hooks(net) == 0
    assert not any(p.requires_grad for p in net.parameters())


def test_cam_settings_round_trip_and_refuse_nonsense() -> None:
    from ankle_core.explain.boxes import BoxSettings
    from ankle_core.explain.ct import PAPER_GRADCAM, CamSettings

    settings = CamSettings("hirescam", 16, BoxSettings(otsu_classes=3))
    assert CamSettings.from_dict(settings.to_dict()) == settings
    assert CamSettings.from_dict(None) == PAPER_GRADCAM == CamSettings.from_dict({})
    assert settings.label == "HiResCAM, 3-class Otsu" and PAPER_GRADCAM.label == "Grad-CAM, Otsu"
    for bad in ({"method": "scorecam"}, {"otsu_classes": 9}, {"min_cells": 0}, {"layer": "x"}):
        with pytest.raises(ValueError):
            CamSettings.from_dict(bad)
