"""Lesion tracks across studies: stable ids, new and vanished lesions, splits, merges, matching by distance.

The follow-ups are aligned with their true pose here, so these tests check tracking alone; the
course tests add the registration.
"""

import numpy as np
import pytest

from fapiseg.longitudinal.registration import Alignment, identity_alignment
from fapiseg.longitudinal.tracks import StudyLesions, follow_lesions
from fapiseg.metrics.components import label_components
from fapiseg.metrics.table import measure_lesions
from tests.longitudinal.phantoms import AFFINE, SHAPE, Sphere, make_study, pose, world_centre

A, B, C, D = (45, 0, 40), (40, 0, -50), (97, -10, 45), (0, -25, 30)
NEW = (-40, 40, -60)


def measured(name, lesions, patient_pose=None, seed=0):
    """A study of the phantom under ``patient_pose``, aligned to a baseline at the identity by the truth."""
    suv, _, mask = make_study(lesions, patient_pose, seed)
    components = label_components(mask, 26, AFFINE)
    table = measure_lesions(suv, components, AFFINE, fractions=())
    table["region"] = "liver"
    alignment = identity_alignment() if patient_pose is None else Alignment(patient_pose, "truth", 0.0, 0.0)
    return StudyLesions(name, AFFINE, SHAPE, components, table, alignment)


def sphere_of_each_row(tracking, poses, spheres):
    """Which true sphere (index into ``spheres``) each row of tracks.csv is, by nearest world centre."""
    out = []
    for row in tracking.tracks.itertuples():
        centre = np.array([row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm])
        distances = [np.linalg.norm(world_centre(s, poses[row.study]) - centre) for s in spheres]
        out.append(int(np.argmin(distances)))
    return out


@pytest.mark.parametrize("moved", [False, True])
def test_ids_survive_shrinking_vanishing_reappearing_and_new_lesions(moved):
    poses = {
        "t0": None,
        "t1": pose((15, -12, 10), (3, -2, 4)) if moved else None,
        "t2": pose((-18, 10, -6), (-4, 3, -2)) if moved else None,
    }
    studies = [
        measured("t0", [Sphere(A, 12), Sphere(B, 10), Sphere(C, 9), Sphere(D, 8)], poses["t0"]),
        # D vanishes, NEW appears, the others shrink
        measured("t1", [Sphere(A, 8), Sphere(B, 7), Sphere(C, 6), Sphere(NEW, 7)], poses["t1"], seed=1),
        # D comes back, C vanishes, NEW grows
        measured("t2", [Sphere(A, 7), Sphere(B, 6), Sphere(D, 6), Sphere(NEW, 9)], poses["t2"], seed=2),
    ]
    tracking = follow_lesions(studies)
    spheres = [Sphere(A, 1), Sphere(B, 1), Sphere(C, 1), Sphere(D, 1), Sphere(NEW, 1)]
    rows = tracking.tracks.assign(sphere=sphere_of_each_row(tracking, poses, spheres))
    # baseline lesions are numbered 1..4 by decreasing volume (A, B, C, D); the new one is 5
    expected_id = {0: 1, 1: 2, 2: 3, 3: 4, 4: 5}
    assert (rows["track_id"] == rows["sphere"].map(expected_id)).all()
    status = {(r.study, r.track_id): r.status for r in tracking.states.itertuples()}
    assert status[("t1", 4)] == "absent" and status[("t2", 4)] == "present"
    assert status[("t2", 3)] == "absent" and ("t0", 5) not in status
    t1 = rows[rows["study"] == "t1"].set_index("track_id")
    assert t1.loc[5, "status"] == "new" and t1.loc[1, "matched_by"] == "overlap"


def test_a_split_lesion_keeps_its_id_on_both_fragments():
    baseline = measured("t0", [Sphere((40, 0, -50), 14)])
    followup = measured("t1", [Sphere((40, 0, -60), 5), Sphere((40, 0, -38), 5)], seed=1)
    tracking = follow_lesions([baseline, followup])
    t1 = tracking.tracks[tracking.tracks["study"] == "t1"]
    assert t1["track_id"].tolist() == [1, 1] and sorted(t1["status"]) == ["matched", "split"]
    state = tracking.states.set_index(["study", "track_id"]).loc[("t1", 1)]
    assert state["status"] == "split" and state["n_fragments"] == 2
    assert state["longest_diameter_mm"] == pytest.approx(t1["longest_diameter_mm"].sum())
    assert state["volume_ml"] == pytest.approx(t1["volume_ml"].sum())


def test_coalesced_lesions_merge_into_the_track_of_the_larger():
    baseline = measured("t0", [Sphere((40, 0, -62), 8), Sphere((40, 0, -36), 6)])
    followup = measured("t1", [Sphere((40, 0, -50), 16)], seed=1)
    tracking = follow_lesions([baseline, followup])
    t1 = tracking.tracks[tracking.tracks["study"] == "t1"].iloc[0]
    assert t1["track_id"] == 1 and t1["merged_track_ids"] == "2"
    state = tracking.states.set_index(["study", "track_id"]).loc[("t1", 2)]
    assert state["status"] == "merged" and state["merged_into_track_id"] == 1 and state["volume_ml"] == 0


def test_a_lesion_that_moved_off_its_old_place_is_matched_by_distance_within_the_gate():
    baseline = measured("t0", [Sphere((40, 0, -50), 5), Sphere((-40, 40, -60), 5)])
    followup = measured("t1", [Sphere((40, 0, -36), 4), Sphere((-40, 40, -20), 4)], seed=1)
    tracking = follow_lesions([baseline, followup], gate_mm=10.0)
    t1 = tracking.tracks[tracking.tracks["study"] == "t1"].set_index("track_id")
    # 14 mm away: within 10 mm + the 5 mm radius; 40 mm away: a new lesion
    assert t1.loc[1, "matched_by"] == "distance"
    assert t1.loc[3, "status"] == "new"
    assert tracking.states.set_index(["study", "track_id"]).loc[("t1", 2), "status"] == "absent"


def test_tracks_carry_the_lesion_table_and_the_baseline_frame_centroid():
    P = pose((15, -12, 10), (3, -2, 4))
    tracking = follow_lesions([measured("t0", [Sphere(A, 10)]), measured("t1", [Sphere(A, 10)], P, seed=1)])
    rows = tracking.tracks
    assert {"study", "track_id", "lesion_id", "volume_ml", "suv_peak", "tbr", "status"} <= set(rows.columns)
    frame = rows[["baseline_frame_x_mm", "baseline_frame_y_mm", "baseline_frame_z_mm"]].to_numpy()
    assert np.linalg.norm(frame[1] - frame[0]) < 1.0  # the same place once aligned
    assert np.linalg.norm(rows[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].diff().iloc[1]) > 15
