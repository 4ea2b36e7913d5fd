"""The HTML report: self-contained, one card per case with MIPs and lesion tables, the summary with intervals."""

import base64
import json
import re
import subprocess
import sys

import pandas as pd
import pytest

from fapiseg.metrics.cohort import write_evaluation
from fapiseg.metrics.evaluate import evaluate
from fapiseg.reports.html import CohortSection, write_report
from tests.metrics.cohort_data import make_cohort


@pytest.fixture
def evaluated(tmp_path):
    data, pred = make_cohort(tmp_path)
    write_evaluation(evaluate(pred, data, report=lambda _: None), tmp_path / "eval")
    return tmp_path / "eval", pred, data


def images_of(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_is_self_contained_with_a_figure_per_evaluated_case(evaluated, tmp_path):
    eval_dir, pred, data = evaluated
    out = write_report([CohortSection("held-out", eval_dir, pred, data)], tmp_path / "report.html")
    page = out.read_text()
    assert "<script" not in page and not re.search(r'(src|href)="(?!data:)', page)  # nothing to fetch
    pngs = images_of(page)
    assert all(p[:4] == b"\x89PNG" for p in pngs)
    # three evaluated cases get MIPs, plus the FROC figure; the three failed cases are named with reasons
    assert len(pngs) == 3 + 1
    for case in ("p1/t0", "p1/t1", "p2/t0"):
        assert f"<h3>{case}</h3>" in page
    assert page.count("not evaluated:") == 3
    summary = json.loads((eval_dir / "summary.json").read_text())
    sens = summary["scan"]["sensitivity"]
    assert f"({sens['ci_low']:.2f}–{sens['ci_high']:.2f}, n = {sens['n']})" in page
    # p1/t1: lesion C is a false positive, lesion B is missed
    assert "false positive" in page and "MISSED" in page


def test_lesion_tables_say_which_reference_each_prediction_matched(evaluated, tmp_path):
    eval_dir, pred, data = evaluated
    out = write_report([CohortSection("held-out", eval_dir, pred, data)], tmp_path / "report.html")
    page = out.read_text()
    assert "<th>reference #</th>" in page and "<th>found as #</th>" in page
    lesions = pd.read_csv(eval_dir / "lesions.csv")
    hit = lesions[lesions["match"] == "true_positive"].iloc[0]
    found = lesions[(lesions["match"] == "detected") & (lesions["case"] == hit["case"])].iloc[0]
    card = page.split(f"<h3>{hit['case']}</h3>")[1].split("<h3>")[0]
    row = r"<td>{}</td>\s*<td>{}</td>\s*<td>{}</td>"
    for lesion, word in ((hit, "true positive"), (found, "yes")):
        other = int(float(lesion["matched_lesion_ids"]))
        assert re.search(row.format(int(lesion["lesion_id"]), word, other), card)
    # a false positive and a missed lesion match nothing
    for word in ("false positive", "MISSED"):
        assert re.search(rf"<td>{word}</td>\s*<td>–</td>", page)


def test_two_cohorts_are_compared_side_by_side(evaluated, tmp_path):
    eval_dir, pred, data = evaluated
    sections = [
        CohortSection("fapi", eval_dir, pred, data, notes=[("calls on physiological uptake", "0")]),
        CohortSection("shifted", eval_dir, pred, data),
    ]
    page = write_report(sections, tmp_path / "r.html", preamble=[("train", "12 s")], max_cases=1).read_text()
    assert "<h2>Summary</h2>" in page and page.count("<h2>") == 3
    assert "calls on physiological uptake" in page and "5 more case(s) not shown" in page


def test_report_command(evaluated, tmp_path):
    eval_dir, pred, data = evaluated
    out = tmp_path / "cli.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "fapiseg",
            "report",
            "--eval",
            str(eval_dir),
            "--pred",
            str(pred),
            "--data",
            str(data),
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.exists() and len(images_of(out.read_text())) == 4
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "fapiseg",
            "report",
            "--eval",
            str(tmp_path),
            "--pred",
            str(pred),
            "--data",
            str(data),
            "--out",
            str(out),
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert (
        missing.returncode == 1 and "no summary.json" in missing.stderr and "Traceback" not in missing.stderr
    )


def test_a_case_with_many_lesions_lists_the_largest_and_counts_the_rest(evaluated, tmp_path, monkeypatch):
    monkeypatch.setattr("fapiseg.reports.html.MAX_LESION_ROWS", 1)
    eval_dir, pred, data = evaluated
    page = write_report([CohortSection("c", eval_dir, pred, data)], tmp_path / "r.html").read_text()
    assert "and 1 smaller lesion(s) not listed" in page  # p1/t1: two predicted and two reference lesions
