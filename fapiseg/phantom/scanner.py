"""The scanner: patient pose, field of view and grid, PET image formation, CT look, storage orientation.

PET image formation: the true activity (organs at the voxel centres of the scanner grid, lesions on a
sub-millimetre grid of their own, see :mod:`fapiseg.phantom.render`) is blurred by a Gaussian
point-spread function (4.5-7 mm FWHM, drawn per scan) and averaged into the scanner's voxels, which
gives the partial-volume loss of small lesions. Noise is Gaussian with variance proportional to the
blurred activity (a count-limited image: ``sigma = k sqrt(a)``, ``k`` set so that the liver's
coefficient of variation is the scan's noise level) and a grain of about one voxel, like a
post-filtered OSEM image; values are kept in steps of 1/1024 SUV. CT shows the patient table, and is the tissue map slightly blurred plus white noise, stored as integer HU.

A scan is stored in one of a few orientations (RAS, LPS-flipped, axis-permuted) with the affine that
keeps every voxel's world position: the same patient reads the same way whatever the storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import nibabel as nib
import numpy as np
from scipy import ndimage

from fapiseg.phantom.shapes import rotation_matrix

#: Field-of-view kinds: body-frame z range (mm, before the height scale).
FOV_Z: dict[str, tuple[float, float]] = {
    "neck_to_thigh": (-60.0, 668.0),
    "torso": (-60.0, 565.0),
    "chest": (205.0, 560.0),
}
#: Largest in-plane matrix (unless the trunk needs more); arms beyond it are cut at the edges, as by a
#: CT's limited field of view.
MAX_IN_PLANE = 160
#: ... but never more than this many voxels (a very wide trunk on a fine grid is cut at the edges).
MAX_TRUNK_IN_PLANE = 240
CT_AIR_HU = -1000.0
SUV_STEPS = 1024.0


@dataclass
class Pose:
    """How the patient lies in the scanner: ``world = rotation @ body + translation`` (mm, RAS+)."""

    rotation: np.ndarray
    translation: np.ndarray

    def to_world(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, float) @ self.rotation.T + self.translation

    def to_body(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, float) - self.translation) @ self.rotation

    @property
    def matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.translation
        return m


def baseline_pose(rng: np.random.Generator, height_scale: float) -> Pose:
    """Where the patient lies at the first study: on the table centre, a slight random tilt."""
    rot = rotation_matrix(rng.uniform(-1.5, 1.5, 3))
    translation = np.array(
        [rng.uniform(-15, 15), rng.uniform(-25, 5), rng.uniform(-900, -700) * height_scale]
    )
    return Pose(rot, translation)


def repositioned(baseline: Pose, shift_mm: np.ndarray, rotation_deg: np.ndarray, pivot: np.ndarray) -> Pose:
    """The baseline pose moved rigidly: ``x' = R (x - pivot) + pivot + shift`` in world coordinates."""
    r = rotation_matrix(rotation_deg)
    return Pose(r @ baseline.rotation, r @ (baseline.translation - pivot) + pivot + shift_mm)


@dataclass
class Grid:
    """An axis-aligned scanner grid in RAS storage: voxel (i, j, k) centre = origin + (i, j, k) * spacing."""

    shape: tuple[int, int, int]
    spacing: np.ndarray
    origin: np.ndarray

    @property
    def affine(self) -> np.ndarray:
        a = np.diag(np.r_[self.spacing, 1.0])
        a[:3, 3] = self.origin
        return a

    def axis(self, k: int) -> np.ndarray:
        return (self.origin[k] + np.arange(self.shape[k]) * self.spacing[k]).astype(np.float32)


def scanner_grid(
    lo_body: np.ndarray,
    hi_body: np.ndarray,
    pose: Pose,
    spacing: np.ndarray,
    margin_mm: float,
    keep_mm: np.ndarray | None = None,
) -> Grid:
    """The smallest grid holding the body-frame box ``lo..hi`` in the world, plus a margin in plane.

    In plane it has at most :data:`MAX_IN_PLANE` voxels, or as many as the in-plane extent ``keep_mm``
    (x, y; the trunk) needs up to :data:`MAX_TRUNK_IN_PLANE`, so arms may be cut at the edges but the
    trunk only on a fine grid of a very wide patient."""
    corners = np.array(np.meshgrid(*zip(lo_body, hi_body), indexing="ij")).reshape(3, -1).T
    world = pose.to_world(corners)
    lo, hi = world.min(axis=0), world.max(axis=0)
    lo[:2] -= margin_mm
    hi[:2] += margin_mm
    shape = np.ceil((hi - lo) / spacing).astype(int) + 1
    cap = np.full(2, MAX_IN_PLANE)
    if keep_mm is not None:
        trunk = np.ceil(np.asarray(keep_mm, float) / spacing[:2]).astype(int) + 1
        cap = np.clip(trunk, MAX_IN_PLANE, MAX_TRUNK_IN_PLANE)
    shape[:2] = np.minimum(shape[:2], cap)
    centre = (lo + hi) / 2
    origin = centre - (shape - 1) / 2 * spacing
    return Grid(tuple(int(n) for n in shape), np.asarray(spacing, float), origin)


