"""The domain gate: is an input like the images a model was trained on?

Every model card may declare its **domain** (``card.json`` key ``"domain"``):

- ``kind``: ``"synthetic"`` (this project's phantoms) or ``"real"`` (images of patients);
- ``modalities``: DICOM modalities it was trained on (``["DX", "CR"]``, ``["CT"]``);
- ``body_regions``: DICOM Body Part Examined values it covers (``["ANKLE", "FOOT"]``);
- ``description``: the training images in words;
- ``features`` (optional): the training set's pooled-feature statistics, ``extractor``
  (which features), ``mean`` and ``std`` per dimension, and ``threshold``, the largest
  distance (:func:`feature_distance`) still in domain, with ``chosen_on``;
- ``image_cues`` (optional): statistics of the pixels alone
  (:mod:`ankle_core.models.image_cues`), each with its in-domain range ``[low, high]``
  measured on the training images: a second cue, independent of any network.

:func:`check_domain` applies it to one input and returns a :class:`DomainCheck`
(``in_domain`` and a ``reason`` in words). An input is **out of domain** when any of:

1. its DICOM header names a modality the card does not list;
2. its header names a body part outside the card's regions;
3. a ``synthetic`` model meets a DICOM file that does not carry this project's phantom
   marker (Manufacturer ``"ankle_core phantoms"``, written by :mod:`ankle_core.phantoms`),
   or a ``real`` model meets one that does;
4. its pooled features lie farther from the training set's than the card's threshold;
5. one of its image statistics lies outside the card's range for it;
6. the caller adds a reason of its own (the CT pipeline's body-size scope check).

Files without a header (PNG, JPEG, NIfTI) are judged on 4 to 6 alone. The rules are
combined by OR: any one of them puts the input out of domain, and the reason names each
that did. A card that declares
no domain is not gated: the check says so and passes.

The feature distance is the root-mean-square z-score, ``sqrt(mean(((f - mean) / std)^2))``,
a diagonal Mahalanobis distance scaled by the number of dimensions, so that one threshold
reads the same for any feature size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from ankle_core.errors import ModelLoadError
from ankle_core.models.image_cues import ImageCue, image_statistic
from ankle_core.phantoms.writers import PHANTOM_MANUFACTURER

__all__ = [
    "NOT_DECLARED",
    "PHANTOM_MANUFACTURER",
    "DomainCheck",
    "FeatureStats",
    "ModelDomain",
    "check_domain",
    "ct_features",
    "detector_features",
    "feature_distance",
    "feature_stats",
    "is_phantom_header",
]

#: Reason of a check against a card that declares no domain.
NOT_DECLARED = "the model card declares no domain, so the input was not checked"

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DomainCheck:
    """Whether one input lies in a model's training domain.

    Attributes:
        in_domain: True when nothing says the input is unlike the training images.
        reason: the finding in words (why it is out, or what was checked).
        distance: the feature distance, when measured.
        threshold: the card's in-domain limit for ``distance``.
        image_stats: the card's image statistics measured on the input, ``(name, value)``.
    """

    in_domain: bool
    reason: str
    distance: float | None = None
    threshold: float | None = None
    image_stats: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out: dict[str, Any] = {
            "in_domain": self.in_domain,
            "reason": self.reason,
            "distance": None if self.distance is None else round(self.distance, 3),
            "threshold": None if self.threshold is None else round(self.threshold, 3),
        }
        if self.image_stats:
            out["image_stats"] = {k: float(f"{v:.4g}") for k, v in self.image_stats}
        return out


@dataclass(frozen=True)
class FeatureStats:
    """Training-set statistics of pooled features, and the in-domain limit.

    Attributes:
        extractor: which features (e.g. ``"detector-fpn-meanstd"``).
        mean: (D,) per-dimension mean over the training images.
        std: (D,) per-dimension standard deviation (floored to avoid division by zero).
        threshold: largest :meth:`distance` still in domain.
        chosen_on: how ``threshold`` was chosen.
        components: (K, D) orthonormal principal axes of the training set's z-scores, or
            None. With them the distance is the root-mean-square of the part of the z-score
            vector that lies OUTSIDE the training set's principal subspace (how far the input
            is from the manifold the training images span), not the whole z-score.
    """

    extractor: str
    mean: F64
    std: F64
    threshold: float
    chosen_on: str = ""
    components: F64 | None = None

    def distance(self, features: npt.ArrayLike) -> float:
        """Distance of one feature vector to the training set (see the attributes)."""
        if self.components is None:
            return feature_distance(features, self.mean, self.std)
        z = (np.asarray(features, np.float64).ravel() - self.mean) / self.std
        if z.shape != self.mean.shape:
            raise ValueError(f"feature size {z.size} differs from the card's {self.mean.size}")
        residual = z - self.components.T @ (self.components @ z)
        return float(math.sqrt(float(np.mean(residual**2))))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (values rounded to 5 significant digits)."""
        out: dict[str, Any] = {
            "extractor": self.extractor,
            "metric": "root-mean-square z-score over the feature dimensions"
            if self.components is None
            else "root-mean-square of the z-scores' residual outside the training set's "
            f"first {self.components.shape[0]} principal components",
            "mean": [float(f"{v:.5g}") for v in self.mean],
            "std": [float(f"{v:.5g}") for v in self.std],
            "threshold": round(float(self.threshold), 4),
            "chosen_on": self.chosen_on,
        }
        if self.components is not None:
            out["components"] = [[float(f"{v:.4g}") for v in row] for row in self.components]
        return out


