"""CT training data: the phantom exporter's folder, preprocessed cubes, 3D augmentation.

A training folder holds volumes (NIfTI files, or DICOM series as sub-folders) read with
:func:`ankle_core.io.read_volume`, and ``labels.csv`` with at least the columns ``file``
(path relative to the folder), ``patient_id`` (grouping key for the splits) and ``label``
(``fracture``/``1``/``true`` or ``no fracture``/``none``/``0``/``false``). Rows whose ``kind``
column exists and is not ``ct`` are skipped. Optional columns ``z0 y0 x0 z1 y1 x1`` give a
fractured volume's fracture box in voxel indices of the file's own grid, upper bounds
exclusive (the phantom exporter writes them); :func:`prepare_cubes_and_masks` carries them
into the model's grid for the box-supervised loss of the CT trainer (``--box-loss``).

Each volume is read and preprocessed once (:func:`ankle_core.preprocess.preprocess_volume`)
into a float16 cube: 0.5 MB at 64^3, 4 MB at 128^3. By default every cube is kept in memory
(about 42 GB for 10,000 cubes at 128^3); with a cache folder (``--cube-cache DIR``) each
cube is written once as ``<key>.npy`` and read back memory-mapped, item by item, in every
epoch and every run (:class:`CubeStore`). The key is the sha256 of the case's bytes and of
the preprocessing settings, so a changed file or recipe never reads a stale cube. Augmentation uses
MONAI's array transforms on the cube: left-right flips (a left ankle looks like a mirrored
right one), small rotations (up to 10 degrees about each axis), intensity scaling and
shifting, and light Gaussian noise.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

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
from ankle_core.preprocess.transform import GridTransform
from ankle_core.preprocess.volume import CtPreprocessing, preprocess_volume

__all__ = [
    "BOX_COLUMNS",
    "CtCubeDataset",
    "CtSample",
    "CubeStore",
    "Cubes",
    "box_mask",
    "ct_augmentation",
    "cube_key",
    "load_ct_samples",
    "parse_label",
    "prepare_cubes",
    "prepare_cubes_and_masks",
]

#: ``labels.csv`` columns of an optional fracture box (voxel indices, upper bounds exclusive).
BOX_COLUMNS = ("z0", "y0", "x0", "z1", "y1", "x1")

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
        box: fracture box (z0, y0, x0, z1, y1, x1) in the file's voxel indices, upper
            bounds exclusive, or None.
    """

    path: Path
    label: int
    group: str
    box: tuple[int, int, int, int, int, int] | None = None


def _parse_box(row: dict[str, str]) -> tuple[int, int, int, int, int, int] | None:
    values = [str(row.get(k) or "").strip() for k in BOX_COLUMNS]
    if not all(values):
        return None
    try:
        z0, y0, x0, z1, y1, x1 = (int(float(v)) for v in values)
    except ValueError as exc:
        raise InvalidInputError(f"labels.csv has a box that is not numbers: {values}.") from exc
    if z1 <= z0 or y1 <= y0 or x1 <= x0:
        raise InvalidInputError(f"labels.csv has an empty box: {values}.")
    return (z0, y0, x0, z1, y1, x1)


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
        box = _parse_box(row) if label == 1 else None
        samples.append(CtSample(path=path, label=label, group=str(group), box=box))
    if not samples:
        raise InvalidInputError(f"labels.csv in {root} lists no CT volumes.")
    return samples


