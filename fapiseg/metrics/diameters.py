"""RECIST 1.1 diameters of a lesion: the longest axial diameter and the short axis perpendicular to it.

Conventions (documented in the README):

- The axial plane is the world z = const plane (NIfTI world is RAS+). Slices are taken along the array
  axis closest to world z; when the grid is oblique they are the grid's own slices, measured in their
  own plane.
- Distances are measured between voxel EDGES: each voxel is the parallelogram its affine spans, and a
  slice's lesion is the convex hull of its voxels' corners (computed from the affine, so anisotropic,
  flipped and sheared grids are right). A box of n voxels is n voxels long; one voxel measures its
  in-plane diagonal. On a voxelised round lesion the hull's corners stick out by up to half a voxel
  diagonal at each end, so a sphere of radius R measures between 2R and 2R + one voxel diagonal.
- The longest diameter is the largest distance between two hull points over all slices; the short axis
  is the longest chord of the hull perpendicular to it in that same slice. When several slices share
  the longest diameter (to 1 nm), the one with the largest short axis is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull

#: Diameters closer than this (mm) count as equal when choosing the measurement slice.
_TIE_MM = 1e-6


@dataclass(frozen=True)
class Diameters:
    """RECIST diameters (mm) and the slice (index along ``axis``, in the cropped array) they lie in."""

    longest_mm: float
    short_axis_mm: float
    axis: int
    slice_index: int


def axial_axis(affine: np.ndarray) -> int:
    """The array axis whose direction is closest to world z (its slices are the axial planes)."""
    a3 = np.asarray(affine, float)[:3, :3]
    return int(np.argmax(np.abs(a3[2]) / np.linalg.norm(a3, axis=0)))


def recist_diameters(lesion: np.ndarray, affine: np.ndarray) -> Diameters:
    """Longest axial diameter and short axis (mm) of a lesion given as a boolean array.

    ``lesion`` may be a crop of the image (its bounding box): only the grid's directions and spacing
    matter, which the affine's 3x3 part gives.
    """
    axis = axial_axis(affine)
    in_plane = [a for a in range(3) if a != axis]
    # Orthonormal 2-D coordinates (mm) of the slice plane: world offset = Q @ R @ (du, dv).
    metric = np.linalg.qr(np.asarray(affine, float)[:3, in_plane])[1]
    slice_of_point, points = _row_end_corners(np.moveaxis(np.asarray(lesion, bool), axis, 0), metric)
    starts = np.flatnonzero(np.r_[True, slice_of_point[1:] != slice_of_point[:-1]])
    stops = np.r_[starts[1:], len(points)]
    bounds = _diameter_bounds(points, starts)
    best = Diameters(0.0, 0.0, axis, -1)
    for k in np.argsort(-bounds, kind="stable"):
        if bounds[k] < best.longest_mm - _TIE_MM:
            break
        slice_points = points[starts[k] : stops[k]]
        hull = slice_points[ConvexHull(slice_points).vertices]
        longest, ends = _longest_diameter(hull)
        if longest < best.longest_mm - _TIE_MM:
            continue
        short = _longest_perpendicular_chord(hull, ends)
        if longest > best.longest_mm + _TIE_MM or short > best.short_axis_mm:
            best = Diameters(longest, short, axis, int(slice_of_point[starts[k]]))
    return best


def _row_end_corners(slices: np.ndarray, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outer corners of each row's first and last voxel, for every slice (axis 0) of ``slices``.

    Returns the slice index of every point and the points' in-plane coordinates (mm, shape (n, 2)),
    grouped by slice. The convex hull of a slice's points is the convex hull of all its voxels.
    """
    s, rows = np.nonzero(slices.any(axis=2))
    first = np.argmax(slices, axis=2)[s, rows]
    last = slices.shape[2] - 1 - np.argmax(slices[:, :, ::-1], axis=2)[s, rows]
    u = np.stack([rows - 0.5, rows + 0.5, rows - 0.5, rows + 0.5], axis=1).ravel()
    v = np.stack([first - 0.5, first - 0.5, last + 0.5, last + 0.5], axis=1).ravel()
    return np.repeat(s, 4), np.stack([u, v], axis=1) @ metric.T


def _diameter_bounds(points: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per slice, an upper bound of the largest distance between its points.

    The points' extent along 8 directions 22.5 degrees apart: every segment lies within 11.25 degrees
    of one of them, so it is at most the largest extent / cos(11.25 deg).
    """
    angles = np.arange(8) * np.pi / 8
    along = points @ np.stack([np.cos(angles), np.sin(angles)])
    extent = np.maximum.reduceat(along, starts) - np.minimum.reduceat(along, starts)
    return extent.max(axis=1) / np.cos(np.pi / 16)


def _longest_diameter(hull: np.ndarray) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """Largest distance between two hull vertices, and the two vertices."""
    d = np.linalg.norm(hull[:, None, :] - hull[None, :, :], axis=-1)
    a, b = np.unravel_index(int(np.argmax(d)), d.shape)
    return float(d[a, b]), (hull[a], hull[b])


def _longest_perpendicular_chord(hull: np.ndarray, ends: tuple[np.ndarray, np.ndarray]) -> float:
    """Longest chord of the convex polygon ``hull`` (vertices in order) perpendicular to ``ends``.

    Along the long axis the chord length is a concave, piecewise linear function of position, so its
    maximum lies at the position of a vertex: try every vertex, intersect that line with every edge.
    """
    along = (ends[1] - ends[0]) / np.linalg.norm(ends[1] - ends[0])
    across = np.array([-along[1], along[0]])
    t, s = hull @ along, hull @ across
    t_next, s_next = np.roll(t, -1), np.roll(s, -1)
    at = t[:, None]
    span = t_next - t
    crossing = (np.minimum(t, t_next) <= at + 1e-12) & (at - 1e-12 <= np.maximum(t, t_next)) & (span != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.clip((at - t) / span, 0.0, 1.0)
    hits = np.where(crossing, s + fraction * (s_next - s), np.nan)
    return float(np.nanmax(np.nanmax(hits, axis=1) - np.nanmin(hits, axis=1)))
