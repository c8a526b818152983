"""Streamlit-only helpers of the dashboard; the library (``ankle_core``) never imports these.

Imports go one way: ``app.py`` and ``pages/`` -> ``ui`` -> ``ankle_core``.

- ``resources``: the only place with ``st.cache_resource``: settings, the case store, the
  pipelines (loaded once per process, keyed on model names) and per-case results (keyed on
  the input's sha256 and the model names, so sliders and toggles never re-run a model).
- ``analysis``: plain (uncached) functions that read an input and run a pipeline.
- ``inputs``: upload-or-demo pickers; ``history``: the session id and the sidebar history.
- ``widgets``: disclaimer, error box, metadata and findings tables, PDF download.
- ``viewer``: the radiograph viewer (window/level, zoom, boxes, Grad-CAM overlay).
- ``volume_views``: axial, coronal and sagittal CT views and the 3D bone surface.
- ``cohort``: the cohort-performance sections.
- ``auth``: sign-in (OpenID Connect through ``st.login``), the role check of every page,
  and the start-up refusal of unsafe deployments without sign-in.
- ``serve``: runs the dashboard as a child process on 127.0.0.1 (a free port, a health
  check, a clean stop) for the browser tests and the dashboard benchmark.
"""

__all__ = [
    "analysis",
    "auth",
    "history",
    "inputs",
    "resources",
    "serve",
    "viewer",
    "volume_views",
    "widgets",
]
