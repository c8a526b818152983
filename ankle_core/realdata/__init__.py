"""Real (not synthetic) data sources: locating the shared data sets, the readers of the
extremity fracture-box set and of FracAtlas' lower-limb subset, and the real demo cases (RG3
radiograph, TotalSegmentator CT). The localisers trained on them live in the layers:
``models`` (networks), ``inference`` (:class:`~ankle_core.inference.FractureLocaliser`),
``training`` and ``stats.detection`` (metrics).

Nothing here downloads anything; missing sources give clear messages (see ``sources``).
"""

from ankle_core.realdata.demo import (
    REAL_DEMO_CASES,
    RealDemoCase,
    available_real_demos,
    real_demo,
)
from ankle_core.realdata.fracatlas import (
    FRACATLAS,
    FRACATLAS_CREDIT,
    FracAtlasImage,
    read_fracatlas,
    validation_split,
)
from ankle_core.realdata.fracture_boxes import (
    DATASET_CREDIT,
    FRACTURE_CLASS,
    FractureImage,
    parse_yolo_labels,
    read_fracture_boxes,
    source_group,
    write_training_folder,
)
from ankle_core.realdata.sources import FRACTURE_BOXES, TOTALSEG_CT, find_real_data

__all__ = [
    "DATASET_CREDIT",
    "FRACATLAS",
    "FRACATLAS_CREDIT",
    "FRACTURE_BOXES",
    "FRACTURE_CLASS",
    "REAL_DEMO_CASES",
    "TOTALSEG_CT",
    "FracAtlasImage",
    "FractureImage",
    "RealDemoCase",
    "available_real_demos",
    "find_real_data",
    "parse_yolo_labels",
    "read_fracatlas",
    "read_fracture_boxes",
    "real_demo",
    "source_group",
    "validation_split",
    "write_training_folder",
]
