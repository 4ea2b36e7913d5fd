"""`fapiseg study`: accuracy overall and by region, response of every patient, best response, report."""

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from fapiseg.cli import main
from fapiseg.longitudinal.study import accuracy_table, best_response, lesion_kinds
from fapiseg.metrics.evaluate import evaluate
from tests.longitudinal.phantoms import AFFINE
from tests.longitudinal.test_course import COURSES, write_course

LIVER_VOXELS = np.s_[38:45, 28:36, 8:14]  # around the liver lesion at (40, 0, -50) mm


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """p1 responds (PR, repositioned), p2 progresses with a new lesion, p3 has one study only.

    The predictions copy the reference masks, except p1/t0, where the liver lesion is missed and a false
    positive sits in the abdomen."""
    root = tmp_path_factory.mktemp("cohort")
    data, pred = root / "data", root / "pred"
    write_course(data, "p1", [COURSES["PR"]], "moved")
    write_course(data, "p2", [COURSES["PD_new"]], "still")
    write_course(data, "p3", [], "still")
    for seg in sorted(data.glob("*/*/SEG.nii.gz")):
        mask = np.asarray(nib.load(seg).dataobj).copy()
        if seg.parent.as_posix().endswith("p1/t0"):
            mask[LIVER_VOXELS] = 0
            mask[20:23, 40:43, 14:17] = 1  # (-46, 34, -38) mm: abdomen, no lesion there
        folder = pred / seg.parent.relative_to(data)
        folder.mkdir(parents=True)
        nib.save(nib.Nifti1Image(mask, AFFINE), folder / "PRED.nii.gz")
    out = root / "study"
    code = main(["study", "--data", str(data), "--pred", str(pred), "--out", str(out)])
    return code, out


def test_everything_is_written_and_the_run_succeeds(cohort):
    code, out = cohort
    assert code == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "accuracy.csv",
        "response.csv",
        "best_response.csv",
        "response_distribution.csv",
        "tracks.csv",
        "response_agreement.csv",
        "waterfall.png",
        "summary.json",
        "report.html",
        "evaluation",
    } <= names
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_patients_followed"] == 2 and summary["evaluation"]["n_scans"] == 5
    page = (out / "report.html").read_text()
    assert page.count("<img") == 1 + 2 * 2 and "Diagnostic accuracy" in page


def test_lesion_and_scan_accuracy_overall_and_by_region(cohort):
    accuracy = pd.read_csv(cohort[1] / "accuracy.csv").set_index(["level", "group", "metric"])
    assert set(accuracy["by"]) == {"all", "region"}  # no truth.json: no lesion kinds
    # 3 + 3 + 3 + 4 + 3 reference lesions, one (p1/t0 liver) missed; one false positive among 15 predictions
    assert accuracy.loc[("lesion", "all", "sensitivity"), ["k", "n"]].tolist() == [15, 16]
    assert accuracy.loc[("lesion", "all", "ppv"), ["k", "n"]].tolist() == [15, 16]
    assert accuracy.loc[("lesion", "liver", "sensitivity"), ["k", "n"]].tolist() == [4, 5]
    assert accuracy.loc[("lesion", "soft_tissue", "ppv"), ["k", "n"]].tolist() == [
        1,
        2,
    ]  # p2's new lesion, the FP
    # by region, per scan: p1/t0 has a liver lesion but no liver call; the FP makes a soft-tissue call
    assert accuracy.loc[("scan", "liver", "sensitivity"), ["k", "n"]].tolist() == [4, 5]
    assert accuracy.loc[("scan", "soft_tissue", "specificity"), ["k", "n"]].tolist() == [3, 4]
    row = accuracy.loc[("scan", "all", "sensitivity")]
    assert row["value"] == 1.0 and row["ci_low"] == pytest.approx(5 / (5 + 1.959964**2), abs=1e-6)


