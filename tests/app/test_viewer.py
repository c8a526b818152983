"""The radiograph viewer's picture: the same view as the interactive figure, boxes drawn in."""

from __future__ import annotations

import numpy as np

from ui import viewer


def _image() -> np.ndarray:
    pixels = np.zeros((200, 300), np.float32)
    pixels[:, 150:] = 1.0  # dark left half, bright right half
    return pixels


def test_picture_has_the_image_size_and_draws_each_box_in_its_call_colour() -> None:
    view = viewer.ViewSettings(overlay=False)
    boxes = [(20.0, 40.0, 80.0, 100.0), (200.0, 120.0, 260.0, 180.0)]
    picture = viewer.radiograph_picture(_image(), None, boxes, ["1", "2"], ["LMAF", "SFO"], view)
    assert picture.shape == (200, 300, 3) and picture.dtype == np.uint8
    lmaf = np.array(viewer._rgb(viewer.BOX_COLOURS["LMAF"]))
    sfo = np.array(viewer._rgb(viewer.BOX_COLOURS["SFO"]))
    # the left edge of each box, halfway down, carries its call's colour
    assert (picture[70, 20] == lmaf).all()
    assert (picture[150, 200] == sfo).all()
    # away from the boxes the windowed radiograph is untouched
    assert (picture[190, 10] == 0).all() and (picture[10, 290] == 255).all()


def test_zoom_crops_around_box_one_as_the_figure_does() -> None:
    view = viewer.ViewSettings(overlay=False, zoom=2.0)
    boxes = [(10.0, 10.0, 30.0, 30.0)]
    picture = viewer.radiograph_picture(_image(), None, boxes, ["1"], ["SFO"], view)
    assert picture.shape == (100, 150, 3)  # half of each side, kept inside the image
    fig = viewer.radiograph_figure(_image(), None, boxes, ["1"], ["SFO"], view)
    assert tuple(fig.layout.xaxis.range) == (0.0, 150.0)
    assert tuple(fig.layout.yaxis.range) == (100.0, 0.0)
    assert (picture[90, 140] == 0).all()  # the crop ends before the bright half


def test_window_and_overlay_change_the_picture() -> None:
    pixels = np.linspace(0, 1, 100 * 100, dtype=np.float32).reshape(100, 100)
    heat = np.zeros_like(pixels)
    heat[40:60, 40:60] = 1.0
    plain = viewer.radiograph_picture(pixels, heat, [], [], [], viewer.ViewSettings(overlay=False))
    hot = viewer.radiograph_picture(pixels, heat, [], [], [], viewer.ViewSettings(opacity=0.8))
    narrow = viewer.radiograph_picture(
        pixels, None, [], [], [], viewer.ViewSettings(overlay=False, level=0.5, width=0.1)
    )
    assert (plain[:30] == hot[:30]).all()  # no heat there: no change
    assert np.abs(plain[50, 50].astype(int) - hot[50, 50].astype(int)).sum() > 60
    assert narrow[10, 10, 0] == 0 and narrow[90, 90, 0] == 255
