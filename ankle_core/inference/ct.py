"""The CT pipeline: a volume in, a fracture probability, a heat map and ranked boxes out.

``CtPipeline(model).run(volume)`` preprocesses with the recipe in the model card
(:class:`~ankle_core.preprocess.volume.CtPreprocessing`), runs the 3D CNN, and (with
``explain=True``) computes the 3D Grad-CAM, carries it back to the original grid with a
spline and boxes its Otsu regions (:mod:`ankle_core.explain.ct`). The explanation follows
the card's ``explanation`` entry (:class:`~ankle_core.explain.ct.CamSettings`, whose
``boxes`` is the one :class:`~ankle_core.explain.boxes.BoxSettings`; the reference paper's Grad-CAM
and Otsu when the card has none); the constructor and each ``run`` may override it.

Before the call, a scope check: when the body's largest axial cross-section
(:func:`~ankle_core.preprocess.spatial.body_section_cm2`) exceeds ``max_body_section_cm2``
(default 400 cm^2: an ankle is about 40 to 80, a foot up to about 200, an abdomen or pelvis
600 or more), the result carries a warning that the scan does not look like an ankle CT. The
probability is still given; what it means on another body part is nothing.

The call uses the card's operating points: ``probability >= high_specificity`` is
``"fracture"``, ``probability <= high_sensitivity`` is ``"no fracture"``, anything between is
:data:`INDETERMINATE`.

A pipeline holds no per-call state: one cached instance serves every session, and the
explanation runs under the core's per-model lock.

**Domain gate.** The card's declared domain (:mod:`ankle_core.models.domain`) is checked:
the DICOM header (modality, body part, phantom marker), the distance of the network's pooled
deepest-block features to the training phantoms', and the scope check above. Out of domain
the call is :data:`OUT_OF_DOMAIN` (never "no fracture"); the probability and the heat map
stay in the result, ``raw_call`` keeps what the call would have been.

**Ranked boxes only where they mean something.** ``regions`` (the ranked findings) are
filled only when the call is ``"fracture"`` or :data:`INDETERMINATE`; on a negative or
withheld call the heat map alone is kept ("where the model looked"), and
``looked_regions`` holds the boxes that were not reported.

A pipeline holds no per-call state: one cached instance serves every session, and the
explanation runs under the core's per-model lock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ankle_core.device import resolve_runtime
from ankle_core.errors import ModelLoadError
from ankle_core.explain.boxes import BoxSettings
from ankle_core.explain.ct import (
    CamRegion,
    CamSettings,
    fracture_log_odds,
    gradcam_layer,
    to_cam_regions,
)
from ankle_core.explain.ct_heat import HeatVolume, heat_regions
from ankle_core.explain.gradcam import grad_cam
from ankle_core.models.domain import (
    NOT_DECLARED,
    DomainCheck,
    ModelDomain,
    check_domain,
    ct_features,
)
from ankle_core.models.weights import LoadedModel, load_model
from ankle_core.preprocess.spatial import body_component, body_section_cm2
from ankle_core.preprocess.volume import CtPreprocessing, PreparedVolume, preprocess_volume
from ankle_core.types import Volume

if TYPE_CHECKING:
    from ankle_core.models.onnx_runtime import OnnxSession

__all__ = [
    "INDETERMINATE",
    "MAX_BODY_SECTION_CM2",
    "OUT_OF_DOMAIN",
    "CamRegion",
    "CtPipeline",
    "CtResult",
    "card_explanation",
]

INDETERMINATE = "indeterminate — review"
#: The call on a volume outside the model's training domain: withheld.
OUT_OF_DOMAIN = "out of domain — call withheld"
#: Calls under which ranked boxes are reported as findings.
BOXED_CALLS: tuple[str, ...] = ("fracture", INDETERMINATE)

logger = logging.getLogger(__name__)

#: Largest axial body cross-section (cm^2) accepted without a warning: well above a foot's.
MAX_BODY_SECTION_CM2 = 400.0
#: HU above which a voxel is body for the scope check (and the crop, when its recipe agrees).
SCOPE_THRESHOLD_HU = -500.0


@dataclass(frozen=True)
class CtResult:
    """What the CT pipeline says about one volume.

    Attributes:
        probability: of fracture, [0, 1].
        call: ``"fracture"``, ``"no fracture"`` or :data:`INDETERMINATE`.
        heatmap: (z, y, x) float32 in [0, 1] on the ORIGINAL volume grid, or None when not
            explained. The pipeline gives a lazy
            :class:`~ankle_core.explain.ct_heat.HeatVolume`: index it for a slice or a box
            (computed then), ``numpy.asarray`` it for the whole map (a second or more on a
            fine scan, and 4 bytes a voxel).
        regions: ranked Grad-CAM regions (empty when not explained or nothing stands out).
        timings_s: seconds for ``"preprocess"``, ``"forward"``, ``"gradcam"`` (Captum),
            ``"upsample"`` (setting up the lazy map; nothing is evaluated yet),
            ``"body_mask"`` (0: the mask is made per box, inside ``"boxes"``), ``"boxes"``
            (sub-grid search and refinement, :func:`~ankle_core.explain.ct_heat.heat_regions`)
            and ``"total"``.
        model: ``"name version"``.
        gradcam_layer: name of the explained block (empty when not explained).
        explanation: how the map and boxes were made (None when not explained).
        region_threshold: the heat-map value the regions lie above (``explanation.boxes``'
            threshold over the body in the field of view; None when not explained). The SEG
            export cuts its segments there.
        warnings: plain-language cautions about the input (e.g. not an ankle-sized body).
        domain: the domain gate's finding (``in_domain``, ``reason``).
        raw_call: the call before the domain gate (equals ``call`` in domain).
        looked_regions: the boxes of the heat map when they are not reported as findings
            (negative or withheld call); empty otherwise.
    """

    probability: float
    call: str
    heatmap: HeatVolume | np.ndarray | None
    regions: tuple[CamRegion, ...]
    timings_s: Mapping[str, float]
    model: str
    gradcam_layer: str = ""
    explanation: CamSettings | None = None
    region_threshold: float | None = None
    warnings: tuple[str, ...] = ()
    domain: DomainCheck = field(default_factory=lambda: DomainCheck(True, NOT_DECLARED))
    raw_call: str = ""
    looked_regions: tuple[CamRegion, ...] = ()

    @property
    def withheld(self) -> bool:
        """True when the call was withheld because the volume is out of domain."""
        return not self.domain.in_domain


def card_explanation(model: LoadedModel) -> CamSettings:
    """The explanation a model's card recommends (the reference paper's when it has none).

    Raises:
        ModelLoadError: the card's ``explanation`` entry is malformed.
    """
    try:
        return CamSettings.from_dict(model.card.explanation)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"The model card's explanation entry is malformed: {exc}") from exc


class CtPipeline:
    """Fracture probability and Grad-CAM boxes for one CT volume.

    Args:
        model: a loaded CT model (``task="ct-fracture"``).
        preprocessing: override of the card's recipe (default: the card's).
        spline_order: order of the spline carrying the CAM to the original grid (0-5).
        explanation: CAM method, block choice and how boxes are drawn (default: the card's
            ``explanation`` entry, else the reference paper's
            :data:`~ankle_core.explain.ct.PAPER_GRADCAM`).
        boxes: replaces the explanation's box settings
            (:class:`~ankle_core.explain.boxes.BoxSettings`: body mask, threshold, minimum
            volume, ranking, most boxes); default: the explanation's own.
        max_body_section_cm2: warn when the body's largest axial cross-section exceeds this
            (cm^2); None skips the check.
        runtime: the forward pass's runtime: ``"torch"``, ``"onnx"`` (ONNX Runtime on the
            CPU) or ``"auto"`` (torch: for this 3D network ONNX Runtime was measured no
            faster, see ``docs/performance.md``). Grad-CAM always runs the torch network.
        onnx_cache_dir: folder for the exported ONNX file, reused per weights hash (None:
            export in memory).
        onnx_export: export when no cached file exists; False uses only a cached export
            (under ``"auto"``, torch when there is none yet).
    """

    def __init__(
        self,
        model: LoadedModel,
        *,
        preprocessing: CtPreprocessing | None = None,
        spline_order: int = 3,
        explanation: CamSettings | None = None,
        boxes: BoxSettings | None = None,
        max_body_section_cm2: float | None = MAX_BODY_SECTION_CM2,
        runtime: str = "torch",
        onnx_cache_dir: str | Path | None = None,
        onnx_export: bool = True,
    ) -> None:
        self.model = model
        self.max_body_section_cm2 = max_body_section_cm2
        self.preprocessing = preprocessing or CtPreprocessing.from_dict(model.card.preprocessing)
        self.spline_order = int(spline_order)
        if explanation is None:
            explanation = card_explanation(model)
        if boxes is not None:
            explanation = replace(explanation, boxes=boxes)
        self.explanation = explanation
        self.layer_name, self.layer = self.layer_for(self.explanation)
        self.runtime = resolve_runtime(runtime, model.device)
        if runtime.strip().lower() == "auto":
            # ONNX Runtime ran the 3D MobileNet slower than torch here (torch / ONNX Runtime
            # 0.66 at 2 threads, 1.0 at 1: docs/performance.md; its 3D depthwise convolutions
            # are not specialised), and the Grad-CAM runs in torch anyway
            self.runtime = "torch"
        self._onnx: OnnxSession | None = None
        if self.runtime == "onnx":
            try:
                self._onnx = self._export(onnx_cache_dir, onnx_export)
            except ModelLoadError as exc:
                if runtime != "auto":
                    raise
                logger.warning("running in torch, not ONNX Runtime: %s", exc)
                self.runtime = "torch"

    def _export(self, cache_dir: str | Path | None, export: bool) -> OnnxSession:
        from ankle_core.models.onnx_runtime import onnx_session_for

        network = self.model.network
        size = int(self.preprocessing.input_size)
        example = torch.zeros(1, 1, size, size, size)
        try:
            return onnx_session_for(
                network.cpu(),
                example,
                weights_sha256=self.model.card.weights_sha256,
                dynamic_batch=False,
                cache_dir=cache_dir,
                export=export,
            )
        finally:
            network.to(self.model.device)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The network's logits (N, K) for preprocessed cubes (N, 1, d, h, w)."""
        if self._onnx is not None:  # exported for one cube: one call per cube
            session = self._onnx
            return torch.cat([session(x[i : i + 1].cpu())[0] for i in range(x.shape[0])])
        with torch.no_grad():
            out: torch.Tensor = self.model.network(x.to(self.model.device))
        return out.cpu()

    def layer_for(self, explanation: CamSettings) -> tuple[str, torch.nn.Module]:
        """The block these settings explain, at this pipeline's input size."""
        return gradcam_layer(
            self.model.network, self.preprocessing.input_size, min_cells=explanation.min_cells
        )

    @classmethod
    def from_name(
        cls,
        name: str = "ct-fracture-mobilenet3d",
        *,
        models_dir: str | Path | None = None,
        device: str = "auto",
        runtime: str = "torch",
        onnx_cache_dir: str | Path | None = None,
        onnx_export: bool = True,
    ) -> CtPipeline:
        """Load an installed model (hash-checked) and wrap it (see the class for ``runtime``)."""
        return cls(
            load_model(name, models_dir=models_dir, device=device),
            runtime=runtime,
            onnx_cache_dir=onnx_cache_dir,
            onnx_export=onnx_export,
        )

    @property
    def model_label(self) -> str:
        return f"{self.model.card.name} {self.model.card.version}"

    def call_for(self, probability: float) -> str:
        """The card's operating points applied to one probability."""
        ops = self.model.card.operating_points
        if probability >= ops.high_specificity:
            return "fracture"
        if probability <= ops.high_sensitivity:
            return "no fracture"
        return INDETERMINATE

    def run(
        self, volume: Volume, *, explain: bool = True, explanation: CamSettings | None = None
    ) -> CtResult:
        """Classify (and explain) one volume.

        Args:
            volume: the scan, (z, y, x) HU with its affine.
            explain: compute the heat map and the boxes.
            explanation: settings for this call only (default: the pipeline's).

        Returns:
            A :class:`CtResult`.
        """
        return self.run_batch([volume], explain=explain, explanation=explanation)[0]

    def run_batch(
        self,
        volumes: Sequence[Volume],
        *,
        explain: bool = True,
        explanation: CamSettings | None = None,
    ) -> list[CtResult]:
        """Classify (and explain) several volumes, one forward pass per stage.

        The preprocessed cubes (all of the card's input size) are stacked into one
        (N, 1, D, H, W) batch for the probability, and again for the Grad-CAM (the network
        is in eval mode, so a case's map does not depend on its batch-mates); carrying each
        map back to its own grid and boxing it are per volume. Each result equals
        :meth:`run` on its volume up to float rounding.

        Args:
            volumes: the scans, each (z, y, x) HU with its affine; sizes may differ.
            explain: compute the heat maps and the boxes.
            explanation: settings for this call only (default: the pipeline's).

        Returns:
            One :class:`CtResult` per volume, in order. Timings are per volume: the batched
            stages' times divided by the number of volumes.
        """
        if not volumes:
            return []
        n = len(volumes)
        t0 = time.perf_counter()
        # the body's largest component, found once for the scope check and the crop
        components = [body_component(v.array, SCOPE_THRESHOLD_HU) for v in volumes]
        warnings = [
            self.scope_warnings(v, component=c) for v, c in zip(volumes, components, strict=True)
        ]
        shared_crop = self.preprocessing.foreground_threshold == SCOPE_THRESHOLD_HU
        prepared = [
            preprocess_volume(v, self.preprocessing, component=c if shared_crop else None)
            for v, c in zip(volumes, components, strict=True)
        ]
        t1 = time.perf_counter()
        network, device = self.model.network, self.model.device
        x = torch.from_numpy(np.stack([p.array for p in prepared]))[:, None].to(device)
        logits = self._forward(x).float()
        domains = [
            self.domain_check(v, x[i : i + 1], w)
            for i, (v, w) in enumerate(zip(volumes, warnings, strict=True))
        ]
        if logits.shape[1] >= 2:
            probabilities = torch.softmax(logits, dim=1)[:, 1].tolist()
        else:
            probabilities = torch.sigmoid(logits[:, 0]).tolist()
        t2 = time.perf_counter()
        shared = {"preprocess": (t1 - t0) / n, "forward": (t2 - t1) / n}
        settings = explanation or self.explanation
        layer_name, layer = (
            (self.layer_name, self.layer)
            if settings == self.explanation
            else self.layer_for(settings)
        )
        cams: list[np.ndarray] = []
        if explain:
            cam_batch = grad_cam(network, x, layer, fracture_log_odds, method=settings.method)
            cams = [np.ascontiguousarray(c.numpy(), dtype=np.float32) for c in cam_batch]
            shared["gradcam"] = (time.perf_counter() - t2) / n
        results = []
        for i, (volume, prep, probability) in enumerate(
            zip(volumes, prepared, probabilities, strict=True)
        ):
            t3 = time.perf_counter()
            timings = dict(shared)
            heatmap: HeatVolume | None = None
            threshold: float | None = None
            regions: tuple[CamRegion, ...] = ()
            if explain:
                heatmap, threshold, regions, more = self._explain_one(
                    volume, prep, cams[i], settings
                )
                timings.update(more)
            timings["total"] = (t2 - t0) / n + shared.get("gradcam", 0.0) + time.perf_counter() - t3
            raw_call = self.call_for(float(probability))
            call = raw_call if domains[i].in_domain else OUT_OF_DOMAIN
            looked: tuple[CamRegion, ...] = ()
            if call not in BOXED_CALLS:
                regions, looked = (), regions
            results.append(
                CtResult(
                    probability=float(probability),
                    call=call,
                    raw_call=raw_call,
                    domain=domains[i],
                    looked_regions=looked,
                    heatmap=heatmap,
                    regions=regions,
                    timings_s=timings,
                    model=self.model_label,
                    gradcam_layer=layer_name if explain else "",
                    explanation=settings if explain else None,
                    region_threshold=threshold,
                    warnings=warnings[i],
                )
            )
        return results

    def _explain_one(
        self, volume: Volume, prepared: PreparedVolume, cam: np.ndarray, settings: CamSettings
    ) -> tuple[HeatVolume, float, tuple[CamRegion, ...], dict[str, float]]:
        """A cube's CAM on the volume's own grid, restricted to the body, and its regions.

        Explanations stay on the scanned body, never in the air around it, and the
        threshold is taken over the body alone (unless the settings say otherwise). The map
        is zero outside the model's field of view, so the body is only needed there; the
        boxes are found on a 1 mm sub-grid and refined on the full grid around each region
        (:func:`~ankle_core.explain.ct_heat.heat_regions`), never on the whole map.
        """
        t3 = time.perf_counter()
        boxes = settings.boxes
        heat = HeatVolume(
            cam,
            prepared.transform,
            order=self.spline_order,
            hu=volume.array,
            body_threshold_hu=boxes.body_threshold_hu,
        )
        t4 = time.perf_counter()
        heatmap, threshold, found = heat_regions(heat, volume.affine, boxes)
        regions = to_cam_regions(found, volume.affine)
        t5 = time.perf_counter()
        # the map is evaluated where it is read (HeatVolume): nothing is upsampled here, and
        # the body mask is made per box inside "boxes"
        timings = {"upsample": t4 - t3, "body_mask": 0.0, "boxes": t5 - t4}
        return heatmap, threshold, regions, timings

    def domain_check(
        self, volume: Volume, x: torch.Tensor, scope: tuple[str, ...] = ()
    ) -> DomainCheck:
        """The domain gate for one volume (module docstring).

        Args:
            volume: the scan (its header facts).
            x: the network's (1, 1, D, H, W) input for this volume.
            scope: the scope check's warnings, each a reason to be out of domain.
        """
        domain = ModelDomain.from_card(self.model.card.domain)
        feats = None
        if domain is not None and domain.features is not None:
            if domain.features.extractor != "ct-last-stage-gap":
                raise ModelLoadError(
                    f"Unknown domain feature extractor {domain.features.extractor!r}."
                )
            feats = ct_features(self.model.network, x)
        return check_domain(
            domain,
            volume.metadata,
            feats,
            model=self.model.card.name,
            extra_reasons=[_scope_reason(w) for w in scope],
        )

    def scope_warnings(
        self, volume: Volume, *, component: tuple[np.ndarray, int] | None = None
    ) -> tuple[str, ...]:
        """Cautions about a volume the model was not made for (empty when it looks fine).

        ``component``: the volume's :func:`~ankle_core.preprocess.spatial.body_component`
        at :data:`SCOPE_THRESHOLD_HU`, when already found.
        """
        if self.max_body_section_cm2 is None:
            return ()
        section = body_section_cm2(
            volume.array, volume.affine, SCOPE_THRESHOLD_HU, component=component
        )
        if section <= self.max_body_section_cm2:
            return ()
        return (
            f"This does not look like an ankle CT: the body's largest cross-section is "
            f"{section:.0f} cm², where an ankle or foot is under about "
            f"{self.max_body_section_cm2:.0f} cm². The model was trained on ankle phantoms; "
            "its probability and boxes mean nothing on another body part.",
        )


def _scope_reason(warning: str) -> str:
    """A scope warning's first sentence, as a gate reason.

    >>> _scope_reason("Not an ankle: the body is 600 cm². More words.")
    'not an ankle (the body is 600 cm²)'
    """
    first = warning.split(". ")[0].rstrip(".")
    head, _, detail = first.partition(": ")
    head = head[:1].lower() + head[1:]
    return f"{head} ({detail})" if detail else head
