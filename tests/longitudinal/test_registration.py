"""CT registration recovers a known repositioning of the patient, whatever the grid, in well under a second."""

import numpy as np
import pytest

from fapiseg.longitudinal.registration import identity_alignment, register_ct
from tests.longitudinal.phantoms import AFFINE, Sphere, make_study, pose, world_centre
from tests.metrics.synthetic import flip_and_permute

LESIONS = [
    Sphere((45, 0, 40), 9),
    Sphere((40, 0, -50), 12),
    Sphere((97, -10, 45), 10),
    Sphere((0, -25, 30), 9),
]


@pytest.fixture(scope="module")
def baseline():
    return make_study(LESIONS, seed=0)


def target_errors_mm(alignment, followup_pose):
    """Distance between where the alignment sends each lesion centre and where it really is."""
    centres = np.array([lesion.centre_mm for lesion in LESIONS], float)
    truth = np.array([world_centre(lesion, followup_pose) for lesion in LESIONS])
    return np.linalg.norm(alignment.to_followup(centres) - truth, axis=1)


@pytest.mark.parametrize("shift, rotation", [((12, -15, 10), (3, -2, 4)), ((-20, 8, -18), (-4, 3, -5))])
def test_a_repositioned_patient_is_aligned_to_within_two_millimetres(baseline, shift, rotation):
    followup_pose = pose(shift, rotation)
    _, ct, mask = make_study(LESIONS, followup_pose, seed=1)
    alignment = register_ct(
        baseline[1], AFFINE, ct, AFFINE, baseline_exclude=baseline[2], followup_exclude=mask
    )
    assert alignment.method == "rigid"  # an affine gains nothing on a rigid move
    assert target_errors_mm(alignment, followup_pose).max() < 2.0
    true_angle = np.degrees(np.arccos((np.trace(followup_pose[:3, :3]) - 1) / 2))
    assert alignment.rotation_deg == pytest.approx(true_angle, abs=1.0)
    assert alignment.metric < -0.5  # well aligned CTs share much information
    back = alignment.to_baseline(alignment.to_followup(np.array([[1.0, 2.0, 3.0]])))
    assert back == pytest.approx(np.array([[1.0, 2.0, 3.0]]))


def test_the_follow_up_may_be_stored_on_another_grid(baseline):
    followup_pose = pose((10, 12, -8), (-2, 4, 3))
    grid = np.array([[3.5, 0, 0, -126.0], [0, 4.0, 0, -126.0], [0, 0, 5.0, -95.0], [0, 0, 0, 1]])
    _, ct, _ = make_study(LESIONS, followup_pose, seed=2, shape=(72, 64, 38), affine=grid)
    ct, grid = flip_and_permute(ct, grid, flips=(0, 1), order=(2, 0, 1))
    alignment = register_ct(baseline[1], AFFINE, ct, grid)
    assert target_errors_mm(alignment, followup_pose).max() < 2.0


def test_the_affine_stage_is_kept_when_the_anatomy_has_changed_shape(baseline):
    followup_pose = pose((8, -6, 5), (2, -3, 1)) @ np.diag([1.06, 1.06, 1.0, 1.0])  # a wider patient
    _, ct, _ = make_study(LESIONS, followup_pose, seed=3)
    rigid = register_ct(baseline[1], AFFINE, ct, AFFINE, affine_stage=False)
    affine = register_ct(baseline[1], AFFINE, ct, AFFINE)
    assert affine.method == "affine"
    assert target_errors_mm(affine, followup_pose).max() < target_errors_mm(rigid, followup_pose).max() - 1.0


def test_the_same_scan_aligns_to_itself(baseline):
    alignment = register_ct(baseline[1], AFFINE, baseline[1], AFFINE)
    assert alignment.displacement_mm(np.array([[45.0, 0, 40], [40, 0, -50]])).max() < 0.3
    assert identity_alignment().displacement_mm(np.zeros((1, 3)))[0] == 0.0


def test_seed_zero_is_refused_because_simpleitk_would_seed_from_the_clock(baseline):
    with pytest.raises(ValueError, match="clock"):
        register_ct(baseline[1], AFFINE, baseline[1], AFFINE, seed=0)
