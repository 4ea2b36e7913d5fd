"""Paint a patient onto a scanner grid: organ labels, CT numbers and true activity; then the lesions.

Organs are evaluated at the scanner's voxel centres, each on the crop its bounding box covers, from
body-frame coordinates computed once for the whole grid (``body = R^T (world - t)``), so a rotated,
shifted patient costs the same as a straight one. Lesions are small and their partial-volume effect
matters, so each is rendered on its own sub-millimetre grid (about 1 mm, an integer subdivision of the
scanner voxel), blurred there by the PSF and averaged into the scanner voxels; SEG takes the voxels
of which at least half the sub-voxels lie inside the lesion (a lesion so small that no voxel reaches
half gets the one voxel it fills most), keeping the largest 26-connected piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
from scipy import ndimage, special

from fapiseg.phantom.anatomy import LABEL_OF, TISSUE_HU, Structure
from fapiseg.phantom.lesions import Lesion
from fapiseg.phantom.scanner import Grid, Pose, gaussian_sigma_voxels
from fapiseg.phantom.shapes import Ellipsoid, Union

#: Target sub-voxel size (mm) of the lesion grids.
LESION_SUBVOXEL_MM = 1.0


@dataclass
class AnatomyImages:
    """Anatomy on the scanner grid: organ labels, tissue HU (with texture) and true activity (SUV)."""

    organs: np.ndarray
    hu: np.ndarray
    activity: np.ndarray


@dataclass
class RenderedLesion:
    """A lesion on the scanner grid: its SEG voxels (crop and where it sits), true volume and peak."""

    lesion: Lesion
    mask: np.ndarray
    box: tuple[slice, slice, slice]
    true_volume_ml: float
    suv_max: float


def body_coordinates(grid: Grid, pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Body-frame x, y, z (float32) of every voxel centre of ``grid``."""
    return _body_coords([grid.axis(k) for k in range(3)], pose)


def _body_coords(axes: list[np.ndarray], pose: Pose) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rt = pose.rotation.T.astype(np.float32)
    d = [(axes[k] - np.float32(pose.translation[k])) for k in range(3)]
    d = [d[0][:, None, None], d[1][None, :, None], d[2][None, None, :]]
    return tuple(rt[r, 0] * d[0] + rt[r, 1] * d[1] + rt[r, 2] * d[2] for r in range(3))  # type: ignore[return-value]


def smooth_field(
    shape: tuple[int, ...], spacing: np.ndarray, correlation_mm: float, rng: np.random.Generator
) -> np.ndarray:
    """Smooth random texture (standard deviation about 1) with features of about ``correlation_mm``.

    White noise on a coarse grid (half the correlation length), smoothed, then interpolated linearly
    onto the grid one axis at a time, the axis with the most coarse points first (cheapest order).
    """
    step = correlation_mm / 2
    coarse_shape = [max(int(np.ceil(n * s / step)) + 2, 2) for n, s in zip(shape, spacing)]
    field = ndimage.gaussian_filter(rng.standard_normal(coarse_shape).astype(np.float32), 1.0, mode="wrap")
    field /= field.std() + 1e-6
    for axis in np.argsort(coarse_shape)[::-1]:
        field = _lerp_axis(field, shape[axis], int(axis))
    return field


def _lerp_axis(array: np.ndarray, n: int, axis: int) -> np.ndarray:
    """``array`` resampled linearly to ``n`` evenly spread points along ``axis`` (ends kept)."""
    c = array.shape[axis]
    pos = np.linspace(0, c - 1, n, dtype=np.float32)
    i0 = np.minimum(pos.astype(np.int64), c - 2)
    t = (pos - i0).astype(np.float32).reshape([-1 if k == axis else 1 for k in range(array.ndim)])
    a, b = np.take(array, i0, axis=axis), np.take(array, i0 + 1, axis=axis)
    return a + t * (b - a)


