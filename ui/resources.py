"""Everything cached, and nothing cached anywhere else.

Objects cached with ``st.cache_resource`` are shared by every session of the process, so
each is either immutable (settings, frozen results with read-only arrays) or thread-safe
(the store's engine, the pipelines: Grad-CAM runs under a per-model lock). Keys are plain
strings: model names, the models folder, the device, the input's sha256. Per-case results
expire after an hour and only a few CT volumes are kept (a full-resolution CT and its heat
map can take hundreds of MB).
"""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from ankle_core.access import AttemptLimiter
from ankle_core.config import Settings
from ankle_core.io import suppress_identifying_warnings
from ankle_core.models.card import ModelCard
from ankle_core.store import CaseStore
from ankle_core.types import Radiograph, Volume
from ui import analysis
from ui.analysis import CtAnalysis, RadiographAnalysis, analyse_ct, analyse_radiograph

if TYPE_CHECKING:
    from ankle_core.inference.ct import CtPipeline
    from ankle_core.inference.localiser import FractureLocaliser, LocaliserResult
    from ankle_core.inference.radiograph import RadiographPipeline
    from ankle_core.phantoms.disk_cache import PhantomDiskCache
    from ankle_core.stats.report import CohortReport
    from ankle_core.teaching.real_cases import RealCase

_READER_KEYS = ("photometric", "inverted", "voi", "window", "rescale_applied")

__all__ = [
    "bone_surface",
    "case_store",
    "clear_all",
    "cohort_html",
    "cohort_report",
    "ct_analysis",
    "ct_pipeline",
    "fracture_localiser",
    "localiser_result",
    "localiser_saliency",
    "model_cards",
    "model_names",
    "owner_key_limiter",
    "phantom_cache",
    "radiograph_analysis",
    "radiograph_pdf",
    "radiograph_pipeline",
    "real_teaching_cases",
    "settings",
    "warm_models",
]

logger = logging.getLogger(__name__)

#: The models the first case of each kind needs, loaded in the background at start-up.
#: Held while the networks' and pipelines' modules are imported and models loaded. The
#: background warm-up and a page importing torchvision's model modules at the same time can
#: each be handed the other's module half-initialised (seen in CI: "partially initialized
#: module 'torchvision.models' has no attribute 'MobileNetV2'").
_IMPORTS = threading.RLock()

_WARM_RADIOGRAPH = ("lmaf-fragment-detector", "lmaf-classifier-mobilenetv2")
#: the lower-limb model, run on every real radiograph (its ONNX export is warmed too)
_WARM_LEG = "fracatlas-leg-localiser"
_WARM_CT = "ct-fracture-mobilenet3d"


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The process's settings, read from the environment once.

    Also the app's start-up hook: pydicom's warnings that quote header values (names, IDs)
    are filtered once for the process, so no identifier reaches the server's log.
    """
    suppress_identifying_warnings()
    return Settings.from_env()


def _onnx_cache_dir() -> str:
    """Where exported ONNX files are kept (``<cache_dir>/onnx``, one file per weights hash)."""
    return str(settings().cache_dir / "onnx")


@st.cache_resource(show_spinner=False)
def phantom_cache() -> PhantomDiskCache:
    """Phantoms kept on disk under ``<cache_dir>/phantoms`` (they outlive the server)."""
    from ankle_core.phantoms.disk_cache import PhantomDiskCache

    return PhantomDiskCache(settings().cache_dir / "phantoms")


@st.cache_resource(show_spinner=False)
def case_store(database_url: str) -> CaseStore:
    """The case history, schema migrated to the newest revision."""
    return CaseStore.from_url(database_url)


@st.cache_resource(show_spinner=False)
def owner_key_limiter() -> AttemptLimiter:
    """The process's limit on study-key attempts: 5 per user and 30 in all per minute."""
    return AttemptLimiter(per_user=5, total=30, window_s=60.0)


