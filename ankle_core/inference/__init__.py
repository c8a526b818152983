"""The two inference pipelines and their batch CLIs.

- ``radiograph``: :class:`RadiographPipeline` (RetinaNet fragments, then LMAF vs SFO per
  fragment, three-band calls from the classifier card's operating points), its frozen
  results :class:`RadiographResult` and :class:`Fragment`.
- ``radiograph_cli``: ``python -m ankle_core.inference radiograph DIR --out predictions.csv``
  and the picklable per-file function :func:`predict_file`.
- ``ct``: :class:`CtPipeline` (3D CNN probability, Grad-CAM on the original grid, Otsu
  regions), :class:`CtResult`, :class:`CamRegion`; ``ct_cli``: ``python -m
  ankle_core.inference ct DIR --out predictions.csv``.
- ``localiser``: :class:`FractureLocaliser` (fracture boxes and an image-level score on real
  radiographs: the lower-limb FracAtlas model or the general extremity one),
  :class:`LocaliserResult`, :class:`LocalisedFracture`; ``localiser_cli``: ``python -m
  ankle_core.inference localise DIR --out preds.csv``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ankle_core.inference.ct import CamRegion, CtPipeline, CtResult
    from ankle_core.inference.localiser import (
        LEG_LOCALISER_NAME,
        LOCALISER_NAME,
        FractureLocaliser,
        LocalisedFracture,
        LocaliserResult,
    )
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

#: Where each public name lives; imported on first use, so that ``python -m
#: ankle_core.inference`` can choose the threads before torch loads.
_HOMES = {
    "CamRegion": "ankle_core.inference.ct",
    "CtPipeline": "ankle_core.inference.ct",
    "CtResult": "ankle_core.inference.ct",
    "LEG_LOCALISER_NAME": "ankle_core.inference.localiser",
    "LOCALISER_NAME": "ankle_core.inference.localiser",
    "FractureLocaliser": "ankle_core.inference.localiser",
    "LocalisedFracture": "ankle_core.inference.localiser",
    "LocaliserResult": "ankle_core.inference.localiser",
    "INDETERMINATE": "ankle_core.inference.radiograph",
    "NO_FRAGMENT": "ankle_core.inference.radiograph",
    "OUT_OF_DOMAIN": "ankle_core.inference.radiograph",
    "Fragment": "ankle_core.inference.radiograph",
    "RadiographPipeline": "ankle_core.inference.radiograph",
    "RadiographResult": "ankle_core.inference.radiograph",
    "call_for": "ankle_core.inference.radiograph",
    "PipelineConfig": "ankle_core.inference.radiograph_cli",
    "predict_file": "ankle_core.inference.radiograph_cli",
}

__all__ = [
    "INDETERMINATE",
    "LEG_LOCALISER_NAME",
    "LOCALISER_NAME",
    "NO_FRAGMENT",
    "OUT_OF_DOMAIN",
    "CamRegion",
    "CtPipeline",
    "CtResult",
    "FractureLocaliser",
    "Fragment",
    "LocalisedFracture",
    "LocaliserResult",
    "PipelineConfig",
    "RadiographPipeline",
    "RadiographResult",
    "call_for",
    "predict_file",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
