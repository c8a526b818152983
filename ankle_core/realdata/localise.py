"""Run the general fracture localiser (``fracture-detector-xr``) on one radiograph.

The localiser is a RetinaNet (:mod:`ankle_core.realdata.localiser`) sharing the fragment
detector's inference steps: :func:`~ankle_core.models.detector.prepare_detector_input`, the
:class:`~ankle_core.models.detector.DetectorCore` network (torch, or ONNX Runtime through
:mod:`ankle_core.models.onnx_runtime`) and
:func:`~ankle_core.models.detector.decode_detections`. Boxes kept are those scoring at least
the card's default operating point, by score, so ``box_index`` ``i`` here is the box that
``ankle_core.explain.radiograph.detector_saliency(localiser.model, radiograph, i)`` explains.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ankle_core.models.detector import DetectorCore, decode_detections, prepare_detector_input
from ankle_core.models.weights import LoadedModel, load_model
from ankle_core.types import Box2D, Radiograph

__all__ = ["LOCALISER_NAME", "FractureLocaliser", "LocalisedFracture", "LocaliserResult"]

#: Installed model name of the general fracture localiser.
LOCALISER_NAME = "fracture-detector-xr"


@dataclass(frozen=True)
class LocalisedFracture:
    """One suggested fracture box.

    Attributes:
        box: pixels of the input radiograph (x0, y0, x1, y1).
        box_mm: the same in mm when the pixel spacing is known, else None.
        score: the localiser's probability for the box.
    """

    box: Box2D
    box_mm: tuple[float, float, float, float] | None
    score: float


@dataclass(frozen=True)
class LocaliserResult:
    """Output of :meth:`FractureLocaliser.run`.

    Attributes:
        boxes: by score, descending; empty when nothing reaches the threshold.
        image_score: the top box score before thresholding (0 with no candidate): the
            image-level fracture score the card's AUC was measured on.
        threshold: the score threshold applied.
        timings_s: ``"prepare"``, ``"network"``, ``"decode"``, ``"total"`` in seconds.
        model: ``"name version"``.
        runtime: ``"torch"`` or ``"onnx"``.
    """

    boxes: tuple[LocalisedFracture, ...]
    image_score: float
    threshold: float
    timings_s: Mapping[str, float]
    model: str
    runtime: str


class FractureLocaliser:
    """The general extremity-fracture localiser, with a torch or ONNX Runtime network.

    Args:
        model: the loaded localiser (``load_model("fracture-detector-xr")``).
        runtime: ``"torch"`` or ``"onnx"`` (CPU; exported once per instance, in memory or
            into ``onnx_cache_dir``).
        threshold: score threshold (default: the card's default operating point).
        onnx_cache_dir: folder for the exported ONNX file.
        threads: ONNX Runtime intra-op threads (0: its default).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        runtime: str = "torch",
        threshold: float | None = None,
        onnx_cache_dir: str | Path | None = None,
        threads: int = 0,
    ) -> None:
        if runtime not in ("torch", "onnx"):
            raise ValueError(f"runtime must be 'torch' or 'onnx', got {runtime!r}.")
        self.model = model
        self.runtime = runtime
        self.threshold = (
            float(model.card.operating_points.default) if threshold is None else threshold
        )
        self.core = DetectorCore(model.network).eval()  # type: ignore[arg-type]
        self._onnx = None
        if runtime == "onnx":
            from ankle_core.models.onnx_runtime import onnx_session_for

            side = int(model.card.input_size[0])
            side = -(-side // 32) * 32
            self._onnx = onnx_session_for(
                self.core,
                torch.zeros(1, 3, side, side),
                weights_sha256=model.card.weights_sha256,
                dynamic_batch=False,
                cache_dir=onnx_cache_dir,
                threads=threads,
            )

    @classmethod
    def from_name(
        cls,
        name: str = LOCALISER_NAME,
        *,
        models_dir: str | Path | None = None,
        device: str = "cpu",
        runtime: str = "torch",
    ) -> FractureLocaliser:
        """Load the installed localiser (hash-checked) and wrap it."""
        return cls(load_model(name, models_dir=models_dir, device=device), runtime=runtime)

    def run(self, radiograph: Radiograph) -> LocaliserResult:
        """Suggest fracture boxes on one radiograph.

        Args:
            radiograph: (H, W) pixels in [0, 1], bone bright.

        Returns:
            A :class:`LocaliserResult`.
        """
        t0 = time.perf_counter()
        retinanet = self.model.network
        prepared = prepare_detector_input(
            np.asarray(radiograph.pixels, np.float32),
            retinanet,  # type: ignore[arg-type]
            device=self.model.device,
        )
        t1 = time.perf_counter()
        if self._onnx is not None:
            outputs = self._onnx(prepared.tensor)
        else:
            with torch.no_grad():
                outputs = self.core(prepared.tensor)
        t2 = time.perf_counter()
        det = decode_detections(outputs, retinanet, prepared)  # type: ignore[arg-type]
        t3 = time.perf_counter()
        spacing = radiograph.pixel_spacing_mm
        found = []
        for box, score in zip(det.boxes, det.scores, strict=True):
            if float(score) < self.threshold:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            mm = None
            if spacing is not None:
                mm = (x0 * spacing[1], y0 * spacing[0], x1 * spacing[1], y1 * spacing[0])
            found.append(LocalisedFracture(Box2D(x0, y0, x1, y1), mm, float(score)))
        card = self.model.card
        return LocaliserResult(
            boxes=tuple(found),
            image_score=float(det.scores.max()) if len(det) else 0.0,
            threshold=self.threshold,
            timings_s={"prepare": t1 - t0, "network": t2 - t1, "decode": t3 - t2, "total": t3 - t0},
            model=f"{card.name} {card.version}",
            runtime=self.runtime,
        )
