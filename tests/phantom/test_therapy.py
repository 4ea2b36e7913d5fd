"""Therapy courses across studies: on disk (CR, PR, PD_new, repositioning) and as plans (PD, SD)."""

from __future__ import annotations

import numpy as np
import pytest

from fapiseg.phantom.cohort import generate_patient, study_pose
from fapiseg.phantom.family import FAPI
from fapiseg.phantom.lesions import LesionPlan
from fapiseg.phantom.therapy import default_courses, plan_course


def _studies(truth, patient):
    return next(p for p in truth["patients"] if p["patient"] == patient)["studies"]


def test_complete_response_leaves_no_lesion(truth):
    t0, t1 = _studies(truth, "p002")
    assert t0["lesions"] and not t1["lesions"]


def test_partial_response_shrinks_the_sum_of_diameters_by_30_percent(truth):
    t0, t1 = _studies(truth, "p000")
    before = sum(les["diameter_mm"] for les in t0["lesions"])
    after = sum(les["diameter_mm"] for les in t1["lesions"])
    assert after <= 0.7 * before
    suv0 = {les["track_id"]: les["suv_max"] for les in t0["lesions"]}
    for les in t1["lesions"]:
        assert les["suv_max"] <= min(0.7 * suv0[les["track_id"]], suv0[les["track_id"]] - 0.8) + 1e-3


def test_new_lesion_gets_a_new_track_id(truth):
    t0, t1 = _studies(truth, "p001")
    ids0, ids1 = {les["track_id"] for les in t0["lesions"]}, {les["track_id"] for les in t1["lesions"]}
    assert ids0 <= ids1 and ids1 - ids0
    assert min(ids1 - ids0) > max(ids0)


def test_repositioning_moves_the_truth_centres_rigidly(truth):
    t0, t1 = _studies(truth, "p001")
    assert np.abs(t1["shift_mm"]).max() > 0 and np.abs(t1["shift_mm"]).max() <= 20
    assert np.abs(t1["rotation_deg"]).max() <= 5 and t0["shift_mm"] == [0, 0, 0]
    m = np.array(t1["world_from_baseline"])
    before = {les["track_id"]: les["true_centre_mm"] for les in t0["lesions"]}
    for les in t1["lesions"]:
        if les["track_id"] in before:
            moved = m[:3, :3] @ before[les["track_id"]] + m[:3, 3]
            np.testing.assert_allclose(les["true_centre_mm"], moved, atol=1e-2)
            assert np.linalg.norm(np.subtract(les["true_centre_mm"], before[les["track_id"]])) > 0.5


def test_without_repositioning_the_patient_lies_still():
    patient = generate_patient(1, seed=7, course="SD", n_studies=3, reposition=False)
    poses = [study_pose(patient, k) for k in range(3)]
    for p in poses:
        np.testing.assert_array_equal(p.shift_mm, 0)
        np.testing.assert_allclose(p.pose.matrix, poses[0].pose.matrix)


def _plans(rng, n=4):
    return [
        LesionPlan("liver_metastasis", float(d), float(s))
        for d, s in zip(rng.uniform(8, 30, n), rng.uniform(5, 20, n))
    ]


@pytest.mark.parametrize("seed", range(5))
def test_progression_grows_by_20_percent_and_5_mm_with_rising_suv(seed):
    rng = np.random.default_rng(seed)
    plans = _plans(rng, n=1 + seed % 3)
    plan_course("PD", plans, 3, rng)
    for k in (1, 2):
        before = sum(p.diameter_mm for p in plans)
        after = sum(p.diameter_mm * p.states[k].scale for p in plans)
        assert after >= 1.2 * before and after - before >= 5.0
        for p in plans:
            assert p.states[k].suv_max >= max(1.3 * p.suv_max, p.suv_max + 0.8) - 1e-9


def test_stable_disease_changes_little():
    rng = np.random.default_rng(3)
    plans = _plans(rng)
    plan_course("SD", plans, 3, rng)
    for p in plans:
        for s in p.states:
            assert s.present and 0.9 <= s.scale <= 1.1 and 0.9 * p.suv_max <= s.suv_max <= 1.1 * p.suv_max


def test_default_courses_make_about_a_sixth_of_the_scans_negative():
    for n_studies in (1, 2, 3):
        courses = default_courses(30, n_studies, np.random.default_rng(n_studies))
        negative = sum(n_studies if c == "NED" else (n_studies - 1 if c == "CR" else 0) for c in courses)
        assert 0.1 <= negative / (30 * n_studies) <= 0.25
        assert sum(c != "NED" for c in courses) >= 15


def test_unknown_course_is_refused():
    with pytest.raises(ValueError, match="unknown course"):
        generate_patient(0, course="XR", family=FAPI)
