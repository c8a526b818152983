"""CT training data: the phantom exporter's folder, preprocessed cubes, 3D augmentation.

A training folder holds volumes (NIfTI files, or DICOM series as sub-folders) read with
:func:`ankle_core.io.read_volume`, and ``labels.csv`` with at least the columns ``file``
(path relative to the folder), ``patient_id`` (grouping key for the splits) and ``label``
(``fracture``/``1``/``true`` or ``no fracture``/``none``/``0``/``false``). Rows whose ``kind``
column exists and is not ``ct`` are skipped.

Each volume is read and preprocessed once (:func:`ankle_core.preprocess.preprocess_volume`)
and kept in memory as a float16 cube: 0.5 MB at 64^3, 4 MB at 128^3. Augmentation uses
MONAI's array transforms on the cube: left-right flips (a left ankle looks like a mirrored
right one), small rotations (up to 10 degrees about each axis), intensity scaling and
shifting, and light Gaussian noise.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from monai.transforms.compose import Compose
from monai.transforms.intensity.array import (
    RandGaussianNoise,
    RandScaleIntensity,
    RandShiftIntensity,
)
from monai.transforms.spatial.array import RandFlip, RandRotate
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from ankle_core.errors import InvalidInputError
from ankle_core.preprocess.volume import CtPreprocessing, preprocess_volume

__all__ = [
    "CtCubeDataset",
    "CtSample",
    "ct_augmentation",
    "load_ct_samples",
    "parse_label",
    "prepare_cubes",
]

logger = logging.getLogger(__name__)

_POSITIVE = {"fracture", "fractured", "1", "true", "yes", "positive"}
_NEGATIVE = {"no fracture", "no_fracture", "none", "0", "false", "no", "negative", "normal"}


@dataclass(frozen=True)
class CtSample:
    """One labelled CT volume.

    Attributes:
        path: NIfTI file or DICOM series folder.
        label: 1 = fracture, 0 = no fracture.
        group: grouping key for splits (patient id; never logged).
    """

    path: Path
    label: int
    group: str


def parse_label(text: str) -> int:
    """1 for a fracture label, 0 for a negative one.

    >>> parse_label("fracture"), parse_label("no fracture"), parse_label("0")
    (1, 0, 0)
    """
    value = str(text).strip().lower()
    if value in _POSITIVE:
        return 1
    if value in _NEGATIVE:
        return 0
    raise InvalidInputError(f"Unknown CT label {text!r}: use 'fracture' or 'no fracture'.")


def load_ct_samples(data_dir: str | Path) -> list[CtSample]:
    """Read ``labels.csv`` of a CT training folder.

    Args:
        data_dir: folder with ``labels.csv`` and the volumes it names.

    Returns:
        The samples, in file order.

    Raises:
        InvalidInputError: no ``labels.csv``, a missing column, an unknown label, or no CT rows.
    """
    root = Path(data_dir)
    table = root / "labels.csv"
    if not table.is_file():
        raise InvalidInputError(f"{root} has no labels.csv.")
    with table.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    samples = []
    for row in rows:
        if "kind" in row and row["kind"] and row["kind"].strip().lower() != "ct":
            continue
        try:
            path = root / row["file"]
            label = parse_label(row["label"])
        except KeyError as exc:
            raise InvalidInputError(f"labels.csv lacks the column {exc.args[0]!r}.") from exc
        group = row.get("patient_id") or row["file"]
        samples.append(CtSample(path=path, label=label, group=str(group)))
    if not samples:
        raise InvalidInputError(f"labels.csv in {root} lists no CT volumes.")
    return samples


def _prepare_one(args: tuple[Path, CtPreprocessing]) -> npt.NDArray[np.float16]:
    from ankle_core.io import read_volume

    path, config = args
    return preprocess_volume(read_volume(path), config).array.astype(np.float16)


def prepare_cubes(
    samples: Sequence[CtSample],
    config: CtPreprocessing,
    *,
    progress: bool = True,
) -> npt.NDArray[np.float16]:
    """Read and preprocess every volume once.

    Args:
        samples: the volumes.
        config: preprocessing recipe (the model card's).
        progress: show a tqdm bar.

    Returns:
        (N, D, H, W) float16 cubes, in sample order.
    """
    size = config.input_size
    cubes = np.empty((len(samples), size, size, size), dtype=np.float16)
    for i, sample in enumerate(tqdm(samples, desc="preprocess", disable=not progress)):
        cubes[i] = _prepare_one((sample.path, config))
    return cubes


def ct_augmentation(max_rotation_deg: float = 10.0) -> Compose:
    """MONAI array transforms for one channel-first cube ``(1, D, H, W)``.

    Left-right flip (p 0.5), rotation up to ``max_rotation_deg`` about each axis (p 0.5,
    bilinear, border padding), intensity scale +-10% and shift +-0.05 (p 0.5 each), Gaussian
    noise sd 0.01 (p 0.3).
    """
    angle = float(np.deg2rad(max_rotation_deg))
    return Compose(
        [
            RandFlip(prob=0.5, spatial_axis=2),
            RandRotate(
                range_x=angle,
                range_y=angle,
                range_z=angle,
                prob=0.5,
                keep_size=True,
                padding_mode="border",
            ),
            RandScaleIntensity(factors=0.1, prob=0.5),
            RandShiftIntensity(offsets=0.05, prob=0.5),
            RandGaussianNoise(prob=0.3, std=0.01),
        ]
    )


class CtCubeDataset(Dataset[tuple[torch.Tensor, int]]):
    """Preprocessed cubes with labels, optionally augmented.

    Args:
        cubes: (N, D, H, W) float16 or float32.
        labels: (N,) 0/1.
        indices: the subset of rows this dataset serves.
        augment: apply :func:`ct_augmentation`.
        seed: seed of the augmentation's random state.

    Items are ``(tensor (1, D, H, W) float32, label)``.
    """

    def __init__(
        self,
        cubes: npt.NDArray[np.floating],
        labels: Sequence[int] | npt.NDArray[np.integer],
        indices: Sequence[int] | npt.NDArray[np.integer],
        *,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        self.cubes = cubes
        self.labels = [int(x) for x in labels]
        self.indices = [int(i) for i in indices]
        self.transform = ct_augmentation() if augment else None
        if self.transform is not None:
            self.transform.set_random_state(seed=seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        row = self.indices[item]
        cube = torch.from_numpy(np.asarray(self.cubes[row], dtype=np.float32))[None]
        if self.transform is not None:
            out = self.transform(cube)
            cube = (out.as_tensor() if hasattr(out, "as_tensor") else torch.as_tensor(out)).float()
        return cube.contiguous(), self.labels[row]
