"""ankle_core: the library behind the ankle fracture-AI workbench.

Plain, typed Python with no Streamlit dependency. Subpackages, one concept each:

- ``io``: readers for radiographs (DICOM, PNG, JPEG) and volumes (NIfTI, DICOM series),
  de-identification and a DICOM audit.
- ``preprocess``: intensity windows, resampling and crops.
- ``phantoms``: synthetic radiographs and CT volumes with known ground truth.
- ``models``: network definitions, weights and model cards.
- ``inference``: the radiograph and CT pipelines.
- ``explain``: Grad-CAM, Otsu boxes and overlays.
- ``stats``: ROC, DeLong, McNemar, calibration, agreement and reader studies.
- ``training``: training loops and the training CLI.
- ``store``: case history and reader studies (SQLAlchemy).
- ``pacs`` and ``export``: DICOMweb client and DICOM SR/SC/SEG writers.

Research software. The bundled demo models are trained on synthetic phantoms and are not
for clinical use.
"""

from ankle_core.errors import InvalidInputError
from ankle_core.types import Box2D, Box3D, Radiograph, Volume

__all__ = ["Box2D", "Box3D", "InvalidInputError", "Radiograph", "Volume"]
__version__ = "0.1.0"
