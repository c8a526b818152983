"""AppTest checks of every page, with tiny random-weight models and tiny phantom inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ankle_core.store import CaseStore
from tests.app import fixtures
from tests.app.apptest import open_app, open_page

TIMEOUT = 120


def _open(page: str) -> AppTest:
    return open_page(page, TIMEOUT)


def _frame(at: AppTest, column: str):  # type: ignore[no-untyped-def]
    """The first table (``st.dataframe`` or ``st.table``) with ``column``."""
    return next(df.value for df in [*at.dataframe, *at.table] if column in df.value.columns)


def _markdown(at: AppTest) -> str:
    texts = [*at.markdown, *at.caption, *at.subheader]
    return "\n".join(t.value for t in texts)


def test_app_starts_on_the_radiograph_page_with_disclaimer(app_env: dict[str, str]) -> None:
    at = open_app(TIMEOUT)
    assert at.title[0].value.endswith("Radiograph case")
    assert any("not a medical device" in w.value for w in at.sidebar.warning)
    assert any("No case analysed" in c.value for c in at.sidebar.caption)


def test_models_page_lists_every_card(app_env: dict[str, str]) -> None:
    at = _open("pages/models.py")
    labels = [e.label for e in at.expander]
    for name in (fixtures.DETECTOR, fixtures.CLASSIFIER, fixtures.CT_MODEL):
        assert any(name in label for label in labels), labels
    text = _markdown(at)
    assert "python -m ankle_core.training" in text
    metrics = [df.value for df in at.dataframe if "95% CI" in df.value.columns]
    assert any("0.700 – 0.900" in set(m["95% CI"]) for m in metrics)
    assert any("test · auc" in set(m["Metric"]) for m in metrics)  # nested metric groups


def _predictions_csv() -> bytes:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1], 30)
    frame = pd.DataFrame(
        {
            "truth": truth,
            "model_a": np.clip(truth * 0.5 + rng.normal(0.25, 0.2, 60), 0, 1),
            "model_b": np.clip(truth * 0.2 + rng.normal(0.4, 0.25, 60), 0, 1),
            "site": rng.choice(["north", "south"], 60),
        }
    )
    return frame.to_csv(index=False).encode()


def test_cohort_page_reports_aucs_and_threshold_metrics(app_env: dict[str, str]) -> None:
    at = _open("pages/cohort.py")
    at.radio(key="cohort_source").set_value("Upload a predictions CSV").run()
    at.file_uploader(key="cohort_csv").set_value(("preds.csv", _predictions_csv(), "text/csv"))
    at.run()
    assert not at.exception, at.exception
    auc = next(df.value for df in at.dataframe if "AUC" in df.value.columns)
    assert list(auc["Model"]) == ["model_a", "model_b"]
    assert auc["AUC"].iloc[0] > auc["AUC"].iloc[1] > 0.5
    assert {"HTML report", "JSON report"} <= {b.label for b in at.get("download_button")}
    charts = " ".join(c.proto.id for c in at.get("plotly_chart"))
    for key in ("cohort_roc", "cohort_delong", "cohort_mcnemar", "cohort_subgroups"):
        assert key in charts

    def confusion() -> list[int]:
        frame = next(df.value for df in at.dataframe if "Truth positive" in df.value.columns)
        return [int(v) for v in frame.to_numpy().ravel()]

    before = confusion()
    assert sum(before) == 60
    at.slider(key="cohort_threshold").set_value(0.99).run()
    after = confusion()
    assert after[0] + after[1] < before[0] + before[1]  # fewer positive calls


def test_cohort_page_shows_a_bad_csv_message(app_env: dict[str, str]) -> None:
    at = _open("pages/cohort.py")
    at.radio(key="cohort_source").set_value("Upload a predictions CSV").run()
    at.file_uploader(key="cohort_csv").set_value(("x.csv", b"\x00\xff\x00", "text/csv")).run()
    assert not at.exception
    assert at.error and "CSV" in at.error[0].value


def _cases(env: dict[str, str]) -> list[str]:
    store = CaseStore.from_url(env["ANKLE_DATABASE_URL"])
    with store.engine.connect() as conn:
        from sqlalchemy import text

        return [row[0] for row in conn.execute(text("SELECT kind FROM cases"))]


def test_radiograph_upload_shows_fragments_overlay_report_and_history(
    app_env: dict[str, str],
) -> None:
    at = _open("pages/radiograph.py")
    at.file_uploader(key="rg_upload").set_value(
        ("phantom.dcm", fixtures.radiograph_dicom(), "application/dicom")
    )
    at.run()
    assert not at.exception, at.exception
    frags = _frame(at, "p(LMAF)")
    assert len(frags) >= 1 and set(frags["Call"]) <= {"LMAF", "SFO", "indeterminate — review"}
    assert frags["p(LMAF)"].between(0, 1).all()
    assert "Case call" in _markdown(at) and "synthetic phantoms" in _markdown(at)
    assert at.get("image") and not at.get("plotly_chart"), "the viewer is a picture by default"
    assert any(
        "reader applied: MONOCHROME2, not inverted, window: percentile" in c.value
        for c in at.caption
    )
    assert any(b.label.startswith("Download the one-page PDF") for b in at.get("download_button"))
    assert _cases(app_env) == ["radiograph"]
    # The sidebar itself is checked in test_history.py and the browser tests: AppTest drops
    # sidebar elements on reruns of an st.navigation app (Streamlit 1.67).

    at.toggle(key="rg_view_overlay").set_value(False).run()  # redraw only: no new case
    at.slider(key="rg_view_zoom").set_value(2.0).run()
    assert not at.exception and _cases(app_env) == ["radiograph"]
    at.toggle(key="rg_view_interactive").set_value(True).run()  # pan and scroll-zoom
    assert not at.exception and at.get("plotly_chart"), "no interactive viewer"
    assert _cases(app_env) == ["radiograph"]


def test_radiograph_bad_upload_clears_the_previous_result(app_env: dict[str, str]) -> None:
    at = _open("pages/radiograph.py")
    at.file_uploader(key="rg_upload").set_value(("ok.png", fixtures.radiograph_png(), "image/png"))
    at.run()
    assert not at.error
    at.file_uploader(key="rg_upload").set_value(
        ("broken.dcm", fixtures.corrupt_dicom(), "application/dicom")
    )
    at.run()
    assert not at.exception, at.exception
    assert at.error and "DICOM" in at.error[0].value
    # the previous case's result and its PDF button are gone: only the error stays
    assert "Case call" not in _markdown(at)
    assert not at.get("download_button")
    assert not [d for d in [*at.dataframe, *at.table] if "p(LMAF)" in d.value.columns]


def test_radiograph_demo_case(app_env: dict[str, str]) -> None:
    at = _open("pages/radiograph.py")
    at.radio(key="rg_mode").set_value("Demo case").run()
    assert not at.exception, at.exception
    assert "lmaf_demo.png" in at.selectbox(key="rg_demo").value
    assert "Case call" in _markdown(at)


def test_ct_upload_shows_probability_three_views_and_boxes(app_env: dict[str, str]) -> None:
    at = _open("pages/ct_volume.py")
    at.file_uploader(key="ct_upload").set_value(
        ("phantom.nii.gz", fixtures.volume_nifti(), "application/gzip")
    )
    at.run()
    assert not at.exception, at.exception
    assert "Fracture probability" in _markdown(at)
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert sum(any(p in k for k in keys) for p in ("Axial", "Coronal", "Sagittal")) == 3
    assert {s.key for s in at.slider} >= {"ct_z", "ct_y", "ct_x"}
    table = _frame(at, "Centre x, y, z (RAS mm)")
    assert len(table) >= 1 and "Centre x, y, z (RAS mm)" in table.columns
    z = at.slider(key="ct_z")
    z.set_value(0).run()  # a slider redraws only
    assert not at.exception and _cases(app_env) == ["ct"]
    at.toggle(key="ct_3d").set_value(True).run()
    assert not at.exception, at.exception
    assert any("ct_fig_3d" in c.proto.id for c in at.get("plotly_chart"))


def test_ct_page_reads_the_heat_map_one_slice_at_a_time(
    app_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page draws the overlay from the lazy map's slices; the whole map is never made."""
    from ankle_core.explain.ct_heat import HeatVolume

    reads: list[tuple[int, ...]] = []
    read = HeatVolume.__getitem__

    def counted(self: HeatVolume, key: object) -> object:
        out = read(self, key)
        reads.append(out.shape)
        return out

    def whole(self: HeatVolume, *args: object, **kwargs: object) -> None:
        raise AssertionError("the page materialised the whole heat map")

    monkeypatch.setattr(HeatVolume, "__getitem__", counted)
    monkeypatch.setattr(HeatVolume, "__array__", whole)
    at = _open("pages/ct_volume.py")
    at.file_uploader(key="ct_upload").set_value(
        ("phantom.nii.gz", fixtures.volume_nifti(), "application/gzip")
    )
    at.run()
    assert not at.exception, at.exception
    overlay = at.toggle(key="ct_overlay")
    assert not overlay.disabled
    overlay.set_value(True).run()
    assert not at.exception, at.exception
    assert len(reads) >= 3 and all(len(shape) == 2 for shape in reads)