def gaussian_sigma_voxels(fwhm_mm: float, spacing: np.ndarray) -> np.ndarray:
    return fwhm_mm / (2 * np.sqrt(2 * np.log(2))) / np.asarray(spacing, float)


def blur(activity: np.ndarray, fwhm_mm: float, spacing: np.ndarray) -> np.ndarray:
    """Gaussian PSF of ``fwhm_mm`` on a grid of ``spacing``; activity outside the grid is zero."""
    return ndimage.gaussian_filter(
        activity, gaussian_sigma_voxels(fwhm_mm, spacing), mode="constant", truncate=3.0
    ).astype(np.float32)


def add_pet_noise(
    image: np.ndarray, liver_suv: float, liver_cov: float, grain_voxels: float, rng: np.random.Generator
) -> np.ndarray:
    """Count-like noise: ``sigma = k sqrt(image)`` with a grain of ``grain_voxels`` (Gaussian sigma).

    ``k`` makes the coefficient of variation ``liver_cov`` at the liver's SUV; the grained noise field is
    renormalised to unit variance so the grain does not change the level.
    """
    white = rng.standard_normal(image.shape, dtype=np.float32)
    if grain_voxels > 0:
        field = ndimage.gaussian_filter(white, grain_voxels, mode="wrap", truncate=3.0)
        delta = np.zeros((15, 15, 15), np.float32)
        delta[7, 7, 7] = 1
        field /= float(np.sqrt((ndimage.gaussian_filter(delta, grain_voxels, truncate=3.0) ** 2).sum()))
    else:
        field = white
    k = liver_cov * np.sqrt(liver_suv)
    noisy = np.maximum(image + k * np.sqrt(np.maximum(image, 0.0)) * field, 0.0)
    # Stored in steps of 1/1024 SUV, as a scanner's integer pixels with a rescale slope are: far below the
    # noise, and the files compress twice as well.
    return (np.rint(noisy * SUV_STEPS) / SUV_STEPS).astype(np.float32)


def ct_look(hu: np.ndarray, noise_hu: float, rng: np.random.Generator) -> np.ndarray:
    """A CT resampled onto the PET grid: slightly soft edges, white noise, integer HU."""
    soft = ndimage.gaussian_filter(hu, (0.55, 0.55, 0.45), mode="nearest")
    noisy = soft + rng.normal(0.0, noise_hu, hu.shape).astype(np.float32)
    return np.clip(np.rint(noisy), -1024, 3071).astype(np.int16)


def add_table(hu: np.ndarray, grid: Grid, rng: np.random.Generator) -> None:
    """Draw the patient table on the CT (RAS storage, in place): a curved carbon-fibre plate just behind
    the lowest point of the body, with a dense top skin and a light foam core."""
    body = hu > -500
    rows = np.flatnonzero(body.any(axis=(0, 2)))
    if rows.size == 0:
        return
    x = grid.axis(0) - grid.axis(0).mean()
    y = grid.axis(1)
    top = grid.origin[1] + rows[0] * grid.spacing[1] - rng.uniform(0.5, 3.0) + 0.0008 * x**2  # (nx,)
    depth = top[:, None] - y[None, :]  # mm below the table top, (nx, ny)
    skin = (depth >= 0) & (depth < 3.0)
    core = (depth >= 3.0) & (depth < rng.uniform(12.0, 20.0))
    table = np.zeros(depth.shape, np.float32)
    table[skin], table[core] = 250.0, -650.0
    plate = (skin | core) & (np.abs(x)[:, None] < 240.0)
    paint = plate[:, :, None] & ~body  # under the patient, never through an arm
    hu[paint] = np.broadcast_to(table[:, :, None], hu.shape)[paint]


def store(array: np.ndarray, affine: np.ndarray, axcodes: str) -> tuple[np.ndarray, np.ndarray]:
    """``array`` (RAS storage) re-stored with axes along ``axcodes`` (e.g. ``"LPS"``, ``"SPL"``); the new
    affine maps every voxel to the same world point."""
    transform = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt(("R", "A", "S")), nib.orientations.axcodes2ornt(tuple(axcodes))
    )
    out = np.ascontiguousarray(nib.orientations.apply_orientation(array, transform))
    return out, affine @ nib.orientations.inv_ornt_aff(transform, array.shape)
