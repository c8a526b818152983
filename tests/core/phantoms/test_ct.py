"""The CT phantom: HU per tissue, the fracture's box, determinism and speed."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest

from ankle_core.phantoms import fracture_box, make_volume
from ankle_core.phantoms.ct import render_volume, sample_volume_params
from ankle_core.types import Volume

SMALL = {"shape": (24, 64, 64), "spacing_mm": (4.0, 1.6, 1.6)}


@pytest.fixture(scope="module")
def default_volume() -> Volume:
    return make_volume(10, True)


def test_contract(default_volume: Volume) -> None:
    vol = default_volume
    assert vol.shape == (48, 128, 128)
    assert vol.spacing_mm == (2.0, 0.8, 0.8)
    assert vol.array.dtype == np.float32
    np.testing.assert_allclose(np.abs(np.diag(vol.affine)[:3]), [0.8, 0.8, 2.0])
    # RAS affine of an axial series: columns towards the patient's left, rows posterior.
    assert vol.affine[0, 0] < 0 and vol.affine[1, 1] < 0 and vol.affine[2, 2] > 0
    meta = vol.metadata
    assert meta["modality"] == "CT" and meta["body_part"] == "ANKLE" and meta["synthetic"] is True
    assert meta["fractured"] is True


def test_hu_per_tissue(default_volume: Volume) -> None:
    a = default_volume.array
    corner = a[:, :6, :6]
    assert abs(float(np.median(corner)) + 1000.0) < 60.0  # air
    hist_range = (a > -200) & (a < 150)
    soft = a[hist_range]
    # Soft tissue (about 40 HU) and fat (about -100 HU) both present.
    assert ((soft > 0) & (soft < 80)).sum() > 10_000
    assert ((soft > -140) & (soft < -60)).sum() > 2_000
    # Cortical bone reaches 1200-1800 HU; cancellous sits at 200-400 HU.
    assert 1100.0 < float(np.percentile(a, 99.7)) < 2000.0
    assert ((a > 200) & (a < 450)).sum() > 10_000
    assert float(a.max()) < 2200.0 and float(a.min()) >= -1024.0


@pytest.mark.parametrize("seed", range(6))
def test_box_covers_low_density_bone(seed: int) -> None:
    params = sample_volume_params(seed, True, **SMALL)  # type: ignore[arg-type]
    vol = make_volume(seed, True, **SMALL)  # type: ignore[arg-type]
    box = fracture_box(vol)
    assert box is not None
    shape = vol.shape
    assert 0 <= box.z0 < box.z1 <= shape[0]
    assert 0 <= box.y0 < box.y1 <= shape[1]
    assert 0 <= box.x0 < box.x1 <= shape[2]
    hu, mask = render_volume(params)
    intact, no_mask = render_volume(replace(params, fracture=None))
    np.testing.assert_array_equal(hu, vol.array)
    assert not no_mask.any()
    z0, y0, x0, z1, y1, x1 = box.as_tuple()
    assert mask[z0:z1, y0:y1, x0:x1].sum() == mask.sum() > 0
    drop = (intact - hu)[z0:z1, y0:y1, x0:x1]
    # Bone voxels on the plane lost density (towards fluid HU), inside the box.
    assert float(drop.max()) > 150.0


def test_not_fractured_has_no_box() -> None:
    vol = make_volume(3, False, **SMALL)  # type: ignore[arg-type]
    assert vol.metadata["fractured"] is False
    assert vol.metadata["fracture_box"] is None
    assert fracture_box(vol) is None


def test_deterministic_and_varied() -> None:
    a = make_volume(4, True, **SMALL)  # type: ignore[arg-type]
    b = make_volume(4, True, **SMALL)  # type: ignore[arg-type]
    c = make_volume(5, True, **SMALL)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.array, b.array)
    assert a.metadata == b.metadata
    assert float(np.abs(a.array - c.array).mean()) > 10.0
    bones = {sample_volume_params(s, True).fracture.bone for s in range(30)}  # type: ignore[union-attr]
    assert bones == {"fibula", "medial_malleolus", "posterior_malleolus"}


def test_oblique_affine() -> None:
    vol = make_volume(0, False, oblique_deg=10.0, **SMALL)  # type: ignore[arg-type]
    col_z = vol.affine[:3, 2]
    assert np.linalg.norm(col_z) == pytest.approx(4.0)
    assert np.degrees(np.arccos(col_z[2] / 4.0)) == pytest.approx(10.0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="shape"):
        make_volume(0, True, shape=(8, 64, 64))
    with pytest.raises(ValueError, match="spacing"):
        make_volume(0, True, spacing_mm=(0.0, 1.0, 1.0))


def test_fast_enough() -> None:
    start = time.perf_counter()
    make_volume(1, True)
    # About 0.25 s on a busy 2-core machine.
    assert time.perf_counter() - start < 2.0
