"""The synthetic FAPI PET/CT cohort: the project's built-in data set (see ``fapiseg phantom``).

The public names load their module on first use, so ``fapiseg --help`` stays light.
"""

from __future__ import annotations

import importlib

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


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
