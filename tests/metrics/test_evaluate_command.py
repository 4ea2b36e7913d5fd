"""`fapiseg evaluate` end to end on tiny files: outputs written, bad cases named, exit status."""

import json

import pandas as pd

from fapiseg.cli import main
from tests.metrics.cohort_data import LESION_A, make_cohort, write_study


def _evaluate(pred, data, out, *options) -> int:
    return main(["evaluate", "--pred", str(pred), "--ref", str(data), "--out", str(out), *map(str, options)])


def test_evaluate_writes_everything_and_fails_at_the_end(tmp_path, capsys):
    data, pred = make_cohort(tmp_path)
    out = tmp_path / "eval"
    assert _evaluate(pred, data, out) == 1
    err = capsys.readouterr().err
    for case in ("p3/t0", "p4/t0", "p5/t0"):
        assert f"fapiseg evaluate: {case}: " in err
    files = sorted(p.name for p in out.iterdir())
    assert files == ["cases.csv", "froc.csv", "froc.png", "lesions.csv", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("dice", "fpv_ml", "fnv_ml", "lesion_sensitivity", "fp_per_scan"):
        assert isinstance(summary[key], float)
    for key in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
        assert set(summary["scan"][key]) == {"value", "ci_low", "ci_high", "n"}
    cases = pd.read_csv(out / "cases.csv")
    assert len(cases) == 6 and (cases["status"] == "error").sum() == 3
    lesions = pd.read_csv(out / "lesions.csv")
    assert {"case", "source", "match", "suv_peak", "longest_diameter_mm", "tbr"} <= set(lesions.columns)
    assert len(lesions) == 2 + 4  # p1/t0: 1 + 1, p1/t1: 2 + 2


def test_perfect_predictions_score_dice_one_and_exit_zero(tmp_path, capsys):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", LESION_A, LESION_A, pred)
    write_study(data, "p2/t0", LESION_A * 0, LESION_A * 0, pred)
    assert _evaluate(pred, data, tmp_path / "eval") == 0
    summary = json.loads((tmp_path / "eval/summary.json").read_text())
    assert summary["dice"] == 1.0 and summary["fpv_ml"] == 0.0 and summary["lesion_sensitivity"] == 1.0
    assert summary["scan"]["accuracy"]["value"] == 1.0 and summary["scan"]["accuracy"]["n"] == 2
    assert "lesion sensitivity" in capsys.readouterr().out


def test_reference_csv_is_the_scan_truth_and_needs_no_masks(tmp_path):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", None, LESION_A, pred)
    write_study(data, "p2/t0", None, LESION_A * 0, pred)
    csv = tmp_path / "reference.csv"
    csv.write_text("case,positive\np1/t0,1\np2/t0,1\n")
    out = tmp_path / "eval"
    assert _evaluate(pred, data, out, "--reference-csv", csv) == 0
    block = json.loads((out / "summary.json").read_text())["reference_standard"]
    assert (
        block["level"] == "scan" and block["sensitivity"]["value"] == 0.5 and block["sensitivity"]["n"] == 2
    )
    assert pd.read_csv(out / "cases.csv")["reference_standard_positive"].tolist() == [1, 1]


def test_missing_folders_are_one_line_errors(tmp_path, capsys):
    assert _evaluate(tmp_path / "nowhere", tmp_path, tmp_path / "o") == 1
    assert "not a folder" in capsys.readouterr().err


def test_iou_threshold_option(tmp_path):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", LESION_A, LESION_A, pred)
    assert _evaluate(pred, data, tmp_path / "eval", "--iou-threshold", 0.5) == 0
    assert json.loads((tmp_path / "eval/summary.json").read_text())["lesion_matching"] == "iou>=0.5"
