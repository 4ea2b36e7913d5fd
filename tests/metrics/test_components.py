"""Lesions are connected components, numbered by decreasing volume with an orientation-free tie-break."""

import numpy as np
import pytest

from fapiseg.metrics.components import label_components
from tests.metrics.synthetic import flip_and_permute


def _two_diagonal_voxels():
    mask = np.zeros((6, 6, 6), bool)
    mask[2, 2, 2] = mask[3, 3, 3] = True  # touch at a corner only
    return mask


def test_corner_touching_voxels_are_one_lesion_at_26_and_two_at_6_and_18():
    mask = _two_diagonal_voxels()
    assert len(label_components(mask, 26)) == 1
    assert len(label_components(mask, 18)) == 2
    assert len(label_components(mask, 6)) == 2


def test_edge_touching_voxels_are_one_lesion_at_18_but_two_at_6():
    mask = np.zeros((6, 6, 6), bool)
    mask[2, 2, 2] = mask[3, 3, 2] = True
    assert len(label_components(mask, 18)) == 1
    assert len(label_components(mask, 6)) == 2


def test_order_by_decreasing_size_with_boxes_and_centroids():
    mask = np.zeros((20, 20, 20), np.uint8)
    mask[1:3, 1:3, 1:3] = 1  # 8 voxels
    mask[10:14, 10:13, 5:7] = 1  # 24 voxels
    mask[17, 17, 17] = 1  # 1 voxel
    lesions = label_components(mask)
    assert [c.voxel_count for c in lesions] == [24, 8, 1]
    assert lesions.items[0].bbox == (slice(10, 14), slice(10, 13), slice(5, 7))
    assert np.allclose(lesions.items[0].centroid_ijk, [11.5, 11.0, 5.5])
    assert lesions.items[2].crop(lesions.labels).shape == (1, 1, 1)


def test_equal_sizes_are_ordered_by_world_position_whatever_the_storage():
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[1:3, 1:3, 7:9] = 1  # superior one (higher z) comes first
    mask[6:8, 6:8, 1:3] = 1
    first = label_components(mask, affine=affine).items[0]
    assert first.bbox[2] == slice(7, 9)
    stored, stored_affine = flip_and_permute(mask, affine, flips=(2,), order=(2, 0, 1))
    first = label_components(stored, affine=stored_affine).items[0]
    z_index = first.centroid_ijk[0]  # axis 0 is the flipped z axis now
    assert stored_affine[2, 0] * z_index + stored_affine[2, 3] == pytest.approx(3.0 * 7.5)


def test_fortran_ordered_input_gives_the_same_components():
    rng = np.random.default_rng(3)
    mask = rng.random((15, 12, 9)) > 0.8
    c_order = label_components(np.ascontiguousarray(mask))
    f_order = label_components(np.asfortranarray(mask))
    assert [(c.voxel_count, c.bbox) for c in c_order] == [(c.voxel_count, c.bbox) for c in f_order]
    assert sum(c.voxel_count for c in c_order) == mask.sum()


def test_empty_mask_has_no_components():
    assert len(label_components(np.zeros((4, 4, 4)))) == 0


def test_bad_connectivity_is_refused():
    with pytest.raises(ValueError, match="connectivity"):
        label_components(np.zeros((4, 4, 4)), 8)
