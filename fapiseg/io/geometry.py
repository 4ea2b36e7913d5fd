"""Voxel geometry from a NIfTI affine: spacing, voxel volume, voxel-to-world mapping.

Every physical quantity in fapiseg (mL, mm, world centroids) is derived here from the 4x4 affine,
so that any voxel size, axis order or orientation (flipped axes, LPS or RAS storage) gives the same
numbers.
"""

from __future__ import annotations

import numpy as np


def spacing_mm(affine: np.ndarray) -> np.ndarray:
    """Voxel edge lengths (mm) along the three array axes: the column norms of the 3x3 part."""
    return np.sqrt((np.asarray(affine, float)[:3, :3] ** 2).sum(axis=0))


def voxel_volume_ml(affine: np.ndarray) -> float:
    """Volume of one voxel in mL (|det| of the 3x3 part, mm^3, over 1000); exact for sheared grids too."""
    return float(abs(np.linalg.det(np.asarray(affine, float)[:3, :3]))) / 1000.0


def voxel_to_world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """World (RAS+, mm) coordinates of voxel indices ``ijk`` of shape (..., 3)."""
    a = np.asarray(affine, float)
    return np.asarray(ijk, float) @ a[:3, :3].T + a[:3, 3]


def world_to_voxel(affine: np.ndarray, xyz: np.ndarray) -> np.ndarray:
    """Continuous voxel indices of world points ``xyz`` (..., 3); the inverse of :func:`voxel_to_world`."""
    inv = np.linalg.inv(np.asarray(affine, float))
    return np.asarray(xyz, float) @ inv[:3, :3].T + inv[:3, 3]


def same_grid(shape_a: tuple, affine_a: np.ndarray, shape_b: tuple, affine_b: np.ndarray,
              tol_mm: float = 1e-3) -> bool:
    """True when two images share shape and affine (to ``tol_mm``), so voxels correspond one to one."""
    return tuple(shape_a[:3]) == tuple(shape_b[:3]) and np.allclose(affine_a, affine_b, atol=tol_mm)


def world_bounds(shape: tuple, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned world box (min, max corners, mm) covered by the voxel centres of an image."""
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in shape[:3]], indexing="ij")).reshape(3, -1).T
    world = voxel_to_world(affine, corners)
    return world.min(axis=0), world.max(axis=0)
