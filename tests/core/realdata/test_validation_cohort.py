"""The FracAtlas validation cohort: which images, the cards' lists, the score cache."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from ankle_core.errors import InvalidInputError
from ankle_core.models.card import ModelCard
from ankle_core.realdata.validation_cohort import (
    cache_file,
    cohort_frame,
    default_validation,
    load_scores,
    read_cohort_table,
    save_scores,
    validation_cohort,
)
from ankle_core.stats import auc_ci

FIELDS = [
    "image_id",
    "fractured",
    "frontal",
    "lateral",
    "oblique",
    "hardware",
    "fracatlas_split",
    "readable",
]


def _table(root: Path) -> Path:
    """40 images: 6 fractured (3 valid, 3 train, 1 with implants), 34 not; one unreadable."""
    (root / "images").mkdir(parents=True)
    rows = []
    for i in range(40):
        fractured = i < 6
        rows.append(
            {
                "image_id": f"IMG{i:04d}.jpg",
                "fractured": int(fractured),
                "frontal": int(i % 2 == 0),
                "lateral": int(i % 2 == 1),
                "oblique": 0,
                "hardware": int(i == 0),
                "fracatlas_split": ("valid" if i < 3 else "train") if fractured else "",
                "readable": 0 if i == 39 else 1,
            }
        )
        (root / "images" / f"IMG{i:04d}.jpg").write_bytes(b"x")
    with (root / "dataset.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return root


def _card(name: str, training: dict[str, object]) -> ModelCard:
    return ModelCard.from_dict(
        {
            "name": name,
            "version": "1.0.0",
            "architecture": "x",
            "task": "fracture-localisation",
            "spatial_dims": 2,
            "labels": ["background", "fracture"],
            "input_size": [64, 64],
            "training": training,
            "weights_sha256": "ab" * 32,
        }
    )


def test_default_rule_takes_the_valid_fractured_and_a_stratified_negative_share(
    tmp_path: Path,
) -> None:
    images = read_cohort_table(_table(tmp_path))
    assert len(images) == 39  # the unreadable row is left out
    chosen = default_validation(images)
    assert {im.name for im in chosen if im.truth} == {"IMG0000.jpg", "IMG0001.jpg", "IMG0002.jpg"}
    negatives = [im for im in chosen if not im.truth]
    assert len(negatives) == round(0.15 * 17) + round(0.15 * 16)  # per view stratum
    assert default_validation(images) == chosen  # seeded


def test_cards_lists_win_and_several_models_share_the_intersection(tmp_path: Path) -> None:
    root = _table(tmp_path)
    listed = _card(
        "new",
        {
            "data": "FracAtlas",
            "splits": {"val_files": ["IMG0000.jpg", "IMG0003.jpg", "IMG0010.jpg"]},
        },
    )
    other = _card("old", {"data": "Roboflow extremity set"})
    cohort = validation_cohort(root, {"new": listed.training})
    assert [im.name for im in cohort.images] == ["IMG0000.jpg", "IMG0003.jpg", "IMG0010.jpg"]
    assert "lists" in cohort.rule
    both = validation_cohort(root, {"new": listed.training, "old": other.training})
    default = {im.name for im in default_validation(read_cohort_table(root))}
    assert {im.name for im in both.images} == {
        "IMG0000.jpg",
        "IMG0003.jpg",
        "IMG0010.jpg",
    } & default
    unlisted = _card("bad", {"data": "FracAtlas train part"})
    with pytest.raises(InvalidInputError, match="lists no validation"):
        validation_cohort(root, {"bad": unlisted.training})


def test_score_cache_round_trips_and_the_frame_gives_the_same_auc(tmp_path: Path) -> None:
    root = _table(tmp_path)
    card = _card("old", {"data": "elsewhere"})
    cohort = validation_cohort(root, {"old": card.training})
    rng = np.random.default_rng(0)
    scores = {im.name: float(rng.random()) for im in cohort.images}
    path = cache_file(tmp_path / "cache", card.name, card.version, card.weights_sha256)
    assert path.name == "old-1.0.0-abababababab.csv"
    save_scores(path, scores)
    assert load_scores(path) == scores
    frame = cohort_frame(cohort, {"old": load_scores(path)})
    assert set(frame["implants"]) <= {"with implants", "without implants"}
    truth = np.array([im.truth for im in cohort.images])
    assert auc_ci(frame["truth"].to_numpy(), frame["old"].to_numpy()).auc == pytest.approx(
        auc_ci(truth, np.array([scores[im.name] for im in cohort.images])).auc
    )
    with pytest.raises(InvalidInputError, match="no score"):
        cohort_frame(cohort, {"old": {}})
    path.write_text("garbage\n1,2\n")
    assert load_scores(path) == {}
