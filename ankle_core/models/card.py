"""Model cards: the facts that travel with a model's weights.

A card is ``models/<name>/card.json`` beside ``model.safetensors``. It records what the
network is (architecture, task, spatial dims, labels, input size, preprocessing), how to use
it (operating points), where it came from (training data, the exact command and seed, the
device it was trained on), how good it is (test metrics with 95% CIs), and the sha256 of
the weights, which the loader checks.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ankle_core.errors import ModelLoadError

__all__ = [
    "SYNTHETIC_DISCLAIMER",
    "ModelCard",
    "ModelTask",
    "OperatingPoints",
    "models_for_task",
    "read_card",
    "write_card",
]

SYNTHETIC_DISCLAIMER = "Trained on synthetic phantoms; not for clinical use."


class ModelTask(enum.StrEnum):
    """What a model does: the closed set a card's ``task`` is taken from.

    The values are the strings the committed cards carry, so every card still loads.
    """

    FRAGMENT_DETECTION = "fragment-detection"
    """2D RetinaNet boxes of perimalleolar bone fragments (stage 1 of the radiograph pipeline)."""
    LMAF_VS_SFO = "lmaf-vs-sfo"
    """2D classifier of one fragment crop: LMAF (index 1) or SFO (stage 2)."""
    CT_FRACTURE = "ct-fracture"
    """3D CNN fracture probability of a CT volume."""
    FRACTURE_LOCALISATION = "fracture-localisation"
    """2D detector of fracture boxes on a whole radiograph (the real-data localiser)."""

    @classmethod
    def parse(cls, value: str) -> ModelTask:
        """The task named ``value``.

        Raises:
            ModelLoadError: an unknown task; the message lists the valid ones.

        >>> ModelTask.parse("lmaf-vs-sfo") is ModelTask.LMAF_VS_SFO
        True
        """
        try:
            return cls(value)
        except ValueError:
            valid = ", ".join(t.value for t in cls)
            raise ModelLoadError(f"Unknown model task {value!r}; valid tasks: {valid}.") from None


@dataclass(frozen=True)
class OperatingPoints:
    """Thresholds on the positive-class probability, chosen on validation data.

    Attributes:
        default: single threshold (probability >= default -> positive).
        high_sensitivity: at or below this, the call is negative (rule-out).
        high_specificity: at or above this, the call is positive (rule-in).
        chosen_on: short description of the data they were chosen on.
    """

    default: float = 0.5
    high_sensitivity: float = 0.5
    high_specificity: float = 0.5
    chosen_on: str = "unspecified"

    def __post_init__(self) -> None:
        values = (self.default, self.high_sensitivity, self.high_specificity)
        if not all(0.0 <= v <= 1.0 for v in values):
            raise ModelLoadError(f"Operating points must lie in [0, 1], got {values}.")
        if self.high_sensitivity > self.high_specificity:
            raise ModelLoadError(
                "The high-sensitivity threshold must not exceed the high-specificity one."
            )


@dataclass(frozen=True)
class ModelCard:
    """Everything known about one trained model.

    Attributes:
        name: folder name under ``models/`` (e.g. ``"lmaf-classifier-mobilenetv2"``).
        version: semantic version of these weights.
        architecture: registry key of the network builder (see ``ankle_core.models.registry``).
        task: a :class:`ModelTask` (a ``str``; given as its value, e.g. ``"ct-fracture"``,
            it is checked and stored as the enum member).
        spatial_dims: 2 or 3.
        labels: class names in output order (index 1 is the positive class for binary tasks).
        input_size: network input size in pixels/voxels, e.g. ``[224, 224]`` or ``[64, 64, 64]``.
        preprocessing: how inputs are prepared (channel mode, window, spacing, normalisation).
        architecture_params: keyword arguments of the builder (e.g. ``{"backbone": ...}``).
        operating_points: thresholds chosen on validation data.
        postprocessing: how outputs are post-processed (detector: ``merge_iou``, the IoU
            above which overlapping boxes are merged across the result).
        explanation: recommended explanation settings (CT: ``method``, ``min_cells`` and any
            :class:`ankle_core.explain.boxes.BoxSettings` field such as ``otsu_classes``,
            read by :meth:`ankle_core.explain.ct.CamSettings.from_dict`); empty for the
            reference paper's Grad-CAM and Otsu.
        training: data (synthetic or site), command, seed, device, epochs, splits.
        metrics: test metrics, each ideally ``{"value": v, "ci95": [lo, hi], "n": n}``.
        intended_use: plain-words statement of use and limits.
        domain: the training domain the gate checks inputs against (kind, modalities, body
            regions, pooled-feature statistics; see :mod:`ankle_core.models.domain`); empty
            when not declared.
        weights_sha256: sha256 hex digest of ``model.safetensors``.
        weights_dtype: dtype the weights are stored in (``"float16"`` or ``"float32"``).
    """

    name: str
    version: str
    architecture: str
    task: str
    spatial_dims: int
    labels: tuple[str, ...]
    input_size: tuple[int, ...]
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    architecture_params: Mapping[str, Any] = field(default_factory=dict)
    operating_points: OperatingPoints = field(default_factory=OperatingPoints)
    postprocessing: Mapping[str, Any] = field(default_factory=dict)
    explanation: Mapping[str, Any] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    intended_use: str = SYNTHETIC_DISCLAIMER
    domain: Mapping[str, Any] = field(default_factory=dict)
    weights_sha256: str = ""
    weights_dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", ModelTask.parse(self.task))

    @property
    def model_task(self) -> ModelTask:
        """``task`` typed as the enum."""
        return ModelTask(self.task)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["input_size"] = list(self.input_size)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Build a card from parsed JSON; raises ModelLoadError on a malformed card."""
        try:
            fields = dict(data)
            ops = fields.pop("operating_points", None) or {}
            return cls(
                name=str(fields.pop("name")),
                version=str(fields.pop("version")),
                architecture=str(fields.pop("architecture")),
                task=str(fields.pop("task")),
                spatial_dims=int(fields.pop("spatial_dims")),
                labels=tuple(str(x) for x in fields.pop("labels")),
                input_size=tuple(int(x) for x in fields.pop("input_size")),
                operating_points=OperatingPoints(**ops),
                **{k: v for k, v in fields.items() if k in _OPTIONAL_FIELDS},
            )
        except ModelLoadError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"The model card is malformed ({type(exc).__name__}).") from exc