@st.cache_data(ttl=60, show_spinner=False)
def model_names(models_dir: str) -> list[str]:
    """Names of the installed models (re-listed at most once a minute)."""
    from ankle_core.models.weights import list_models

    return list_models(models_dir)


@st.cache_data(ttl=60, show_spinner=False)
def model_cards(models_dir: str) -> dict[str, ModelCard]:
    """Cards of the installed models, by name; unreadable cards are left out."""
    from ankle_core.errors import ModelLoadError
    from ankle_core.models.card import read_card

    cards: dict[str, ModelCard] = {}
    for name in model_names(models_dir):
        try:
            cards[name] = read_card(Path(models_dir) / name)
        except ModelLoadError:
            continue
    return cards


@st.cache_resource(show_spinner="Loading the radiograph models…")
def radiograph_pipeline(
    detector: str, classifier: str, models_dir: str, device: str
) -> RadiographPipeline:
    """The detector + classifier pipeline, loaded once per process.

    It runs in the settings' runtime (ONNX Runtime on the CPU by default) from the exports
    kept under the cache folder per weights hash. It never waits for an export (minutes on
    a busy CPU): until :func:`warm_models` has made them, it runs torch.
    """
    with _IMPORTS:
        from ankle_core.inference.radiograph import RadiographPipeline

        pipeline = RadiographPipeline.from_names(
            detector,
            classifier,
            models_dir=models_dir,
            device=device,
            runtime=settings().runtime,
            onnx_cache_dir=_onnx_cache_dir(),
            onnx_export=False,
        )
    freeze_long_lived_objects()
    return pipeline


@st.cache_resource(show_spinner="Loading the CT model…")
def ct_pipeline(name: str, models_dir: str, device: str) -> CtPipeline:
    """The CT pipeline, loaded once per process (forward pass in the settings' runtime, from
    a cached export only, as :func:`radiograph_pipeline`)."""
    with _IMPORTS:
        from ankle_core.inference.ct import CtPipeline

        pipeline = CtPipeline.from_name(
            name,
            models_dir=models_dir,
            device=device,
            runtime=settings().runtime,
            onnx_cache_dir=_onnx_cache_dir(),
            onnx_export=False,
        )
    freeze_long_lived_objects()
    return pipeline


@st.cache_resource(show_spinner="Loading the fracture localiser…")
def fracture_localiser(name: str, models_dir: str, device: str) -> FractureLocaliser:
    """A fracture localiser (hash-checked weights), loaded once per process."""
    from ankle_core.device import resolve_runtime

    with _IMPORTS:
        from ankle_core.inference.localiser import FractureLocaliser
        from ankle_core.models.onnx_runtime import cached_export_exists
        from ankle_core.models.weights import load_model

        model = load_model(name, models_dir=models_dir, device=device)
    runtime = resolve_runtime(settings().runtime, model.device)
    exported = cached_export_exists(_onnx_cache_dir(), model.card.weights_sha256)
    if runtime == "onnx" and not exported:  # never wait for an export here
        runtime = "torch"
    localiser = FractureLocaliser(model, runtime=runtime, onnx_cache_dir=_onnx_cache_dir())
    freeze_long_lived_objects()
    return localiser


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def localiser_result(
    sha256: str, name: str, models_dir: str, device: str, _radiograph: Radiograph
) -> LocaliserResult:
    """The localiser's boxes and image score on one radiograph, keyed on its sha256 and name."""
    return fracture_localiser(name, models_dir, device).run(_radiograph)


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def localiser_saliency(
    sha256: str, name: str, models_dir: str, device: str, box_index: int, _radiograph: Radiograph
) -> np.ndarray:
    """Grad-CAM, (H, W) in [0, 1], for one localiser box (0 = top score).

    The explanation registers no hook on the shared network (heat-map model) or explains a
    private copy (RetinaNet), so the cached localiser is left untouched.
    """
    return fracture_localiser(name, models_dir, device).saliency(_radiograph, box_index)


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def radiograph_analysis(
    sha256: str, detector: str, classifier: str, models_dir: str, device: str, _data: bytes
) -> RadiographAnalysis:
    """One radiograph's analysis, keyed on its sha256 and the model names."""
    pipeline = radiograph_pipeline(detector, classifier, models_dir, device)
    return analyse_radiograph(pipeline, _data, settings().limits)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)
