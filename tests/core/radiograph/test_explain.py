"""Grad-CAM of fragments and detector boxes: maps in image coordinates, no hooks left,
the same maps from several threads as serially; overlays."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ankle_core.explain.gradcam import count_hooks
from ankle_core.explain.overlay import draw_boxes, overlay_heatmap
from ankle_core.explain.radiograph import detector_saliency
from ankle_core.inference import RadiographPipeline
from ankle_core.models.weights import LoadedModel
from ankle_core.preprocess.crops import context_window
from ankle_core.types import Box2D, Radiograph


@pytest.fixture()
def pipeline(tiny_detector: LoadedModel, tiny_classifier: LoadedModel) -> RadiographPipeline:
    return RadiographPipeline(tiny_detector, tiny_classifier, max_fragments=2)


def _hooks(pipe: RadiographPipeline) -> int:
    return count_hooks(pipe.classifier.network) + count_hooks(pipe.detector.network)


def test_fragment_saliency_lies_in_the_fragment_windows(
    pipeline: RadiographPipeline, phantom: Radiograph
) -> None:
    result = pipeline.run(phantom)
    heat = pipeline.fragment_saliency(phantom, result)
    assert heat.shape == phantom.shape and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0)
    inside = np.zeros(phantom.shape, bool)
    for f in result.fragments:
        w = context_window(f.box, 0.5)
        y0, x0 = max(0, round(w.y0)), max(0, round(w.x0))
        inside[y0 : round(w.y0 + w.side) + 1, x0 : round(w.x0 + w.side) + 1] = True
    assert heat[~inside].max() == 0.0
    assert _hooks(pipeline) == 0


def test_no_fragment_gives_an_empty_map(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, grey_image: Radiograph
) -> None:
    pipe = RadiographPipeline(tiny_detector, tiny_classifier, detection_threshold=1.01)
    heat = pipe.fragment_saliency(grey_image, pipe.run(grey_image))
    assert heat.shape == grey_image.shape and not heat.any()


def test_detector_saliency_for_a_box(pipeline: RadiographPipeline, phantom: Radiograph) -> None:
    heat = pipeline.detector_saliency(phantom, 0)
    assert heat.shape == phantom.shape and heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() > 0.0
    assert _hooks(pipeline) == 0
    with pytest.raises(IndexError):
        pipeline.detector_saliency(phantom, 99)
    # a loaded detector alone works too (boxes above its card's default threshold)
    alone = detector_saliency(pipeline.detector, phantom, 0)
    assert alone.shape == phantom.shape


def test_explanations_are_thread_safe(pipeline: RadiographPipeline, phantom: Radiograph) -> None:
    result = pipeline.run(phantom)
    serial_frag = pipeline.fragment_saliency(phantom, result)
    serial_det = pipeline.detector_saliency(phantom, 0)

    def both(_: int) -> tuple[np.ndarray, np.ndarray]:
        return pipeline.fragment_saliency(phantom, result), pipeline.detector_saliency(phantom, 0)

    def plain(_: int) -> float | None:  # inference on the same shared models meanwhile
        return pipeline.run(phantom).case_p_lmaf

    with ThreadPoolExecutor(max_workers=6) as pool:
        runs = [pool.submit(plain, i) for i in range(6)]
        maps = list(pool.map(both, range(4)))
    assert [r.result() for r in runs] == [result.case_p_lmaf] * 6
    for frag, det in maps:
        np.testing.assert_allclose(frag, serial_frag, atol=1e-6)
        np.testing.assert_allclose(det, serial_det, atol=1e-6)
    assert _hooks(pipeline) == 0


def test_overlay_and_boxes() -> None:
    image = np.full((20, 30), 0.5, np.float32)
    heat = np.zeros((20, 30), np.float32)
    heat[5:10, 5:10] = 1.0
    rgb = overlay_heatmap(image, heat, alpha=0.5)
    assert rgb.shape == (20, 30, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 0] == 128).all()  # cold pixels keep the radiograph
    assert not (rgb[7, 7] == 128).all()
    boxed = draw_boxes(rgb, [Box2D(2, 2, 12, 12)], ["LMAF"], [(255, 0, 0)])
    assert tuple(boxed[2, 6]) == (255, 0, 0) and boxed is not rgb
    with pytest.raises(ValueError):
        overlay_heatmap(image, heat[:5])