def box_mask(
    transform: GridTransform,
    shape: Sequence[int],
    box: tuple[int, int, int, int, int, int],
) -> npt.NDArray[np.bool_]:
    """The model-grid voxels whose centres fall inside a box of the original grid.

    Args:
        transform: the prepared volume's :class:`~ankle_core.preprocess.transform.GridTransform`.
        shape: the model cube's (D, H, W).
        box: (z0, y0, x0, z1, y1, x1) original voxel indices, upper bounds exclusive.

    Returns:
        (D, H, W) boolean mask.
    """
    grid = np.stack(
        np.meshgrid(*(np.arange(int(n)) for n in shape), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    orig = transform.to_original_index(grid)
    lo = np.asarray(box[:3], dtype=np.float64) - 0.5
    hi = np.asarray(box[3:], dtype=np.float64) - 0.5
    inside = np.all((orig >= lo) & (orig < hi), axis=1)
    out: npt.NDArray[np.bool_] = inside.reshape(tuple(int(n) for n in shape))
    return out


#: Bumped when preprocessing changes in a way its settings do not show (cache keys change).
_CACHE_VERSION = 1


def cube_key(case_sha256: str, config: CtPreprocessing, box: Sequence[int] | None = None) -> str:
    """The cache key of a case's cube (or, with ``box``, of its box mask).

    Args:
        case_sha256: sha256 of the case's bytes
            (:func:`~ankle_core.scale.common.input_sha256`).
        config: the preprocessing settings.
        box: the fracture box of a mask's key.

    Returns:
        64 hex digits.

    >>> k = cube_key("ab" * 32, CtPreprocessing(spacing_mm=2.0, input_size=32))
    >>> k == cube_key("ab" * 32, CtPreprocessing(spacing_mm=1.0, input_size=32))
    False
    """
    settings = json.dumps(
        {"v": _CACHE_VERSION, "prep": config.to_dict(), "box": None if box is None else list(box)},
        sort_keys=True,
    )
    return hashlib.sha256(f"{case_sha256}\0{settings}".encode()).hexdigest()


class CubeStore:
    """Preprocessed cubes on disk, one ``.npy`` file each, memory-mapped when read.

    Indexed like the (N, D, H, W) array it stands for: ``store[i]`` is one cube (a read-only
    memory map), ``store[[i, j]]`` a stacked copy. Nothing is held in memory between reads
    and only the file names travel to loader workers.

    Args:
        files: one ``.npy`` file per row, in order.
    """

    def __init__(self, files: Sequence[Path]) -> None:
        self.files = [Path(f) for f in files]

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, ...]:
        """``(N, D, H, W)``, from the first file's header."""
        first = np.load(self.files[0], mmap_mode="r", allow_pickle=False) if self.files else None
        return (len(self.files), *(() if first is None else first.shape))

    def __getitem__(self, index: Any) -> npt.NDArray[Any]:
        if isinstance(index, int | np.integer):
            out: npt.NDArray[Any] = np.load(
                self.files[int(index)], mmap_mode="r", allow_pickle=False
            )
            return out
        return np.stack([self[int(i)] for i in np.asarray(index).reshape(-1)])


#: Cubes (or masks) as the CT recipe indexes them: in memory, or memory-mapped from a cache.
Cubes: TypeAlias = npt.NDArray[Any] | CubeStore


def _save(path: Path, array: npt.NDArray[Any]) -> None:
    """Write ``array`` to ``path`` atomically (ranks sharing a cache may race)."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)
    os.replace(tmp, path)


def _prepare(
    samples: Sequence[CtSample],
    config: CtPreprocessing,
    progress: bool,
    with_masks: bool,
    cache_dir: Path | None = None,
) -> tuple[Cubes, Cubes | None]:
    """Read and preprocess every volume once; box masks only when asked (they cost memory).

    With ``cache_dir`` the cubes (and masks) go to files there and are returned as
    :class:`CubeStore`; a case whose file is already there is not read again.
    """
    from ankle_core.io import read_volume

    size = config.input_size
    if cache_dir is not None:
        return _prepare_cached(samples, config, progress, with_masks, Path(cache_dir))
    cubes = np.empty((len(samples), size, size, size), dtype=np.float16)
    masks = np.zeros((len(samples), size, size, size), dtype=bool) if with_masks else None
    for i, sample in enumerate(tqdm(samples, desc="preprocess", disable=not progress)):
        prepared = preprocess_volume(read_volume(sample.path), config)
        cubes[i] = prepared.array.astype(np.float16)
        if masks is not None and sample.box is not None:
            masks[i] = box_mask(prepared.transform, cubes.shape[1:], sample.box)
    return cubes, masks


def _prepare_cached(
    samples: Sequence[CtSample],
    config: CtPreprocessing,
    progress: bool,
    with_masks: bool,
    cache: Path,
) -> tuple[CubeStore, CubeStore | None]:
    from ankle_core.io import read_volume
    from ankle_core.scale.common import input_sha256

    cache.mkdir(parents=True, exist_ok=True)
    shape = (config.input_size,) * 3
    cube_files, mask_files, reused = [], [], 0
    for sample in tqdm(samples, desc="preprocess (cache)", disable=not progress):
        sha = input_sha256(sample.path)
        cube_file = cache / f"{cube_key(sha, config)}.npy"
        mask_file = cache / f"{cube_key(sha, config, sample.box or ())}.mask.npy"
        cube_files.append(cube_file)
        mask_files.append(mask_file)
        if cube_file.is_file() and (mask_file.is_file() or not with_masks):
            reused += 1
            continue
        prepared = preprocess_volume(read_volume(sample.path), config)
        _save(cube_file, prepared.array.astype(np.float16))
        if with_masks:
            mask = np.zeros(shape, dtype=bool)
            if sample.box is not None:
                mask = box_mask(prepared.transform, shape, sample.box)
            _save(mask_file, mask)
    logger.info("cube cache: %d of %d cubes already there", reused, len(samples))
    return CubeStore(cube_files), CubeStore(mask_files) if with_masks else None


def prepare_cubes(
    samples: Sequence[CtSample],
    config: CtPreprocessing,
    *,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> Cubes:
    """Read and preprocess every volume once.

    Args:
        samples: the volumes.
        config: preprocessing recipe (the model card's).
        progress: show a tqdm bar.
        cache_dir: keep the cubes as ``.npy`` files there (kept across runs; a case already
            there is not read again) instead of in memory.

    Returns:
        (N, D, H, W) float16 cubes, in sample order: an array, or a :class:`CubeStore`
        over the cache.
    """
    cache = None if cache_dir is None else Path(cache_dir)
    return _prepare(samples, config, progress, with_masks=False, cache_dir=cache)[0]


def prepare_cubes_and_masks(
    samples: Sequence[CtSample],
    config: CtPreprocessing,
    *,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> tuple[Cubes, Cubes]:
    """:func:`prepare_cubes`, plus each sample's fracture box as a model-grid mask.

    Returns:
        ``(cubes, masks)``: (N, D, H, W) float16 and (N, D, H, W) bool (arrays, or
        :class:`CubeStore` over ``cache_dir``); a sample without a box (every negative one)
        has an empty mask.
    """
    cache = None if cache_dir is None else Path(cache_dir)
    cubes, masks = _prepare(samples, config, progress, with_masks=True, cache_dir=cache)
    assert masks is not None
    return cubes, masks


#: How many of :func:`ct_augmentation`'s transforms come first and move voxels (flip,
#: rotation); the rest change intensities only. A box mask follows the first ones alone.
N_SPATIAL_TRANSFORMS = 2


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


class CtCubeDataset(Dataset[tuple[torch.Tensor, ...]]):
    """Preprocessed cubes with labels (and optional box masks), optionally augmented.

    Args:
        cubes: (N, D, H, W) float16 or float32 (an array or a :class:`CubeStore`).
        labels: (N,) 0/1.
        indices: the subset of rows this dataset serves.
        augment: apply :func:`ct_augmentation`.
        seed: seed of the augmentation's random state.
        max_rotation_deg: largest augmentation rotation about each axis, degrees.
        masks: (N, D, H, W) bool box masks (:func:`prepare_cubes_and_masks`), or None.
        item_seeds: reseed the augmentation for each item from ``(seed, epoch, item)``
            (loader workers, where the epoch's one stream cannot be shared).

    Items are ``(tensor (1, D, H, W) float32, label)``; with ``masks``,
    ``(cube, label, mask (1, D, H, W) float32)``, the mask flipped and rotated with its cube.
    An item is asked for by position or by ``(position, epoch)`` (the keys of
    :class:`~ankle_core.training.loaders.EpochKeys`).
    """

    def __init__(
        self,
        cubes: Cubes,
        labels: Sequence[int] | npt.NDArray[np.integer],
        indices: Sequence[int] | npt.NDArray[np.integer],
        *,
        augment: bool = False,
        seed: int = 0,
        max_rotation_deg: float = 10.0,
        masks: Cubes | None = None,
        item_seeds: bool = False,
    ) -> None:
        self.cubes = cubes
        self.seed = int(seed)
        self.item_seeds = bool(item_seeds)
        self.masks = masks
        self.labels = [int(x) for x in labels]
        self.indices = [int(i) for i in indices]
        self.transform = ct_augmentation(max_rotation_deg) if augment else None
        if self.transform is not None:
            self.transform.set_random_state(seed=seed)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[Any, ...]:
        item, epoch = (key, 0) if isinstance(key, int) else key
        if self.item_seeds and self.transform is not None:
            from ankle_core.training.loaders import item_generator

            gen = item_generator(self.seed, epoch, item)
            self.transform.set_random_state(seed=int(gen.integers(2**31)))
        row = self.indices[int(item)]
        cube = torch.from_numpy(np.asarray(self.cubes[row], dtype=np.float32))[None]
        if self.masks is not None:
            mask = torch.from_numpy(np.asarray(self.masks[row], dtype=np.float32))[None]
            if self.transform is not None:
                # Flip and rotate cube and mask together (two channels), then change the
                # intensities of the cube alone.
                transforms = self.transform.transforms
                spatial = transforms[:N_SPATIAL_TRANSFORMS]
                intensity = transforms[N_SPATIAL_TRANSFORMS:]
                both = torch.cat([cube, mask])
                for t in spatial:
                    both = _plain(t(both))
                cube, mask = both[:1], (both[1:] > 0.5).float()
                for t in intensity:
                    cube = _plain(t(cube))
            return cube.contiguous(), self.labels[row], mask.contiguous()
        if self.transform is not None:
            cube = _plain(self.transform(cube))
        return cube.contiguous(), self.labels[row]


def _plain(out: Any) -> torch.Tensor:
    """A MONAI output (MetaTensor or array) as a plain float32 tensor."""
    return (out.as_tensor() if hasattr(out, "as_tensor") else torch.as_tensor(out)).float()
