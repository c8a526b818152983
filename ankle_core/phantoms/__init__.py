"""Synthetic ankle phantoms with known ground truth: radiographs, CT volumes and exports.

No ankle data set can be downloaded, so the project draws its own cases for tests, the demo,
model training and the teaching library. :func:`make_case` draws an AP or mortise ankle
radiograph with a lateral malleolar avulsion fracture (``"lmaf"``), a subfibular ossicle
(``"sfo"``) or no fragment (``"none"``), and the fragment's exact box; :func:`make_volume`
draws an ankle CT in HU, fractured or not, with the fracture's 3D box in its metadata
(:func:`fracture_box` reads it back). :class:`PhantomKnobs` and :class:`CtKnobs` hold every
range the generators sample from. :func:`export_dataset` (and ``python -m
ankle_core.phantoms export``) writes them as real DICOM, PNG and NIfTI files with
``labels.csv`` and COCO ``annotations.json``; :func:`export_demo` rebuilds ``demo_cases/``.

Phantoms prove plumbing, not clinical performance: see ``docs/phantoms.md``.
"""

from ankle_core.phantoms.ct import fracture_box, make_volume
from ankle_core.phantoms.demo import export_demo
from ankle_core.phantoms.export import export_dataset
from ankle_core.phantoms.knobs import CtKnobs, PhantomKnobs
from ankle_core.phantoms.radiograph import RadiographCase, make_case

__all__ = [
    "CtKnobs",
    "PhantomKnobs",
    "RadiographCase",
    "export_dataset",
    "export_demo",
    "fracture_box",
    "make_case",
    "make_volume",
]