@dataclass(frozen=True)
class ModelDomain:
    """The training domain a card declares (see the module docstring)."""

    kind: str
    modalities: tuple[str, ...] = ()
    body_regions: tuple[str, ...] = ()
    description: str = ""
    features: FeatureStats | None = None
    image_cues: tuple[ImageCue, ...] = ()

    @classmethod
    def from_card(cls, entry: Mapping[str, Any] | None) -> ModelDomain | None:
        """Parse a card's ``domain`` entry; None when the card declares none.

        Raises:
            ModelLoadError: the entry is malformed.
        """
        if not entry:
            return None
        try:
            kind = str(entry["kind"])
            if kind not in ("synthetic", "real"):
                raise ValueError(f"kind must be 'synthetic' or 'real', got {kind!r}")
            feats = entry.get("features")
            stats = None
            if feats:
                mean = np.asarray(feats["mean"], np.float64)
                std = np.maximum(np.asarray(feats["std"], np.float64), 1e-6)
                if mean.shape != std.shape or mean.ndim != 1:
                    raise ValueError("features.mean and features.std must be equal-length lists")
                comps = feats.get("components")
                components = None
                if comps:
                    components = np.asarray(comps, np.float64)
                    if components.ndim != 2 or components.shape[1] != mean.size:
                        raise ValueError("features.components must be K rows of the mean's size")
                stats = FeatureStats(
                    extractor=str(feats["extractor"]),
                    mean=mean,
                    std=std,
                    threshold=float(feats["threshold"]),
                    chosen_on=str(feats.get("chosen_on", "")),
                    components=components,
                )
            return cls(
                kind=kind,
                modalities=tuple(str(m).upper() for m in entry.get("modalities", ())),
                body_regions=tuple(str(b).upper() for b in entry.get("body_regions", ())),
                description=str(entry.get("description", "")),
                features=stats,
                image_cues=tuple(ImageCue.from_dict(c) for c in entry.get("image_cues", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"The model card's domain entry is malformed: {exc}") from exc

    @property
    def words(self) -> str:
        """The domain in a few words, e.g. ``"synthetic ankle phantoms"``."""
        if self.description:
            return self.description
        region = "/".join(b.lower() for b in self.body_regions) or "any body part"
        modality = "/".join(self.modalities) or "any modality"
        return f"{self.kind} {region} images ({modality})"


def feature_distance(features: npt.ArrayLike, mean: npt.ArrayLike, std: npt.ArrayLike) -> float:
    """Root-mean-square z-score of ``features`` against per-dimension ``mean`` and ``std``.

    >>> feature_distance([1.0, 3.0], [1.0, 1.0], [1.0, 1.0])
    1.4142135623730951
    """
    f = np.asarray(features, np.float64).ravel()
    m = np.asarray(mean, np.float64).ravel()
    s = np.maximum(np.asarray(std, np.float64).ravel(), 1e-6)
    if f.shape != m.shape:
        raise ValueError(f"feature size {f.size} differs from the card's {m.size}")
    return float(math.sqrt(float(np.mean(((f - m) / s) ** 2))))


def feature_stats(
    features: npt.ArrayLike,
    *,
    extractor: str,
    threshold: float,
    chosen_on: str,
    n_components: int = 0,
) -> FeatureStats:
    """Statistics of training features (N, D) for a card (std floored at 1e-6).

    Args:
        features: (N, D) training features.
        extractor: their extractor's name.
        threshold: the in-domain limit.
        chosen_on: how the limit was chosen.
        n_components: keep this many principal axes of the z-scores (0: none, plain
            root-mean-square z-score).
    """
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError("need at least two feature vectors, shape (N, D)")
    mean = x.mean(axis=0)
    std = np.maximum(x.std(axis=0, ddof=1), 1e-6)
    components = None
    if n_components > 0:
        z = (x - mean) / std
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        components = vt[: min(n_components, vt.shape[0])]
    return FeatureStats(
        extractor=extractor,
        mean=mean,
        std=std,
        threshold=float(threshold),
        chosen_on=chosen_on,
        components=components,
    )


def is_phantom_header(metadata: Mapping[str, Any]) -> bool:
    """True when the input carries this project's phantom marker: the Manufacturer its DICOM
    writer sets, or ``synthetic: True`` on a phantom made in memory (no reader sets it)."""
    if metadata.get("synthetic") is True:
        return True
    return str(metadata.get("manufacturer") or "").strip() == PHANTOM_MANUFACTURER


def _header_reasons(domain: ModelDomain, metadata: Mapping[str, Any], model: str) -> list[str]:
    modality = str(metadata.get("modality") or "").strip().upper()
    body_part = str(metadata.get("body_part") or "").strip().upper()
    reasons = []
    if modality and domain.modalities and modality not in domain.modalities:
        reasons.append(
            f"the file's modality is {modality}, and {model} was trained on "
            f"{'/'.join(domain.modalities)} images"
        )
    if body_part and domain.body_regions and body_part not in domain.body_regions:
        reasons.append(
            f"the header says the body part is {body_part}, outside {model}'s "
            f"{'/'.join(b.lower() for b in domain.body_regions)} domain"
        )
    if modality:  # a DICOM header is present
        phantom = is_phantom_header(metadata)
        if domain.kind == "synthetic" and not phantom:
            reasons.append(
                "the DICOM header does not mark this image as one of this project's synthetic "
                f"phantoms, and {model} was trained on synthetic phantoms only"
            )
        elif domain.kind == "real" and phantom:
            reasons.append(
                f"the header marks this image as a synthetic phantom, and {model} was trained "
                "on real images"
            )
    return reasons


def check_domain(
    domain: ModelDomain | None,
    metadata: Mapping[str, Any],
    features: npt.ArrayLike | None = None,
    *,
    pixels: npt.ArrayLike | None = None,
    model: str = "the model",
    extra_reasons: Sequence[str] = (),
) -> DomainCheck:
    """Apply a card's domain to one input (see the module docstring for the rules).

    Args:
        domain: the card's parsed domain (None: not declared).
        metadata: the input's de-identified header facts (``modality``, ``body_part``,
            ``manufacturer``; absent for files without a header).
        features: the input's pooled features, when the card has statistics for them.
        pixels: the (H, W) image at its own resolution, for the card's ``image_cues`` (not
            checked when None).
        model: the model's name, for the reason.
        extra_reasons: further reasons the input is out of domain (e.g. the CT scope check).

    Returns:
        The :class:`DomainCheck`; its reason joins every finding.
    """
    extra = [r for r in extra_reasons if r]
    if domain is None:
        if extra:
            return DomainCheck(False, _sentence(extra))
        return DomainCheck(True, NOT_DECLARED)
    reasons = _header_reasons(domain, metadata, model) + extra
    distance = threshold = None
    stats = domain.features
    if stats is not None and features is not None:
        distance, threshold = stats.distance(features), stats.threshold
        if not math.isfinite(distance) or distance > threshold:
            reasons.append(
                f"the image looks unlike the {domain.words} {model} was trained on "
                f"(feature distance {distance:.1f}, in-domain limit {threshold:.1f})"
            )
    measured: list[tuple[str, float]] = []
    outside: list[str] = []
    if domain.image_cues and pixels is not None:
        for cue in domain.image_cues:
            value = image_statistic(cue.statistic, pixels)
            measured.append((cue.statistic, value))
            if not cue.contains(value):
                outside.append(
                    f"{cue.words} {value:.2g}, in-domain {cue.low:.2g} to {cue.high:.2g}"
                )
    if outside:
        reasons.append(
            f"the image's pixel statistics are unlike those of the {domain.words} {model} was "
            f"trained on ({'; '.join(outside)})"
        )
    stats_out = tuple(measured)
    if reasons:
        return DomainCheck(False, _sentence(reasons), distance, threshold, stats_out)
    checked = ["header"]
    if distance is not None:
        checked.append("image features")
    if measured:
        checked.append("image statistics")
    return DomainCheck(
        True,
        f"in domain ({domain.words}; checked: {', '.join(checked)})",
        distance,
        threshold,
        stats_out,
    )


def _sentence(reasons: Sequence[str]) -> str:
    text = "; ".join(reasons)
    return "Out of domain: " + text[0].lower() + text[1:] + "."


def detector_features(network: nn.Module, pixels: npt.NDArray[np.float32]) -> F64:
    """Extractor ``"detector-fpn-meanstd"``: the detector's FPN maps, mean- and std-pooled.

    The radiograph is prepared exactly as for detection (long side, normalisation, padding);
    each FPN level's map is pooled over its positions (mean, then standard deviation) and
    the levels are concatenated.

    Args:
        network: a ``retinanet_fragment`` network (torchvision RetinaNet).
        pixels: (H, W) float32 in [0, 1].

    Returns:
        (2 x levels x FPN channels,) float64.
    """
    from ankle_core.models.detector import prepare_detector_input

    device = next(network.parameters()).device
    prepared = prepare_detector_input(pixels, network, device=device)  # type: ignore[arg-type]
    backbone: nn.Module = network.backbone  # type: ignore[assignment]
    with torch.no_grad():
        maps = backbone(prepared.tensor)
    pooled = [m.float().mean(dim=(2, 3))[0] for m in maps.values()]
    pooled += [m.float().std(dim=(2, 3))[0] for m in maps.values()]
    return torch.cat(pooled).cpu().numpy().astype(np.float64)


def ct_features(network: nn.Module, x: torch.Tensor) -> F64:
    """Extractor ``"ct-last-stage-gap"``: the CT network's deepest block, averaged.

    Args:
        network: a CT network of :mod:`ankle_core.models.cnn3d`.
        x: its (1, 1, D, H, W) preprocessed input.

    Returns:
        (channels,) float64 of the last block of
        :func:`~ankle_core.models.cnn3d.feature_stages`.
    """
    from ankle_core.models.cnn3d import feature_stages

    _, block, _ = feature_stages(network)[-1]
    captured: list[torch.Tensor] = []
    handle = block.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
    try:
        with torch.no_grad():
            network(x)
    finally:
        handle.remove()
    fmap = captured[-1].float()
    return fmap.mean(dim=tuple(range(2, fmap.ndim)))[0].cpu().numpy().astype(np.float64)
