"""read_volume on real NIfTI files and DICOM series, and on synthetic stacks."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
from nibabel.testing import data_path
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from ankle_core.io import read_volume
from ankle_core.types import Volume
from tests.core.io.conftest import make_slice, pydicom_file, to_bytes


def _grid_points(shape: tuple[int, int, int], n: int = 4) -> np.ndarray:
    """A lattice of (z, y, x) indices including the eight corners."""
    axes = [np.unique(np.linspace(0, s - 1, n).round().astype(int)) for s in shape]
    return np.array(list(itertools.product(*axes)), dtype=np.float64)


def test_totalsegmentator_series_lands_on_the_label_map_grid(totalseg: Path) -> None:
    ct = read_volume(totalseg / "example_ct_dicom")
    seg = read_volume(totalseg / "example_seg_dicom.nii.gz")
    assert ct.spacing_mm == pytest.approx((2.0, 0.9765625, 0.9765625))  # not SliceThickness 3
    assert ct.metadata["slice_thickness_mm"] == pytest.approx(3.0)
    assert ct.metadata["spacing_source"] == "ImagePositionPatient"
    assert ct.metadata["transfer_syntax"] == "JPEG 2000 Image Compression (Lossless Only)"
    assert ct.shape == seg.shape == (20, 512, 512)
    # Every lattice point of the DICOM grid, mapped to RAS mm and back into the label map's
    # grid, must land on an integer voxel of it, within 0.01 mm ...
    pts = _grid_points(ct.shape, n=24)
    ras = ct.voxel_to_ras(pts)
    idx = seg.ras_to_voxel(ras)
    snapped = np.rint(idx)
    assert np.abs(seg.voxel_to_ras(snapped) - ras).max() < 0.01
    # ... the grids coincide (corners map onto corners), and the correspondence is a
    # permutation/flip of axes: same positions in mm for the whole grid.
    assert snapped.min() == 0 and (snapped.max(axis=0) == np.array(seg.shape) - 1).all()
    corners = _grid_points(ct.shape, n=2)
    mapped = {tuple(v) for v in np.rint(seg.ras_to_voxel(ct.voxel_to_ras(corners))).astype(int)}
    assert mapped == {tuple(v) for v in corners.astype(int)}
    # The correspondence found: same slice and column, rows reversed (DICOM rows run
    # posterior, the label map's j axis runs anterior). Check it over the lattice, in mm.
    flipped = pts * [1, -1, 1] + [0, seg.shape[1] - 1, 0]
    np.testing.assert_allclose(seg.voxel_to_ras(flipped), ras, atol=0.01)
    assert ct.metadata["modality"] == "CT" and ct.metadata["rescale_applied"] is True
    assert -1100 < float(ct.array.min()) < -900  # air in HU


def test_totalsegmentator_nifti_reads_in_hu(totalseg: Path) -> None:
    v = read_volume(totalseg / "example_ct.nii.gz")
    assert v.shape == (112, 101, 122)  # (k, j, i) of nibabel's (122, 101, 112)
    assert v.spacing_mm == pytest.approx((3.0, 3.0, 3.0))
    assert v.metadata["orientation"] == "RAS"
    assert v.metadata["spacing_source"] == "NIfTI header"
    air = np.percentile(v.array, 2)
    assert -1100 < air < -900
    assert 200 < float(v.array.max()) < 4000  # bone, plausible HU
    img = nib.load(totalseg / "example_ct.nii.gz")
    np.testing.assert_array_equal(v.affine, img.affine)
    assert v.array[5, 6, 7] == img.get_fdata()[7, 6, 5]


def test_nibabel_files() -> None:
    anat = read_volume(os.path.join(data_path, "anatomical.nii"))
    img = nib.load(os.path.join(data_path, "anatomical.nii"))
    assert anat.shape == tuple(reversed(img.shape))
    np.testing.assert_array_equal(anat.affine, img.affine)
    assert anat.metadata["orientation"] == "".join(nib.aff2axcodes(img.affine))
    ijk = np.array([3, 5, 7])
    np.testing.assert_allclose(
        anat.voxel_to_ras(ijk[::-1]), nib.affines.apply_affine(img.affine, ijk)
    )


def test_nifti2_and_bytes_and_gzip_and_file_object() -> None:
    data = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    affine = np.diag([0.5, 0.7, 2.0, 1.0])
    img2 = nib.Nifti2Image(data, affine)
    v = read_volume(img2.to_bytes())
    assert v.metadata["nifti_version"] == 2
    assert v.shape == (6, 5, 4) and v.spacing_mm == pytest.approx((2.0, 0.7, 0.5))
    raw = bytearray(nib.Nifti1Image(data, affine).to_bytes())
    raw[112:120] = np.array([2.0, -10.0], dtype="<f4").tobytes()  # scl_slope, scl_inter
    raw = bytes(raw)

    for source in (raw, gzip.compress(raw), io.BytesIO(gzip.compress(raw))):
        got = read_volume(source)
        assert got.metadata["rescale_applied"] is True
        np.testing.assert_allclose(got.array, data.transpose(2, 1, 0) * 2.0 - 10.0)


def test_multiframe_enhanced_mr_falls_back_to_spacing_between_slices() -> None:
    ref = read_volume(pydicom_file("emri_small.dcm"))
    assert ref.shape == (10, 64, 64)
    assert ref.spacing_mm[0] == pytest.approx(1.2)
    assert ref.metadata["spacing_source"] == "SpacingBetweenSlices"
    for name in (
        "emri_small_jpeg_2k_lossless.dcm",
        "emri_small_RLE.dcm",
        "emri_small_jpeg_ls_lossless.dcm",
    ):
        np.testing.assert_array_equal(read_volume(pydicom_file(name)).array, ref.array)


def _enhanced(z_order: list[float]) -> bytes:
    """A synthetic enhanced-CT-like multi-frame with per-frame positions and rescale."""
    base = make_slice((0, 0, 0), rows=4, cols=3)
    frames = len(z_order)
    base.NumberOfFrames = frames
    for kw in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing"):
        delattr(base, kw)
    arr = np.stack([np.full((4, 3), int(z) + 50, np.int16) for z in z_order])
    base.PixelData = arr.tobytes()
    shared = Dataset()
    orient, measures, transform = Dataset(), Dataset(), Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [0.8, 0.6]
    transform.RescaleSlope, transform.RescaleIntercept = 1, -1000
    shared.PlaneOrientationSequence = Sequence([orient])
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PixelValueTransformationSequence = Sequence([transform])
    base.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = []
    for z in z_order:
        item, pos = Dataset(), Dataset()
        pos.ImagePositionPatient = [0.0, 0.0, float(z)]
        item.PlanePositionSequence = Sequence([pos])
        per_frame.append(item)
    base.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    del base.RescaleSlope, base.RescaleIntercept
    return to_bytes(base)


def test_multiframe_with_functional_groups_is_sorted_by_position() -> None:
    v = read_volume(_enhanced([6.0, 0.0, 3.0, 9.0]))
    assert v.spacing_mm == pytest.approx((3.0, 0.8, 0.6))
    assert v.array[:, 0, 0].tolist() == [-950.0, -947.0, -944.0, -941.0]
    assert v.metadata["spacing_source"] == "ImagePositionPatient"
    assert v.voxel_to_ras([3, 0, 0])[2] == pytest.approx(9.0)


def _check_synthetic(v: Volume) -> None:
    assert v.shape == (5, 8, 6)
    assert v.spacing_mm == pytest.approx((2.0, 0.5, 0.5))
    # sorted by position: slice k holds z = -4 + 2k, stored value 1000 + z, HU = stored - 1024
    np.testing.assert_allclose(v.array[:, 3, 3], [1000 + z - 1024 for z in (-4, -2, 0, 2, 4)])
    # LPS (10, 20, z) -> RAS (-10, -20, z); column index runs along -x in RAS
    np.testing.assert_allclose(v.voxel_to_ras([0, 0, 0]), [-10.0, -20.0, -4.0])
    np.testing.assert_allclose(v.voxel_to_ras([4, 2, 1]), [-10.5, -21.0, 4.0])
    assert v.metadata["orientation"] == "LPS"
    assert v.metadata["n_slices"] == 5


def test_synthetic_series_from_list_folder_and_zip(
    series_bytes: list[bytes], tmp_path: Path
) -> None:
    _check_synthetic(read_volume(series_bytes))
    folder = tmp_path / "series"
    (folder / "sub").mkdir(parents=True)
    for k, blob in enumerate(series_bytes):  # names order is misleading on purpose
        (folder / ("sub" if k % 2 else ".") / f"IM{9 - k}").write_bytes(blob)
    (folder / "notes.txt").write_text("not dicom")
    dicomdir = Dataset()
    dicomdir.SOPClassUID = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
    dicomdir.file_meta = pydicom.dataset.FileMetaDataset()
    dicomdir.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dicomdir.file_meta.MediaStorageSOPClassUID = dicomdir.SOPClassUID
    dicomdir.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    (folder / "DICOMDIR").write_bytes(to_bytes(dicomdir))
    v = read_volume(folder)
    _check_synthetic(v)
    assert v.metadata["skipped_files"] == 2
    _check_synthetic(read_volume([str(p) for p in folder.rglob("IM*")]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k, blob in enumerate(series_bytes):
            zf.writestr(f"../../evil/{k}.dcm", blob)  # hostile names are never used on disk
    _check_synthetic(read_volume(buf.getvalue()))
    buf.seek(0)
    _check_synthetic(read_volume(buf))
    (tmp_path / "s.zip").write_bytes(buf.getvalue())
    _check_synthetic(read_volume(tmp_path / "s.zip"))
    assert not (tmp_path.parent / "evil").exists()


def test_oblique_series_is_sorted_along_the_normal() -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    row, col = np.array([c, s, 0.0]), np.array([0.0, 0.0, -1.0])  # a tilted coronal plane
    normal = np.cross(row, col)
    origin = np.array([5.0, -3.0, 12.0])
    steps = [3, 0, 4, 1, 2]
    blobs = [
        to_bytes(make_slice(origin + 1.5 * k * normal, orientation=(*row, *col), value=k))
        for k in steps
    ]
    v = read_volume(blobs)
    assert v.spacing_mm[0] == pytest.approx(1.5)
    np.testing.assert_allclose(v.array[:, 4, 4], [k - 1024 for k in range(5)])
    lps = origin + 2 * 1.5 * normal + 1 * 0.5 * col + 3 * 0.5 * row
    np.testing.assert_allclose(v.voxel_to_ras([2, 1, 3]), lps * [-1, -1, 1], atol=1e-9)


@pytest.mark.parametrize("which", [0, 3])
def test_ct_series_with_burned_in_annotation_gets_the_radiograph_warning(which: int) -> None:
    from ankle_core.io.dicom_header import BURNED_IN_YES

    slices = [make_slice((0.0, 0.0, float(z))) for z in range(5)]
    plain = read_volume([to_bytes(ds) for ds in slices])
    assert BURNED_IN_YES not in plain.metadata["problems"]
    slices[which].BurnedInAnnotation = "YES"  # one slice is enough
    volume = read_volume([to_bytes(ds) for ds in slices])
    assert BURNED_IN_YES in volume.metadata["problems"]
    assert volume.metadata["burned_in_annotation"] == "YES"
