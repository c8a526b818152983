"""Phantoms kept on disk, so that a new process does not draw them again.

Drawing a phantom costs far more than analysing it (about 1.3 s for a 512^2 radiograph and
7 s for a CT volume here, against about 0.1 s for the radiograph pipeline), so the cohort
runner and the teaching library keep what they draw under the configurable cache folder
(:attr:`ankle_core.config.Settings.cache_dir`, ``phantoms/``).

Each file is keyed by the **generator version** (a hash of the phantom generators' source,
so any change to them invalidates the cache without anyone remembering to bump a number)
and by every argument of the draw (seed, class, difficulty, size). Files are ``.npz``
written atomically and read with ``allow_pickle=False``; an unreadable file is drawn again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ankle_core.types import Radiograph, Volume

__all__ = ["PhantomDiskCache", "generator_version"]

logger = logging.getLogger(__name__)

#: The modules whose source decides what a seed draws.
_GENERATOR_FILES = (
    "ct.py",
    "fragment.py",
    "knobs.py",
    "projection.py",
    "radiograph.py",
    "sdf.py",
)


@functools.lru_cache(maxsize=1)
def generator_version() -> str:
    """A short hash of the phantom generators' source (changes whenever they do)."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _GENERATOR_FILES:
        path = here / name
        if path.is_file():
            digest.update(name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _key(kind: str, params: Mapping[str, Any]) -> str:
    text = json.dumps({"kind": kind, "version": generator_version(), **params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _meta_json(metadata: Mapping[str, Any]) -> str:
    return json.dumps(dict(metadata), default=str, sort_keys=True)


class PhantomDiskCache:
    """Radiograph and CT phantoms drawn once per machine (thread- and process-safe).

    Args:
        root: the folder to keep them in (created on first write); None keeps nothing,
            every call draws again.
    """

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else Path(root)
        self._lock = threading.Lock()
        self.hits = 0
        self.draws = 0

    def _path(self, kind: str, params: Mapping[str, Any]) -> Path | None:
        if self.root is None:
            return None
        return self.root / kind / f"{_key(kind, params)}.npz"

    def _load(self, path: Path | None) -> dict[str, np.ndarray] | None:
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return {k: np.asarray(data[k]) for k in data.files}
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("unreadable phantom cache file %s (%s): drawing again", path.name, exc)
            return None

    def _save(self, path: Path | None, arrays: Mapping[str, np.ndarray]) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp.npz")
            np.savez(tmp, **dict(arrays))  # type: ignore[arg-type]
            tmp.replace(path)
        except OSError as exc:  # a read-only or full disk: keep going without the cache
            logger.warning("could not keep a phantom in %s: %s", path.parent, exc)

    def _count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.draws += 1

    def radiograph(
        self, seed: int, label: str, *, difficulty: float = 0.5, size: int = 512
    ) -> tuple[Radiograph, str]:
        """The phantom radiograph ``make_case(seed, label, ...)`` draws, and its view.

        Args:
            seed: the case seed.
            label: ``"lmaf"``, ``"sfo"`` or ``"none"``.
            difficulty: 0 to 1.
            size: image side, pixels.

        Returns:
            ``(radiograph, view)``: pixels (size, size) float32 in [0, 1] and ``"ap"`` or
            ``"mortise"``.
        """
        params = {"seed": seed, "label": label, "difficulty": difficulty, "size": size}
        path = self._path("radiograph", params)
        data = self._load(path)
        if data is not None:
            self._count(True)
            spacing = tuple(float(v) for v in data["spacing"]) if data["spacing"].size else None
            image = Radiograph(
                data["pixels"],
                pixel_spacing_mm=spacing,  # type: ignore[arg-type]
                metadata=json.loads(str(data["metadata"])),
                source_format=str(data["source_format"]),
            )
            return image, str(data["view"])
        from ankle_core.phantoms.radiograph import make_case

        case = make_case(seed, label, size=size, difficulty=difficulty)
        self._count(False)
        image = case.radiograph
        self._save(
            path,
            {
                "pixels": np.asarray(image.pixels, dtype=np.float32),
                "spacing": np.asarray(image.pixel_spacing_mm or (), dtype=np.float64),
                "metadata": np.asarray(_meta_json(image.metadata)),
                "source_format": np.asarray(image.source_format),
                "view": np.asarray(case.view),
            },
        )
        return image, case.view

    def volume(self, seed: int, fractured: bool, *, difficulty: float = 0.5) -> Volume:
        """The phantom CT ``make_volume(seed, fractured, difficulty=...)`` draws.

        Args:
            seed: the volume seed.
            fractured: whether it has a fracture plane.
            difficulty: 0 to 1.

        Returns:
            The volume, (z, y, x) float32 HU with its affine.
        """
        params = {"seed": seed, "fractured": bool(fractured), "difficulty": difficulty}
        path = self._path("ct", params)
        data = self._load(path)
        if data is not None:
            self._count(True)
            return Volume(
                data["array"],
                tuple(float(v) for v in data["spacing"]),  # type: ignore[arg-type]
                data["affine"],
                metadata=json.loads(str(data["metadata"])),
            )
        from ankle_core.phantoms.ct import make_volume

        volume = make_volume(seed, fractured, difficulty=difficulty)
        self._count(False)
        self._save(
            path,
            {
                "array": np.asarray(volume.array, dtype=np.float32),
                "spacing": np.asarray(volume.spacing_mm, dtype=np.float64),
                "affine": np.asarray(volume.affine, dtype=np.float64),
                "metadata": np.asarray(_meta_json(volume.metadata)),
            },
        )
        return volume

    def png_bytes(self, key: Mapping[str, Any], make: Callable[[], bytes]) -> bytes:
        """Bytes ``make()`` returns for a generated file (e.g. a teaching case's PNG), kept.

        Args:
            key: every argument that decides the bytes (seed, class, size, difficulty).
            make: draws the bytes when they are not kept yet.
        """
        path = self._path("files", key)
        data = self._load(path)
        if data is not None:
            self._count(True)
            return bytes(data["bytes"].tobytes())
        out = make()
        self._count(False)
        self._save(path, {"bytes": np.frombuffer(out, dtype=np.uint8)})
        return out
