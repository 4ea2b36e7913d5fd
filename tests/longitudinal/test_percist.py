"""PERCIST 1.0 arithmetic at its thresholds: 30 % and 0.8 units, new lesions, CMR and measurability."""

import math

import numpy as np
import pytest

from fapiseg.longitudinal.percist import Reference, assess, reference_statistics
from fapiseg.metrics.background import BackgroundReference

LIVER = Reference("liver", 1.0, 0.2)  # measurable from 1.5 x 1.0 + 2 x 0.2 = 1.9
BLOOD = Reference("aorta", 1.5, 0.25)  # measurable from 2.0 x 1.5 + 2 x 0.25 = 3.5


def category(before, after, new=False, baseline_ref=LIVER, followup_ref=LIVER):
    return assess(before, after, new, baseline_ref, followup_ref).category


def test_measurability_thresholds_by_reference():
    assert LIVER.measurability_threshold == pytest.approx(1.9)
    assert BLOOD.measurability_threshold == pytest.approx(3.5)
    assert Reference("value", 1.0, 0.0).measurability_threshold is None


def test_partial_response_needs_thirty_percent_and_point_eight_units():
    assert category(10.0, 7.0) == "PMR"  # exactly -30 %, -3 units
    assert category(10.0, 7.01) == "SMD"
    assert category(2.6, 1.82) == "SMD"  # -30 % but -0.78 units


def test_the_absolute_rule_blocks_small_lesions():
    assert category(2.0, 1.4) == "SMD"  # -30 % but only -0.6 units
    assert category(2.0, 1.2) == "PMR"  # -40 %, exactly -0.8 units
    assert category(2.0, 2.6) == "SMD"  # +30 % but +0.6 units
    assert category(2.0, 2.8) == "PMD"  # +40 %, exactly +0.8 units


def test_progression_needs_thirty_percent_and_point_eight_units():
    assert category(4.0, 5.2) == "PMD"  # exactly +30 %, +1.2 units
    assert category(4.0, 5.19) == "SMD"
    assert category(10.0, 12.9) == "SMD"  # +2.9 units but +29 %


def test_a_new_lesion_is_progression_even_when_the_hottest_lesion_improves():
    assert category(10.0, 3.0, new=True) == "PMD"


def test_complete_response_when_nothing_is_left_or_uptake_is_at_background():
    assert category(10.0, float("nan")) == "CMR"  # no lesion left
    assert category(10.0, 1.0) == "CMR"  # SUVpeak at the liver mean
    assert category(10.0, 1.01) == "PMR"
    assert category(10.0, 1.4, followup_ref=BLOOD) == "CMR"  # at or below blood pool
    assert category(10.0, 1.0, followup_ref=None) == "PMR"  # no reference: CMR needs the lesion gone


def test_a_baseline_below_the_measurability_threshold_is_not_evaluable():
    r = assess(1.8, 0.5, False, LIVER, LIVER)
    assert r.measurable is False and r.category == "NE"
    assert assess(1.9, 0.5, False, LIVER, LIVER).measurable is True  # at the threshold
    assert assess(1.8, 4.0, True, LIVER, LIVER).category == "PMD"  # a new lesion still counts
    assert category(float("nan"), 3.0) == "NE"  # no lesion at baseline


def test_without_a_reference_measurability_is_unknown_and_changes_still_count():
    r = assess(1.2, 0.4, False, None, None)
    assert r.measurable is None and r.category == "PMR"  # -67 %, exactly -0.8 units
    assert r.change_pct == pytest.approx(-200 / 3) and r.change_abs == pytest.approx(-0.8)
    assert math.isnan(assess(1.2, float("nan"), False, None, None).change_pct)


def test_reference_statistics_are_the_mean_and_sd_over_the_voi():
    suv = np.zeros((4, 4, 4))
    voi = np.zeros(suv.shape, bool)
    voi[0, 0, :] = True
    suv[0, 0, :] = [1.0, 2.0, 3.0, 4.0]
    ref = reference_statistics(suv, BackgroundReference("liver", 2.5, voi))
    assert ref == Reference("liver", 2.5, pytest.approx(np.std([1.0, 2.0, 3.0, 4.0])))
    assert reference_statistics(suv, None) is None
