"""Following lesions through therapy: registration, lesion tracks, RECIST 1.1 and PERCIST 1.0 response.

Modules, in pipeline order: ``registration`` (CT alignment of each follow-up to the baseline), ``regions``
(organ region of each lesion), ``matching`` (Hungarian assignment of lesions to tracks), ``tracks``
(track ids across studies), ``recist`` and ``percist`` (the response criteria, pure arithmetic),
``response`` (the per-follow-up table), ``course`` (one patient, from files to tables), ``figures``,
``command`` (``fapiseg longitudinal``). The names below load on first use, so ``fapiseg --help`` stays light.
"""

from __future__ import annotations

from fapiseg.lazy import lazy_exports

_EXPORTS = {
    "Alignment": "registration",
    "register_ct": "registration",
    "assign_lesions": "matching",
    "follow_lesions": "tracks",
    "Tracking": "tracks",
    "PatientCourse": "course",
    "follow_patient": "course",
    "write_course": "course",
    "lesion_regions": "regions",
    "select_targets": "recist",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
