"""The round trip's orchestration without a server: failures are notes, lines are complete."""

from __future__ import annotations

import numpy as np
import pydicom

from ankle_core.inference.radiograph import Fragment, RadiographResult
from ankle_core.pacs import (
    RadiographOutcome,
    SourceImage,
    StudyImages,
    analyse_images,
    describe_radiograph,
)
from ankle_core.types import Box2D, Radiograph
from tests.core.pacs.dicom_factory import rg3_path

RESULT = RadiographResult(
    (Fragment(Box2D(10, 20, 30, 40), None, 0.9, 0.81, "LMAF"),), 0.81, "LMAF", {}, "d 1", "c 1"
)


class _FlakyPipeline:
    """Fails on its first image (with a message that must not be shown), then works."""

    def __init__(self) -> None:
        self.calls = 0

    def run(self, radiograph: Radiograph) -> RadiographResult:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("secret detail PATIENT^NAME")
        return RESULT


def _image(label: str) -> SourceImage:
    ds = pydicom.dcmread(rg3_path(), stop_before_pixels=True)
    return SourceImage(ds, Radiograph(np.zeros((8, 8), np.float32)), label)


def test_one_failing_image_is_a_note_and_the_rest_is_analysed() -> None:
    images = StudyImages((_image("image 1"), _image("image 2")), (), ("earlier note",))
    pipeline = _FlakyPipeline()
    made: list[int] = []

    def factory() -> _FlakyPipeline:
        made.append(1)
        return pipeline

    analysis = analyse_images(
        images,
        radiograph_pipeline=factory,  # type: ignore[arg-type]
        ct_pipeline=None,
        explain=False,
    )
    assert made == [1], "the pipeline is built once"
    assert [o.source.label for o in analysis.radiographs] == ["image 2"]
    assert analysis.notes[0] == "earlier note"
    assert analysis.notes[1] == "image 1 could not be analysed: ValueError"
    assert "PATIENT" not in " ".join(analysis.notes)


def test_no_model_for_a_kind_is_a_note() -> None:
    images = StudyImages((_image("image 1"),), (), ())
    analysis = analyse_images(images, radiograph_pipeline=None, ct_pipeline=None)
    assert analysis.radiographs == () and "not analysed (no model)" in analysis.notes[0]


def test_radiograph_line_lists_call_probability_and_boxes() -> None:
    line = describe_radiograph(RadiographOutcome(_image("series #1 CR image 1"), RESULT))
    assert line == (
        "series #1 CR image 1: LMAF (p_LMAF 0.81); 1 fragment: [1] LMAF p=0.81 "
        "box x 10-30 y 20-40 px"
    )
