"""Lesion matching on 26-connected components: overlap by default, IoU when asked."""

import numpy as np
import pytest

from fapiseg.metrics.detection import match_lesions


def _case():
    """Three reference lesions; predicted: a sliver on lesion 1, one blob over lesions 2 and 3, one stray."""
    ref = np.zeros((30, 30, 10), bool)
    pred = np.zeros_like(ref)
    ref[2:8, 2:8, 2:8] = True  # 216 voxels
    pred[7:9, 2:4, 2:4] = True  # overlaps 4 voxels of it: IoU 4/(216+8-4)
    ref[15:18, 15:18, 2:5] = True
    ref[15:18, 20:23, 2:5] = True
    pred[15:18, 15:23, 2:5] = True  # covers both and the gap between
    pred[26:28, 26:28, 6:8] = True  # matches nothing
    return pred, ref


def test_overlap_matching_counts_lesions():
    counts = match_lesions(*_case())
    assert (counts.n_ref, counts.n_pred) == (3, 3)
    assert (counts.tp, counts.fn, counts.fp) == (3, 0, 1)
    assert counts.sensitivity == 1.0
    assert counts.precision == pytest.approx(2 / 3)
    assert counts.f1 == pytest.approx(0.8)


def test_iou_threshold_drops_the_sliver_then_the_blob():
    counts = match_lesions(*_case(), iou_threshold=0.3)
    assert (counts.tp, counts.fn, counts.fp) == (2, 1, 2)  # the blob's IoU with each lesion is 27/72
    sliver = [p for p in counts.pairs if p.overlap_voxels == 4][0]
    assert sliver.iou == pytest.approx(4 / 220)
    counts = match_lesions(*_case(), iou_threshold=0.4)
    assert (counts.tp, counts.fn, counts.fp) == (0, 3, 3)


def test_corner_touching_prediction_is_one_lesion():
    ref = np.zeros((6, 6, 6), bool)
    pred = np.zeros_like(ref)
    ref[2, 2, 2] = pred[2, 2, 2] = pred[3, 3, 3] = True
    counts = match_lesions(pred, ref)
    assert (counts.n_pred, counts.fp) == (1, 0)


def test_empty_scans_have_undefined_rates():
    empty = np.zeros((4, 4, 4), bool)
    counts = match_lesions(empty, empty)
    assert counts.sensitivity is None and counts.precision is None and counts.f1 is None