def ct_analysis(
    sha256: str, model: str, models_dir: str, device: str, reference_method: bool, _data: bytes
) -> CtAnalysis:
    """One volume's analysis, keyed on its sha256, the model name and the heat-map method.

    ``reference_method`` explains with the reference paper's Grad-CAM and Otsu instead of the
    settings the model card recommends.
    """
    with _IMPORTS:
        from ankle_core.explain.ct import PAPER_GRADCAM

    pipeline = ct_pipeline(model, models_dir, device)
    explanation = PAPER_GRADCAM if reference_method else None
    return analyse_ct(pipeline, _data, settings().limits, explanation)


@st.cache_resource(max_entries=32, show_spinner=False)
def radiograph_pdf(
    sha256: str,
    models: str,
    overlay_alpha: float,
    _analysis: RadiographAnalysis,
    localiser: str = "",
    _localiser_result: LocaliserResult | None = None,
) -> bytes:
    """The one-page PDF of a radiograph case, for one overlay opacity (0: no overlay).

    ``localiser`` names the fracture localiser whose result ``_localiser_result`` is
    reported first ("" for none).
    """
    from ankle_core.report import render_pdf
    from ankle_core.report.radiograph import radiograph_report

    meta = _analysis.radiograph.metadata
    details = {
        "Input sha256": sha256,
        "Reader applied": ", ".join(f"{k}={meta[k]}" for k in _READER_KEYS if k in meta) or "-",
    }
    report = radiograph_report(
        _analysis.radiograph,
        _analysis.result,
        _analysis.saliency,
        overlay_alpha=overlay_alpha,
        details=details,
        localiser=_localiser_result,
    )
    return render_pdf(report)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)
