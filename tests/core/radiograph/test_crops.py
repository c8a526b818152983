"""Crops with a context margin and the classifier's channel modes."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.preprocess.crops import context_window, crop_with_context, to_channels
from ankle_core.types import Box2D


def test_window_is_square_and_centred() -> None:
    w = context_window(Box2D(10, 20, 30, 30), margin=0.5)
    assert w.side == pytest.approx(40.0)  # longer side 20 x (1 + 2 x 0.5)
    assert (w.x0 + w.side / 2, w.y0 + w.side / 2) == pytest.approx((20.0, 25.0))


def test_negative_margin_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        context_window(Box2D(0, 0, 4, 4), margin=-0.1)


def test_crop_at_scale_one_copies_pixels() -> None:
    img = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    # box 8 px wide, margin 0.5 -> window 16 px: at out_size 16 the crop is the pixels
    crop, window = crop_with_context(img, Box2D(20, 30, 28, 38), margin=0.5, out_size=16)
    assert (window.x0, window.y0) == (16.0, 26.0)
    np.testing.assert_allclose(crop, img[26:42, 16:32], atol=1e-6)


def test_outside_the_image_reads_zero() -> None:
    img = np.ones((32, 32), np.float32)
    crop, _ = crop_with_context(img, Box2D(0, 0, 8, 8), margin=0.5, out_size=16)
    assert crop[:4, :4].max() == 0.0  # the window starts 4 px above/left of the image
    assert crop[8:, 8:].min() == pytest.approx(1.0)


def test_channel_modes() -> None:
    crop = np.zeros((16, 16), np.float32)
    crop[4:12, 4:12] = 0.8
    grey3 = to_channels(crop, "grey3")
    assert grey3.shape == (3, 16, 16) and np.array_equal(grey3[0], grey3[2])
    edge = to_channels(crop, "grey_inv_edge")
    np.testing.assert_allclose(edge[1], 1.0 - crop)
    assert set(np.unique(edge[2])) <= {0.0, 1.0} and edge[2].sum() > 0
    with pytest.raises(InvalidInputError):
        to_channels(crop, "rgb")
