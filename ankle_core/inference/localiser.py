"""Fracture localisation on one radiograph: suggested boxes and an image-level fracture score.

Two installed model types share this pipeline, chosen by the card's ``architecture``:

- ``centernet_mobilenet_v2`` (:mod:`ankle_core.models.fracture_heatmap`), e.g.
  ``fracatlas-leg-localiser``: lower-limb radiographs (FracAtlas). Boxes are the peaks of a
  fracture-centre heat map; the image score is the image head's probability, the top box
  score, their mean, or (a network with score members) the mean of that mean and the score
  members' own, whichever the card names (``explanation["image_score"]``, chosen on
  validation; :data:`IMAGE_SCORE_RULES`). Boxes kept: up to ``explanation["max_boxes"]``
  scoring at least ``explanation["box_threshold"]``. The image call is
  ``image_score >= operating_points.default``.
- ``retinanet_mobilenet_v2_fpn`` (:mod:`ankle_core.models.retinanet_localiser`),
  ``fracture-detector-xr``: the general extremity localiser; boxes at the card's default
  operating point, image score = top box score.

``box_index`` ``i`` in a result is the box that :meth:`FractureLocaliser.saliency` explains
(heat-map model: :func:`ankle_core.explain.heatmap.heatmap_gradcam` of the box's peak;
RetinaNet: :func:`ankle_core.explain.radiograph.detector_saliency`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ankle_core.errors import ModelLoadError
from ankle_core.explain.gradcam import CamMethod
from ankle_core.models.detector import DetectorCore, decode_detections, prepare_detector_input
from ankle_core.models.fracture_heatmap import (
    FractureHeatmapNet,
    decode_heatmap,
    prepare_input,
)
from ankle_core.models.weights import LoadedModel, load_model
from ankle_core.types import Box2D, Radiograph

__all__ = [
    "HEATMAP_ARCHITECTURE",
    "IMAGE_SCORE_RULES",
    "LEG_LOCALISER_NAME",
    "LOCALISER_NAME",
    "FractureLocaliser",
    "LocalisedFracture",
    "LocaliserResult",
]

#: Installed name of the general extremity-fracture localiser (RetinaNet).
LOCALISER_NAME = "fracture-detector-xr"
#: Installed name of the lower-limb (FracAtlas) fracture localiser.
LEG_LOCALISER_NAME = "fracatlas-leg-localiser"
#: Card architecture of the heat-map localiser.
HEATMAP_ARCHITECTURE = "centernet_mobilenet_v2"
#: The heat-map localiser's image-score rules (card ``explanation["image_score"]``), in words.
IMAGE_SCORE_RULES = {
    "image_head": "the image head's fracture probability",
    "max_box": "the top box score",
    "mean": "the mean of the image head's fracture probability and the top box score",
    "score_members": "the score members' own mean of image probability and top heat-map peak "
    "(they place no boxes)",
    "mean_with_score_members": "the mean of two scores: the box models' (image probability "
    "and top box score, averaged) and that of further models that place no boxes",
}


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
        image_score: image-level fracture score in [0, 1] (what the card's AUC measures).
        threshold: the box score threshold applied.
        image_threshold: the image-level operating point (``image_score >= it``: fracture).
        timings_s: ``"prepare"``, ``"network"``, ``"decode"``, ``"total"`` in seconds.
        model: ``"name version"``.
        runtime: ``"torch"`` or ``"onnx"``.
        credit: the training data's credit line (show it with the output).
        rule_scores: every image-score rule this model offers (heat-map models:
            :data:`IMAGE_SCORE_RULES` it can compute), by name; ``image_score`` is the card's.
    """

    boxes: tuple[LocalisedFracture, ...]
    image_score: float
    threshold: float
    image_threshold: float
    timings_s: Mapping[str, float]
    model: str
    runtime: str
    credit: str = ""
    rule_scores: Mapping[str, float] = field(default_factory=dict)

    @property
    def fracture_call(self) -> bool:
        """True when the image-level score reaches the operating point."""
        return self.image_score >= self.image_threshold


