"""Diagnostic accuracy with Wilson score intervals, checked against published and closed-form values."""

import numpy as np
import pytest

from fapiseg.errors import FapisegError
from fapiseg.metrics.diagnostic import diagnostic_accuracy, proportion, read_reference_csv, wilson_interval

Z2 = 1.959963984540054**2


@pytest.mark.parametrize(
    "k, n, low, high",
    [
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Stat Med 17:857, table I, method 3
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (8, 10, 0.4902, 0.9433),
    ],
)
def test_wilson_matches_published_values(k, n, low, high):
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_at_zero_and_all_has_closed_forms():
    assert wilson_interval(0, 7) == (0.0, pytest.approx(Z2 / (7 + Z2), rel=1e-12))
    assert wilson_interval(7, 7) == (pytest.approx(7 / (7 + Z2), rel=1e-12), 1.0)


def test_wilson_is_symmetric_and_ordered():
    low, high = wilson_interval(3, 11)
    low2, high2 = wilson_interval(8, 11)
    assert (low, high) == pytest.approx((1 - high2, 1 - low2), abs=1e-12)
    assert low < 3 / 11 < high


def test_proportion_of_nothing_is_none():
    assert proportion(0, 0).as_dict() == {"value": None, "ci_low": None, "ci_high": None, "n": 0}


def test_two_by_two_table():
    reference = [1, 1, 1, 1, 0, 0, 0, 1, 0, 0]
    called = [1, 1, 1, 0, 1, 0, 0, 1, 0, 0]
    result = diagnostic_accuracy(np.array(reference, bool), np.array(called, bool))
    assert (result.tp, result.fp, result.tn, result.fn) == (4, 1, 4, 1)
    assert result.sensitivity.value == 0.8 and result.sensitivity.n == 5
    assert result.specificity.value == 0.8 and result.ppv.value == 0.8 and result.npv.value == 0.8
    assert result.accuracy.value == 0.8 and result.accuracy.n == 10
    assert (result.sensitivity.ci_low, result.sensitivity.ci_high) == wilson_interval(4, 5)
    assert set(result.as_dict()) == {"sensitivity", "specificity", "ppv", "npv", "accuracy"}


def test_all_negative_cohort_has_no_sensitivity():
    result = diagnostic_accuracy([False, False], [False, True])
    assert result.sensitivity.value is None and result.specificity.value == 0.5


def test_reference_csv_per_scan_and_per_region(tmp_path):
    scans = tmp_path / "scans.csv"
    scans.write_text("case,positive\np1/t0,1\np2/t0,0\n")
    assert read_reference_csv(scans)["positive"].tolist() == [True, False]
    regions = tmp_path / "regions.csv"
    regions.write_text("case,region,positive\np1/t0,1,1\np1/t0,2,0\n")
    assert list(read_reference_csv(regions).columns) == ["case", "region", "positive"]


@pytest.mark.parametrize(
    "text, reason",
    [
        ("case,result\np1/t0,1\n", "missing"),
        ("case,positive\np1/t0,2\n", "0 or 1"),
        ("case,positive\np1/t0,1\np1/t0,0\n", "duplicate"),
        ("case,region,positive\np1/t0,liver,1\n", "integer"),
    ],
)
def test_bad_reference_csv_is_refused(tmp_path, text, reason):
    path = tmp_path / "ref.csv"
    path.write_text(text)
    with pytest.raises(FapisegError, match=reason):
        read_reference_csv(path)
