"""On the synthetic FAPI cohort (fapiseg.phantom), patients with known courses come out right.

Four patients (courses PR, SD, PD_new, CR; two studies) repositioned between studies (shift up to 20 mm,
rotation up to 5 degrees, sometimes stored in another orientation), and one (PD_new) again without
repositioning (the hand-made phantoms of test_course cover every course both ways, at a fraction of
the cost). Each is run once through `fapiseg study` (reference masks), and the tests read its tables:
the response categories, the lesion identities against the truth's track ids, the registration against
the truth's ``world_from_baseline`` and the organ regions against the truth's organs.
"""

import json

import numpy as np
import pandas as pd
import pytest

from fapiseg.cli import main
from fapiseg.phantom import generate_cohort

COURSES = ["PR", "SD", "PD_new", "CR"]
EXPECTED = {"PR": ("PR", "PMR"), "SD": ("SD", "SMD"), "PD_new": ("PD", "PMD"), "CR": ("CR", "CMR")}


@pytest.fixture(scope="module", params=["moved", "still"])
def run(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"phantom_{request.param}")
    data, out = root / "data", root / "out"
    moved = request.param == "moved"
    courses = COURSES if moved else ["PD_new"]
    truth = generate_cohort(data, len(courses), n_studies=2, seed=5, courses=courses, reposition=moved)
    assert main(["study", "--data", str(data), "--out", str(out), "--max-patients", "0"]) == 0
    tables = {
        name: pd.read_csv(out / f"{name}.csv") for name in ("response", "tracks", "studies", "best_response")
    }
    return request.param, json.loads(json.dumps(truth, default=str)), tables


def patients(truth):
    return {p["patient"]: p for p in truth["patients"]}


def test_response_categories_match_the_courses(run):
    _, truth, tables = run
    response = tables["response"].set_index("patient")
    for name, patient in patients(truth).items():
        assert tuple(response.loc[name, ["recist", "percist"]]) == EXPECTED[patient["course"]], name
        new = {lesion["track_id"] for lesion in patient["studies"][1]["lesions"]} - {
            lesion["track_id"] for lesion in patient["studies"][0]["lesions"]
        }
        assert response.loc[name, "new_lesions"] == len(new) and (len(new) > 0) == (
            patient["course"] == "PD_new"
        )


def test_every_lesion_keeps_its_identity_across_studies(run):
    _, truth, tables = run
    tracks = tables["tracks"]
    for name, patient in patients(truth).items():
        pairs = set()
        for study in patient["studies"]:
            rows = tracks[(tracks["patient"] == name) & (tracks["study"] == study["study"])]
            centres = np.array([lesion["centre_mm"] for lesion in study["lesions"]]).reshape(-1, 3)
            assert len(rows) == len(centres), (name, study["study"])
            for row in rows.itertuples():
                found = np.linalg.norm(
                    centres - [row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm], axis=1
                )
                pairs.add((row.track_id, study["lesions"][int(np.argmin(found))]["track_id"]))
        ours = [a for a, _ in pairs]
        theirs = [b for _, b in pairs]
        # one of our tracks per true lesion and back, whatever the study
        assert len(set(ours)) == len(ours) and len(set(theirs)) == len(theirs), (name, sorted(pairs))
        baseline_ids = {lesion["track_id"] for lesion in patient["studies"][0]["lesions"]}
        assert {a for a, b in pairs if b in baseline_ids} == set(range(1, len(baseline_ids) + 1))
        if patient["course"] == "PD_new":
            assert {a for a, b in pairs if b not in baseline_ids} - set(range(1, len(baseline_ids) + 1))


def test_the_follow_ups_are_registered_to_within_two_millimetres(run):
    moved, truth, tables = run
    studies = tables["studies"]
    for name, patient in patients(truth).items():
        row = studies[(studies["patient"] == name) & (studies["study"] == "t1")].iloc[0]
        found = np.array([[row[f"registration_m{i}{j}"] for j in range(4)] for i in range(3)])
        true = np.asarray(patient["studies"][1]["world_from_baseline"], float)[:3]
        points = np.array([lesion["centre_mm"] for lesion in patient["studies"][0]["lesions"]])
        points = np.c_[points, np.ones(len(points))]
        errors = np.linalg.norm(points @ found.T - points @ true.T, axis=1)
        assert errors.max() < 2.0, (name, errors)
        if moved == "still":
            assert errors.max() < 0.5


def test_regions_agree_with_the_organs_of_the_truth(run):
    _, truth, tables = run
    tracks = tables["tracks"]
    for name, patient in patients(truth).items():
        baseline = patient["studies"][0]
        rows = tracks[(tracks["patient"] == name) & (tracks["study"] == baseline["study"])]
        centres = np.array([lesion["centre_mm"] for lesion in baseline["lesions"]])
        for row in rows.itertuples():
            nearest = baseline["lesions"][
                int(
                    np.argmin(
                        np.linalg.norm(
                            centres - [row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm], axis=1
                        )
                    )
                )
            ]
            organ = nearest["organ"]
            expected = "lymph_node" if str(nearest["kind"]).endswith("_node") else organ
            assert row.region == expected or (organ == "bone" and row.region.startswith("bone")), (
                name,
                organ,
            )


def test_best_responses_of_the_cohort(run):
    _, truth, tables = run
    best = tables["best_response"].set_index("patient")
    expected = {name: EXPECTED[p["course"]][0] for name, p in patients(truth).items()}
    assert best["best_recist"].to_dict() == expected
    if "CR" in expected.values():
        assert best["best_sum_diameters_change_pct"].min() == -100.0
