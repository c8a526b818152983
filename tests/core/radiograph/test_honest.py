"""Honest radiograph answers: the domain gate in the pipeline, merged boxes, TTA views,
2D NIfTI input."""

from __future__ import annotations

import gzip
from dataclasses import replace

import numpy as np
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.inference import OUT_OF_DOMAIN, RadiographPipeline
from ankle_core.models.box_merge import merge_overlapping
from ankle_core.models.domain import PHANTOM_MANUFACTURER
from ankle_core.models.weights import LoadedModel
from ankle_core.preprocess.crops import scaled_box, tta_views
from ankle_core.types import Box2D, Radiograph

SYNTHETIC = {"kind": "synthetic", "modalities": ["DX", "CR"], "body_regions": ["ANKLE"]}


def _with_domain(model: LoadedModel, domain: dict[str, object]) -> LoadedModel:
    return replace(model, card=replace(model.card, domain=domain))


def test_a_real_dicom_gets_no_call_but_keeps_its_raw_scores(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, phantom: Radiograph
) -> None:
    pipe = RadiographPipeline(
        _with_domain(tiny_detector, SYNTHETIC), _with_domain(tiny_classifier, SYNTHETIC)
    )
    inside = pipe.run(phantom)  # an in-memory phantom carries the synthetic marker
    assert inside.domain.in_domain and inside.case_call == inside.raw_case_call
    real = replace(
        phantom,
        metadata={"modality": "CR", "body_part": "ANKLE", "manufacturer": "ACME"},
    )
    out = pipe.run(real)
    assert out.withheld and out.case_call == OUT_OF_DOMAIN
    assert "synthetic phantoms" in out.domain.reason
    assert out.raw_case_call == inside.raw_case_call
    assert out.case_p_lmaf == pytest.approx(inside.case_p_lmaf)  # the raw score stays
    assert all(f.call == OUT_OF_DOMAIN and f.raw_call for f in out.fragments)
    marked = replace(phantom, metadata={"modality": "DX", "manufacturer": PHANTOM_MANUFACTURER})
    assert pipe.run(marked).domain.in_domain


def test_without_a_declared_domain_nothing_is_withheld(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, phantom: Radiograph
) -> None:
    result = RadiographPipeline(tiny_detector, tiny_classifier).run(phantom)
    assert result.domain.in_domain and result.case_call != OUT_OF_DOMAIN


def test_merging_keeps_one_box_per_spot_across_the_result() -> None:
    boxes = [[10, 10, 30, 30], [12, 11, 31, 29], [14, 14, 24, 24], [60, 60, 80, 80]]
    assert merge_overlapping(boxes, [0.88, 0.85, 0.84, 0.5], 0.3) == [0, 3]
    assert merge_overlapping(boxes, [0.88, 0.85, 0.84, 0.5], 1.0, containment=1.01) == [0, 1, 2, 3]


def test_the_pipeline_merges_at_the_card_iou(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, phantom: Radiograph
) -> None:
    loose = RadiographPipeline(tiny_detector, tiny_classifier, max_fragments=50)
    card = replace(tiny_detector.card, postprocessing={"merge_iou": 0.1})
    tight = RadiographPipeline(replace(tiny_detector, card=card), tiny_classifier, max_fragments=50)
    a, b = loose.run(phantom).fragments, tight.run(phantom).fragments
    assert len(b) <= len(a)
    for i, f in enumerate(b):  # one fused box per spot: no two of them near-duplicates
        for g in b[i + 1 :]:
            assert f.box.iou(g.box) < 0.5


def test_fusion_turns_a_stack_into_one_score_weighted_box() -> None:
    from ankle_core.models.box_merge import fuse_overlapping

    stack = [[10, 10, 30, 30], [12, 10, 32, 30], [60, 60, 80, 80]]
    (best, members, fused), (other, alone, kept) = fuse_overlapping(stack, [0.6, 0.2, 0.5], 0.5)
    assert (best, members, other, alone) == (0, [0, 1], 2, [2])
    assert fused == pytest.approx((10.5, 10.0, 30.5, 30.0)) and kept == (60, 60, 80, 80)


def test_tta_views_and_their_mean(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, phantom: Radiograph
) -> None:
    assert [(v.scale, v.hflip) for v in tta_views(None)] == [(1.0, False)]
    assert len(tta_views({"scales": [0.8, 1.0, 1.25], "hflip": True})) == 6
    with pytest.raises(InvalidInputError):
        tta_views({"scales": [0.0]})
    assert scaled_box(Box2D(0, 0, 10, 20), 0.5) == Box2D(2.5, 5.0, 7.5, 15.0)
    plain = RadiographPipeline(tiny_detector, tiny_classifier)
    spec = {"scales": [0.8, 1.0, 1.25], "hflip": True}
    card = replace(
        tiny_classifier.card, preprocessing={**tiny_classifier.card.preprocessing, "tta": spec}
    )
    tta = RadiographPipeline(tiny_detector, replace(tiny_classifier, card=card))
    import torch

    from ankle_core.inference.radiograph import classifier_inputs

    boxes = [Box2D(40, 40, 70, 70), Box2D(10, 12, 30, 40)]
    x, windows = classifier_inputs(phantom.pixels, boxes, tta.classifier.card, tta=True)
    assert x.shape[0] == 12 and len(windows) == 2  # six views per box, box-major
    with torch.no_grad():
        p = torch.softmax(tta.classifier.network(x).float(), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(
        tta.classify(phantom.pixels, boxes), p.reshape(2, 6).mean(1), atol=1e-6
    )
    assert plain.classify(phantom.pixels, boxes).shape == (2,)


def test_a_2d_nifti_reads_as_a_radiograph_and_a_volume_does_not() -> None:
    import nibabel as nib

    from ankle_core.io import read_radiograph

    img = np.zeros((40, 30), np.float32)  # nibabel (i, j)
    img[:, 25:] = 1000.0  # high j: the top rows of the picture
    data = nib.Nifti1Image(img, np.diag([0.2, 0.3, 1.0, 1.0])).to_bytes()
    for blob in (data, gzip.compress(data)):
        rg = read_radiograph(blob)
        assert rg.shape == (30, 40) and rg.pixel_spacing_mm == pytest.approx((0.3, 0.2))
        assert rg.pixels[0].mean() > 0.9 and rg.pixels[-1].mean() < 0.1
    volume = nib.Nifti1Image(np.zeros((8, 8, 8), np.float32), np.eye(4)).to_bytes()
    with pytest.raises(InvalidInputError, match="CT volume"):
        read_radiograph(volume)
