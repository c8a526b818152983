"""The two inference pipelines and their batch CLIs.

- ``radiograph``: :class:`RadiographPipeline` (RetinaNet fragments, then LMAF vs SFO per
  fragment, three-band calls from the classifier card's operating points), its frozen
  results :class:`RadiographResult` and :class:`Fragment`.
- ``radiograph_cli``: ``python -m ankle_core.inference radiograph DIR --out predictions.csv``
  and the picklable per-file function :func:`predict_file`.
- ``ct``: :class:`CtPipeline` (3D CNN probability, Grad-CAM on the original grid, Otsu
  regions), :class:`CtResult`, :class:`CamRegion`; ``ct_cli``: ``python -m
  ankle_core.inference ct DIR --out predictions.csv``.
"""

from ankle_core.inference.ct import CamRegion, CtPipeline, CtResult
from ankle_core.inference.radiograph import (
    INDETERMINATE,
    NO_FRAGMENT,
    OUT_OF_DOMAIN,
    Fragment,
    RadiographPipeline,
    RadiographResult,
    call_for,
)
from ankle_core.inference.radiograph_cli import PipelineConfig, predict_file

__all__ = [
    "INDETERMINATE",
    "NO_FRAGMENT",
    "OUT_OF_DOMAIN",
    "CamRegion",
    "CtPipeline",
    "CtResult",
    "Fragment",
    "PipelineConfig",
    "RadiographPipeline",
    "RadiographResult",
    "call_for",
    "predict_file",
]
