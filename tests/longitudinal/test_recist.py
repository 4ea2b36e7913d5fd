"""RECIST 1.1 arithmetic at its thresholds: measurability, target choice, CR/PR/SD/PD against baseline and nadir."""

import math

import pandas as pd
import pytest

from fapiseg.longitudinal.recist import TargetMeasurement, assess, is_measurable, select_targets

NODE, LESION = True, False


def response(sizes, baseline, nadir=None, nodal=None, non_targets=False, new=False):
    nodal = nodal or [LESION] * len(sizes)
    targets = [TargetMeasurement(n, s) for n, s in zip(nodal, sizes)]
    return assess(targets, baseline, baseline if nadir is None else nadir, non_targets, new)


@pytest.mark.parametrize(
    "region, longest, short, thickness, expected",
    [
        ("liver", 10.0, 4.0, 3.0, True),  # 10 mm longest diameter is measurable
        ("liver", 9.99, 9.0, 3.0, False),
        ("lung", 11.0, 5.0, 6.0, False),  # slices over 5 mm: at least twice the slice thickness (12 mm)
        ("lung", 12.0, 5.0, 6.0, True),
        ("lymph_node", 30.0, 15.0, 3.0, True),  # nodes by short axis, from 15 mm
        ("lymph_node", 30.0, 14.99, 3.0, False),
        ("axillary lymph node", 16.0, 15.0, 3.0, True),
    ],
)
def test_measurability_follows_recist(region, longest, short, thickness, expected):
    assert is_measurable(region, longest, short, thickness) is expected


def baseline_table(rows):
    return pd.DataFrame(rows, columns=["track_id", "region", "longest_diameter_mm", "short_axis_mm"])


def test_targets_are_five_at_most_two_per_organ_largest_first_and_every_organ_represented():
    table = baseline_table(
        [
            (1, "liver", 60, 40),
            (2, "liver", 50, 30),
            (3, "liver", 40, 30),  # third liver lesion: never a target
            (4, "lung_left", 30, 20),
            (5, "lung_right", 25, 20),  # both lungs are one organ
            (6, "lung_right", 20, 15),
            (7, "lymph_node", 40, 18),  # nodes: one organ, sized by short axis
            (8, "axillary lymph node", 30, 16),
            (9, "bone", 12, 10),
            (10, "breast", 8, 6),  # not measurable
        ]
    )
    targets = select_targets(table)
    assert len(targets) == 5
    # round one: the largest of each organ (liver 60, lung 30, nodes 18, bone 12), then liver's second
    assert targets == [1, 4, 7, 9, 2]


def test_small_nodes_are_never_targets_and_an_empty_baseline_has_none():
    table = baseline_table([(1, "lymph_node", 40, 14), (2, "liver", 9, 9)])
    assert select_targets(table) == []
    assert select_targets(baseline_table([])) == []


def test_exactly_thirty_percent_smaller_is_a_partial_response():
    assert response([70.0], 100.0).target == "PR"
    assert response([23.31], 33.3).target == "PR"  # float rounding does not move the threshold
    assert response([70.01], 100.0).target == "SD"


def test_progression_needs_twenty_percent_and_five_millimetres_over_the_nadir():
    assert response([60.0], 100.0, nadir=50.0).target == "PD"  # +20 %, +10 mm over the nadir
    assert response([24.0], 20.0).target == "SD"  # +20 % but only +4 mm
    assert response([25.0], 20.0).target == "PD"  # +25 %, +5 mm
    assert response([59.0], 100.0, nadir=50.0).target == "PR"  # +18 % over the nadir, -41 % from baseline
    assert response([105.0], 100.0).target == "SD"  # +5 mm but +5 %


def test_progression_is_measured_from_the_nadir_not_the_baseline():
    r = response([65.0], 100.0, nadir=40.0)
    assert r.target == "PD" and r.response == "PD"
    assert r.change_from_baseline_pct == pytest.approx(-35.0)  # still 35 % below baseline
    assert r.change_from_nadir_pct == pytest.approx(62.5)


def test_after_a_nadir_of_zero_five_millimetres_of_regrowth_is_progression():
    assert response([5.0], 30.0, nadir=0.0).target == "PD"
    assert response([4.0], 30.0, nadir=0.0).target == "PR"


def test_complete_response_allows_target_nodes_below_ten_millimetres():
    r = response([0.0, 9.5], 45.0, nodal=[LESION, NODE])
    assert r.target == "CR" and r.response == "CR"
    assert r.sum_mm == 9.5  # the sum is not zero with nodes among the targets
    assert response([0.0, 10.0], 45.0, nodal=[LESION, NODE]).target == "PR"  # a 10 mm node is not normal
    assert response([1.0, 5.0], 45.0, nodal=[LESION, NODE]).target == "PR"  # a 1 mm lesion is not gone


def test_target_complete_response_with_non_targets_left_is_partial_overall():
    r = response([0.0], 30.0, non_targets=True)
    assert r.target == "CR" and r.response == "PR"


def test_a_new_lesion_is_progression_whatever_the_targets_do():
    r = response([0.0], 30.0, new=True)
    assert r.target == "CR" and r.response == "PD"
    assert response([50.0], 100.0, new=True).response == "PD"


def test_without_targets_the_non_target_table_applies():
    assert assess([], 0.0, 0.0, non_targets_present=True, new_lesion=False).response == "non-CR/non-PD"
    assert assess([], 0.0, 0.0, non_targets_present=False, new_lesion=False).response == "CR"
    assert assess([], 0.0, 0.0, non_targets_present=True, new_lesion=True).response == "PD"
    none = assess([], 0.0, 0.0, False, False, any_baseline_lesion=False)
    assert none.response == "NE" and math.isnan(none.change_from_baseline_pct)
