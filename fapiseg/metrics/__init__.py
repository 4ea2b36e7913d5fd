"""Lesion quantification (the lesion table) and evaluation metrics (autoPET, detection, diagnostic accuracy).

The public names load their module on first use, so that ``fapiseg --help`` (which imports the command
modules of this package) does not pay for pandas and scipy.
"""

from __future__ import annotations

from fapiseg.lazy import lazy_exports

_EXPORTS = {
    "LESION_COLUMNS": "table",
    "lesion_table": "table",
    "measure_lesions": "table",
    "Components": "components",
    "label_components": "components",
    "BackgroundReference": "background",
    "find_background": "background",
    "SegmentationScores": "segmentation",
    "dice_fpv_fnv": "segmentation",
    "DetectionCounts": "detection",
    "match_lesions": "detection",
    "DiagnosticAccuracy": "diagnostic",
    "Proportion": "diagnostic",
    "diagnostic_accuracy": "diagnostic",
    "wilson_interval": "diagnostic",
    "froc_curve": "froc",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
