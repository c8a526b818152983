"""Phantoms kept on disk: the same pixels as a fresh draw, read back in a new instance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ankle_core.phantoms import disk_cache
from ankle_core.phantoms.disk_cache import PhantomDiskCache, generator_version
from ankle_core.phantoms.radiograph import make_case


def test_radiograph_is_drawn_once_and_read_back_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = PhantomDiskCache(tmp_path)
    image, view = first.radiograph(7, "lmaf", difficulty=0.2, size=128)
    assert first.draws == 1 and first.hits == 0
    fresh = make_case(7, "lmaf", size=128, difficulty=0.2)
    np.testing.assert_array_equal(image.pixels, fresh.radiograph.pixels)
    assert view == fresh.view
    # a new process (a new instance) reads the file, and never draws again
    import ankle_core.phantoms.radiograph as generator

    monkeypatch.setattr(generator, "make_case", lambda *a, **k: pytest.fail("drawn again"))
    second = PhantomDiskCache(tmp_path)
    again, view2 = second.radiograph(7, "lmaf", difficulty=0.2, size=128)
    assert second.hits == 1 and second.draws == 0
    np.testing.assert_array_equal(again.pixels, image.pixels)
    assert view2 == view and again.pixel_spacing_mm == image.pixel_spacing_mm


def test_key_includes_the_generator_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PhantomDiskCache(tmp_path)
    cache.png_bytes({"seed": 1}, lambda: b"old")
    assert cache.png_bytes({"seed": 1}, lambda: b"new") == b"old"
    monkeypatch.setattr(disk_cache, "generator_version", lambda: "changed")
    assert cache.png_bytes({"seed": 1}, lambda: b"new") == b"new"
    assert len(generator_version()) == 16


def test_a_corrupt_file_is_drawn_again(tmp_path: Path) -> None:
    cache = PhantomDiskCache(tmp_path)
    cache.png_bytes({"seed": 2}, lambda: b"first")
    for path in tmp_path.rglob("*.npz"):
        path.write_bytes(b"not an npz")
    assert cache.png_bytes({"seed": 2}, lambda: b"second") == b"second"


def test_without_a_folder_nothing_is_kept(tmp_path: Path) -> None:
    cache = PhantomDiskCache(None)
    assert cache.png_bytes({"seed": 3}, lambda: b"x") == b"x"
    assert cache.png_bytes({"seed": 3}, lambda: b"y") == b"y"
    assert cache.draws == 2
