"""ONNX Runtime matches torch within 1e-4 (classifier logits, detector raw outputs, and the
pipeline's results). Exports take a while on a busy CPU: marked slow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.errors import ModelLoadError
from ankle_core.inference import RadiographPipeline
from ankle_core.models.detector import prepare_detector_input
from ankle_core.models.weights import LoadedModel
from ankle_core.types import Radiograph

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_pipeline(
    tiny_detector: LoadedModel,
    tiny_classifier: LoadedModel,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[RadiographPipeline, Path]:
    cache = tmp_path_factory.mktemp("onnx")
    pipe = RadiographPipeline(tiny_detector, tiny_classifier, runtime="onnx", onnx_cache_dir=cache)
    return pipe, cache


def test_onnx_files_are_cached_in_the_given_folder(
    onnx_pipeline: tuple[RadiographPipeline, Path],
) -> None:
    _, cache = onnx_pipeline
    names = sorted(p.name for p in cache.glob("*.onnx"))
    assert len(names) == 2 and any(n.startswith("DetectorCore-") for n in names)


def test_classifier_logits_match_torch(onnx_pipeline: tuple[RadiographPipeline, Path]) -> None:
    pipe, _ = onnx_pipeline
    for n in (1, 3):  # dynamic batch
        x = torch.randn(n, 3, 64, 64)
        with torch.no_grad():
            ref = pipe.classifier.network(x)
        out = pipe._run_classifier(x)
        assert out.shape == ref.shape
        assert torch.max(torch.abs(out - ref)).item() < 1e-4


def test_detector_outputs_match_torch(
    onnx_pipeline: tuple[RadiographPipeline, Path], phantom: Radiograph
) -> None:
    pipe, _ = onnx_pipeline
    prepared = prepare_detector_input(phantom.pixels, pipe.detector.network)  # type: ignore[arg-type]
    with torch.no_grad():
        ref = pipe.detector_core(prepared.tensor)
    out = pipe._run_detector(prepared.tensor)
    assert len(out) == len(ref) == 10
    for a, b in zip(out, ref, strict=True):
        assert a.shape == b.shape and torch.max(torch.abs(a - b)).item() < 1e-4


def test_pipeline_results_match_torch(
    onnx_pipeline: tuple[RadiographPipeline, Path],
    tiny_detector: LoadedModel,
    tiny_classifier: LoadedModel,
    phantom: Radiograph,
) -> None:
    pipe, _ = onnx_pipeline
    torch_result = RadiographPipeline(tiny_detector, tiny_classifier).run(phantom)
    onnx_result = pipe.run(phantom)
    assert len(onnx_result.fragments) == len(torch_result.fragments) > 0
    for a, b in zip(onnx_result.fragments, torch_result.fragments, strict=True):
        np.testing.assert_allclose(a.box.as_xyxy(), b.box.as_xyxy(), atol=1e-3)
        assert abs(a.detection_score - b.detection_score) < 1e-4
        assert abs(a.p_lmaf - b.p_lmaf) < 1e-4
        assert a.call == b.call


def test_auto_runtime_is_onnx_on_the_cpu_and_reuses_the_cached_files(
    onnx_pipeline: tuple[RadiographPipeline, Path],
    tiny_detector: LoadedModel,
    tiny_classifier: LoadedModel,
    phantom: Radiograph,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ankle_core.models import onnx_runtime

    pipe, cache = onnx_pipeline

    def no_export(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("exported again although the files are cached")

    monkeypatch.setattr(onnx_runtime, "export_onnx", no_export)
    auto = RadiographPipeline(tiny_detector, tiny_classifier, runtime="auto", onnx_cache_dir=cache)
    assert auto.runtime == "onnx"
    a, b = auto.run(phantom), pipe.run(phantom)
    assert [f.p_lmaf for f in a.fragments] == pytest.approx([f.p_lmaf for f in b.fragments])


def test_auto_without_export_runs_torch_until_an_export_is_cached(
    tiny_detector: LoadedModel, tiny_classifier: LoadedModel, tmp_path: Path
) -> None:
    pipe = RadiographPipeline(
        tiny_detector, tiny_classifier, runtime="auto", onnx_cache_dir=tmp_path, onnx_export=False
    )
    assert pipe.runtime == "torch"  # nothing cached: no export waited for
    assert not list(tmp_path.glob("*.onnx"))
    with pytest.raises(ModelLoadError, match="cached"):
        RadiographPipeline(
            tiny_detector, tiny_classifier, runtime="onnx", onnx_cache_dir=tmp_path,
            onnx_export=False,
        )  # fmt: skip