def render_anatomy(
    structures: list[Structure],
    suvs: list[float],
    scales: list[float],
    grid: Grid,
    pose: Pose,
    rng: np.random.Generator,
) -> AnatomyImages:
    """Paint every structure in order; CT and PET get smooth per-tissue textures."""
    bx, by, bz = body_coordinates(grid, pose)
    uptake_index = np.zeros(grid.shape, np.uint16)  # 0 = outside the body; k + 1 = structures[k]
    tissue_index = np.zeros(grid.shape, np.uint16)
    for k, s in enumerate(structures):
        shape = s.shape.scaled(scales[k]) if scales[k] != 1.0 and isinstance(s.shape, Ellipsoid) else s.shape
        for part in shape.shapes if isinstance(shape, Union) else [shape]:  # each part on its own crop
            box = _crop(part.bounds(), grid, pose)
            if box is None:
                continue
            inside = part.inside(bx[box], by[box], bz[box])
            uptake_index[box][inside] = k + 1
            if s.paints_ct:
                tissue_index[box][inside] = k + 1
    n = len(structures)
    organ_of = np.array([0] + [s.label for s in structures] + [LABEL_OF["fat"]], np.uint8)
    suv_of = np.array([0.0] + list(suvs) + [0.0], np.float32)
    suv_tex = np.array([0.0] + [s.suv_texture for s in structures] + [0.08], np.float32)
    hu_of = np.array(
        [TISSUE_HU.get("air", (-1000.0,))[0]] + [s.hu for s in structures] + [TISSUE_HU["fat"][0]], np.float32
    )
    hu_tex = np.array([0.0] + [s.hu_texture for s in structures] + [TISSUE_HU["fat"][1]], np.float32)
    hu_of[0] = -1000.0
    # Visceral fat between bowel loops: a smooth random share of the abdominal cavity becomes fat.
    fat_index = n + 1
    suv_of[fat_index] = suvs[next(k for k, s in enumerate(structures) if s.name == "body")]
    for k, s in enumerate(structures):
        box = _crop(s.shape.bounds(), grid, pose) if s.mottle_fat > 0 else None
        if box is not None:
            pattern = smooth_field(uptake_index[box].shape, grid.spacing, 18.0, rng)
            turn = (uptake_index[box] == k + 1) & (pattern < special.ndtri(s.mottle_fat))
            uptake_index[box][turn] = fat_index
            tissue = tissue_index[box]
            tissue[turn & (tissue == k + 1)] = fat_index
    pet_tex = smooth_field(grid.shape, grid.spacing, 14.0, rng)
    ct_tex = smooth_field(grid.shape, grid.spacing, 10.0, rng)
    activity = suv_of[uptake_index] * (1 + suv_tex[uptake_index] * pet_tex)
    hu = hu_of[tissue_index] + hu_tex[tissue_index] * ct_tex
    return AnatomyImages(
        organ_of[uptake_index], hu.astype(np.float32), np.maximum(activity, 0).astype(np.float32)
    )


def _crop(
    bounds: tuple[np.ndarray, np.ndarray], grid: Grid, pose: Pose, margin_mm: float = 0.0
) -> tuple[slice, slice, slice] | None:
    lo, hi = bounds
    lo = np.maximum(lo, -3000.0)
    hi = np.minimum(hi, 3000.0)
    corners = np.array(np.meshgrid(*zip(lo, hi), indexing="ij")).reshape(3, -1).T
    world = pose.to_world(corners)
    i0 = np.floor((world.min(axis=0) - margin_mm - grid.origin) / grid.spacing).astype(int)
    i1 = np.ceil((world.max(axis=0) + margin_mm - grid.origin) / grid.spacing).astype(int) + 1
    i0 = np.maximum(i0, 0)
    i1 = np.minimum(i1, grid.shape)
    if np.any(i1 <= i0):
        return None
    return tuple(slice(int(a), int(b)) for a, b in zip(i0, i1))  # type: ignore[return-value]


def render_lesion(
    lesion: Lesion,
    scale: float,
    suv_max: float,
    grid: Grid,
    pose: Pose,
    fwhm_mm: float,
    background: np.ndarray,
    blurred: np.ndarray,
    hu: np.ndarray,
) -> RenderedLesion | None:
    """Add one lesion to the blurred PET (``blurred``) and the CT (``hu``) in place; return its SEG crop.

    ``background`` is the organ activity the lesion replaces (before blur).
    """
    sigma_mm = fwhm_mm / (2 * np.sqrt(2 * np.log(2)))
    reach = lesion.bound_radius(scale) + 3 * sigma_mm + grid.spacing.max()
    box = _crop((lesion.centre - reach, lesion.centre + reach), grid, pose)
    if box is None:
        return None
    sub = np.clip(np.rint(grid.spacing / LESION_SUBVOXEL_MM), 2, 4).astype(int)
    fine_spacing = grid.spacing / sub
    axes = []
    for k in range(3):
        idx = np.arange(box[k].start, box[k].stop)
        offsets = (np.arange(sub[k]) + 0.5) / sub[k] - 0.5
        axes.append(
            (grid.origin[k] + (idx[:, None] + offsets[None, :]).ravel() * grid.spacing[k]).astype(np.float32)
        )
    x, y, z = _body_coords(axes, pose)
    x, y, z = np.broadcast_arrays(x, y, z)
    rho = lesion.radius_field(x, y, z, scale)
    inside = rho < 1.0
    if not inside.any():
        return None
    truth = lesion.activity(x, y, z, rho, suv_max)
    below = background[box]
    for k in range(3):
        below = np.repeat(below, sub[k], axis=k)
    delta = np.where(inside, truth - below, 0.0).astype(np.float32)
    delta = ndimage.gaussian_filter(
        delta, gaussian_sigma_voxels(fwhm_mm, fine_spacing), mode="constant", truncate=3.0
    )
    blurred[box] += _block_mean(delta, sub)
    fraction = _block_mean(inside.astype(np.float32), sub)
    hu[box] = hu[box] * (1 - fraction) + np.float32(lesion.hu) * fraction
    mask = fraction >= 0.5
    if not mask.any():
        mask = fraction == fraction.max()
    labels, n = cc3d.connected_components(mask, connectivity=26, return_N=True)
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask = labels == int(np.argmax(sizes)) + 1
    return RenderedLesion(
        lesion, mask, box, float(inside.sum() * np.prod(fine_spacing) / 1000.0), float(truth[inside].max())
    )


def _block_mean(array: np.ndarray, sub: np.ndarray) -> np.ndarray:
    n = [s // f for s, f in zip(array.shape, sub)]
    return array.reshape(n[0], sub[0], n[1], sub[1], n[2], sub[2]).mean(axis=(1, 3, 5))
