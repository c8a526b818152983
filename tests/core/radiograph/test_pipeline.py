"""The two-stage pipeline: results, operating-point calls, the case rule, no-fragment cases."""

from __future__ import annotations

import pickle
import threading
from dataclasses import replace

import numpy as np
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.inference import (
    INDETERMINATE,
    NO_FRAGMENT,
    PipelineConfig,
    RadiographPipeline,
    call_for,
    predict_file,
)
from ankle_core.models.card import OperatingPoints
from ankle_core.models.weights import LoadedModel
from ankle_core.types import Radiograph

OPS = OperatingPoints(default=0.5, high_sensitivity=0.3, high_specificity=0.7)
EPS = 1e-6


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        (0.0, "SFO"),
        (0.3 - EPS, "SFO"),
        (0.3, "SFO"),  # at the high-sensitivity threshold: SFO
        (0.3 + EPS, INDETERMINATE),
        (0.5, INDETERMINATE),
        (0.7 - EPS, INDETERMINATE),
        (0.7, "LMAF"),  # at the high-specificity threshold: LMAF
        (0.7 + EPS, "LMAF"),
        (1.0, "LMAF"),
    ],
)
def test_calls_at_and_around_both_thresholds(p: float, expected: str) -> None:
    assert call_for(p, OPS) == expected


def test_equal_thresholds_leave_no_indeterminate_band() -> None:
    ops = OperatingPoints(0.4, 0.4, 0.4)
    assert [call_for(p, ops) for p in (0.4 - EPS, 0.4, 0.4 + EPS)] == ["SFO", "LMAF", "LMAF"]


def test_run_gives_fragments_with_boxes_scores_and_calls(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, phantom: Radiograph
) -> None:
    pipe = RadiographPipeline(tiny_detector, tiny_classifier, max_fragments=3)
    result = pipe.run(phantom)
    assert 1 <= len(result.fragments) <= 3
    scores = [f.detection_score for f in result.fragments]
    assert scores == sorted(scores, reverse=True)
    sy, sx = phantom.pixel_spacing_mm  # type: ignore[misc]
    ops = tiny_classifier.card.operating_points
    for f in result.fragments:
        assert 0.0 <= f.p_lmaf <= 1.0
        assert f.call == call_for(f.p_lmaf, ops)
        assert f.box_mm == pytest.approx(
            (f.box.x0 * sx, f.box.y0 * sy, f.box.x1 * sx, f.box.y1 * sy)
        )
        assert 0 <= f.box.x0 < f.box.x1 <= phantom.shape[1]
    # documented case rule: the largest p_lmaf, with the same bands
    assert result.case_p_lmaf == max(f.p_lmaf for f in result.fragments)
    assert result.case_call == call_for(result.case_p_lmaf, ops)
    assert set(result.timings_s) == {"detect", "classify", "domain", "total"}
    assert result.timings_s["total"] >= result.timings_s["detect"]
    assert result.detector == "tiny-detector 0.0.1"


def test_case_rule_takes_the_most_suspicious_fragment(
    tiny_detector: LoadedModel,
    tiny_classifier: LoadedModel,
    phantom: Radiograph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipe = RadiographPipeline(tiny_detector, tiny_classifier, max_fragments=3)
    monkeypatch.setattr(
        pipe, "classify", lambda pixels, boxes: np.array([0.1, 0.75, 0.2][: len(boxes)])
    )
    result = pipe.run(phantom)
    assert [f.call for f in result.fragments] == ["SFO", "LMAF", "SFO"]
    assert result.case_p_lmaf == pytest.approx(0.75)
    assert result.case_call == "LMAF"


def test_no_fragment_is_a_valid_result(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, grey_image: Radiograph
) -> None:
    pipe = RadiographPipeline(tiny_detector, tiny_classifier, detection_threshold=1.01)
    result = pipe.run(grey_image)
    assert result.fragments == ()
    assert result.case_p_lmaf is None
    assert result.case_call == NO_FRAGMENT


def test_models_are_checked_for_their_role(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel
) -> None:
    with pytest.raises(InvalidInputError):
        RadiographPipeline(tiny_classifier, tiny_detector)
    with pytest.raises(InvalidInputError):
        RadiographPipeline(tiny_detector, tiny_classifier, runtime="tensorrt")


def test_shared_pipeline_is_thread_safe(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, phantom: Radiograph
) -> None:
    pipe = RadiographPipeline(tiny_detector, tiny_classifier)
    serial = pipe.run(phantom)
    out: list[float | None] = []

    def work() -> None:
        out.append(pipe.run(phantom).case_p_lmaf)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [serial.case_p_lmaf] * 3


def test_per_case_function_and_config_pickle() -> None:
    config = PipelineConfig(models_dir="/x", runtime="onnx")
    assert pickle.loads(pickle.dumps(config)) == config
    assert pickle.loads(pickle.dumps(predict_file)) is predict_file
    assert replace(config, runtime="torch") != config