def test_ct_demo_and_bad_volume(app_env: dict[str, str]) -> None:
    at = _open("pages/ct_volume.py")
    at.file_uploader(key="ct_upload").set_value(("x.nii", b"not a volume at all", "text/plain"))
    at.run()
    assert not at.exception and at.error
    at.file_uploader(key="ct_upload").set_value(None)
    at.radio(key="ct_mode").set_value("Demo case").run()
    assert not at.exception, at.exception
    assert "Fracture probability" in _markdown(at)


def test_both_case_pages_offer_a_pacs_source(
    app_env: dict[str, str],
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.delenv("ANKLE_PACS_URL", raising=False)
    for page, key in (("pages/radiograph.py", "rg"), ("pages/ct_volume.py", "ct")):
        at = _open(page)
        at.radio(key=f"{key}_source").set_value("PACS").run()
        assert not at.exception, at.exception
        assert any("No PACS is configured" in i.value for i in at.info)  # the server's job
        assert not [t for t in at.text_input if "address" in t.label.lower()]
        assert not [u for u in at.get("file_uploader")]  # the file input is replaced


def test_ct_page_offers_the_paper_grad_cam_beside_the_card_recommendation(
    app_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streamlit as st

    models = tmp_path / "models"
    shutil.copytree(app_env["ANKLE_MODELS_DIR"], models)
    for card_path in models.glob("*/card.json"):
        card = json.loads(card_path.read_text())
        if card["spatial_dims"] == 3:
            card["explanation"] = {"method": "hirescam", "min_cells": 16, "otsu_classes": 3}
            card_path.write_text(json.dumps(card))
    monkeypatch.setenv("ANKLE_MODELS_DIR", str(models))
    st.cache_resource.clear()
    at = _open("pages/ct_volume.py")
    choice = at.selectbox(key="ct_cam")
    assert choice.options == [
        "HiResCAM, 3-class Otsu (the model card's)",
        "Grad-CAM, Otsu (the reference paper's)",
    ]
    at.file_uploader(key="ct_upload").set_value(
        ("phantom.nii.gz", fixtures.volume_nifti(), "application/gzip")
    )
    at.run()
    assert not at.exception, at.exception
    assert "Boxes: HiResCAM, 3-class Otsu" in _markdown(at)
    at.selectbox(key="ct_cam").set_value(True).run()  # True: the reference paper's method
    assert not at.exception, at.exception
    assert "Boxes: Grad-CAM, Otsu" in _markdown(at)


def test_ct_page_warns_when_the_scan_is_not_an_ankle(app_env: dict[str, str]) -> None:
    import gzip

    import nibabel as nib
    import numpy as np

    hu = np.full((64, 64, 12), -1000, dtype=np.int16)  # nibabel order (x, y, z)
    xx, yy = np.mgrid[:64, :64]
    hu[(xx - 31.5) ** 2 + (yy - 31.5) ** 2 <= 28**2, :] = 30  # a 28 cm trunk
    data = gzip.compress(nib.Nifti1Image(hu, np.diag([5.0, 5.0, 5.0, 1.0])).to_bytes())
    at = _open("pages/ct_volume.py")
    at.file_uploader(key="ct_upload").set_value(("trunk.nii.gz", data, "application/gzip"))
    at.run()
    assert not at.exception, at.exception
    assert any("does not look like an ankle CT" in w.value for w in at.warning)
    # out of scope: the call is withheld with the reason in words, never "no fracture"
    text = _markdown(at)
    assert "out of domain — call withheld" in text and "no fracture" not in text
    assert any("outside the model's training domain" in e.value for e in at.error)
    assert any("does not look like an ankle CT" in e.value for e in at.error)
    assert not [d for d in at.dataframe if "Centre x, y, z (RAS mm)" in d.value.columns]
    at.toggle(key="ct_show_raw").set_value(True).run()  # the raw score, labelled
    assert not at.exception, at.exception
    assert any("Raw output, out of domain" in w.value for w in at.warning)