def bone_surface(sha256: str, _volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """The volume's bone surface (vertices in mm, faces), computed once per input."""
    return analysis.bone_surface(_volume)


@st.cache_resource(max_entries=8, show_spinner=False)
def cohort_report(
    table_sha256: str, truth: str, scores: str, subgroup: str, n_boot: int, _frame: pd.DataFrame
) -> CohortReport:
    """The cohort report of a predictions table (``scores`` joined by ``|``)."""
    from ankle_core.stats.report import build_report

    return build_report(
        _frame, truth, scores.split("|"), subgroup=subgroup or None, n_boot=n_boot, seed=0
    )


@st.cache_resource(max_entries=8, show_spinner=False)
def cohort_html(
    table_sha256: str, truth: str, scores: str, subgroup: str, n_boot: int, _report: CohortReport
) -> str:
    """The stand-alone HTML page of a cohort report."""
    try:
        from ankle_core.stats.report_html import render_html
    except ImportError:  # older library: a plain page of the figures
        from ankle_core.stats.figures import all_figures

        parts = [
            fig.to_html(full_html=False, include_plotlyjs=i == 0)
            for i, (_, fig) in enumerate(all_figures(_report))
        ]
        return "<html><body><h1>Cohort report</h1>" + "".join(parts) + "</body></html>"
    html: str = render_html(_report)
    return html


def freeze_long_lived_objects() -> None:
    """Take the objects alive now (modules, loaded models, caches) out of the collector's walk.

    CPython's full garbage collections visit every tracked object. With torch, Streamlit and
    the models loaded, a server process holds about 580,000, and a full collection held the
    GIL for 0.3 s on a quiet machine, whenever the collector's thresholds started one during
    an interaction (docs/performance.md). ``gc.freeze()`` moves them to a permanent
    generation that collections skip (they live as long as the process anyway); objects made
    later are collected as before, and a frozen object dropped later is still freed by
    reference counting (only a frozen reference cycle stays until the process ends). A
    collection first, so that no garbage is kept. Called by each model loader below, once per
    process each, whether a page or the background warm-up asks first; the warm-up's other
    objects (exports, a model loaded only to export it) are dropped when it ends.
    """
    gc.collect()
    gc.freeze()


@st.cache_resource(show_spinner=False)
def warm_models(models_dir: str, device: str) -> threading.Thread:
    """Load the default models, and export them to ONNX, in a background thread, once.

    The lower-limb localiser (run on every real radiograph) is exported too.

    ``app.py`` calls this after the first page has drawn, so the page never waits for it.
    The thread fills the caches the pages use (:func:`radiograph_pipeline`,
    :func:`ct_pipeline`; a page asking for a model being loaded waits for that one load).
    When the settings' runtime is ONNX Runtime and a model has no cached export yet, the
    pages run it in torch while this thread exports it (paid once per machine: the file is
    kept under the cache folder), then drops the torch pipeline so the next case uses ONNX
    Runtime. A model that is not installed is skipped.
    """
    from ankle_core.device import resolve_runtime

    with _IMPORTS:
        from ankle_core.inference.ct import CtPipeline
        from ankle_core.inference.localiser import FractureLocaliser
        from ankle_core.inference.radiograph import RadiographPipeline
        from ankle_core.models.onnx_runtime import cached_export_exists
        from ankle_core.models.weights import load_model

    installed = set(model_names(models_dir))
    cache, runtime = _onnx_cache_dir(), settings().runtime

    def warm() -> None:
        try:
            if set(_WARM_RADIOGRAPH) <= installed:
                pipeline = radiograph_pipeline(*_WARM_RADIOGRAPH, models_dir, device)
                if pipeline.runtime == "torch" and runtime != "torch":
                    exported = RadiographPipeline.from_names(
                        *_WARM_RADIOGRAPH, models_dir=models_dir, device=device,
                        runtime=runtime, onnx_cache_dir=cache,
                    )  # fmt: skip
                    if exported.runtime == "onnx":
                        radiograph_pipeline.clear()  # the next case loads the ONNX one
            if _WARM_LEG in installed and runtime != "torch":
                with _IMPORTS:
                    leg = load_model(_WARM_LEG, models_dir=models_dir, device=device)
                leg_exported = cached_export_exists(cache, leg.card.weights_sha256)
                if resolve_runtime(runtime, leg.device) == "onnx" and not leg_exported:
                    FractureLocaliser(leg, runtime="onnx", onnx_cache_dir=cache)
                    fracture_localiser.clear()  # export once per machine, then use it
            if _WARM_CT in installed:
                ct = ct_pipeline(_WARM_CT, models_dir, device)
                if ct.runtime == "torch" and runtime == "onnx":  # "auto" runs CT in torch
                    done = CtPipeline.from_name(
                        _WARM_CT, models_dir=models_dir, device=device, runtime=runtime,
                        onnx_cache_dir=cache,
                    )  # fmt: skip
                    if done.runtime == "onnx":
                        ct_pipeline.clear()
        except Exception:  # a failed warm-up only means the page loads the model itself
            logger.warning("background model warm-up failed", exc_info=True)

    thread = threading.Thread(target=warm, name="ankle-model-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def real_teaching_cases(root: str) -> tuple[RealCase, ...]:
    """The real (FracAtlas) teaching cases bundled under ``root``, read once per process."""
    from ankle_core.teaching.real_cases import real_cases

    return tuple(real_cases(Path(root)))


def clear_all() -> None:
    """Forget every cached object (tests; after installing a new model)."""
    st.cache_resource.clear()
    st.cache_data.clear()
