"""PERCIST 1.0 (Wahl et al., J Nucl Med 2009;50:122S-150S; practical application: O JH et al., Radiology
2016;280:576-584) on the SUVpeak of the hottest lesion.

The target is the single hottest lesion of each scan by SUVpeak (the 1 mL sphere of the lesion table),
"not necessarily the same lesion" at baseline and follow-up. PERCIST states its thresholds in SUL (SUV by
lean body mass); fapiseg applies them to the SUV the images hold, which is SUL when the study was imported
with ``fapiseg import-dicom --suv-type lbm`` (the ``suv_type`` column says which).

Measurability at baseline: SUVpeak of the hottest lesion of at least 1.5 x the liver's mean + 2 SD, or,
with the blood pool as reference, 2.0 x its mean + 2 SD (mean and SD over the reference VOI). The
reference is the one :func:`fapiseg.metrics.find_background` finds: the PERCIST blood-pool cylinder in
the descending aorta, else the liver. When neither is found (no CT, a small field of view) measurability
is unknown: the response is still called from the relative and absolute changes, which need no
reference, and marked as such; CMR is then only called when no lesion remains.

Categories, evaluated in this order:

- PMD: a new FAP-avid lesion (any lesion of the follow-up that continues no earlier one), or SUVpeak up
  by at least 30 % and by at least 0.8 units;
- NE: the baseline's hottest lesion is below the measurability threshold (or there is none);
- CMR: no lesion left, or the hottest one's SUVpeak at or below the follow-up's background mean (its own
  blood pool, else liver reference): uptake down to background;
- PMR: SUVpeak down by at least 30 % and by at least 0.8 units;
- SMD: otherwise.

"At least" follows O et al. 2016 (Wahl 2009 writes "> 30 %" for PMD); thresholds compare after rounding
to 1e-9, so a drop from 10 to 7 is exactly -30 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fapiseg.metrics.background import BackgroundReference

CHANGE_FRACTION = 0.30
CHANGE_ABSOLUTE = 0.8
#: Measurability: threshold = factor x reference mean + 2 SD, by the kind of reference.
MEASURABILITY_FACTOR = {"liver": 1.5, "aorta": 2.0}


@dataclass(frozen=True)
class Reference:
    """A background reference's kind (``aorta`` = blood pool, ``liver``), mean and SD over its VOI."""

    kind: str
    mean: float
    sd: float

    @property
    def measurability_threshold(self) -> float | None:
        """PERCIST's baseline measurability threshold for this kind of reference (None for others)."""
        factor = MEASURABILITY_FACTOR.get(self.kind)
        return None if factor is None else factor * self.mean + 2.0 * self.sd


def reference_statistics(suv: np.ndarray, background: BackgroundReference | None) -> Reference | None:
    """Mean and SD of a found background reference (its own mean, the SD over its VOI)."""
    if background is None:
        return None
    sd = float(suv[background.voi].std(dtype=np.float64)) if background.voi is not None else 0.0
    return Reference(background.kind, background.suv_mean, sd)


@dataclass(frozen=True)
class PercistAssessment:
    """One follow-up's PERCIST numbers: hottest SUVpeak now and at baseline, changes and the category."""

    suv_peak: float
    baseline_suv_peak: float
    change_pct: float
    change_abs: float
    measurable: bool | None
    category: str


def assess(
    baseline_peak: float,
    followup_peak: float,
    new_lesion: bool,
    baseline_reference: Reference | None,
    followup_reference: Reference | None,
) -> PercistAssessment:
    """The PERCIST 1.0 category of a follow-up (module docstring); a peak is NaN when the scan has no lesion."""
    threshold = None if baseline_reference is None else baseline_reference.measurability_threshold
    measurable = None
    if threshold is not None and not math.isnan(baseline_peak):
        measurable = bool(round(baseline_peak - threshold, 9) >= 0)
    change_abs = followup_peak - baseline_peak
    change = change_abs / baseline_peak if baseline_peak > 0 else float("nan")
    rounded_change, rounded_abs = round(change, 9), round(change_abs, 9)
    if new_lesion:
        category = "PMD"
    elif math.isnan(baseline_peak) or measurable is False:
        category = "NE"
    elif rounded_change >= CHANGE_FRACTION and rounded_abs >= CHANGE_ABSOLUTE:
        category = "PMD"
    elif math.isnan(followup_peak) or (
        followup_reference is not None and round(followup_peak - followup_reference.mean, 9) <= 0
    ):
        category = "CMR"
    elif rounded_change <= -CHANGE_FRACTION and rounded_abs <= -CHANGE_ABSOLUTE:
        category = "PMR"
    else:
        category = "SMD"
    return PercistAssessment(followup_peak, baseline_peak, 100 * change, change_abs, measurable, category)
