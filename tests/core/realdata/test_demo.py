"""Real demo cases: RG3 (pydicom-data) and the TotalSegmentator CT load, credited."""

from __future__ import annotations

import numpy as np
import pytest

from ankle_core.realdata import demo
from ankle_core.realdata.demo import REAL_DEMO_CASES, available_real_demos, real_demo
from ankle_core.types import Radiograph, Volume


def test_every_case_is_titled_and_credited() -> None:
    assert {c.kind for c in REAL_DEMO_CASES} == {"radiograph", "ct"}
    for case in REAL_DEMO_CASES:
        assert case.title and case.credit and case.description
    assert "MIT" in real_demo("real-rg3").credit and "NEMA" in real_demo("real-rg3").credit
    assert "Apache-2.0" in real_demo("real-ct-totalseg").credit


@pytest.mark.skipif(demo.rg3_path() is None, reason="pydicom-data not installed")
def test_rg3_loads_as_a_radiograph() -> None:
    image = real_demo("real-rg3").load()
    assert isinstance(image, Radiograph)
    assert image.pixels.shape == (1760, 1760) and image.pixel_spacing_mm is None
    assert image.metadata["photometric_interpretation"] == "MONOCHROME1"
    assert image.metadata["inverted"] is True and image.metadata["view_position"] == "AP"
    px = np.asarray(image.pixels)
    assert float(px.std()) > 0.1  # a real image, not a blank


@pytest.mark.skipif(demo.totalseg_ct_path() is None, reason="shared real CT not present")
def test_totalseg_ct_loads_as_a_volume() -> None:
    volume = real_demo("real-ct-totalseg").load()
    assert isinstance(volume, Volume)
    assert sorted(volume.array.shape) == [101, 112, 122]
    assert (
        float(np.asarray(volume.array).min()) < -900 and float(np.asarray(volume.array).max()) > 500
    )


def test_missing_source_gives_a_clear_message() -> None:
    case = real_demo("real-ct-totalseg")
    missing = demo.RealDemoCase(
        case.key, case.kind, case.title, case.description, case.credit, case.missing_hint,
        lambda: None,
    )  # fmt: skip
    assert not missing.available()
    with pytest.raises(FileNotFoundError, match="ANKLE_REAL_DATA"):
        missing.load()


def test_missing_rg3_is_left_out_of_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    import pydicom.data

    def absent(*args: object, **kwargs: object) -> None:
        raise ValueError("no pydicom-data")

    monkeypatch.setattr(pydicom.data, "get_testdata_file", absent)
    assert demo.rg3_path() is None
    assert all(c.key != "real-rg3" for c in available_real_demos())
    with pytest.raises(FileNotFoundError, match="pydicom-data"):
        real_demo("real-rg3").load()


def test_unknown_key() -> None:
    with pytest.raises(KeyError, match="real-rg3"):
        real_demo("nope")


def test_available_filters_by_kind() -> None:
    for case in available_real_demos("radiograph"):
        assert case.kind == "radiograph"
