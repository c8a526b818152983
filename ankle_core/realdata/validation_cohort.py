"""The FracAtlas validation cohort of the real-image models, and its on-disk score cache.

Which images a model was not trained on comes from its card: a card whose
``training["splits"]["val_files"]`` lists file names is evaluated on exactly those. A model
whose card does not name FracAtlas in its training data never saw any FracAtlas image; for it
(and when no card lists files) the cohort follows FracAtlas' own rule: its ``valid`` fractured
images plus a view-stratified 15% sample (seed 0) of the non-fractured ones. With several
models the cohort is the intersection of their unseen images, so that paired tests compare
them on the same images.

Scores are cached as small CSV files (image name, score) per model name, version and weights
hash, so a page can draw the cohort in seconds after the first run.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ankle_core.errors import InvalidInputError

__all__ = [
    "CohortImage",
    "RealCohort",
    "cache_file",
    "cohort_frame",
    "default_validation",
    "listed_validation_files",
    "load_scores",
    "read_cohort_table",
    "save_scores",
    "validation_cohort",
]

logger = logging.getLogger(__name__)

_VIEWS = ("frontal", "lateral", "oblique")


@dataclass(frozen=True)
class CohortImage:
    """One FracAtlas image of the cohort.

    Attributes:
        name: file name (the image's only identifier).
        path: the JPEG.
        truth: 1 when fractured, else 0.
        view: the single view, ``"multi"`` for several, ``"none"`` for none.
        hardware: orthopaedic implants present.
        split: FracAtlas' split of a fractured image (``"train"``/``"valid"``), else ``""``.
    """

    name: str
    path: Path
    truth: int
    view: str
    hardware: bool
    split: str


@dataclass(frozen=True)
class RealCohort:
    """The images a set of models is evaluated on, and why.

    Attributes:
        images: sorted by name.
        rule: how they were chosen (one sentence per model).
    """

    images: tuple[CohortImage, ...]
    rule: str


def read_cohort_table(root: Path) -> list[CohortImage]:
    """The readable images of FracAtlas' ``dataset.csv`` under ``root`` whose file exists.

    Args:
        root: the ``fracatlas-leg`` folder.

    Returns:
        The images, sorted by name.

    Raises:
        InvalidInputError: without a readable ``dataset.csv``.
    """
    table = root / "dataset.csv"
    if not table.is_file():
        raise InvalidInputError(f"No FracAtlas table at {table.name}.")
    out = []
    with table.open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("readable", "1") != "1":
                continue
            path = root / "images" / row["image_id"]
            if not path.is_file():
                continue
            views = [v for v in _VIEWS if row.get(v) == "1"]
            view = views[0] if len(views) == 1 else ("multi" if views else "none")
            out.append(
                CohortImage(
                    name=row["image_id"],
                    path=path,
                    truth=int(row["fractured"] == "1"),
                    view=view,
                    hardware=row.get("hardware") == "1",
                    split=(row.get("fracatlas_split") or "").strip(),
                )
            )
    return sorted(out, key=lambda im: im.name)


def default_validation(
    images: Sequence[CohortImage], negative_fraction: float = 0.15, seed: int = 0
) -> list[CohortImage]:
    """FracAtlas' ``valid`` fractured images plus a view-stratified non-fractured sample.

    Args:
        images: the table's images.
        negative_fraction: share of non-fractured images taken per view stratum.
        seed: seed of the sample.

    Returns:
        The chosen images, sorted by name.
    """
    rng = np.random.default_rng(seed)
    held = {im.name for im in images if im.truth and im.split == "valid"}
    strata: dict[str, list[str]] = {}
    for im in images:
        if not im.truth:
            strata.setdefault(im.view, []).append(im.name)
    for key in sorted(strata):
        names = sorted(strata[key])
        k = round(negative_fraction * len(names))
        held.update(str(n) for n in rng.choice(names, size=k, replace=False))
    return [im for im in images if im.name in held]


def listed_validation_files(training: Any) -> list[str] | None:
    """The validation file names a card's ``training`` lists (``splits.val_files``), or None.

    Args:
        training: a model card's ``training`` mapping.
    """
    if not isinstance(training, Mapping):
        return None
    splits = training.get("splits")
    if not isinstance(splits, Mapping):
        return None
    files = splits.get("val_files")
    if not isinstance(files, list) or not files:
        return None
    return [str(f) for f in files]


def _trained_on_fracatlas(training: Any) -> bool:
    return "fracatlas" in str(training).lower()


def validation_cohort(root: Path, trainings: Mapping[str, Any]) -> RealCohort:
    """The cohort the given models were not trained on (see the module's rule).

    Args:
        root: the ``fracatlas-leg`` folder.
        trainings: each model's card ``training`` mapping, by model name.

    Returns:
        The cohort.

    Raises:
        InvalidInputError: when a model trained on FracAtlas lists no validation files, or
            when the models share no unseen image.
    """
    table = read_cohort_table(root)
    default = default_validation(table)
    chosen: set[str] | None = None
    rules = []
    for name, training in sorted(trainings.items()):
        files = listed_validation_files(training)
        if files is not None:
            unseen = set(files)
            rules.append(f"{name}: the {len(unseen)} validation images its card lists.")
        elif _trained_on_fracatlas(training):
            raise InvalidInputError(
                f"{name} was trained on FracAtlas but its card lists no validation images."
            )
        else:
            unseen = {im.name for im in default}
            rules.append(
                f"{name}: not trained on FracAtlas; FracAtlas' 'valid' fractured images plus "
                "15% of the non-fractured ones per view (seed 0)."
            )
        chosen = unseen if chosen is None else chosen & unseen
    if chosen is None:
        chosen = {im.name for im in default}
        rules.append("FracAtlas' 'valid' fractured images plus 15% of the non-fractured ones.")
    images = tuple(im for im in table if im.name in chosen)
    if not images:
        raise InvalidInputError("These models share no FracAtlas image they were not trained on.")
    if len(trainings) > 1:
        rules.append(f"Compared on the {len(images)} images every model left unseen.")
    return RealCohort(images, " ".join(rules))


def cache_file(cache_dir: Path, name: str, version: str, weights_sha256: str) -> Path:
    """The score cache of one model: ``<name>-<version>-<weights sha256[:12]>.csv``."""
    return cache_dir / f"{name}-{version}-{(weights_sha256 or 'none')[:12]}.csv"


def load_scores(path: Path) -> dict[str, float]:
    """Cached ``{image name: score}`` (empty when there is no cache or it is unreadable)."""
    if not path.is_file():
        return {}
    try:
        with path.open(newline="") as handle:
            return {row["image"]: float(row["score"]) for row in csv.DictReader(handle)}
    except (KeyError, ValueError, csv.Error):
        logger.warning("score cache %s is unreadable; recomputing", path.name)
        return {}


def save_scores(path: Path, scores: Mapping[str, float]) -> None:
    """Write ``{image name: score}`` as the model's cache (atomically replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "score"])
        for name in sorted(scores):
            writer.writerow([name, repr(float(scores[name]))])
    tmp.replace(path)


def cohort_frame(cohort: RealCohort, scores: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """One row per cohort image: name, truth, view, implants, and one score column per model.

    Args:
        cohort: the cohort.
        scores: model name -> image name -> image-level score.

    Returns:
        The predictions table (the cohort page's input).

    Raises:
        InvalidInputError: when a model has no score for an image of the cohort.
    """
    rows = []
    for im in cohort.images:
        row: dict[str, object] = {
            "image": im.name,
            "truth": im.truth,
            "view": im.view,
            "implants": "with implants" if im.hardware else "without implants",
        }
        for model, by_image in scores.items():
            if im.name not in by_image:
                raise InvalidInputError(f"{model} has no score for {im.name}.")
            row[model] = float(by_image[im.name])
        rows.append(row)
    return pd.DataFrame(rows)
