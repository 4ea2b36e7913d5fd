"""The lesion table: contract columns, volumes from the affine, and storage-independent numbers."""

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from fapiseg.metrics import LESION_COLUMNS, lesion_table
from tests.metrics.real_tumour import ARCHIVE, load_real_tumour
from tests.metrics.synthetic import ball, flip_and_permute, world_grid


def test_voxelised_sphere_volume_within_half_a_percent_on_a_fine_anisotropic_grid():
    spacing = (0.4, 0.5, 0.6)
    affine = np.diag([*spacing, 1.0])
    shape = tuple(int(26 / s) for s in spacing)
    mask = ball(shape, affine, (13.0, 13.0, 13.0), 10.0)
    table = lesion_table(np.ones(shape, np.float32), mask, affine, fractions=())
    assert table["volume_ml"].iloc[0] == pytest.approx(4 / 3 * np.pi * 10.0**3 / 1000, rel=0.005)


def test_two_boxes_ordered_by_volume_with_exact_statistics():
    affine = np.array([[-2.5, 0, 0, 50.0], [0, -2.0, 0, 30.0], [0, 0, 3.0, -40.0], [0, 0, 0, 1]])
    suv = np.full((40, 36, 30), 1.0, np.float32)
    mask = np.zeros(suv.shape, np.uint8)
    mask[25:27, 20:22, 20:22] = 1
    suv[25:27, 20:22, 20:22] = 9.0
    mask[5:9, 5:9, 5:9] = 1
    suv[5:9, 5:9, 5:9] = 6.0
    suv[5, 5, 5] = 10.0
    table = lesion_table(suv, mask, affine)
    assert list(table.columns[: len(LESION_COLUMNS)]) == LESION_COLUMNS
    big = table.iloc[0]
    assert list(table["lesion_id"]) == [1, 2]
    assert big["volume_ml"] == pytest.approx(64 * 0.015)
    assert big["suv_max"] == 10.0 and big["suv_mean"] == pytest.approx((63 * 6 + 10) / 64)
    assert big["tl_fap"] == pytest.approx(big["volume_ml"] * big["suv_mean"])
    assert [big["centroid_x_mm"], big["centroid_y_mm"], big["centroid_z_mm"]] == pytest.approx(
        [50 - 2.5 * 6.5, 30 - 2.0 * 6.5, -40 + 3.0 * 6.5]
    )
    assert big["longest_diameter_mm"] == pytest.approx(np.hypot(10.0, 8.0))
    assert big["voxel_count"] == 64


@pytest.mark.parametrize("flips, order", [((0, 1), (0, 1, 2)), ((2,), (2, 1, 0)), ((0, 1, 2), (1, 2, 0))])
def test_the_same_world_lesions_stored_differently_give_the_same_table(flips, order):
    rng = np.random.default_rng(7)
    affine = np.array([[2.5, 0, 0, -40.0], [0, 2.0, 0, -30.0], [0, 0, 3.0, -20.0], [0, 0, 0, 1]])
    shape = (30, 28, 16)
    suv = rng.uniform(0.5, 2.0, shape)
    mask = ball(shape, affine, (-10.0, 0.0, 5.0), 9.0) | ball(shape, affine, (20.0, 15.0, 10.0), 5.0)
    mask[0:2, 0:2, 0:2] = True  # a lesion in the corner: SUVpeak sphere clipped
    suv[mask] += 5.0
    expected = lesion_table(suv, mask, affine)
    stored_suv, stored_affine = flip_and_permute(suv, affine, flips, order)
    stored_mask, _ = flip_and_permute(mask, affine, flips, order)
    got = lesion_table(stored_suv, stored_mask, stored_affine)
    pd.testing.assert_frame_equal(got, expected, rtol=1e-9)


def test_sheared_grid_volume_and_centroid_come_from_the_affine():
    affine = np.array([[2.0, 0.5, 0, 10.0], [0, 2.0, 0.4, 20.0], [0.3, 0, 3.0, 30.0], [0, 0, 0, 1]])
    mask = np.zeros((10, 10, 10), bool)
    mask[2:5, 3:6, 4:6] = True
    row = lesion_table(np.ones(mask.shape), mask, affine).iloc[0]
    assert row["volume_ml"] == pytest.approx(18 * abs(np.linalg.det(affine[:3, :3])) / 1000)
    centre = world_grid(mask.shape, affine)[mask].mean(axis=0)
    assert [row["centroid_x_mm"], row["centroid_y_mm"], row["centroid_z_mm"]] == pytest.approx(centre)


def test_empty_mask_gives_an_empty_table_with_the_columns():
    table = lesion_table(np.ones((5, 5, 5)), np.zeros((5, 5, 5)), np.eye(4))
    assert len(table) == 0 and set(LESION_COLUMNS) <= set(table.columns)


