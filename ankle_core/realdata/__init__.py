"""Real (not synthetic) data: locating the shared data sets, the fracture-box reader, the
general fracture localiser trained on real radiographs, its grouped-bootstrap metrics, and
the real demo cases (RG3 radiograph, TotalSegmentator CT).

Nothing here downloads anything; missing sources give clear messages (see ``sources``).
"""

from ankle_core.realdata.demo import (
    REAL_DEMO_CASES,
    RealDemoCase,
    available_real_demos,
    real_demo,
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
    "FRACTURE_BOXES",
    "FRACTURE_CLASS",
    "REAL_DEMO_CASES",
    "TOTALSEG_CT",
    "FractureImage",
    "RealDemoCase",
    "available_real_demos",
    "find_real_data",
    "parse_yolo_labels",
    "read_fracture_boxes",
    "real_demo",
    "source_group",
    "write_training_folder",
]
