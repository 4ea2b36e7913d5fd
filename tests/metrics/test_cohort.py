"""Cohort summary of an evaluation: the autoPET means, pooled lesion counts, scan-level accuracy."""

import numpy as np
import pandas as pd
import pytest

from fapiseg.metrics.cohort import case_table, froc, summarise
from fapiseg.metrics.evaluate import evaluate
from tests.conftest import write_nifti
from tests.metrics.cohort_data import AFFINE, LESION_A, LESION_C, SHAPE, VOXEL_ML, make_cohort, write_study


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory):
    data, pred = make_cohort(tmp_path_factory.mktemp("cohort"))
    lines = []
    result = evaluate(pred, data, report=lines.append)
    return result, lines


def test_bad_cases_are_reported_and_the_rest_evaluated(evaluation):
    result, lines = evaluation
    assert [r.case for r in result.results] == ["p1/t0", "p1/t1", "p2/t0"]
    assert [line.split(":")[0] for line in lines] == ["p3/t0", "p4/t0", "p5/t0"]
    assert "PRED.nii.gz is missing" in lines[0] and "not on the PET grid" in lines[1]
    assert "cannot be read" in lines[2]


def test_summary_follows_the_autopet_and_contract_definitions(evaluation):
    summary = summarise(evaluation[0])
    assert summary["dice"] == pytest.approx((1 + 54 / 70) / 2)  # scans with a reference lesion
    assert summary["fpv_ml"] == pytest.approx(8 * VOXEL_ML / 3)  # all scans
    assert summary["fnv_ml"] == pytest.approx(8 * VOXEL_ML / 2)  # scans with a reference lesion
    assert summary["lesion_sensitivity"] == pytest.approx(2 / 3)
    assert summary["fp_per_scan"] == pytest.approx(1 / 3)
    assert summary["scan_counts"] == {"tp": 2, "fp": 0, "tn": 1, "fn": 0}
    assert summary["scan"]["sensitivity"]["n"] == 2 and summary["scan"]["specificity"]["value"] == 1.0
    assert summary["n_failed"] == 3


def test_case_table_has_one_row_per_case(evaluation):
    table = case_table(evaluation[0]).set_index("case")
    assert list(table.index) == ["p1/t0", "p1/t1", "p2/t0", "p3/t0", "p4/t0", "p5/t0"]
    assert table.loc["p1/t1", ["tp", "fn", "fp"]].tolist() == [1, 1, 1]
    assert np.isnan(table.loc["p2/t0", "dice"]) and table.loc["p4/t0", "status"] == "error"


def test_lesion_rows_carry_their_match(evaluation):
    rows = next(r for r in evaluation[0].results if r.case == "p1/t1").lesion_rows()
    assert rows[rows.source == "reference"]["match"].tolist() == ["detected", "missed"]
    assert rows[rows.source == "prediction"]["match"].tolist() == ["true_positive", "false_positive"]
    assert rows["matched_lesion_ids"].tolist() == ["1", "", "1", ""]


def test_froc_uses_suv_max_without_probability_maps(evaluation):
    curve, score = froc(evaluation[0])
    assert score == "suv_max"
    assert curve["sensitivity"].iloc[-1] == pytest.approx(2 / 3)
    assert curve["fp_per_scan"].iloc[-1] == pytest.approx(1 / 3)


def test_region_level_reference_standard(tmp_path):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", None, LESION_A, pred)
    regions = np.ones(SHAPE, np.uint8)
    regions[12:] = 2
    write_nifti(data / "p1/t0/REGIONS.nii.gz", regions, AFFINE)
    reference = pd.DataFrame({"case": ["p1/t0", "p1/t0"], "region": [1, 2], "positive": [True, True]})
    result = evaluate(pred, data, reference=reference, report=lambda line: None)
    assert result.results[0].called_regions == {1: True, 2: False}
    block = summarise(result)["reference_standard"]
    assert block["level"] == "region" and block["counts"] == {"tp": 1, "fp": 0, "tn": 0, "fn": 1}


def test_froc_scores_by_mean_probability_when_every_case_has_one(tmp_path):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", LESION_A, LESION_A | LESION_C, pred)
    probability = 0.9 * LESION_A + 0.6 * LESION_C
    write_nifti(pred / "p1/t0/PROB.nii.gz", probability.astype(np.float32), AFFINE)
    result = evaluate(pred, data, report=lambda line: None)
    curve, score = froc(result)
    assert score == "mean_probability"
    assert curve["threshold"].tolist() == pytest.approx([np.inf, 0.9, 0.6])
    assert curve["fp_per_scan"].tolist() == [0.0, 0.0, 1.0]
    rows = result.results[0].lesion_rows()
    assert rows.loc[rows.source == "prediction", "mean_probability"].tolist() == pytest.approx([0.9, 0.6])


def test_froc_scores_by_the_detection_score_of_infer_lesion_tables(tmp_path):
    """infer.py's lesions.csv (its detection_score column) ranks the lesions, unless it is stale."""
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", LESION_A, LESION_A | LESION_C, pred)
    write_nifti(pred / "p1/t0/PROB.nii.gz", (0.9 * LESION_A + 0.6 * LESION_C).astype(np.float32), AFFINE)
    # lesion 1 is A (27 voxels), lesion 2 is C (8 voxels): the rescorer ranks the false positive C higher
    table = pd.DataFrame({"lesion_id": [1, 2], "voxel_count": [27, 8], "detection_score": [0.5, 0.8]})
    table.to_csv(pred / "p1/t0/lesions.csv", index=False)
    result = evaluate(pred, data, report=lambda line: None)
    curve, score = froc(result)
    assert score == "detection_score"
    assert curve["threshold"].tolist() == pytest.approx([np.inf, 0.8, 0.5])
    assert curve["fp_per_scan"].tolist() == [0.0, 1.0, 1.0]
    assert curve["sensitivity"].tolist() == [0.0, 0.0, 1.0]
    rows = result.results[0].lesion_rows()
    assert rows.loc[rows.source == "prediction", "detection_score"].tolist() == pytest.approx([0.5, 0.8])

    table.assign(voxel_count=[26, 8]).to_csv(pred / "p1/t0/lesions.csv", index=False)  # another mask's
    assert froc(evaluate(pred, data, report=lambda line: None))[1] == "mean_probability"