def test_one_voxel_lesion_on_the_image_corner():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.full((8, 8, 8), 3.0)
    mask = np.zeros(suv.shape, bool)
    mask[0, 0, 0] = True
    suv[0, 0, 0] = 5.0
    row = lesion_table(suv, mask, affine).iloc[0]
    assert row["volume_ml"] == pytest.approx(0.008) and row["suv_max"] == row["suv_mean"] == 5.0
    # sphere clipped to the octant inside the image: 1 + 3 + 3 + 1 + ... voxels; all 3.0 except the lesion
    octant = sum(1 for i in range(4) for j in range(4) for k in range(4) if i * i + j * j + k * k <= 9.61)
    assert row["suv_peak"] == pytest.approx((5.0 + 3.0 * (octant - 1)) / octant)
    assert row["longest_diameter_mm"] == pytest.approx(np.hypot(2.0, 2.0))


def test_diagonally_touching_voxels_are_one_lesion():
    mask = np.zeros((6, 6, 6), bool)
    mask[2, 2, 2] = mask[3, 3, 3] = True
    assert len(lesion_table(np.ones(mask.shape), mask, np.eye(4))) == 1


def test_a_detection_score_map_gives_each_lesion_its_highest_score_in_lesion_order():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    mask = np.zeros((12, 12, 12), np.uint8)
    mask[1:3, 1:3, 1:3] = 1  # 8 voxels: lesion 2
    mask[6:10, 6:10, 6:10] = 1  # 64 voxels: lesion 1
    score = np.zeros(mask.shape, np.float32)
    score[1:3, 1:3, 1:3] = 0.9
    score[6:10, 6:10, 6:10] = 0.3
    score[7, 7, 7] = 0.4
    table = lesion_table(np.ones(mask.shape), mask, affine, detection_score=score)
    assert table["detection_score"].tolist() == pytest.approx([0.4, 0.9])
    assert "detection_score" not in lesion_table(np.ones(mask.shape), mask, affine)
    with pytest.raises(ValueError, match="detection score"):
        lesion_table(np.ones(mask.shape), mask, affine, detection_score=score[:-1])


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        lesion_table(np.ones((4, 4, 4)), np.ones((4, 4, 5)), np.eye(4))


@pytest.mark.skipif(not ARCHIVE.exists(), reason=f"the shared real scan is absent ({ARCHIVE})")
def test_real_tumour_against_independent_computations(tmp_path):
    """The drawn sarcoma on a real whole-body PET (4.7 x 4.7 x 3.3 mm, LPS), checked without fapiseg."""
    tumour = load_real_tumour(tmp_path)
    row = lesion_table(tumour.activity, tumour.mask, tumour.affine).iloc[0]
    values = tumour.activity[tumour.mask]
    assert row["suv_max"] == values.max() and row["suv_mean"] == pytest.approx(values.mean(dtype=np.float64))
    centre = world_grid(tumour.mask.shape, tumour.affine)[tumour.mask].mean(axis=0)
    assert [row["centroid_x_mm"], row["centroid_y_mm"], row["centroid_z_mm"]] == pytest.approx(centre)
    # Volume against the outlines' polygon areas (shoelace) times the slice spacing.
    areas = [
        0.5 * abs(np.dot(c[:, 0], np.roll(c[:, 1], -1)) - np.dot(c[:, 1], np.roll(c[:, 0], -1)))
        for c in tumour.contours_mm
    ]
    assert row["volume_ml"] == pytest.approx(sum(areas) * abs(tumour.affine[2, 2]) / 1000, rel=0.02)
    # Longest diameter against the outlines' own largest in-plane distance, within a voxel diagonal.
    feret = max(np.linalg.norm(c[:, None, :2] - c[None, :, :2], axis=-1).max() for c in tumour.contours_mm)
    assert abs(row["longest_diameter_mm"] - feret) <= np.hypot(*np.abs(np.diag(tumour.affine)[:2]))
    # SUVpeak against a direct correlation with the 1 mL sphere (scipy.ndimage), clipped at the edges.
    reach = 3
    offsets = np.stack(np.meshgrid(*[np.arange(-reach, reach + 1)] * 3, indexing="ij"), -1)
    kernel = (np.linalg.norm(offsets @ tumour.affine[:3, :3].T, axis=-1) <= 6.2).astype(float)
    voxels = np.argwhere(tumour.mask)
    box = tuple(slice(max(a - reach, 0), b + reach + 1) for a, b in zip(voxels.min(0), voxels.max(0)))
    sums = ndimage.correlate(tumour.activity[box].astype(float), kernel, mode="constant")
    counts = ndimage.correlate(np.ones(tumour.activity.shape)[box], kernel, mode="constant")
    assert row["suv_peak"] == pytest.approx((sums / counts)[tumour.mask[box]].max(), rel=1e-9)
