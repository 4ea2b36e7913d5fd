"""Dropping predicted lesions that are too small (mL from the affine) or too faint (SUVmax)."""

import numpy as np

from fapiseg.inference.postprocess import PostProcessing, post_process

AFFINE = np.array([[-2.0, 0, 0, 0], [0, 2.5, 0, 0], [0, 0, 4.0, 0], [0, 0, 0, 1]])  # 20 uL voxels


def case():
    prob = np.zeros((30, 30, 30), np.float32)
    suv = np.ones_like(prob)
    prob[2:7, 2:7, 2:7] = 0.9  # 125 voxels = 2.5 mL, SUVmax 8
    suv[2:7, 2:7, 2:7] = 8.0
    prob[20:22, 20:22, 20:22] = 0.8  # 8 voxels = 0.16 mL, SUVmax 8
    suv[20:22, 20:22, 20:22] = 8.0
    prob[10:15, 20:25, 20:25] = 0.7  # 2.5 mL, faint: SUVmax 2
    suv[10:15, 20:25, 20:25] = 2.0
    prob[25, 25, 25] = 0.5  # at the threshold: not lesion (> 0.5 is)
    return prob, suv


def test_defaults_keep_every_voxel_above_the_threshold():
    prob, suv = case()
    mask = post_process(prob, suv, AFFINE, PostProcessing()).mask
    assert mask.dtype == np.uint8 and mask.sum() == 125 + 8 + 125


def test_small_lesions_go_by_volume_in_ml():
    prob, suv = case()
    mask = post_process(prob, suv, AFFINE, PostProcessing(min_volume_ml=0.2)).mask
    assert mask.sum() == 250 and mask[20, 20, 20] == 0
    # 0.16 mL exactly at the limit stays
    assert post_process(prob, suv, AFFINE, PostProcessing(min_volume_ml=0.16)).mask[20, 20, 20] == 1


def test_faint_lesions_go_by_suv_max():
    prob, suv = case()
    mask = post_process(prob, suv, AFFINE, PostProcessing(min_suv_max=3.0)).mask
    assert mask.sum() == 133 and mask[12, 22, 22] == 0


def test_threshold_makes_the_mask():
    prob, suv = case()
    assert post_process(prob, suv, AFFINE, PostProcessing(threshold=0.75)).mask.sum() == 133
