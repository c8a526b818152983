"""read_radiograph on real files across transfer syntaxes, colour models and sources."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from ankle_core.io import read_radiograph
from tests.core.io.conftest import make_slice, pydicom_file, to_bytes

MR_VARIANTS = [
    "MR_small_bigendian.dcm",
    "MR_small_implicit.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_expb.dcm",
    "MR_small_padded.dcm",
]


@pytest.mark.parametrize("name", MR_VARIANTS)
def test_lossless_syntaxes_give_the_same_image(name: str) -> None:
    ref = read_radiograph(pydicom_file("MR_small.dcm"))
    got = read_radiograph(pydicom_file(name))
    np.testing.assert_array_equal(got.pixels, ref.pixels)
    assert got.metadata["voi"] == "window"
    assert got.pixel_spacing_mm == pytest.approx((0.3125, 0.3125))
    assert got.metadata["spacing_source"] == "PixelSpacing"


@pytest.mark.parametrize(
    ("name", "tol"),
    [
        ("SC_rgb_rle.dcm", 0.0),  # RLE
        ("SC_rgb_jpeg_gdcm.dcm", 0.0),  # JPEG lossless
        ("SC_rgb_gdcm_KY.dcm", 0.0),  # JPEG 2000
        ("SC_rgb_16bit.dcm", 0.0),
        ("SC_rgb_dcmtk_+eb+cr.dcm", 0.01),  # JPEG baseline, RGB
        ("SC_rgb_dcmtk_+eb+cy+n1.dcm", 0.04),  # JPEG baseline, YBR_FULL
        ("SC_ybr_full_uncompressed.dcm", 0.01),
        ("SC_rgb_jls_lossy_sample.dcm", 0.01),  # JPEG-LS near-lossless
    ],
)
def test_colour_variants_convert_to_the_same_grey(name: str, tol: float) -> None:
    ref = read_radiograph(pydicom_file("SC_rgb.dcm"))
    got = read_radiograph(pydicom_file(name))
    assert got.metadata["converted_from_colour"] is True
    assert float(np.abs(got.pixels - ref.pixels).max()) <= tol + 1e-6


def test_j2k_and_jpeg_process_14_nm_image_match_uncompressed() -> None:
    ref = read_radiograph(pydicom_file("JPEG2000_UNC.dcm"))
    assert np.array_equal(read_radiograph(pydicom_file("JPEG2000.dcm")).pixels, ref.pixels)
    ext = read_radiograph(pydicom_file("JPGExtended.dcm"))
    assert ext.metadata["transfer_syntax"] == "JPEG Extended (Process 2 and 4)"
    assert ext.shape == (1024, 256)


def test_palette_colour_is_converted() -> None:
    r = read_radiograph(pydicom_file("examples_palette.dcm"))
    assert r.metadata["converted_from_colour"] is True
    assert r.metadata["photometric_interpretation"] == "PALETTE COLOR"
    assert r.pixels.std() > 0.05


def test_ct_rescale_then_percentile_and_metadata_is_plain_json() -> None:
    r = read_radiograph(pydicom_file("CT_small.dcm"))
    m = dict(r.metadata)
    assert m["rescale_applied"] is True
    assert m["voi"] == "percentile"
    assert m["inverted"] is False
    assert m["modality"] == "CT"
    assert m["sop_class"] == "CT Image Storage"
    assert m["transfer_syntax"] == "Explicit VR Little Endian"
    assert m["bits_stored"] == 16
    assert m["burned_in_annotation"] == "unknown"
    assert r.source_format == "dicom"
    assert r.pixels.dtype == np.float32 and r.pixels.min() >= 0.0 and r.pixels.max() <= 1.0
    json.dumps(m)  # plain values only


@pytest.mark.parametrize("name", ["RG3_UNCI.dcm", "RG3_J2KR.dcm", "RG3_J2KI.dcm"])
def test_rg3_cr_variants_read_to_the_same_image(name: str) -> None:
    ref = read_radiograph(pydicom_file("RG3_UNCR.dcm"))
    got = read_radiograph(pydicom_file(name))
    diff = np.abs(got.pixels - ref.pixels)
    if name == "RG3_J2KR.dcm":
        assert float(diff.max()) == 0.0
    else:  # lossy J2K differs by at most 9 stored values in a 1024-wide window
        assert float(diff.max()) <= 9.5 / 1023
        assert float(diff.mean()) < 0.002


def test_rg3_monochrome1_is_inverted_bone_bright() -> None:
    r = read_radiograph(pydicom_file("RG3_UNCR.dcm"))
    assert r.metadata["photometric_interpretation"] == "MONOCHROME1"
    assert r.metadata["inverted"] is True
    assert r.metadata["voi"] == "window" and r.metadata["window_width"] == 1024
    assert r.metadata["body_part"] == "EXTREMITY"
    assert r.pixel_spacing_mm is None and r.metadata["spacing_source"] is None
    tibia = r.pixels[700:900, 840:920].mean()  # the tibial shaft
    air = r.pixels[700:900, 500:600].mean()  # air beside the leg, inside the field
    assert tibia > air + 0.4


def test_rg1_zero_spacing_reads_as_unknown() -> None:
    r = read_radiograph(pydicom_file("RG1_UNCR.dcm"))
    assert r.pixel_spacing_mm is None
    assert "PixelSpacing is 0\\0: spacing unknown" in r.metadata["problems"]


def test_imager_pixel_spacing_is_the_fallback_and_says_so() -> None:
    ds = make_slice((0, 0, 0))
    del ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.15, 0.2]
    r = read_radiograph(to_bytes(ds))
    assert r.pixel_spacing_mm == pytest.approx((0.15, 0.2))
    assert r.metadata["spacing_source"] == "ImagerPixelSpacing"


def test_window_voi_lut_and_monochrome1_on_synthetic_slice() -> None:
    ds = make_slice((0, 0, 0), value=0)
    arr = np.arange(48, dtype=np.int16).reshape(8, 6) * 40  # 0..1880 stored
    ds.PixelData = arr.tobytes()
    ds.WindowCenter, ds.WindowWidth = -124, 1000  # HU; stored 900 is the centre
    r = read_radiograph(to_bytes(ds))
    hu = arr.astype(float) - 1024
    expected = np.clip((hu - (-124 - 0.5)) / 999 + 0.5, 0, 1)
    np.testing.assert_allclose(r.pixels, expected, atol=1e-5)
    ds.PhotometricInterpretation = "MONOCHROME1"
    inverted = read_radiograph(to_bytes(ds))
    np.testing.assert_allclose(inverted.pixels, 1 - expected, atol=1e-5)
    lut = pydicom.Dataset()
    lut.add_new(0x00283002, "SS", [4096, -1024, 16])  # LUTDescriptor: entries, first, bits
    lut.add_new(0x00283006, "US", list(range(0, 4096 * 2, 2)))  # LUTData
    ds.VOILUTSequence = [lut]
    ds.PhotometricInterpretation = "MONOCHROME2"
    with_lut = read_radiograph(to_bytes(ds))
    assert with_lut.metadata["voi"] == "VOI LUT"
    np.testing.assert_allclose(with_lut.pixels, (hu + 1024) / 4095, atol=1e-4)
    # the same LUT stored as OW bytes, as many CR/DX files do
    lut.add_new(0x00283006, "OW", np.arange(0, 8192, 2, dtype="<u2").tobytes())
    as_ow = read_radiograph(to_bytes(ds))
    np.testing.assert_allclose(as_ow.pixels, with_lut.pixels, atol=1e-6)
    # MONOCHROME2 with an INVERSE presentation LUT shape is shown inverted too
    del ds.VOILUTSequence
    ds.PresentationLUTShape = "INVERSE"
    np.testing.assert_allclose(read_radiograph(to_bytes(ds)).pixels, 1 - expected, atol=1e-5)


def test_dicom_without_preamble_and_other_sources(tmp_path: Path) -> None:
    ds = make_slice((0, 0, 0))
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=False)  # no preamble, no file meta
    bare = buf.getvalue()
    assert bare[128:132] != b"DICM"
    ref = read_radiograph(to_bytes(ds))
    got = read_radiograph(bare)
    np.testing.assert_array_equal(got.pixels, ref.pixels)
    # Content, not the extension, decides: a DICOM named .png, read from a path
    path = tmp_path / "looks_like.png"
    path.write_bytes(to_bytes(ds))
    assert read_radiograph(path).source_format == "dicom"
    assert read_radiograph(str(path)).source_format == "dicom"

    class Upload(io.BytesIO):  # like Streamlit's UploadedFile
        size = len(to_bytes(ds))

    upload = Upload(to_bytes(ds))
    upload.read(10)  # a reader must rewind
    np.testing.assert_array_equal(read_radiograph(upload).pixels, ref.pixels)


def _png_bytes(arr: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def test_png_8_and_16_bit_and_colour() -> None:
    ramp8 = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    r8 = read_radiograph(_png_bytes(ramp8))
    assert r8.source_format == "png" and r8.metadata["bits_stored"] == 8
    np.testing.assert_allclose(r8.pixels, ramp8 / 255.0, atol=1e-6)
    ramp16 = (np.tile(np.arange(64, dtype=np.uint16), (8, 1)) * 1000).astype(np.uint16)
    r16 = read_radiograph(_png_bytes(ramp16))
    assert r16.metadata["bits_stored"] == 16
    np.testing.assert_allclose(r16.pixels, ramp16 / 65535.0, atol=1e-6)
    rgb = np.stack([ramp8, ramp8, ramp8], axis=-1)
    rc = read_radiograph(_png_bytes(rgb))
    assert rc.metadata["converted_from_colour"] is True
    np.testing.assert_allclose(rc.pixels, ramp8 / 255.0, atol=1 / 255)
    rgba = np.concatenate([rgb, np.full((*ramp8.shape, 1), 255, np.uint8)], axis=-1)
    assert read_radiograph(_png_bytes(rgba)).metadata["converted_from_colour"] is True
    palette = Image.fromarray(rgb).convert("P")
    buf = io.BytesIO()
    palette.save(buf, format="PNG")
    assert read_radiograph(buf.getvalue()).metadata["image_mode"] == "P"


def test_jpeg_reads_grey_and_colour() -> None:
    grey = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (16, 1))
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="JPEG", quality=95)
    r = read_radiograph(buf.getvalue())
    assert r.source_format == "jpeg" and r.pixel_spacing_mm is None
    assert float(np.abs(r.pixels - grey / 255.0).mean()) < 0.02
    buf = io.BytesIO()
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(buf, format="JPEG", quality=95)
    assert read_radiograph(buf.getvalue()).metadata["converted_from_colour"] is True