def test_response_of_each_followed_patient_and_its_distribution(cohort):
    out = cohort[1]
    best = pd.read_csv(out / "best_response.csv").set_index("patient")
    # The prediction missed p1's liver lesion at baseline and found it at follow-up: a "new" lesion, PD,
    # where the reference masks give the true partial response.
    assert best.loc["p1", ["best_recist", "best_percist"]].tolist() == ["PD", "PMD"]
    assert best.loc["p1", ["reference_best_recist", "reference_best_percist"]].tolist() == ["PR", "PMR"]
    assert best.loc["p2", ["best_recist", "best_percist"]].tolist() == ["PD", "PMD"]
    distribution = pd.read_csv(out / "response_distribution.csv").set_index(["criterion", "category"])
    assert distribution.loc[("best_recist", "PD"), ["k", "n"]].tolist() == [2, 2]
    assert distribution.loc[("rate", "objective response (CR+PR)"), ["k", "n"]].tolist() == [0, 2]
    response = pd.read_csv(out / "response.csv")
    assert sorted(set(response["masks"])) == ["prediction", "reference"] and len(response) == 4
    agreement = pd.read_csv(out / "response_agreement.csv").set_index("criterion")
    assert agreement.loc["recist", ["k", "n"]].tolist() == [1, 2]


def test_without_predictions_the_reference_masks_are_followed(cohort, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(cohort[1].parent / "data" / "p2", data / "p2")
    assert main(["study", "--data", str(data), "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    assert not (out / "accuracy.csv").read_text().strip().count("\n")  # header only
    assert pd.read_csv(out / "response.csv")["masks"].tolist() == ["reference"]


def test_best_response_stops_at_the_first_progression():
    response = pd.DataFrame(
        {
            "recist": ["SD", "PD", "PR"],
            "percist": ["PMR", "SMD", "PMD"],
            "sum_diameters_change_pct": [-10.0, 15.0, -40.0],
        }
    )
    best = best_response(response)
    assert best["best_recist"] == "SD" and best["best_sum_diameters_change_pct"] == -10.0
    assert best["best_percist"] == "PMR" and best["last_recist"] == "PR"
    assert best_response(response.iloc[:0])["best_recist"] == "NE"


def test_lesion_kinds_come_from_the_phantom_truth(tmp_path):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_course(data, "p1", [], "still")
    (pred / "p1" / "t0").mkdir(parents=True)
    mask = np.asarray(nib.load(data / "p1" / "t0" / "SEG.nii.gz").dataobj).copy()
    mask[LIVER_VOXELS] = 0  # the liver lesion is missed
    nib.save(nib.Nifti1Image(mask, AFFINE), pred / "p1" / "t0" / "PRED.nii.gz")
    truth = {
        "patients": [
            {
                "studies": [
                    {
                        "case": "p1/t0",
                        "lesions": [
                            {"kind": "liver_metastasis", "centre_mm": [41, 1, -49]},
                            {"kind": "lung_metastasis", "centre_mm": [45, 0, 40]},
                            {"kind": "axillary_node", "centre_mm": [97, -10, 45]},
                        ],
                    }
                ]
            }
        ]
    }
    (data / "truth.json").write_text(json.dumps(truth))
    evaluation = evaluate(pred, data, report=lambda line: None)
    kinds = lesion_kinds(evaluation, data)
    assert sorted(kinds["p1/t0"]) == ["axillary_node", "liver_metastasis", "lung_metastasis"]
    regions = {"p1/t0": ["x"] * 3}
    table = accuracy_table(evaluation, regions, {"p1/t0": ["x"] * 2}, kinds).set_index(
        ["by", "group", "metric"]
    )
    assert table.loc[("kind", "liver_metastasis", "sensitivity"), ["k", "n"]].tolist() == [0, 1]
    assert table.loc[("kind", "axillary_node", "sensitivity"), ["k", "n"]].tolist() == [1, 1]
