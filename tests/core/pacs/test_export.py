"""DICOM export (no server): SR, Secondary Capture and SEG validate and read back exactly."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest
from highdicom.seg import Segmentation
from pydicom.uid import generate_uid

from ankle_core.explain.ct import CamRegion
from ankle_core.export import (
    build_ct_segmentation,
    build_ct_sr,
    build_overlay_sc,
    build_radiograph_sr,
    export_radiograph,
    read_ct_report,
    read_radiograph_report,
    render_overlay,
)
from ankle_core.export.ct_sr import ras_to_lps
from ankle_core.inference.ct import CtResult
from ankle_core.inference.radiograph import Fragment, RadiographResult
from ankle_core.io import read_radiograph, read_volume
from ankle_core.pacs import dataset_bytes
from ankle_core.types import Box2D, Box3D
from tests.core.pacs.dicom_factory import make_ct_series, phantom_hu, rg3_path
from tests.core.pacs.validate import dciodvfy_errors

CLASSIFIER = "lmaf-classifier-mobilenetv2 0.1.0"
TWO_FRAGMENTS = RadiographResult(
    fragments=(
        Fragment(Box2D(100.5, 200, 180, 260.25), None, 0.91, 0.83, "LMAF"),
        Fragment(Box2D(300, 220, 380, 270), None, 0.55, 0.5, "indeterminate — review"),
    ),
    case_p_lmaf=0.83,
    case_call="LMAF",
    timings_s={},
    detector="lmaf-fragment-detector 0.1.0",
    classifier=CLASSIFIER,
)
NONE_FOUND = RadiographResult(
    (), None, "no perimalleolar fragment found", {}, "lmaf-fragment-detector 0.1.0", CLASSIFIER
)


@pytest.fixture(scope="module")
def rg3() -> pydicom.Dataset:
    return pydicom.dcmread(rg3_path())


def test_radiograph_sr_validates_and_reads_back(rg3: pydicom.Dataset) -> None:
    before = copy.deepcopy(rg3)
    sr = build_radiograph_sr(rg3, TWO_FRAGMENTS)
    assert dciodvfy_errors(sr) == []
    assert rg3 == before, "the source must not be altered"
    assert sr.StudyInstanceUID == rg3.StudyInstanceUID
    assert sr.SeriesInstanceUID != rg3.SeriesInstanceUID
    assert sr.SeriesDescription == f"AI {CLASSIFIER}"
    assert sr.CodingSchemeIdentificationSequence[0].CodingSchemeDesignator == "99ANKLE"
    back = read_radiograph_report(pydicom.dcmread(pydicom.filebase.DicomBytesIO(_bytes(sr))))
    assert back.referenced_sop_uids == (rg3.SOPInstanceUID,)
    assert back.case_call == "LMAF" and back.case_p_lmaf == pytest.approx(0.83)
    assert not back.no_fragment_found
    assert [f.call for f in back.fragments] == ["LMAF", "indeterminate — review"]
    for written, fragment in zip(back.fragments, TWO_FRAGMENTS.fragments, strict=True):
        assert written.p_lmaf == pytest.approx(fragment.p_lmaf)
        assert written.detection_score == pytest.approx(fragment.detection_score)
        x0, y0, x1, y1 = fragment.box.as_xyxy()
        assert np.allclose(written.polyline, [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])


def test_no_fragment_is_a_coded_finding(rg3: pydicom.Dataset) -> None:
    sr = build_radiograph_sr(rg3, NONE_FOUND)
    assert dciodvfy_errors(sr) == []
    back = read_radiograph_report(sr)
    assert back.no_fragment_found and back.fragments == () and back.case_p_lmaf is None
    assert back.case_call == "no perimalleolar fragment found"
    assert not read_radiograph_report(build_radiograph_sr(rg3, TWO_FRAGMENTS)).no_fragment_found


def test_overlay_secondary_capture_is_marked_not_for_diagnosis(rg3: pydicom.Dataset) -> None:
    radiograph = read_radiograph(rg3_path())
    saliency = np.zeros(radiograph.shape, np.float32)
    saliency[200:260, 100:180] = 1.0
    rgb = render_overlay(radiograph, TWO_FRAGMENTS, saliency)
    assert rgb.shape == (1760, 1760, 3) and rgb.dtype == np.uint8
    plain = render_overlay(radiograph, TWO_FRAGMENTS, None)
    assert not np.array_equal(rgb[230, 140], plain[230, 140]), "saliency must be burned in"
    banner = rgb[: 14 * 6, :, :]
    assert (banner == 0).mean() > 0.5 and (banner[..., 0] > 200).any(), "warning banner"
    sc = build_overlay_sc(rg3, rgb, CLASSIFIER)
    assert dciodvfy_errors(sc) == []
    assert sc.BurnedInAnnotation == "YES"
    assert "NOT FOR DIAGNOSTIC USE" in sc.ImageComments
    assert "NOT FOR DIAGNOSTIC USE" in sc.DerivationDescription
    assert sc.Laterality == "R" and sc.StudyInstanceUID == rg3.StudyInstanceUID
    assert sc.SeriesDescription == f"AI {CLASSIFIER} overlay"
    assert np.array_equal(sc.pixel_array, rgb)


def test_export_radiograph_gives_new_series_and_uids(rg3: pydicom.Dataset) -> None:
    radiograph = read_radiograph(rg3_path())
    sr, sc = export_radiograph(rg3, radiograph, TWO_FRAGMENTS)
    uids = {sr.SeriesInstanceUID, sc.SeriesInstanceUID, rg3.SeriesInstanceUID}
    assert len(uids) == 3
    assert len({sr.SOPInstanceUID, sc.SOPInstanceUID, rg3.SOPInstanceUID}) == 3


def _bytes(ds: pydicom.Dataset) -> bytes:
    return dataset_bytes(ds)


def _ct_case() -> tuple[list[pydicom.Dataset], object, CtResult]:
    sources = make_ct_series(phantom_hu(), study_uid=str(generate_uid()))
    volume = read_volume([_bytes(ds) for ds in reversed(sources)])
    heat = np.zeros(volume.shape, np.float32)
    heat[3:7, 10:20, 12:22] = 1.0
    heat[8:10, 30:34, 30:34] = 0.8
    regions = []
    for box in (Box3D(3, 10, 12, 7, 20, 22), Box3D(8, 30, 30, 10, 34, 34)):
        centre = box.center
        regions.append(
            CamRegion(
                rank=len(regions), box_voxels=box, center_voxel=centre,
                center_mm=tuple(float(v) for v in volume.voxel_to_ras(centre)),  # type: ignore[arg-type]
                box_mm_min=(0.0, 0.0, 0.0), box_mm_max=(1.0, 1.0, 1.0), size_mm=(1.0, 1.0, 1.0),
                volume_mm3=float(box.volume_voxels) * 1.28,
                peak=float(heat[box.z0, box.y0, box.x0]),
                mean=0.9,
            )
        )  # fmt: skip
    result = CtResult(0.81, "fracture", heat, tuple(regions), {}, "ct-fracture-mobilenet3d 0.1.0")
    return sources, volume, result


def test_ct_segmentation_aligns_with_source_slices() -> None:
    sources, volume, result = _ct_case()
    before = [copy.deepcopy(ds) for ds in sources]
    seg = build_ct_segmentation(sources, volume, result)  # type: ignore[arg-type]
    assert seg is not None
    assert dciodvfy_errors(seg) == []
    assert sources == before
    assert seg.SeriesDescription == "AI ct-fracture-mobilenet3d 0.1.0 regions"
    read = Segmentation.from_dataset(pydicom.dcmread(pydicom.filebase.DicomBytesIO(_bytes(seg))))
    assert read.number_of_segments == 2
    for k, ds in enumerate(sources):  # the factory puts slice k at z = k
        frame = read.get_pixels_by_source_instance(
            source_sop_instance_uids=[ds.SOPInstanceUID], segment_numbers=[1, 2]
        )[0]
        expected_1 = np.zeros((48, 48), bool)
        expected_2 = np.zeros((48, 48), bool)
        if 3 <= k < 7:
            expected_1[10:20, 12:22] = True
        if 8 <= k < 10:
            expected_2[30:34, 30:34] = True
        assert np.array_equal(frame[..., 0] > 0, expected_1), k
        assert np.array_equal(frame[..., 1] > 0, expected_2), k


def test_segments_are_cut_at_the_threshold_the_boxes_were_drawn_at() -> None:
    from dataclasses import replace

    from ankle_core.export.ct_seg import region_masks

    _sources, volume, result = _ct_case()
    heat = np.array(result.heatmap)  # the lazy map made whole, to edit
    heat[3:7, 10:20, 12:17] = 0.5  # half of region 1 is only warm
    warm = replace(result, heatmap=heat)
    assert int(region_masks(volume, warm)[0].sum()) == 4 * 10 * 10  # no threshold: whole box
    cut = region_masks(volume, replace(warm, region_threshold=0.6))[0]
    assert int(cut.sum()) == 4 * 10 * 5 and cut[3:7, 10:20, 17:22].all()


def test_ct_sr_validates_and_gives_region_centres_in_lps() -> None:
    sources, _volume, result = _ct_case()
    sr = build_ct_sr(sources, result)
    assert dciodvfy_errors(sr) == []
    back = read_ct_report(pydicom.dcmread(pydicom.filebase.DicomBytesIO(_bytes(sr))))
    assert back.probability == pytest.approx(0.81) and back.call == "fracture"
    assert set(back.referenced_sop_uids) == {ds.SOPInstanceUID for ds in sources}
    assert [r.identifier for r in back.regions] == ["Grad-CAM region 1", "Grad-CAM region 2"]
    for written, region in zip(back.regions, result.regions, strict=True):
        assert np.allclose(written.center_lps, ras_to_lps(region.center_mm), atol=1e-3)
        assert written.frame_of_reference_uid == sources[0].FrameOfReferenceUID
        assert written.volume_mm3 == pytest.approx(region.volume_mm3)
    # box x 12-22, y 10-20, z 3-7: centre (16.5, 14.5, 4.5) voxels in the slices' own LPS
    # geometry (0.8 mm pixels, 2 mm slices, origin 0)
    assert np.allclose(back.regions[0].center_lps, (16.5 * 0.8, 14.5 * 0.8, 4.5 * 2.0), atol=1e-4)


def test_ct_without_regions_gives_no_segmentation() -> None:
    sources, volume, result = _ct_case()
    empty = CtResult(0.1, "no fracture", None, (), {}, result.model)
    assert build_ct_segmentation(sources, volume, empty) is None  # type: ignore[arg-type]
    back = read_ct_report(build_ct_sr(sources, empty))
    assert back.call == "no fracture" and back.regions == ()


def _sparse_dx() -> pydicom.Dataset:
    """A DX image with no study date/time/ID, birth date, orientation or laterality."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "DX", "SPARSE^ONE", "S1"
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64 * 64) % 4096).astype(np.uint16).tobytes()
    return ds