_OPTIONAL_FIELDS = {
    "preprocessing",
    "postprocessing",
    "explanation",
    "architecture_params",
    "training",
    "metrics",
    "intended_use",
    "domain",
    "weights_sha256",
    "weights_dtype",
}


def models_for_task(
    cards: Mapping[str, ModelCard] | Iterable[tuple[str, ModelCard]],
    task: ModelTask,
    *,
    spatial_dims: int | None = None,
) -> list[str]:
    """Names of the models that do ``task`` (optionally with this many spatial dims).

    Args:
        cards: cards by name (e.g. the installed models'), or (name, card) pairs.
        task: the task asked for.
        spatial_dims: 2 or 3 to keep only models of that dimension; None: any.

    Returns:
        The names, in the order given.
    """
    pairs = cards.items() if isinstance(cards, Mapping) else cards
    return [
        name
        for name, card in pairs
        if card.task == task and (spatial_dims is None or card.spatial_dims == spatial_dims)
    ]


def read_card(path: str | Path) -> ModelCard:
    """Read ``card.json`` (a file, or a model folder containing one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "card.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(
            f"Cannot read the model card {p.name} ({type(exc).__name__})."
        ) from exc
    if not isinstance(data, dict):
        raise ModelLoadError("The model card must be a JSON object.")
    return ModelCard.from_dict(data)


def write_card(card: ModelCard, path: str | Path) -> Path:
    """Write ``card.json`` (to a file path, or into a model folder); returns the file path."""
    p = Path(path)
    if p.is_dir() or p.suffix != ".json":
        p.mkdir(parents=True, exist_ok=True)
        p = p / "card.json"
    p.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return p
