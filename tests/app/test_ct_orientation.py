"""CT display orientation: the same body, stored RAS, LPS or permuted, looks the same on
screen (radiological convention), and its boxes keep their patient-mm coordinates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ankle_core.phantoms.ct import make_volume
from ankle_core.types import Box3D, Volume
from ui.volume_views import PLANE_LETTERS, PLANES, DisplayOrientation, plane_figure, plane_rgb

REPO = Path(__file__).resolve().parents[2]


def _flipped_xy(volume: Volume) -> Volume:
    """The same physical volume stored with the x and y index axes reversed."""
    _, y, x = volume.shape
    flip = np.array([[-1, 0, 0, x - 1], [0, -1, 0, y - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    return Volume(
        np.ascontiguousarray(volume.array[:, ::-1, ::-1]),
        volume.spacing_mm,
        volume.affine @ flip,
        volume.metadata,
    )


def _permuted(volume: Volume) -> Volume:
    """The same volume stored with its (z, y, x) array axes in the order (y, x, z)."""
    perm = np.zeros((4, 4))
    # new index (x', y', z') = (z, x, y): column k of the new affine is old column src[k]
    for new_col, old_col in enumerate((2, 0, 1)):
        perm[old_col, new_col] = 1.0
    perm[3, 3] = 1.0
    array = np.transpose(volume.array, (1, 2, 0))  # (y, x, z) as the new (z', y', x')
    spacing = (volume.spacing_mm[1], volume.spacing_mm[2], volume.spacing_mm[0])
    return Volume(np.ascontiguousarray(array), spacing, volume.affine @ perm, volume.metadata)


@pytest.fixture(scope="module")
def lps() -> Volume:
    return make_volume(1_000_011, True, shape=(20, 40, 36), spacing_mm=(2.5, 1.5, 1.5))


def _display(volume: Volume) -> np.ndarray:
    return DisplayOrientation.from_affine(volume.affine, volume.shape).array(volume.array)


def test_storage_order_does_not_change_what_is_shown(lps: Volume) -> None:
    ras = _flipped_xy(lps)
    assert not np.array_equal(ras.array, lps.array)  # stored differently...
    for other in (ras, _permuted(lps)):
        np.testing.assert_array_equal(_display(other), _display(lps))  # ...shown the same
    # the same voxel maps to the same display index whatever the storage
    o_lps = DisplayOrientation.from_affine(lps.affine, lps.shape)
    o_ras = DisplayOrientation.from_affine(ras.affine, ras.shape)
    z, y, x = 5.0, 7.0, 11.0
    same = (z, ras.shape[1] - 1 - y, ras.shape[2] - 1 - x)
    assert o_lps.index((z, y, x)) == pytest.approx(o_ras.index(same))
    assert o_ras.stored_index(o_ras.index(same)) == pytest.approx(same)


def test_radiological_convention_and_letters(lps: Volume) -> None:
    """Display axes grow towards inferior, posterior and the patient's left."""
    o = DisplayOrientation.from_affine(lps.affine, lps.shape)
    top, bottom = o.stored_index((0, 0, 0)), o.stored_index(tuple(n - 1 for n in o.display_shape))
    ras_first, ras_last = lps.voxel_to_ras(top), lps.voxel_to_ras(bottom)
    assert ras_first[2] > ras_last[2]  # superior first (top of coronal/sagittal)
    assert ras_first[1] > ras_last[1]  # anterior first (top of axial)
    assert ras_first[0] > ras_last[0]  # patient's right first (screen left)
    assert PLANE_LETTERS["Axial"] == ("A", "P", "R", "L")
    for plane in PLANES:
        rgb = plane_rgb(o.array(lps.array), None, plane, 3, (500.0, 2000.0), 0.0)
        fig = plane_figure(rgb, plane, 3, o.spacing(lps.spacing_mm), [])
        texts = {a.text for a in fig.layout.annotations}
        assert {f"<b>{c}</b>" for c in PLANE_LETTERS[plane]} <= texts


def test_boxes_keep_their_coordinates_and_draw_at_the_same_place(lps: Volume) -> None:
    ras = _flipped_xy(lps)
    box = Box3D(4, 10, 6, 9, 20, 15)
    x0 = ras.shape[2] - box.x1
    y0 = ras.shape[1] - box.y1
    same = Box3D(box.z0, y0, x0, box.z1, ras.shape[1] - box.y0, ras.shape[2] - box.x0)
    o_lps = DisplayOrientation.from_affine(lps.affine, lps.shape)
    o_ras = DisplayOrientation.from_affine(ras.affine, ras.shape)
    assert o_lps.box(box) == o_ras.box(same)


@pytest.mark.slow
def test_the_pipeline_gives_the_same_mm_boxes_for_either_storage(lps: Volume) -> None:
    from ankle_core.inference.ct import CtPipeline

    if not (REPO / "models" / "ct-fracture-mobilenet3d" / "model.safetensors").is_file():
        pytest.skip("the committed CT model is missing")
    pipe = CtPipeline.from_name(models_dir=REPO / "models", device="cpu")
    a, b = pipe.run(lps), pipe.run(_flipped_xy(lps))
    assert a.call == b.call and a.probability == pytest.approx(b.probability, abs=1e-4)
    ra, rb = a.regions or a.looked_regions, b.regions or b.looked_regions
    assert ra and len(ra) == len(rb)
    for x, y in zip(ra, rb, strict=True):
        np.testing.assert_allclose(x.center_mm, y.center_mm, atol=0.5)


class _OnlySlices:
    """A stored volume that gives slices only (as a CT result's lazy heat map does)."""

    def __init__(self, array: np.ndarray) -> None:
        self._array = array
        self.reads: list[tuple[int, ...]] = []

    def __getitem__(self, key: tuple[int | slice, ...]) -> np.ndarray:
        out = self._array[key]
        self.reads.append(out.shape)
        return out


@pytest.mark.parametrize("layout", ["lps", "flipped", "permuted"])
def test_plane_reads_one_slice_and_equals_the_display_view(lps: Volume, layout: str) -> None:
    volume = {"lps": lps, "flipped": _flipped_xy(lps), "permuted": _permuted(lps)}[layout]
    orient = DisplayOrientation.from_affine(volume.affine, volume.shape)
    display = orient.array(volume.array)
    source = _OnlySlices(volume.array)
    for axis, _ in PLANES.values():
        for index in (0, display.shape[axis] // 3, display.shape[axis] - 1):
            got = orient.plane(source, axis, index)
            np.testing.assert_array_equal(got, np.take(display, index, axis=axis))
    assert all(len(shape) == 2 for shape in source.reads)  # never more than a slice