def test_sparse_source_still_gives_valid_objects_and_stays_unchanged() -> None:
    source = _sparse_dx()
    before = copy.deepcopy(source)
    radiograph = read_radiograph(_bytes(source))
    result = RadiographResult(
        (Fragment(Box2D(5, 5, 20, 20), None, 0.9, 0.2, "SFO"),), 0.2, "SFO", {}, "d 1", CLASSIFIER
    )
    sr, sc = export_radiograph(source, radiograph, result, np.zeros((64, 64), np.float32))
    assert dciodvfy_errors(sr) == [] and dciodvfy_errors(sc) == []
    assert source == before and "StudyDate" not in source
    assert sr.PatientID == sc.PatientID == "S1" and sc.PatientOrientation == []


def test_localiser_result_exports_its_own_sr_and_overlay(rg3: pydicom.Dataset) -> None:
    from ankle_core.inference.localiser import LocalisedFracture, LocaliserResult

    found = LocaliserResult(
        boxes=(LocalisedFracture(Box2D(400, 500, 520, 640), None, 0.71),),
        image_score=0.83,
        threshold=0.09,
        image_threshold=0.16,
        timings_s={},
        model="fracatlas-leg-localiser 1.0.0",
        runtime="torch",
        credit="FracAtlas (Abedeen et al. 2023), CC BY 4.0",
    )
    radiograph = read_radiograph(rg3_path())
    objects = export_radiograph(rg3, radiograph, TWO_FRAGMENTS, None, found)
    assert len(objects) == 4
    loc_sr, loc_sc = objects[2], objects[3]
    assert dciodvfy_errors(loc_sr) == [] and dciodvfy_errors(loc_sc) == []
    assert loc_sr.SeriesNumber == 903 and loc_sc.SeriesNumber == 904
    assert loc_sr.SeriesDescription == "AI fracatlas-leg-localiser 1.0.0"
    text = str(loc_sr.ContentSequence)
    assert "Fracture box score" in text and "Image-level fracture score" in text
    assert len({o.SeriesInstanceUID for o in objects}) == 4
    assert "NOT FOR DIAGNOSTIC USE" in loc_sc.ImageComments
