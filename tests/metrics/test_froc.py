"""FROC operating points from lesion scores, and its files."""

import numpy as np
import pandas as pd
import pytest

from fapiseg.metrics.froc import froc_curve, write_froc


def test_operating_points_by_hand():
    curve = froc_curve([0.9, 0.5, np.nan], [0.7, 0.3], n_scans=2)
    assert curve["threshold"].tolist() == [np.inf, 0.9, 0.7, 0.5, 0.3]
    assert curve["sensitivity"].tolist() == pytest.approx([0, 1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert curve["fp_per_scan"].tolist() == pytest.approx([0, 0, 0.5, 0.5, 1.0])


def test_ties_between_a_detection_and_a_false_positive_share_one_point():
    curve = froc_curve([0.5], [0.5], n_scans=1)
    assert curve[["detected", "false_positives"]].values.tolist() == [[0, 0], [1, 1]]


def test_files_are_written(tmp_path):
    curve = froc_curve([0.9, np.nan], [0.2], n_scans=3)
    write_froc(curve, tmp_path / "froc.csv", tmp_path / "froc.png", "suv_max")
    assert pd.read_csv(tmp_path / "froc.csv").shape == (3, 5)
    assert (tmp_path / "froc.png").read_bytes()[:4] == b"\x89PNG"
