"""The radiograph two-stage pipeline: RetinaNet fragments, then LMAF vs SFO per fragment.

Stage 1 (detector) finds perimalleolar bone fragments; stage 2 (classifier) gives each
fragment a probability of being a lateral malleolar avulsion fracture (``p_lmaf``; the
alternative is a subfibular ossicle, SFO).

**Calls.** With the classifier card's operating points ``high_sensitivity <= high_specificity``:
``p >= high_specificity`` -> ``"LMAF"``; ``p <= high_sensitivity`` -> ``"SFO"``; in between
-> ``"indeterminate — review"``. (When the two thresholds are equal, a probability exactly
at the threshold is called LMAF.)

**Fragments kept.** Boxes whose detection score is at least the detector card's default
operating point (the detection threshold); boxes overlapping a higher-scoring one at the card's
``postprocessing.merge_iou`` or more are fused into one box (class-agnostic weighted box
fusion, :mod:`ankle_core.models.box_merge`); at most ``max_fragments`` of them, by score.

**Saliency.** :meth:`RadiographPipeline.fragment_saliency` (each kept fragment's classifier
Grad-CAM, for the class it favours, pasted into the radiograph) and
:meth:`RadiographPipeline.detector_saliency` (the detector's Grad-CAM of one kept box) live
with the pipeline; they call :mod:`ankle_core.explain.radiograph`, which knows no pipeline.

**Case rule.** ``case_p_lmaf`` is the largest ``p_lmaf`` over the kept fragments (a case is
as suspicious as its most suspicious fragment), and the case call applies the same bands to
it. With no fragment kept, ``case_p_lmaf`` is None and the call is
``"no perimalleolar fragment found"``: a valid result, not an error.

**Domain gate.** Before any call, the input is checked against both cards' declared domain
(:mod:`ankle_core.models.domain`: the DICOM header's modality, body part and phantom marker,
and the distance of the detector's pooled FPN features to the training phantoms'). Out of
domain, every call (the case's and each fragment's) is :data:`OUT_OF_DOMAIN`; the raw
probabilities stay in the result, and ``raw_case_call`` / ``Fragment.raw_call`` keep what
the call would have been. ``result.domain`` says why in words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import torch

from ankle_core.device import resolve_runtime
from ankle_core.errors import InvalidInputError, ModelLoadError
from ankle_core.explain.radiograph import crop_saliency, detector_saliency
from ankle_core.models.card import ModelCard, OperatingPoints
from ankle_core.models.detector import (
    DetectorCore,
    FragmentDetections,
    decode_detections,
    prepare_detector_input,
)
from ankle_core.models.domain import (
    NOT_DECLARED,
    DomainCheck,
    ModelDomain,
    check_domain,
    detector_features,
)
from ankle_core.models.weights import LoadedModel, load_model
from ankle_core.preprocess.crops import (
    CropWindow,
    crop_with_context,
    scaled_box,
    to_channels,
    tta_views,
)
from ankle_core.types import Box2D, Radiograph

__all__ = [
    "INDETERMINATE",
    "NO_FRAGMENT",
    "OUT_OF_DOMAIN",
    "RUNTIMES",
    "Fragment",
    "RadiographPipeline",
    "RadiographResult",
    "call_for",
    "classifier_inputs",
]

logger = logging.getLogger(__name__)

INDETERMINATE = "indeterminate — review"
NO_FRAGMENT = "no perimalleolar fragment found"
#: The call of an input outside the model's training domain: withheld.
OUT_OF_DOMAIN = "out of domain — call withheld"
RUNTIMES: tuple[str, ...] = ("torch", "onnx", "auto")

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Fragment:
    """One detected fragment and its classification.

    Attributes:
        box: pixels of the input radiograph (x0, y0, x1, y1).
        box_mm: x0, y0, x1, y1 in mm from the image's top-left corner, when spacing is known.
        detection_score: detector probability in [0, 1].
        p_lmaf: classifier probability of LMAF in [0, 1] (kept out of domain too).
        call: ``"LMAF"``, ``"SFO"``, :data:`INDETERMINATE`, or :data:`OUT_OF_DOMAIN`.
        raw_call: the three-band call before the domain gate (equals ``call`` in domain).
    """

    box: Box2D
    box_mm: tuple[float, float, float, float] | None
    detection_score: float
    p_lmaf: float
    call: str
    raw_call: str = ""


@dataclass(frozen=True)
class RadiographResult:
    """The pipeline's answer for one radiograph.

    Attributes:
        fragments: by detection score, descending; empty when none was found.
        case_p_lmaf: the largest fragment ``p_lmaf``; None when no fragment (kept out of
            domain too: the raw score).
        case_call: ``"LMAF"``, ``"SFO"``, :data:`INDETERMINATE`, :data:`NO_FRAGMENT`, or
            :data:`OUT_OF_DOMAIN` when the input is outside the models' domain.
        timings_s: seconds per stage: ``"detect"``, ``"classify"``, ``"domain"``,
            ``"total"``.
        detector: ``"name version"`` of the detector.
        classifier: ``"name version"`` of the classifier.
        domain: the domain gate's finding (``in_domain``, ``reason``).
        raw_case_call: the case call before the domain gate (equals ``case_call`` in
            domain).
    """

    fragments: tuple[Fragment, ...]
    case_p_lmaf: float | None
    case_call: str
    timings_s: Mapping[str, float]
    detector: str
    classifier: str
    domain: DomainCheck = field(default_factory=lambda: DomainCheck(True, NOT_DECLARED))
    raw_case_call: str = ""

    @property
    def withheld(self) -> bool:
        """True when the call was withheld because the input is out of domain."""
        return not self.domain.in_domain


def call_for(p_lmaf: float, points: OperatingPoints) -> str:
    """The three-band call for one probability (see the module docstring).

    >>> ops = OperatingPoints(0.5, 0.2, 0.8)
    >>> [call_for(p, ops) for p in (0.2, 0.5, 0.8)]
    ['SFO', 'indeterminate — review', 'LMAF']
    """
    if p_lmaf >= points.high_specificity:
        return "LMAF"
    if p_lmaf <= points.high_sensitivity:
        return "SFO"
    return INDETERMINATE


def classifier_inputs(
    pixels: npt.NDArray[np.float32], boxes: list[Box2D], card: ModelCard, *, tta: bool = False
) -> tuple[torch.Tensor, list[CropWindow]]:
    """Crops around ``boxes`` as the classifier's card prescribes, normalised.

    Args:
        pixels: (H, W) radiograph in [0, 1].
        boxes: fragment boxes in pixels.
        card: classifier card (``input_size``, ``preprocessing.context_margin``,
            ``preprocessing.channel_mode``, optional ``preprocessing.tta``).
        tta: when True, every box gives the V views of the card's ``preprocessing.tta``
            (see :func:`ankle_core.preprocess.crops.tta_views`), box-major: rows
            ``i * V .. i * V + V - 1`` belong to box ``i``; the windows are still one per box
            (the plain view's).

    Returns:
        ``(x, windows)``: (N * V, 3, S, S) float32 ImageNet-normalised (V = 1 without
        ``tta``), and each box's crop window.
    """
    size = int(card.input_size[-1])
    margin = float(card.preprocessing.get("context_margin", 0.5))
    mode = str(card.preprocessing.get("channel_mode", "grey3"))
    views = tta_views(card.preprocessing.get("tta")) if tta else tta_views(None)
    crops, windows = [], []
    for box in boxes:
        windows.append(crop_with_context(pixels, box, margin=margin, out_size=size)[1])
        for view in views:
            crop, _ = crop_with_context(
                pixels, scaled_box(box, view.scale), margin=margin, out_size=size
            )
            if view.hflip:
                crop = np.ascontiguousarray(crop[:, ::-1])
            crops.append(to_channels(crop, mode))
    x = torch.from_numpy(np.stack(crops)) if crops else torch.zeros(0, 3, size, size)
    mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std, windows


def _combine(checks: list[DomainCheck]) -> DomainCheck:
    """One finding from several models' checks: out when any is out."""
    stats = tuple(dict(kv for c in checks for kv in c.image_stats).items())
    out = [c for c in checks if not c.in_domain]
    if not out:
        measured = [c for c in checks if c.distance is not None]
        first = measured[0] if measured else checks[0]
        reasons = list(dict.fromkeys(c.reason for c in checks if c.reason != NOT_DECLARED))
        return DomainCheck(
            True, " ".join(reasons) or NOT_DECLARED, first.distance, first.threshold, stats
        )
    measured = [c for c in out if c.distance is not None]
    first = measured[0] if measured else out[0]
    reasons = list(dict.fromkeys(c.reason for c in out))
    return DomainCheck(False, " ".join(reasons), first.distance, first.threshold, stats)


def _name(model: LoadedModel) -> str:
    return f"{model.card.name} {model.card.version}"


class RadiographPipeline:
    """Detector + classifier, ready to run on radiographs (thread-safe for ``run``).

    Args:
        detector: a loaded ``retinanet_fragment`` model.
        classifier: a loaded ``lmaf_classifier`` model.
        runtime: ``"torch"``, ``"onnx"`` (ONNX Runtime on the CPU) or ``"auto"`` (ONNX
            Runtime when the models are on the CPU, falling back to torch when a network
            does not export; torch on a GPU). Grad-CAM always uses the torch networks.
        detection_threshold: lowest detection score kept; default: the detector card's
            ``operating_points.default``.
        max_fragments: most fragments classified per radiograph.
        onnx_cache_dir: folder for exported ONNX files (None: export in memory).
        onnx_export: export when no cached file exists; False uses only cached exports
            (under ``"auto"``, torch when there are none yet; see
            :func:`~ankle_core.models.onnx_runtime.onnx_session_for`).
    """

    def __init__(
        self,
        detector: LoadedModel,
        classifier: LoadedModel,
        *,
        runtime: str = "torch",
        detection_threshold: float | None = None,
        max_fragments: int = 5,
        onnx_cache_dir: str | Path | None = None,
        onnx_export: bool = True,
    ) -> None:
        if runtime not in RUNTIMES:
            raise InvalidInputError(f"Unknown runtime {runtime!r}; choose one of {RUNTIMES}.")
        if detector.card.architecture != "retinanet_fragment":
            raise InvalidInputError(f"{detector.card.name!r} is not a fragment detector.")
        if classifier.card.architecture != "lmaf_classifier":
            raise InvalidInputError(f"{classifier.card.name!r} is not an LMAF classifier.")
        self.detector = detector
        self.classifier = classifier
        self.runtime = runtime
        self.max_fragments = max_fragments
        self.detection_threshold = (
            detector.card.operating_points.default
            if detection_threshold is None
            else float(detection_threshold)
        )
        self.merge_iou = float(detector.card.postprocessing.get("merge_iou", 1.0))
        self.detector_core = DetectorCore(detector.network).eval()  # type: ignore[arg-type]
        self._run_detector: Callable[[torch.Tensor], tuple[torch.Tensor, ...]]
        self._run_classifier: Callable[[torch.Tensor], torch.Tensor]
        self._run_detector = self._torch_detector
        self._run_classifier = self._torch_classifier
        if runtime == "auto":
            self.runtime = resolve_runtime("auto", detector.device)
            if self.runtime == "onnx":
                try:
                    self._init_onnx(onnx_cache_dir, export=onnx_export)
                except ModelLoadError as exc:
                    logger.warning("running in torch, not ONNX Runtime: %s", exc)
                    self.runtime = "torch"
        elif runtime == "onnx":
            self._init_onnx(onnx_cache_dir, export=onnx_export)

    @classmethod
    def from_names(
        cls,
        detector: str = "lmaf-fragment-detector",
        classifier: str = "lmaf-classifier-mobilenetv2",
        *,
        models_dir: str | Path | None = None,
        device: str = "auto",
        runtime: str = "torch",
        onnx_cache_dir: str | Path | None = None,
        onnx_export: bool = True,
    ) -> RadiographPipeline:
        """Load both models by installed name (or folder path) and build the pipeline."""
        det = load_model(detector, models_dir=models_dir, device=device)
        clf = load_model(classifier, models_dir=models_dir, device=device)
        return cls(
            det, clf, runtime=runtime, onnx_cache_dir=onnx_cache_dir, onnx_export=onnx_export
        )

    # --- runtimes -------------------------------------------------------------------------
    def _torch_detector(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.no_grad():
            out = self.detector_core(x.to(self.detector.device))
        return tuple(o.cpu() for o in out)

    def _torch_classifier(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out: torch.Tensor = self.classifier.network(x.to(self.classifier.device))
        return out.cpu()

    def _init_onnx(self, cache_dir: str | Path | None, *, export: bool = True) -> None:
        from ankle_core.models.onnx_runtime import onnx_session_for

        example = prepare_detector_input(
            np.zeros((8, 8), np.float32),
            self.detector.network,  # type: ignore[arg-type]
        ).tensor
        det_session = onnx_session_for(
            self.detector_core.cpu(),
            example,
            weights_sha256=self.detector.card.weights_sha256,
            dynamic_batch=False,
            cache_dir=cache_dir,
            export=export,
        )
        size = int(self.classifier.card.input_size[-1])
        clf_session = onnx_session_for(
            self.classifier.network.cpu(),
            torch.zeros(2, 3, size, size),
            weights_sha256=self.classifier.card.weights_sha256,
            dynamic_batch=True,
            cache_dir=cache_dir,
            export=export,
        )
        self.detector_core.to(self.detector.device)
        self.classifier.network.to(self.classifier.device)
        self._run_detector = det_session
        self._run_classifier = lambda x: clf_session(x)[0]

    # --- stages ---------------------------------------------------------------------------
    def detect(self, radiograph: Radiograph) -> FragmentDetections:
        """Stage 1: every box above the model's pre-NMS score threshold, original pixels."""
        prepared = prepare_detector_input(radiograph.pixels, self.detector.network)  # type: ignore[arg-type]
        outputs = self._run_detector(prepared.tensor)
        return decode_detections(outputs, self.detector.network, prepared)  # type: ignore[arg-type]

    def classify(
        self, pixels: npt.NDArray[np.float32], boxes: list[Box2D]
    ) -> npt.NDArray[np.float32]:
        """Stage 2: ``p_lmaf`` (N,) for each box (the softmax of the LMAF logit).

        With a ``preprocessing.tta`` in the classifier's card, each box's ``p_lmaf`` is the
        mean probability over the card's test-time views (box scales, mirror).
        """
        if not boxes:
            return np.zeros(0, np.float32)
        x, _ = classifier_inputs(pixels, boxes, self.classifier.card, tta=True)
        logits = self._run_classifier(x)
        probs = torch.softmax(logits.float(), dim=1)[:, 1].numpy()
        mean: npt.NDArray[np.float32] = probs.reshape(len(boxes), -1).mean(axis=1)
        return mean.astype(np.float32)

    def kept_boxes(self, detections: FragmentDetections) -> list[int]:
        """Indices of the detections reported as fragments (threshold, fusion of overlapping
        boxes at the detector card's ``postprocessing.merge_iou``, top-k)."""
        return detections.kept(self.detection_threshold, self.max_fragments, self.merge_iou)

    def kept_fragments(self, detections: FragmentDetections) -> list[tuple[int, Box2D]]:
        """The reported fragments as ``(best detection index, fused box)``, by score.

        See :meth:`~ankle_core.models.detector.FragmentDetections.kept_boxes`: one box per
        spot, whatever overlapped there.
        """
        kept = detections.kept_boxes(self.detection_threshold, self.max_fragments, self.merge_iou)
        return [(i, Box2D(*box)) for i, box in kept]

    def run(self, radiograph: Radiograph) -> RadiographResult:
        """Both stages on one radiograph.

        Args:
            radiograph: pixels (H, W) in [0, 1], bone bright.

        Returns:
            A :class:`RadiographResult` (see the module docstring for the case rule).
        """
        return self.run_batch([radiograph])[0]

    def run_batch(self, radiographs: Sequence[Radiograph]) -> list[RadiographResult]:
        """Both stages on several radiographs, one forward pass per stage.

        The detector sees the radiographs stacked into one (N, 3, S, S) batch (every input
        is resized and padded to the same square); the classifier sees every kept fragment
        of every radiograph in one batch. Each result equals :meth:`run` on its radiograph
        (the networks are in eval mode, so a case does not depend on its batch-mates).
        With the ONNX runtime the detector (exported for a batch of one) runs per image.

        Args:
            radiographs: each (H, W) in [0, 1], bone bright; sizes may differ.

        Returns:
            One :class:`RadiographResult` per radiograph, in order. Timings are the batch's
            stage times divided by the number of radiographs.
        """
        if not radiographs:
            return []
        t0 = time.perf_counter()
        domains = [self.domain_check(r) for r in radiographs]
        td = time.perf_counter()
        network = self.detector.network
        prepared = [prepare_detector_input(r.pixels, network) for r in radiographs]  # type: ignore[arg-type]
        if self.runtime == "onnx":
            per_image = [self._run_detector(p.tensor) for p in prepared]
        else:
            stacked = self._run_detector(torch.cat([p.tensor for p in prepared]))
            per_image = [tuple(o[i : i + 1] for o in stacked) for i in range(len(prepared))]
        detections = [
            decode_detections(out, network, prep)  # type: ignore[arg-type]
            for out, prep in zip(per_image, prepared, strict=True)
        ]
        t1 = time.perf_counter()
        fragments = [self.kept_fragments(d) for d in detections]
        kept = [[i for i, _ in f] for f in fragments]
        boxes = [[box for _, box in f] for f in fragments]
        if len(radiographs) == 1:  # the same forward pass, through the public stage
            probs = [self.classify(radiographs[0].pixels, boxes[0])]
        else:
            probs = self._classify_many([r.pixels for r in radiographs], boxes)
        t2 = time.perf_counter()
        n = len(radiographs)
        timings = MappingProxyType(
            {
                "domain": (td - t0) / n,
                "detect": (t1 - td) / n,
                "classify": (t2 - t1) / n,
                "total": (t2 - t0) / n,
            }
        )
        return [
            self._result(r, d, keep, b, p, timings, dom)
            for r, d, keep, b, p, dom in zip(
                radiographs, detections, kept, boxes, probs, domains, strict=True
            )
        ]

    def _classify_many(
        self, pixels: Sequence[npt.NDArray[np.float32]], boxes: Sequence[list[Box2D]]
    ) -> list[npt.NDArray[np.float32]]:
        """Stage 2 for several radiographs in one forward pass: ``p_lmaf`` per box."""
        crops = [
            classifier_inputs(px, b, self.classifier.card, tta=True)[0]
            for px, b in zip(pixels, boxes, strict=True)
            if b
        ]
        if not crops:
            return [np.zeros(0, np.float32) for _ in boxes]
        logits = self._run_classifier(torch.cat(crops))
        views = len(tta_views(self.classifier.card.preprocessing.get("tta")))
        probs = torch.softmax(logits.float(), dim=1)[:, 1].numpy()
        probs = probs.reshape(-1, views).mean(axis=1).astype(np.float32)
        out, start = [], 0
        for b in boxes:
            out.append(probs[start : start + len(b)])
            start += len(b)
        return out

    def _result(
        self,
        radiograph: Radiograph,
        detections: FragmentDetections,
        keep: list[int],
        boxes: list[Box2D],
        probs: npt.NDArray[np.float32],
        timings: Mapping[str, float],
        domain: DomainCheck,
    ) -> RadiographResult:
        points = self.classifier.card.operating_points
        spacing = radiograph.pixel_spacing_mm
        fragments = []
        for i, box, p in zip(keep, boxes, probs, strict=True):
            box_mm = None
            if spacing is not None:
                sy, sx = spacing
                box_mm = (box.x0 * sx, box.y0 * sy, box.x1 * sx, box.y1 * sy)
            raw = call_for(float(p), points)
            fragments.append(
                Fragment(
                    box=box,
                    box_mm=box_mm,
                    detection_score=float(detections.scores[i]),
                    p_lmaf=float(p),
                    call=raw if domain.in_domain else OUT_OF_DOMAIN,
                    raw_call=raw,
                )
            )
        if fragments:
            case_p: float | None = max(f.p_lmaf for f in fragments)
            raw_case = call_for(float(case_p), points)  # type: ignore[arg-type]
        else:
            case_p, raw_case = None, NO_FRAGMENT
        return RadiographResult(
            fragments=tuple(fragments),
            case_p_lmaf=case_p,
            case_call=raw_case if domain.in_domain else OUT_OF_DOMAIN,
            timings_s=timings,
            detector=_name(self.detector),
            classifier=_name(self.classifier),
            domain=domain,
            raw_case_call=raw_case,
        )

    def domain_check(self, radiograph: Radiograph) -> DomainCheck:
        """The domain gate for one radiograph, against both cards (module docstring).

        The detector card's feature statistics (extractor ``"detector-fpn-meanstd"``) are
        compared with this radiograph's, and each card's image statistics
        (``domain.image_cues``, on the pixels at their own resolution) with their ranges; each
        card's header rules apply. Out of domain when any of these says so; in domain only
        when both models agree.
        """
        checks = []
        for loaded in (self.detector, self.classifier):
            domain = ModelDomain.from_card(loaded.card.domain)
            feats = None
            if domain is not None and domain.features is not None:
                if domain.features.extractor != "detector-fpn-meanstd":
                    raise InvalidInputError(
                        f"{loaded.card.name}: unknown domain feature extractor "
                        f"{domain.features.extractor!r}."
                    )
                feats = detector_features(self.detector.network, radiograph.pixels)
            pixels = radiograph.pixels if domain is not None and domain.image_cues else None
            checks.append(
                check_domain(
                    domain, radiograph.metadata, feats, pixels=pixels, model=loaded.card.name
                )
            )
        return _combine(checks)

    # --- explanations ---------------------------------------------------------------------
    def fragment_saliency(
        self, radiograph: Radiograph, result: RadiographResult
    ) -> npt.NDArray[np.float32]:
        """Every fragment's classifier Grad-CAM, pasted into the radiograph.

        Args:
            radiograph: the radiograph, (H, W).
            result: this pipeline's result for it (its torch classifier is explained,
                whatever the runtime).

        Returns:
            (H, W) float32 in [0, 1]; all zeros when there is no fragment.
        """
        boxes = [f.box for f in result.fragments]
        x, windows = classifier_inputs(radiograph.pixels, boxes, self.classifier.card)
        x = x.to(self.classifier.device)
        return crop_saliency(self.classifier.network, x, windows, radiograph.shape)

    def detector_saliency(self, radiograph: Radiograph, box_index: int) -> npt.NDArray[np.float32]:
        """Grad-CAM of the detector for one box of :meth:`run`'s ``fragments``.

        Args:
            radiograph: the radiograph, (H, W).
            box_index: which fragment (0 = highest detection score).

        Returns:
            (H, W) float32 in [0, 1].

        Raises:
            IndexError: no such fragment.
        """
        return detector_saliency(
            self.detector,
            radiograph,
            box_index,
            threshold=self.detection_threshold,
            max_boxes=self.max_fragments,
            merge_iou=self.merge_iou,
        )
