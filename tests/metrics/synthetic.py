"""Tiny synthetic images with known truth for the metrics tests: voxelised shapes and a thorax phantom."""

from __future__ import annotations

import numpy as np

from fapiseg.io.geometry import voxel_to_world


def world_grid(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """World coordinates (mm) of every voxel centre, shape (*shape, 3)."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return voxel_to_world(affine, ijk)


def ellipsoid(shape, affine, centre_mm, radii_mm, rotation: np.ndarray | None = None) -> np.ndarray:
    """Voxels whose centres lie inside an ellipsoid (world mm), optionally rotated (3x3, columns = axes)."""
    offset = world_grid(shape, affine) - np.asarray(centre_mm, float)
    if rotation is not None:
        offset = offset @ rotation
    return ((offset / np.asarray(radii_mm, float)) ** 2).sum(axis=-1) <= 1.0


def ball(shape, affine, centre_mm, radius_mm) -> np.ndarray:
    return ellipsoid(shape, affine, centre_mm, [radius_mm] * 3)


def flip_and_permute(array: np.ndarray, affine: np.ndarray, flips=(0,), order=(0, 1, 2)):
    """The same world image stored differently: axes ``flips`` reversed, then axes put in ``order``."""
    a = np.asarray(affine, float).copy()
    out = np.asarray(array)
    for axis in flips:
        n = out.shape[axis]
        a[:3, 3] = a[:3, 3] + a[:3, axis] * (n - 1)
        a[:3, axis] = -a[:3, axis]
        out = np.flip(out, axis)
    out = np.transpose(out, order)
    b = a.copy()
    b[:3, :3] = a[:3, list(order)]
    return np.ascontiguousarray(out), b


THORAX_SHAPE = (90, 70, 72)
THORAX_AFFINE = np.array([[4.0, 0, 0, -178.0], [0, 4.0, 0, -138.0], [0, 0, 4.0, -124.0], [0, 0, 0, 1]])


def thorax_phantom(
    aorta: bool = True, noise_hu: float = 10.0, seed: int = 0, shape=THORAX_SHAPE, affine=THORAX_AFFINE
):
    """A coarse body (RAS world): lungs, spine, heart, descending aorta, liver; by default 4 mm voxels.

    Returns (ct HU, pet SUV, affine, truth) where truth holds the aorta and liver masks and their SUVs.
    Patient's left is -x, anterior +y, superior +z; the lungs span z in [0, 160] mm, the liver z in
    [-110, 10] mm (its dome above the lowest lung slices), the heart z in [30, 110] mm. The aorta
    (radius 12 mm) runs 25 mm left of and 20 mm in front of the spine centre, from z = -60 mm up.
    """
    xyz = world_grid(shape, affine)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    ct = np.full(shape, -1000.0)
    pet = np.zeros(shape)
    body = (x / 160) ** 2 + (y / 115) ** 2 <= 1
    ct[body], pet[body] = -100.0, 0.4  # fat
    thorax = (z >= 0) & (z <= 160)
    lungs = thorax & (
        (((x - 75) / 55) ** 2 + ((y + 5) / 75) ** 2 <= 1) | (((x + 75) / 55) ** 2 + ((y + 5) / 75) ** 2 <= 1)
    )
    ct[lungs], pet[lungs] = -800.0, 0.3
    heart = (((x - 10) / 50) ** 2 + ((y - 35) / 40) ** 2 <= 1) & (z >= 30) & (z <= 110)
    ct[heart], pet[heart] = 40.0, 1.5
    spine = (x / 18) ** 2 + ((y + 70) / 18) ** 2 <= 1
    ct[spine], pet[spine] = 450.0, 0.9
    liver = (((x - 60) / 75) ** 2 + ((y - 5) / 70) ** 2 <= 1) & (z >= -110) & (z <= 10)
    ct[liver], pet[liver] = 55.0, 1.2
    aorta_mask = np.zeros(shape, bool)
    if aorta:
        aorta_mask = ((x + 25) ** 2 + (y + 50) ** 2 <= 12.0**2) & (z >= -60)
        ct[aorta_mask], pet[aorta_mask] = 40.0, 1.8
    ct += np.random.default_rng(seed).normal(0, noise_hu, shape)
    truth = {"aorta": aorta_mask, "aorta_suv": 1.8, "liver": liver, "liver_suv": 1.2}
    return ct.astype(np.float32), pet.astype(np.float32), affine, truth
