"""Coded concepts used in the exported reports.

Standard codes (DCM, SCT, UCUM) where one says exactly what is meant; otherwise codes from
this project's private coding scheme ``99ANKLE`` (the ``99`` prefix marks a private scheme,
PS3.16 section 8.2). Readers of the reports match on these values, so they are part of the
export format: change them only with a new format version.
"""

from __future__ import annotations

from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

__all__ = [
    "CALL_CODES",
    "CASE_CALL",
    "CASE_P_LMAF",
    "CT_CALL",
    "CT_CALL_CODES",
    "CUBIC_MM",
    "DETECTION_SCORE",
    "FRACTURE_BOX_SCORE",
    "FRACTURE_PROBABILITY",
    "FRAGMENT",
    "FRAGMENT_CALL",
    "GRADCAM_PEAK",
    "GRADCAM_REGION",
    "IMAGE_FRACTURE_CALL",
    "IMAGE_FRACTURE_SCORE",
    "IMAGING_PROCEDURE",
    "NO_FRAGMENT_FOUND",
    "OUT_OF_DOMAIN",
    "PROBABILITY_UNIT",
    "P_LMAF",
    "SCHEME",
    "VOLUME",
    "code_for_call",
    "declare_private_scheme",
]

SCHEME = "99ANKLE"


def _c(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


#: Unit of a probability in [0, 1] (UCUM annotation).
PROBABILITY_UNIT = CodedConcept(
    value="{probability}", scheme_designator="UCUM", meaning="probability"
)
#: Procedure reported: SCT 363679005 "Imaging".
IMAGING_PROCEDURE = CodedConcept(value="363679005", scheme_designator="SCT", meaning="Imaging")

FRAGMENT = _c("FRAG", "Perimalleolar bone fragment")
FRAGMENT_CALL = _c("FRAGCALL", "Fragment classification")
CASE_CALL = _c("CASECALL", "Radiograph classification")
CASE_P_LMAF = _c("CASEPLMAF", "Highest fragment probability of LMAF")
DETECTION_SCORE = _c("DETSCORE", "Fragment detection score")
NO_FRAGMENT_FOUND = _c("NOFRAG", "No perimalleolar fragment found")
#: Measurement name of a fragment's probability of lateral malleolar avulsion fracture.
P_LMAF = _c("PLMAF", "Probability of lateral malleolar avulsion fracture")

#: A call withheld because the input lies outside the model's training domain.
OUT_OF_DOMAIN = _c("OUTDOMAIN", "Outside the model's training domain - call withheld")

CALL_CODES: dict[str, CodedConcept] = {
    "LMAF": _c("LMAF", "Lateral malleolar avulsion fracture"),
    "SFO": _c("SFO", "Subfibular ossicle"),
    "indeterminate — review": _c("INDET", "Indeterminate - review"),
    "no perimalleolar fragment found": NO_FRAGMENT_FOUND,
    "out of domain — call withheld": OUT_OF_DOMAIN,
}

FRACTURE_PROBABILITY = _c("PFRACT", "Probability of fracture")
#: Fracture localiser: a suggested box's score, the image-level score and call.
FRACTURE_BOX_SCORE = _c("FXBOXSCORE", "Fracture box score")
IMAGE_FRACTURE_SCORE = _c("FXIMGSCORE", "Image-level fracture score")
IMAGE_FRACTURE_CALL = _c("FXIMGCALL", "Radiograph fracture classification")
CT_CALL = _c("CTCALL", "CT fracture classification")
CT_CALL_CODES: dict[str, CodedConcept] = {
    "fracture": CodedConcept(
        value="125605004", scheme_designator="SCT", meaning="Fracture of bone"
    ),
    "no fracture": _c("NOFRACT", "No fracture"),
    "indeterminate — review": _c("INDET", "Indeterminate - review"),
    "out of domain — call withheld": OUT_OF_DOMAIN,
}
GRADCAM_REGION = _c("GCREGION", "Grad-CAM region")
GRADCAM_PEAK = _c("GCPEAK", "Grad-CAM peak value")
VOLUME = codes.SCT.Volume
CUBIC_MM = codes.UCUM.CubicMillimeter


def code_for_call(call: str, table: dict[str, CodedConcept]) -> CodedConcept:
    """The coded concept of a pipeline call; unknown calls get a private code of their text.

    Args:
        call: the pipeline's call string.
        table: :data:`CALL_CODES` or :data:`CT_CALL_CODES`.

    Returns:
        The concept.
    """
    return table.get(call) or _c(call.upper()[:16].replace(" ", "_"), call)


def declare_private_scheme(ds: Dataset) -> None:
    """Add the Coding Scheme Identification Sequence that declares ``99ANKLE`` (PS3.3 C.12.1).

    Args:
        ds: an exported object (SR or SEG) using codes of this scheme; changed in place.
    """
    item = Dataset()
    item.CodingSchemeDesignator = SCHEME
    item.CodingSchemeName = "Ankle fracture workbench codes"
    item.CodingSchemeResponsibleOrganization = "ankle-fracture-workbench project"
    ds.CodingSchemeIdentificationSequence = [item]
