"""Recipe: measure installed radiograph models on fresh phantoms, optionally into their cards.

Config in (:class:`PhantomEvalConfig`), report out (:func:`evaluate_installed`).
``python -m ankle_core.training evaluate-phantoms`` parses its flags into the config
(:mod:`ankle_core.training.radiograph_cli`) and prints the report as JSON.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

__all__ = ["PhantomEvalConfig", "evaluate_installed"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhantomEvalConfig:
    """Which models to measure on which fresh phantoms.

    Attributes:
        models_dir: Folder of installed models (None: the settings' ``models_dir``).
        detector: Detector model name.
        classifiers: Classifier model names.
        n: Number of fresh phantom cases.
        seed_start: Seed of the first case (training used 0..799).
        size: Phantom side, pixels.
        difficulty: ``(low, high)`` of the uniform difficulty.
        threads: Torch CPU threads (0: torch's default).
        update_cards: Write the figures into each card's ``metrics["fresh_phantoms"]``.
        command: The command line recorded in the report.
    """

    models_dir: Path | None = None
    detector: str = "lmaf-fragment-detector"
    classifiers: tuple[str, ...] = ("lmaf-classifier-mobilenetv2", "lmaf-classifier-efficientnetb0")
    n: int = 300
    seed_start: int = 1_000_000
    size: int = 384
    difficulty: tuple[float, float] = (0.3, 0.9)
    threads: int = 0
    update_cards: bool = False
    command: str = ""


def evaluate_installed(config: PhantomEvalConfig) -> dict[str, Any]:
    """Measure the models on fresh phantoms; with ``update_cards`` record it in the cards.

    Args:
        config: Models and phantoms.

    Returns:
        :func:`~ankle_core.training.evaluate.evaluate_on_phantoms`'s report plus a
        ``protocol`` entry.
    """
    from ankle_core.models.card import write_card
    from ankle_core.models.weights import load_model, resolve_model_dir
    from ankle_core.training.evaluate import evaluate_on_phantoms, phantom_cases

    if config.threads > 0:
        torch.set_num_threads(int(config.threads))
    kw: dict[str, Any] = {"models_dir": config.models_dir, "device": "cpu"}
    if config.models_dir is None:
        from ankle_core.config import Settings

        kw["models_dir"] = Settings().models_dir
    detector = load_model(config.detector, **kw)
    classifiers = [load_model(name, **kw) for name in config.classifiers]
    lo, hi = (float(v) for v in config.difficulty)
    n, seed = config.n, config.seed_start
    cases = phantom_cases(n, seed_start=seed, size=config.size, difficulty=(lo, hi))
    report = evaluate_on_phantoms(detector, classifiers, cases, seed=seed)
    report["protocol"] = {
        "cases": n,
        "seeds": f"{seed}..{seed + n - 1} (training used 0..799)",
        "size_px": config.size,
        "difficulty": f"uniform {lo}..{hi}",
        "command": config.command,
    }
    if config.update_cards:
        for model in [detector, *classifiers]:
            folder = resolve_model_dir(model.card.name, kw["models_dir"])
            own = {k: v for k, v in report.items() if k in (model.card.name, "protocol")}
            if model is detector:
                own["detector"] = report["detector"]
            else:
                own["detector_used"] = f"{detector.card.name} {detector.card.version}"
                own["comparisons"] = report["comparisons"]
            metrics = {**dict(model.card.metrics), "fresh_phantoms": own}
            write_card(replace(model.card, metrics=metrics), folder / "card.json")
    return report