class FractureLocaliser:
    """A fracture localiser with a torch or ONNX Runtime network (CPU).

    Args:
        model: a loaded localiser (``load_model(name)``).
        runtime: ``"torch"`` or ``"onnx"`` (exported once per instance, in memory or into
            ``onnx_cache_dir``).
        threshold: box score threshold (default: from the card).
        onnx_cache_dir: folder for the exported ONNX file.
        threads: ONNX Runtime intra-op threads (0: its default).
        max_boxes: most boxes reported (default: from the card; evaluation asks for more).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        runtime: str = "torch",
        threshold: float | None = None,
        onnx_cache_dir: str | Path | None = None,
        threads: int = 0,
        max_boxes: int | None = None,
    ) -> None:
        if runtime not in ("torch", "onnx"):
            raise ValueError(f"runtime must be 'torch' or 'onnx', got {runtime!r}.")
        card = model.card
        self.model = model
        self.runtime = runtime
        self.heatmap = card.architecture == HEATMAP_ARCHITECTURE
        expl = dict(card.explanation)
        if self.heatmap:
            default_box = float(expl.get("box_threshold", 0.1))
            self.image_threshold = float(card.operating_points.default)
            self.max_boxes = int(expl.get("max_boxes", 5))
            self.image_score_source = str(expl.get("image_score", "image_head"))
            has_score_members = getattr(model.network, "score_net", None) is not None
            if self.image_score_source not in IMAGE_SCORE_RULES or (
                "score_members" in self.image_score_source and not has_score_members
            ):
                raise ModelLoadError(
                    f"{card.name}: the card's image score {self.image_score_source!r} is not "
                    "one this network gives."
                )
            self.side = int(card.input_size[0])
            self.core: torch.nn.Module = model.network.eval()
        else:
            default_box = float(card.operating_points.default)
            self.image_threshold = default_box
            self.max_boxes = 20
            self.image_score_source = "max_box"
            self.side = -(-int(card.input_size[0]) // 32) * 32
            self.core = DetectorCore(model.network).eval()  # type: ignore[arg-type]
        #: the map :meth:`saliency` draws by default: HiResCAM for the heat-map model (its
        #: Grad-CAM lit places far from the box), Grad-CAM for RetinaNet
        self.saliency_method: CamMethod = "hirescam" if self.heatmap else "gradcam"
        self.threshold = default_box if threshold is None else float(threshold)
        self.max_boxes = self.max_boxes if max_boxes is None else int(max_boxes)
        self.credit = str(card.training.get("credit", card.training.get("data", "")))
        self._onnx = None
        if runtime == "onnx":
            from ankle_core.models.onnx_runtime import onnx_session_for

            self._onnx = onnx_session_for(
                self.core,
                torch.zeros(1, 3, self.side, self.side),
                weights_sha256=card.weights_sha256,
                dynamic_batch=False,
                cache_dir=onnx_cache_dir,
                threads=threads,
            )

    @classmethod
    def from_name(
        cls,
        name: str = LEG_LOCALISER_NAME,
        *,
        models_dir: str | Path | None = None,
        device: str = "cpu",
        runtime: str = "torch",
        onnx_cache_dir: str | Path | None = None,
    ) -> FractureLocaliser:
        """Load an installed localiser (hash-checked) and wrap it."""
        loaded = load_model(name, models_dir=models_dir, device=device)
        return cls(loaded, runtime=runtime, onnx_cache_dir=onnx_cache_dir)

    def kept_indices(
        self, boxes: np.ndarray, scores: np.ndarray, shape: tuple[int, int]
    ) -> list[int]:
        """Indices of the decoded boxes that :meth:`run` reports, in order.

        Args:
            boxes: (N, 4) xyxy pixels of the radiograph, by score.
            scores: (N,) scores.
            shape: the radiograph's (H, W).
        """
        h, w = shape
        kept: list[int] = []
        for i, (box, score) in enumerate(zip(boxes, scores, strict=True)):
            if float(score) < self.threshold or len(kept) >= self.max_boxes:
                continue
            x0, y0 = max(0.0, float(box[0])), max(0.0, float(box[1]))
            x1, y1 = min(float(w), float(box[2])), min(float(h), float(box[3]))
            if x1 > x0 and y1 > y0:
                kept.append(i)
        return kept

    def saliency(
        self, radiograph: Radiograph, box_index: int, method: CamMethod | None = None
    ) -> np.ndarray:
        """Class-activation map of box ``box_index`` of :meth:`run`'s result.

        Args:
            radiograph: the radiograph :meth:`run` saw.
            box_index: index into its ``boxes``.
            method: ``"hirescam"`` or ``"gradcam"`` (heat-map models, see
                :mod:`ankle_core.explain.heatmap`); None: :attr:`saliency_method`. The
                RetinaNet model has Grad-CAM only.

        Returns:
            (H, W) float32 in [0, 1].

        Raises:
            IndexError: no such box.
            ValueError: an unknown ``method``, or HiResCAM asked of the RetinaNet model.
        """
        method = self.saliency_method if method is None else method
        if not self.heatmap:
            if method != "gradcam":
                raise ValueError("the RetinaNet localiser's saliency is Grad-CAM only.")
            from ankle_core.explain.radiograph import detector_saliency

            return detector_saliency(
                self.model,
                radiograph,
                box_index,
                threshold=self.threshold,
                max_boxes=self.max_boxes,
            )
        from ankle_core.explain.heatmap import heatmap_gradcam

        pixels = np.asarray(radiograph.pixels, np.float32)
        h, w = pixels.shape
        prep = prepare_input(pixels, self.side)
        net = self.model.network
        if not isinstance(net, FractureHeatmapNet):
            raise TypeError("The heat-map localiser's network is not a FractureHeatmapNet.")
        tensor = prep.tensor.to(self.model.device)
        with torch.no_grad():
            heat, size, offset, _ = net.heads(*net.shared_maps(tensor))  # boxes only
        det = decode_heatmap(heat[0].cpu(), size[0].cpu(), offset[0].cpu(), top_k=20)
        kept = self.kept_indices(det.boxes / prep.scale, det.scores, (h, w))
        if not 0 <= box_index < len(kept):
            raise IndexError(f"box_index {box_index} out of range ({len(kept)} boxes).")
        row, col = (int(v) for v in det.cells[kept[box_index]])
        valid = (round(h * prep.scale), round(w * prep.scale))
        return heatmap_gradcam(net, tensor, (row, col), valid, (h, w), method)

    def _network(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self._onnx is not None:
            return self._onnx(x)
        with torch.no_grad():
            out = self.core(x.to(self.model.device))
        return tuple(t.cpu() for t in out)

    def heatmap_outputs(self, radiograph: Radiograph) -> tuple[torch.Tensor, ...]:
        """Raw heat-map network outputs ``(heat, size, offset, image_logit)`` (parity tests)."""
        prep = prepare_input(np.asarray(radiograph.pixels, np.float32), self.side)
        return self._network(prep.tensor)

    def run(self, radiograph: Radiograph) -> LocaliserResult:
        """Suggest fracture boxes and score the image.

        Args:
            radiograph: (H, W) pixels in [0, 1], bone bright.

        Returns:
            A :class:`LocaliserResult`.
        """
        t0 = time.perf_counter()
        pixels = np.asarray(radiograph.pixels, np.float32)
        h, w = pixels.shape
        if self.heatmap:
            prep = prepare_input(pixels, self.side)
            t1 = time.perf_counter()
            outputs = self._network(prep.tensor)
            heat, size, offset, logit = outputs[:4]
            t2 = time.perf_counter()
            det = decode_heatmap(heat[0], size[0], offset[0], top_k=20)
            boxes = det.boxes / prep.scale
            scores = det.scores
            head = float(torch.sigmoid(logit.reshape(-1)[0]))
            top = float(scores[0]) if len(scores) else 0.0
            rules = {"image_head": head, "max_box": top, "mean": (head + top) / 2}
            if len(outputs) > 4:
                rules["score_members"] = float(outputs[4].reshape(-1)[0])
                rules["mean_with_score_members"] = (rules["mean"] + rules["score_members"]) / 2
            image_score = rules[self.image_score_source]
        else:
            retinanet = self.model.network
            prepared = prepare_detector_input(
                pixels,
                retinanet,  # type: ignore[arg-type]
                device=self.model.device,
            )
            t1 = time.perf_counter()
            outputs = self._network(prepared.tensor)
            t2 = time.perf_counter()
            det_r = decode_detections(outputs, retinanet, prepared)  # type: ignore[arg-type]
            boxes, scores = np.asarray(det_r.boxes), np.asarray(det_r.scores)
            image_score = float(scores.max()) if len(scores) else 0.0
            rules = {"max_box": image_score}
        t3 = time.perf_counter()
        found = []
        spacing = radiograph.pixel_spacing_mm
        for i in self.kept_indices(boxes, scores, (h, w)):
            x0, y0 = max(0.0, float(boxes[i][0])), max(0.0, float(boxes[i][1]))
            x1, y1 = min(float(w), float(boxes[i][2])), min(float(h), float(boxes[i][3]))
            score = float(scores[i])
            mm = None
            if spacing is not None:
                mm = (x0 * spacing[1], y0 * spacing[0], x1 * spacing[1], y1 * spacing[0])
            found.append(LocalisedFracture(Box2D(x0, y0, x1, y1), mm, float(score)))
        card = self.model.card
        return LocaliserResult(
            boxes=tuple(found),
            image_score=float(image_score),
            threshold=self.threshold,
            image_threshold=self.image_threshold,
            timings_s={"prepare": t1 - t0, "network": t2 - t1, "decode": t3 - t2, "total": t3 - t0},
            model=f"{card.name} {card.version}",
            runtime=self.runtime,
            credit=self.credit,
            rule_scores=rules,
        )
