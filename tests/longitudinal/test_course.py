"""A patient's course end to end on hand-made phantoms: registration, tracks and the response categories.

Each course is written to disk with the patient repositioned between studies (shift up to 20 mm,
rotation up to 5 degrees) or not, and read back through the data layer as `fapiseg longitudinal` does.
"""

import nibabel as nib
import numpy as np
import pytest

from fapiseg.errors import CaseError, FapisegError
from fapiseg.longitudinal.course import follow_patient
from tests.conftest import write_nifti
from tests.longitudinal.phantoms import Sphere, pose, write_study

LIVER, LUNG, NODE, BREAST = (40, 0, -50), (45, 0, 40), (97, -10, 45), (40, 68, 40)
NEW = (-40, 40, -60)
BASELINE = [Sphere(LIVER, 12, suv=10.0), Sphere(LUNG, 9, suv=8.0), Sphere(NODE, 10, suv=7.0)]
MOVES = {"still": (None, None), "moved": (pose((14, -18, 9), (3, -4, 2)), pose((-12, 15, -16), (-3, 2, -5)))}

COURSES = {
    "PR": [Sphere(LIVER, 7, suv=5.0), Sphere(LUNG, 5, suv=4.0), Sphere(NODE, 6, suv=3.5)],
    "SD": [Sphere(LIVER, 12, suv=10.5), Sphere(LUNG, 9, suv=8.2), Sphere(NODE, 10, suv=7.0)],
    "PD_new": BASELINE + [Sphere(NEW, 7, suv=9.0)],
    "CR": [],
}
EXPECTED = {"PR": ("PR", "PMR"), "SD": ("SD", "SMD"), "PD_new": ("PD", "PMD"), "CR": ("CR", "CMR")}


def write_course(root, patient, followups, moved):
    poses = MOVES[moved]
    write_study(root, patient, "t0", BASELINE, seed=0)
    for index, lesions in enumerate(followups, start=1):
        write_study(root, patient, f"t{index}", lesions, poses[index - 1], seed=index)


@pytest.mark.parametrize("moved", ["still", "moved"])
@pytest.mark.parametrize("course", ["PR", "SD", "PD_new", "CR"])
def test_known_courses_come_out_right(tmp_path, course, moved):
    write_course(tmp_path, "p1", [COURSES[course]], moved)
    result = follow_patient(tmp_path, "p1")
    row = result.response.iloc[0]
    assert (row["recist"], row["percist"]) == EXPECTED[course]
    assert row["new_lesions"] == (1 if course == "PD_new" else 0)
    tracks = result.tracks
    assert tracks[tracks["study"] == "t0"]["track_id"].tolist() == [1, 2, 3]
    followup = tracks[tracks["study"] == "t1"]
    # every lesion kept its identity: track ids follow the baseline's size order (liver, node, lung)
    expected_ids = {"PR": [1, 2, 3], "SD": [1, 2, 3], "PD_new": [1, 2, 3, 4], "CR": []}[course]
    assert sorted(followup["track_id"]) == expected_ids
    if course != "CR":
        by_id = followup.set_index("track_id")
        centres = by_id[["baseline_frame_x_mm", "baseline_frame_y_mm", "baseline_frame_z_mm"]]
        assert np.linalg.norm(centres.loc[1] - np.array(LIVER)) < 3.0
    assert result.targets == [1, 2, 3]


def test_a_regrowth_after_the_nadir_is_progression_though_still_below_baseline(tmp_path):
    regrown = [Sphere(LIVER, 9, suv=6.0), Sphere(LUNG, 7, suv=5.0), Sphere(NODE, 8, suv=4.0)]
    write_course(tmp_path, "p1", [COURSES["PR"], regrown], "moved")
    response = follow_patient(tmp_path, "p1").response.set_index("study")
    assert response.loc["t1", "recist"] == "PR"
    t2 = response.loc["t2"]
    assert t2["recist"] == "PD" and t2["sum_diameters_change_pct"] < -20  # below baseline, above the nadir
    assert t2["nadir_sum_diameters_mm"] == pytest.approx(response.loc["t1", "sum_diameters_mm"])


def test_response_reports_the_fap_burden_and_its_change(tmp_path):
    write_course(tmp_path, "p1", [COURSES["PR"]], "still")
    result = follow_patient(tmp_path, "p1")
    row, summary = result.response.iloc[0], result.summary.set_index("study")
    assert row["total_volume_ml"] == pytest.approx(summary.loc["t1", "total_volume_ml"])
    expected = 100 * (summary.loc["t1", "total_tl_fap"] / summary.loc["t0", "total_tl_fap"] - 1)
    assert row["total_tl_fap_change_pct"] == pytest.approx(expected)
    assert row["reference"] == "aorta" and row["percist_measurable"]
    changes = result.changes.set_index(["study", "track_id"])
    assert changes.loc[("t1", 1), "volume_ml_change_pct"] < -50


def test_regions_come_from_a_label_map_beside_the_case_when_there_is_one(tmp_path):
    write_course(tmp_path, "p1", [COURSES["SD"]], "still")
    folder = tmp_path / "p1" / "t0"
    seg = nib.load(folder / "SEG.nii.gz")
    labels = (np.asarray(seg.dataobj) > 0).astype(np.int16) * 3
    write_nifti(folder / "ORGANS.nii.gz", labels, seg.affine)
    (folder / "ORGANS.json").write_text('{"3": "lymph node"}')
    tracks = follow_patient(tmp_path, "p1").tracks
    baseline = tracks[tracks["study"] == "t0"]
    assert set(baseline["region"]) == {"lymph node"} and set(baseline["region_source"]) == {"label map"}
    assert set(tracks[tracks["study"] == "t1"]["region_source"]) == {"CT"}


def test_a_bad_follow_up_is_left_out_and_a_bad_baseline_stops(tmp_path):
    write_course(tmp_path, "p1", [COURSES["SD"], COURSES["SD"]], "still")
    (tmp_path / "p1" / "t1" / "CTres.nii.gz").write_bytes(b"")
    result = follow_patient(tmp_path, "p1")
    assert result.failures == ["p1/t1: CTres.nii.gz is an empty file"]
    assert result.response["study"].tolist() == ["t2"]
    (tmp_path / "p1" / "t0" / "SEG.nii.gz").unlink()
    with pytest.raises(CaseError, match="p1/t0: SEG.nii.gz is missing"):
        follow_patient(tmp_path, "p1")
    with pytest.raises(FapisegError, match="no studies of patient 'p9'"):
        follow_patient(tmp_path, "p9")
