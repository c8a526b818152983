"""Results as standard DICOM objects, written with highdicom.

Radiographs: a Comprehensive SR (TID 1500 measurement report; each fragment a closed
SCOORD polyline with its LMAF probability and call, or a coded "no fragment" finding) and
an overlay Secondary Capture burned in and marked NOT FOR DIAGNOSTIC USE
(:func:`export_radiograph`). CT: a Comprehensive 3D SR (fracture probability, each Grad-CAM
region's centre as an SCOORD3D point) and a binary Segmentation of the regions
(:func:`export_ct`). Every object is a new series named ``"AI <model> <version>"`` in the
source's study; patient and study attributes are copied from the source data sets in
memory at export time, and the sources are never altered. :func:`read_radiograph_report`
and :func:`read_ct_report` read the reports back.
"""

from ankle_core.export.bundle import export_ct, export_radiograph
from ankle_core.export.ct_seg import build_ct_segmentation
from ankle_core.export.ct_sr import build_ct_sr
from ankle_core.export.overlay_image import render_overlay
from ankle_core.export.radiograph_sr import build_radiograph_sr
from ankle_core.export.readback import (
    ReportedCt,
    ReportedFragment,
    ReportedRadiograph,
    ReportedRegion,
    read_ct_report,
    read_radiograph_report,
)
from ankle_core.export.secondary_capture import build_overlay_sc

__all__ = [
    "ReportedCt",
    "ReportedFragment",
    "ReportedRadiograph",
    "ReportedRegion",
    "build_ct_segmentation",
    "build_ct_sr",
    "build_overlay_sc",
    "build_radiograph_sr",
    "export_ct",
    "export_radiograph",
    "read_ct_report",
    "read_radiograph_report",
    "render_overlay",
]
