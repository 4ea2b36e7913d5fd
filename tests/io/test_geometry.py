"""Geometry comes from the affine: spacing, voxel volume and world coordinates for any orientation."""

import numpy as np

from fapiseg.io.geometry import same_grid, spacing_mm, voxel_to_world, voxel_volume_ml, world_to_voxel


def test_spacing_and_volume_ignore_axis_flips(aniso_affine):
    assert np.allclose(spacing_mm(aniso_affine), [2.5, 2.0, 3.0])
    assert np.isclose(voxel_volume_ml(aniso_affine), 2.5 * 2.0 * 3.0 / 1000)


def test_spacing_of_a_rotated_grid():
    theta = np.deg2rad(30)
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    aff = np.eye(4)
    aff[:3, :3] = rot @ np.diag([2.0, 3.0, 4.0])
    assert np.allclose(spacing_mm(aff), [2.0, 3.0, 4.0])
    assert np.isclose(voxel_volume_ml(aff), 0.024)


def test_world_and_voxel_are_inverse(aniso_affine):
    ijk = np.array([[0, 0, 0], [3, 4, 5], [10.5, 2, 7]])
    xyz = voxel_to_world(aniso_affine, ijk)
    assert np.allclose(xyz[0], [50.0, 30.0, -40.0])
    assert np.allclose(xyz[1], [50 - 7.5, 30 - 8.0, -40 + 15.0])
    assert np.allclose(world_to_voxel(aniso_affine, xyz), ijk)


def test_same_grid_needs_shape_and_affine(aniso_affine):
    assert same_grid((4, 4, 4), aniso_affine, (4, 4, 4), aniso_affine.copy())
    assert not same_grid((4, 4, 4), aniso_affine, (4, 4, 5), aniso_affine)
    shifted = aniso_affine.copy()
    shifted[0, 3] += 1.0
    assert not same_grid((4, 4, 4), aniso_affine, (4, 4, 4), shifted)
