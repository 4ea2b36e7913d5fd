"""RECIST diameters between voxel edges: exact for boxes, within a voxel diagonal for round shapes."""

import numpy as np
import pytest

from fapiseg.metrics.diameters import axial_axis, recist_diameters
from tests.metrics.synthetic import ball, ellipsoid, flip_and_permute


def _box_short_axis(w, h):
    """Longest chord perpendicular to a w x h rectangle's diagonal (w >= h): h * diagonal / w."""
    return h * np.hypot(w, h) / w


def test_axis_aligned_box_is_exact():
    affine = np.diag([2.5, 2.0, 3.0, 1.0])
    box = np.zeros((10, 10, 6), bool)
    box[2:7, 3:6, 1:5] = True  # 5 x 3 voxels in plane: 12.5 mm x 6 mm
    d = recist_diameters(box, affine)
    assert d.longest_mm == pytest.approx(np.hypot(12.5, 6.0), rel=1e-12)
    assert d.short_axis_mm == pytest.approx(_box_short_axis(12.5, 6.0), rel=1e-12)


def test_one_voxel_measures_its_diagonal():
    d = recist_diameters(np.ones((1, 1, 1), bool), np.diag([2.5, 2.0, 3.0, 1.0]))
    assert d.longest_mm == pytest.approx(np.hypot(2.5, 2.0))
    assert d.short_axis_mm == pytest.approx(_box_short_axis(2.5, 2.0))


@pytest.mark.parametrize("flips, order", [((0,), (0, 1, 2)), ((0, 1, 2), (2, 0, 1)), ((), (1, 2, 0))])
def test_flipped_and_permuted_storage_gives_the_same_diameters(flips, order):
    affine = np.diag([2.5, 2.0, 3.0, 1.0])
    shape = (24, 20, 12)
    lesion = ellipsoid(shape, affine, (30.0, 20.0, 18.0), (14.0, 9.0, 8.0))
    lesion[8:10, 10:12, 6] = True  # an irregular bump
    expected = recist_diameters(lesion, affine)
    stored, stored_affine = flip_and_permute(lesion, affine, flips, order)
    got = recist_diameters(stored, stored_affine)
    assert got.longest_mm == pytest.approx(expected.longest_mm, rel=1e-12)
    assert got.short_axis_mm == pytest.approx(expected.short_axis_mm, rel=1e-12)
    assert got.axis == order.index(2)


def test_sphere_diameter_lies_between_its_bounds():
    """Voxel-centred sphere, R = 20 voxels: its central row spans 2R + s; corners add at most s*sqrt(2)."""
    s, radius = 0.5, 10.0
    affine = np.diag([s, s, s, 1.0])
    lesion = ball((44, 44, 44), affine, (11.0, 11.0, 11.0), radius)
    d = recist_diameters(lesion, affine)
    assert 2 * radius + s - 1e-9 <= d.longest_mm <= 2 * radius + s * np.sqrt(2)
    assert 2 * radius - s * np.sqrt(2) <= d.short_axis_mm <= 2 * radius + s * np.sqrt(2)


def test_ellipse_at_45_degrees_measures_its_axes():
    s = 0.5
    affine = np.diag([s, s, 1.0, 1.0])
    c, r = np.cos(np.pi / 4), np.sin(np.pi / 4)
    rotation = np.array([[c, -r, 0], [r, c, 0], [0, 0, 1]])
    lesion = ellipsoid((64, 64, 9), affine, (16.0, 16.0, 4.0), (12.0, 5.0, 3.0), rotation)
    d = recist_diameters(lesion, affine)
    assert d.longest_mm == pytest.approx(24.0, abs=s * np.sqrt(2))
    assert d.short_axis_mm == pytest.approx(10.0, abs=s * np.sqrt(2) + 0.1)
    assert d.longest_mm > 2 * np.sqrt((12.0**2 + 5.0**2) / 2) + 2  # not the axis-aligned extent


def test_short_axis_comes_from_the_slice_of_the_longest_diameter():
    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    lesion = np.zeros((12, 12, 2), bool)
    lesion[0:10, 0:2, 0] = True  # long and thin: diagonal ~10.2, short ~2
    lesion[0:6, 0:6, 1] = True  # square: diagonal 8.5 both ways
    d = recist_diameters(lesion, affine)
    assert d.slice_index == 0
    assert d.longest_mm == pytest.approx(np.hypot(10, 2))
    assert d.short_axis_mm == pytest.approx(_box_short_axis(10, 2))


def test_axial_axis_is_the_one_closest_to_world_z():
    assert axial_axis(np.diag([1.0, 1.0, 1.0, 1.0])) == 2
    tilt = np.deg2rad(25)
    oblique = np.eye(4)
    oblique[:3, :3] = np.array([[0, 1, 0], [np.sin(tilt), 0, np.cos(tilt)], [np.cos(tilt), 0, -np.sin(tilt)]])
    assert axial_axis(oblique) == 0
