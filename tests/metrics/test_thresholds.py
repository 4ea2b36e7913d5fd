"""Isocontour volumes: voxels >= a fraction of SUVmax, connected to the hottest voxel, inside the box VOI."""

import numpy as np
import pytest

from fapiseg.metrics.table import lesion_table


def test_41_and_50_percent_volumes_of_a_core_and_rim():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.full((30, 30, 30), 1.0)
    mask = np.zeros(suv.shape, bool)
    mask[10:16, 10:16, 10:16] = True  # 216 voxels
    suv[10:16, 10:16, 10:16] = 4.5  # rim: 45 % of the core's 10
    suv[12:14, 12:14, 12:14] = 10.0  # core: 8 voxels
    suv[10:16, 10:16, 25:27] = 9.0  # hot but not connected, inside the 10 mm margin box
    row = lesion_table(suv, mask, affine).iloc[0]
    assert row["volume_41pct_ml"] == pytest.approx(216 * 0.008)
    assert row["volume_50pct_ml"] == pytest.approx(8 * 0.008)


def test_isocontour_grows_outside_the_mask_but_not_past_the_margin():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.full((40, 20, 20), 1.0)
    suv[5:35, 8:12, 8:12] = 8.0  # a hot bar 30 voxels long
    mask = np.zeros(suv.shape, bool)
    mask[18:22, 8:12, 8:12] = True  # the mask covers 4 of them
    row = lesion_table(suv, mask, affine, margin_mm=10.0).iloc[0]
    assert row["volume_41pct_ml"] == pytest.approx((4 + 2 * 5) * 16 * 0.008)  # 5 voxels = 10 mm each side


def test_fractions_can_be_chosen_or_left_out():
    affine = np.eye(4)
    suv = np.ones((8, 8, 8))
    mask = np.zeros(suv.shape, bool)
    mask[3:5, 3:5, 3:5] = True
    assert "volume_70pct_ml" in lesion_table(suv, mask, affine, fractions=(0.7,))
    assert not any(
        c.startswith("volume_") and c.endswith("pct_ml")
        for c in lesion_table(suv, mask, affine, fractions=())
    )
