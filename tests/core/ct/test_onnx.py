"""The CT forward pass in ONNX Runtime: same probability as torch, export cached per weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ankle_core.inference.ct import CtPipeline
from ankle_core.models import onnx_runtime
from ankle_core.models.weights import LoadedModel
from ankle_core.phantoms.ct import make_volume

pytestmark = pytest.mark.slow  # one dynamo export of a tiny 3D net


def test_onnx_forward_matches_torch_and_reuses_its_export(
    tiny_model: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert CtPipeline(tiny_model, runtime="auto").runtime == "torch"  # measured faster for CT
    onnx = CtPipeline(tiny_model, runtime="onnx", onnx_cache_dir=tmp_path)
    assert onnx.runtime == "onnx"
    files = list(tmp_path.glob("*.onnx"))
    assert len(files) == 1 and tiny_model.card.weights_sha256[:16] in files[0].name
    reference = CtPipeline(tiny_model, runtime="torch")
    x = torch.rand(1, 1, 32, 32, 32)
    np.testing.assert_allclose(onnx._forward(x).numpy(), reference._forward(x).numpy(), atol=1e-4)
    volume = make_volume(1_000_003, True, shape=(24, 48, 48), spacing_mm=(3.0, 2.0, 2.0))
    a = onnx.run(volume, explain=False)
    b = reference.run(volume, explain=False)
    assert abs(a.probability - b.probability) < 1e-4 and a.call == b.call

    def no_export(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("exported again although the file is cached")

    monkeypatch.setattr(onnx_runtime, "export_onnx", no_export)
    again = CtPipeline(tiny_model, runtime="onnx", onnx_cache_dir=tmp_path)
    assert again.run(volume, explain=False).probability == pytest.approx(a.probability, abs=1e-6)


def test_unknown_runtime_is_refused(tiny_model: LoadedModel) -> None:
    from ankle_core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="runtime"):
        CtPipeline(tiny_model, runtime="tensorrt")
