"""SUVpeak as PERCIST 1.0 defines it: the highest mean SUV in a 1 mL sphere centred on a lesion voxel.

The sphere (radius 6.2 mm, 1 mL) is the set of voxels whose centres lie within 6.2 mm of the centre
voxel's centre, measured in the world through the affine, so anisotropic, flipped and sheared grids
all give the sphere of the same physical size. It holds every image voxel in it, lesion or not (a local
mean of the image). At the image edge the sphere is clipped and the mean is over the voxels that lie
inside the image.

Speed: a sphere is convex, so for each offset (di, dj) in the first two array axes its voxels along the
third axis form one run [k_lo, k_hi]. The sphere sum at every voxel of a lesion's bounding box is then
a sum over runs of differences of cumulative sums along that axis: a few dozen array operations per
lesion instead of a 3-D convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Radius (mm) of a 1 mL sphere: (3 / (4 pi))^(1/3) * 10 mm = 6.204 mm, rounded as PERCIST does.
PEAK_RADIUS_MM = 6.2
#: Voxel centres this close to the sphere surface (mm) count as inside, against floating-point noise.
_SURFACE_TOLERANCE_MM = 1e-6


@dataclass(frozen=True)
class SphereRuns:
    """A sphere of voxel offsets on one grid, stored as runs along the third array axis.

    Run r covers offsets (di[r], dj[r], k) for k_lo[r] <= k <= k_hi[r]. ``reach`` is the largest
    |offset| along each axis (voxels); ``voxel_count`` the number of voxels in the sphere.
    """

    di: np.ndarray
    dj: np.ndarray
    k_lo: np.ndarray
    k_hi: np.ndarray
    reach: np.ndarray
    voxel_count: int


@dataclass(frozen=True)
class SuvPeak:
    """SUVpeak (mean SUV of the best sphere) and the voxel index (i, j, k) the sphere is centred on."""

    suv_peak: float
    centre_ijk: tuple[int, int, int]


def sphere_runs(affine: np.ndarray, radius_mm: float = PEAK_RADIUS_MM) -> SphereRuns:
    """The voxel offsets whose centres lie within ``radius_mm`` of a voxel centre, on the affine's grid."""
    a3 = np.asarray(affine, float)[:3, :3]
    # Largest index offset a point within the radius can have along each axis: radius * |row of A^-1|.
    reach = np.floor(radius_mm * np.linalg.norm(np.linalg.inv(a3), axis=1) + 1e-9).astype(int)
    grid = np.stack(np.meshgrid(*[np.arange(-r, r + 1) for r in reach], indexing="ij"), axis=-1).reshape(
        -1, 3
    )
    inside = grid[np.linalg.norm(grid @ a3.T, axis=1) <= radius_mm + _SURFACE_TOLERANCE_MM]
    columns, inverse = np.unique(inside[:, :2], axis=0, return_inverse=True)
    inverse = inverse.ravel()
    k_lo = np.full(len(columns), np.iinfo(int).max)
    k_hi = np.full(len(columns), np.iinfo(int).min)
    np.minimum.at(k_lo, inverse, inside[:, 2])
    np.maximum.at(k_hi, inverse, inside[:, 2])
    # Convexity makes every column one contiguous run; check it rather than assume it.
    assert int((k_hi - k_lo + 1).sum()) == len(inside), "sphere column is not contiguous"
    return SphereRuns(columns[:, 0], columns[:, 1], k_lo, k_hi, reach, len(inside))


def sphere_means(suv: np.ndarray, bbox: tuple[slice, slice, slice], runs: SphereRuns) -> np.ndarray:
    """Mean SUV of the sphere centred on every voxel of ``bbox`` (an array of the box's shape).

    Spheres reaching past the image are clipped: their mean is over the voxels inside the image.
    """
    shape = np.array(suv.shape)
    start = np.array([s.start for s in bbox])
    stop = np.array([s.stop for s in bbox])
    lo, hi = start - runs.reach, stop + runs.reach
    inner_lo, inner_hi = np.maximum(lo, 0), np.minimum(hi, shape)
    inner = tuple(slice(a - o, b - o) for a, b, o in zip(inner_lo, inner_hi, lo))
    padded = np.zeros(tuple(hi - lo), np.float64)
    padded[inner] = suv[tuple(slice(a, b) for a, b in zip(inner_lo, inner_hi))]
    sums = _run_sums(padded, stop - start, runs)
    if np.all(inner_lo == lo) and np.all(inner_hi == hi):
        return sums / runs.voxel_count
    inside_image = np.zeros(tuple(hi - lo), np.float64)
    inside_image[inner] = 1.0
    return sums / _run_sums(inside_image, stop - start, runs)


def suv_peak(
    suv: np.ndarray, lesion: np.ndarray, bbox: tuple[slice, slice, slice], runs: SphereRuns
) -> SuvPeak:
    """PERCIST SUVpeak of one lesion: ``lesion`` is its boolean mask inside ``bbox`` (box-shaped)."""
    means = np.where(lesion, sphere_means(suv, bbox, runs), -np.inf)
    best = np.unravel_index(int(np.argmax(means)), means.shape)
    centre = tuple(int(s.start + b) for s, b in zip(bbox, best))
    return SuvPeak(float(means[best]), centre)  # type: ignore[arg-type]


def _run_sums(padded: np.ndarray, box_shape: np.ndarray, runs: SphereRuns) -> np.ndarray:
    """Sphere sums over ``padded`` (the box grown by ``runs.reach`` on every side) at each box voxel."""
    ni, nj, nk = (int(n) for n in box_shape)
    ri, rj, rk = (int(r) for r in runs.reach)
    cumulative = np.zeros(padded.shape[:2] + (padded.shape[2] + 1,), np.float64)
    np.cumsum(padded, axis=2, out=cumulative[:, :, 1:])
    sums = np.zeros((ni, nj, nk), np.float64)
    for di, dj, k_lo, k_hi in zip(runs.di, runs.dj, runs.k_lo, runs.k_hi):
        rows = cumulative[ri + di : ri + di + ni, rj + dj : rj + dj + nj]
        sums += rows[:, :, rk + k_hi + 1 : rk + k_hi + 1 + nk]
        sums -= rows[:, :, rk + k_lo : rk + k_lo + nk]
    return sums
