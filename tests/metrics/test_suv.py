"""SUVpeak follows PERCIST: the best 1 mL sphere (6.2 mm, from the affine) centred on a lesion voxel."""

import itertools

import numpy as np
import pytest

from fapiseg.metrics.suv import sphere_runs, suv_peak
from tests.metrics.synthetic import world_grid


def _peak(suv, lesion, affine):
    """SUVpeak of a whole-image lesion mask through the library."""
    idx = np.argwhere(lesion)
    bbox = tuple(slice(int(a), int(b) + 1) for a, b in zip(idx.min(0), idx.max(0)))
    return suv_peak(suv, lesion[bbox], bbox, sphere_runs(affine)).suv_peak


def _brute_force_peak(suv, lesion, affine, radius=6.2):
    """Independent reference: for each lesion voxel, mean of all image voxels within radius (world mm)."""
    world = world_grid(suv.shape, affine).reshape(-1, 3)
    values = suv.reshape(-1)
    best = -np.inf
    for centre in world[lesion.reshape(-1)]:
        inside = np.linalg.norm(world - centre, axis=1) <= radius + 1e-6
        best = max(best, values[inside].mean())
    return best


SHEARED = np.array([[2.0, 0.4, 0, 0], [0, 2.5, 0.3, 0], [0.2, 0, 3.0, 0], [0, 0, 0, 1]])


def test_sphere_on_a_2mm_grid_holds_123_voxels():
    """Offsets with i^2 + j^2 + k^2 <= 9.61: layers of 29, 2 x 25, 2 x 21 and 2 x 1 voxels."""
    assert sphere_runs(np.diag([2.0, 2.0, 2.0, 1.0])).voxel_count == 29 + 2 * 25 + 2 * 21 + 2 * 1


def test_sphere_on_a_1mm_grid_is_close_to_1_ml():
    count = sum(1 for i, j, k in itertools.product(range(-7, 8), repeat=3) if i * i + j * j + k * k <= 6.2**2)
    assert sphere_runs(np.eye(4)).voxel_count == count
    assert abs(count / 1000 - 1) < 0.03


@pytest.mark.parametrize("affine", [np.diag([-2.5, 2.0, 3.0, 1.0]), SHEARED])
def test_sphere_matches_the_world_distance_on_anisotropic_and_sheared_grids(affine):
    runs = sphere_runs(affine)
    offsets = [
        (i, j, k) for i, j, lo, hi in zip(runs.di, runs.dj, runs.k_lo, runs.k_hi) for k in range(lo, hi + 1)
    ]
    r = 8
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    expected = grid[np.linalg.norm(grid @ affine[:3, :3].T, axis=1) <= 6.2]
    assert sorted(map(tuple, expected)) == sorted(offsets)


def test_uniform_sphere_peak_is_its_value():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.full((30, 30, 30), 1.0)
    world = world_grid(suv.shape, affine)
    hot = np.linalg.norm(world - 30.0, axis=-1) <= 12.0
    suv[hot] = 7.3
    assert _peak(suv, hot, affine) == pytest.approx(7.3, rel=1e-12)


def test_peak_on_a_step_edge_is_the_hand_count():
    """One lesion voxel on the hot side of a step: 76 of its 123 sphere voxels hot (5), 47 cold (1)."""
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.ones((15, 15, 15))
    suv[7:] = 5.0
    lesion = np.zeros(suv.shape, bool)
    lesion[7, 7, 7] = True
    assert _peak(suv, lesion, affine) == pytest.approx((76 * 5 + 47 * 1) / 123, rel=1e-12)


def test_sphere_clipped_at_the_image_edge_averages_the_voxels_inside():
    """Lesion voxel on the face i=0: 76 sphere voxels inside the image, 54 of them (i<=1) at 5, 22 at 1."""
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.ones((10, 15, 15))
    suv[:2] = 5.0
    lesion = np.zeros(suv.shape, bool)
    lesion[0, 7, 7] = True
    assert _peak(suv, lesion, affine) == pytest.approx((54 * 5 + 22 * 1) / 76, rel=1e-12)


def test_peak_counts_non_lesion_voxels_and_picks_the_best_centre():
    """A lesion next to a hotter non-lesion blob: the best sphere leans toward the blob."""
    rng = np.random.default_rng(0)
    affine = np.array([[-2.5, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]])
    suv = rng.uniform(0.5, 2.0, (16, 18, 12))
    suv[10:13, 8:11, 5:8] = 9.0
    lesion = np.zeros(suv.shape, bool)
    lesion[5:9, 7:12, 4:8] = True
    assert _peak(suv, lesion, affine) == pytest.approx(_brute_force_peak(suv, lesion, affine), rel=1e-10)


def test_peak_on_a_sheared_grid_at_the_corner_matches_brute_force():
    rng = np.random.default_rng(1)
    suv = rng.uniform(0.5, 4.0, (10, 9, 8))
    lesion = np.zeros(suv.shape, bool)
    lesion[0:3, 0:2, 0:3] = True
    assert _peak(suv, lesion, SHEARED) == pytest.approx(_brute_force_peak(suv, lesion, SHEARED), rel=1e-10)
