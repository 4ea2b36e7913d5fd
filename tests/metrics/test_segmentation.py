"""Dice, FPV and FNV exactly as the autoPET challenge computes them (18-connected, mL from the affine)."""

import cc3d
import numpy as np
import pytest

from fapiseg.metrics.segmentation import dice_fpv_fnv, false_negative_volume_ml, false_positive_volume_ml

AFFINE = np.diag([2.0, 2.0, 3.0, 1.0])
VOXEL_ML = 0.012


def _autopet_reference(gt, pred):
    """The challenge's own loops (lab-midas/autoPET val_script.py), restated: one component at a time."""

    def unmatched(mask, other):
        labels = cc3d.connected_components(mask.astype(np.uint8), connectivity=18)
        return sum(
            int((labels == i).sum()) for i in range(1, labels.max() + 1) if ((labels == i) * other).sum() == 0
        )

    dice = 2 * (gt * pred).sum() / (gt.sum() + pred.sum())
    return dice, unmatched(pred, gt) * VOXEL_ML, unmatched(gt, pred) * VOXEL_ML


def test_constructed_case():
    ref = np.zeros((20, 20, 20), bool)
    pred = np.zeros_like(ref)
    ref[2:5, 2:5, 2:5] = True  # 27 voxels, found with overlap 18
    pred[3:6, 2:5, 2:5] = True
    ref[10:12, 10:12, 10:12] = True  # 8 voxels, missed
    pred[15:17, 15:17, 2:4] = True  # 8 voxels, false positive
    scores = dice_fpv_fnv(pred, ref, AFFINE)
    assert scores.dice == pytest.approx(2 * 18 / 70)
    assert scores.fpv_ml == pytest.approx(8 * VOXEL_ML)
    assert scores.fnv_ml == pytest.approx(8 * VOXEL_ML)


def test_corner_touching_prediction_is_a_false_positive_at_18_connectivity():
    """Two predicted voxels touching at a corner: one component at 26 but two at 18, as autoPET counts."""
    ref = np.zeros((6, 6, 6), bool)
    pred = np.zeros_like(ref)
    ref[2, 2, 2] = pred[2, 2, 2] = True
    pred[3, 3, 3] = True
    assert false_positive_volume_ml(pred, ref, AFFINE) == pytest.approx(VOXEL_ML)
    pred[3, 3, 3], pred[3, 3, 2] = False, True  # edge-touching: one component at 18 too
    assert false_positive_volume_ml(pred, ref, AFFINE) == 0.0


def test_scan_without_reference_lesions():
    ref = np.zeros((8, 8, 8), bool)
    pred = np.zeros_like(ref)
    pred[1:3, 1:3, 1:3] = True
    scores = dice_fpv_fnv(pred, ref, AFFINE)
    assert scores.dice is None and scores.fnv_ml == 0.0 and scores.fpv_ml == pytest.approx(8 * VOXEL_ML)
    assert dice_fpv_fnv(ref, ref, AFFINE).dice is None


def test_empty_prediction_misses_everything():
    ref = np.zeros((8, 8, 8), bool)
    ref[1:3, 1:3, 1:3] = True
    scores = dice_fpv_fnv(np.zeros_like(ref), ref, AFFINE)
    assert scores.dice == 0.0 and scores.fpv_ml == 0.0 and scores.fnv_ml == pytest.approx(8 * VOXEL_ML)
    assert false_negative_volume_ml(np.zeros_like(ref), ref, AFFINE) == pytest.approx(8 * VOXEL_ML)


@pytest.mark.parametrize("seed", range(3))
def test_random_blobs_agree_with_the_challenge_code(seed):
    rng = np.random.default_rng(seed)
    ref = rng.random((24, 24, 16)) > 0.93
    pred = rng.random((24, 24, 16)) > 0.93
    scores = dice_fpv_fnv(pred, ref, AFFINE)
    dice, fpv, fnv = _autopet_reference(ref, pred)
    assert (
        scores.dice == pytest.approx(dice)
        and scores.fpv_ml == pytest.approx(fpv)
        and scores.fnv_ml == pytest.approx(fnv)
    )
