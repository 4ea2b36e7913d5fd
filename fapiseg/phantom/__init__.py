"""The synthetic FAPI PET/CT cohort: the project's built-in data set (see ``fapiseg phantom``).

The public names load their module on first use, so ``fapiseg --help`` stays light.
"""

from __future__ import annotations

from fapiseg.lazy import lazy_exports

_EXPORTS = {
    "generate_cohort": "cohort",
    "generate_patient": "cohort",
    "generate_study": "cohort",
    "Patient": "cohort",
    "Study": "cohort",
    "StudyImages": "cohort",
    "LesionTruth": "cohort",
    "Lesion": "lesions",
    "LesionState": "lesions",
    "ORGAN_LABELS": "anatomy",
    "PHYSIOLOGICAL_HOT": "anatomy",
    "COURSES": "therapy",
    "FAMILIES": "family",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
