"""The background reference for the target-to-background ratio (TBR = SUVmax / reference mean SUV).

The reference is, in order of preference:

1. given by the user: a mask (its mean SUV) or a value;
2. blood pool in the descending thoracic aorta, found on the CT: a round soft-tissue structure
   (blood, about 30-60 HU) 16-35 mm across, left of and level with or in front of the spine, running
   at least 30 mm through the thorax (the slices that hold lung). Its VOI is the PERCIST cylinder:
   10 mm across (less in a narrow aorta, always 3 mm inside its wall), 20 mm long, in the middle of the
   found segment;
3. the liver: the largest soft-tissue organ right of the midline in the 150 mm below the lowest lung
   slice, eroded by 10 mm; its reference is a robust mean (voxels beyond 3 robust standard deviations
   of the median are dropped).

Lesion voxels (``exclude``) never enter a reference. Without a CT, or when neither structure is found
(a small phantom, a scan of the legs), there is no reference and TBR stays empty. The search works on
the grid's closest RAS orientation (nibabel), so any axis order or flip finds the same structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cc3d
import nibabel as nib
import numpy as np
from scipy import ndimage

from fapiseg.io.geometry import spacing_mm

SOFT_TISSUE_HU = (0.0, 100.0)
LUNG_MAX_HU = -500.0
BONE_MIN_HU = 200.0
#: Lungs: an air space inside the body of at least this volume.
MIN_LUNG_ML = 100.0
#: Radius (mm) of the largest disk inside the aorta's cross-section, i.e. half its diameter.
AORTA_RADIUS_MM = (7.0, 18.0)
MIN_AORTA_LENGTH_MM = 30.0
#: PERCIST blood-pool VOI: a cylinder 10 mm across and 20 mm long, 3 mm clear of the vessel wall.
BLOOD_POOL_RADIUS_MM, BLOOD_POOL_LENGTH_MM, WALL_MARGIN_MM = 5.0, 20.0, 3.0
LIVER_EROSION_MM = 10.0
MIN_LIVER_ML = 100.0
LIVER_SEARCH_MM = 150.0


@dataclass
class BackgroundReference:
    """A background reference: how it was found (``kind``), its mean SUV and its VOI (None for a value).

    ``kind`` is ``"mask"``, ``"value"``, ``"aorta"`` or ``"liver"``; ``voi`` is a boolean array on the
    image grid.
    """

    kind: str
    suv_mean: float
    voi: np.ndarray | None = None

    @property
    def voxel_count(self) -> int:
        return 0 if self.voi is None else int(np.count_nonzero(self.voi))


def reference_from_value(suv_mean: float) -> BackgroundReference:
    """A reference SUV given by the user (e.g. measured elsewhere)."""
    if not np.isfinite(suv_mean) or suv_mean <= 0:
        raise ValueError(f"a background reference SUV must be positive, got {suv_mean}")
    return BackgroundReference("value", float(suv_mean))


def reference_from_mask(
    suv: np.ndarray, mask: np.ndarray, exclude: np.ndarray | None = None
) -> BackgroundReference:
    """Mean SUV in a user's reference mask (lesion voxels in ``exclude`` left out)."""
    voi = np.asarray(mask) > 0
    if exclude is not None:
        voi &= ~(np.asarray(exclude) > 0)
    if voi.shape != suv.shape:
        raise ValueError(f"reference mask shape {voi.shape} differs from the PET's {suv.shape}")
    if not voi.any():
        raise ValueError("the reference mask holds no voxel outside the lesions")
    mean = float(suv[voi].mean(dtype=np.float64))
    if mean <= 0:
        raise ValueError(f"the reference mask's mean SUV is {mean:.3g}; a ratio needs a positive reference")
    return BackgroundReference("mask", mean, voi)


def find_background(
    suv: np.ndarray, ct: np.ndarray | None, affine: np.ndarray, exclude: np.ndarray | None = None
) -> BackgroundReference | None:
    """The automatic reference: blood pool in the descending aorta, else the liver, else None."""
    if ct is None:
        return None
    if ct.shape != suv.shape:
        raise ValueError(
            f"CT shape {ct.shape} differs from the PET's {suv.shape}; resample it onto the PET grid"
        )
    ornt = nib.orientations.io_orientation(affine)
    back = nib.orientations.ornt_transform(np.array([[0, 1], [1, 1], [2, 1]]), ornt)
    lesions = np.zeros(ct.shape, bool) if exclude is None else np.asarray(exclude) > 0
    ras = _RasImages(
        np.ascontiguousarray(nib.orientations.apply_orientation(ct, ornt)),
        spacing_mm(affine)[ornt[:, 0].argsort()],
        nib.orientations.apply_orientation(lesions, ornt),
    )
    for kind, finder in (("aorta", _aorta_voi), ("liver", _liver_voi)):
        voi = finder(ras)
        if voi is None:
            continue
        voi = nib.orientations.apply_orientation(voi, back) & ~lesions
        if voi.any():
            values = suv[voi].astype(np.float64)
            mean = _robust_mean(values) if kind == "liver" else float(values.mean())
            if mean > 0:  # no uptake at all (an empty PET region) is no reference
                return BackgroundReference(kind, mean, voi)
    return None


@dataclass
class _RasImages:
    """The CT and the lesion voxels viewed in (close to) RAS orientation.

    Axis 0 runs to the patient's right, axis 1 anterior, axis 2 superior; ``spacing`` is in that order.
    """

    ct: np.ndarray
    spacing: np.ndarray
    lesions: np.ndarray

    @cached_property
    def lungs(self) -> np.ndarray | None:
        """The lungs: air spaces inside the body (not connected to the in-plane image border) of at least
        :data:`MIN_LUNG_ML` and a fifth of the largest one (which leaves out bowel gas)."""
        air = self.ct < LUNG_MAX_HU
        labels, n = cc3d.connected_components(air, connectivity=6, return_N=True)
        if n == 0:
            return None
        inner_air = air
        for outside in np.unique(np.concatenate([labels[[0, -1]].ravel(), labels[:, [0, -1]].ravel()])):
            inner_air = inner_air & (labels != outside)
        sizes = np.bincount(labels[inner_air], minlength=n + 1) * np.prod(self.spacing) / 1000.0
        keep = np.flatnonzero((sizes >= MIN_LUNG_ML) & (sizes >= 0.2 * sizes.max()))
        return np.isin(labels, keep) if keep.size else None


def _aorta_voi(ras: _RasImages) -> np.ndarray | None:
    """PERCIST blood-pool cylinder in the descending aorta, or None when no aorta is found."""
    lungs = ras.lungs
    if lungs is None:
        return None
    sx, sy, sz = ras.spacing
    found = []  # (slice, x index, y index, radius mm) of the aorta's cross-section in each thorax slice
    for z in np.flatnonzero(lungs.any(axis=(0, 1))):
        spine = _spine_centre(ras.ct[:, :, z], lungs[:, :, z], ras.spacing)
        if spine is None:
            continue
        section = _aorta_section(ras.ct[:, :, z], spine, ras.spacing)
        if section is not None:
            found.append((z, *section))
    run = _longest_tube(found, ras.spacing)
    if run is None or (run[-1][0] - run[0][0] + 1) * sz < MIN_AORTA_LENGTH_MM:
        return None
    xx, yy = np.meshgrid(np.arange(ras.ct.shape[0]) * sx, np.arange(ras.ct.shape[1]) * sy, indexing="ij")
    disks = [
        (xx - x * sx) ** 2 + (yy - y * sy) ** 2 <= min(BLOOD_POOL_RADIUS_MM, radius - WALL_MARGIN_MM) ** 2
        for _, x, y, radius in run
    ]
    clean = [not (ras.lesions[:, :, z] & disk).any() for (z, *_), disk in zip(run, disks)]
    # The cylinder's slices: as close to the middle of the found segment as lesions allow.
    n = min(2 * int(BLOOD_POOL_LENGTH_MM / 2 // sz) + 1, len(run))
    starts = [s for s in range(len(run) - n + 1) if all(clean[s : s + n])]
    if not starts:
        return None
    start = min(starts, key=lambda s: abs(s + (n - 1) / 2 - (len(run) - 1) / 2))
    voi = np.zeros(ras.ct.shape, bool)
    for (z, *_), disk in zip(run[start : start + n], disks[start : start + n]):
        voi[:, :, z] = disk
    return voi


def _spine_centre(ct_slice: np.ndarray, lung_slice: np.ndarray, spacing: np.ndarray) -> np.ndarray | None:
    """(x, y) index of the spine in an axial slice: bone within 25 mm of the lungs' midline, behind them."""
    lung_xy = np.argwhere(lung_slice)
    if lung_xy.size == 0:
        return None
    mid_x, mid_y = lung_xy.mean(axis=0)
    bone = np.argwhere(ct_slice >= BONE_MIN_HU)
    near = bone[(np.abs(bone[:, 0] - mid_x) * spacing[0] <= 25.0) & (bone[:, 1] <= mid_y)]
    return near.mean(axis=0) if len(near) else None


def _aorta_section(
    ct_slice: np.ndarray, spine: np.ndarray, spacing: np.ndarray
) -> tuple[int, int, float] | None:
    """The aorta's centre (x, y index) and radius (mm) in one slice, or None.

    Candidates are centres of round soft-tissue regions: local maxima of the in-plane distance to the
    nearest non-soft-tissue pixel, with a radius in :data:`AORTA_RADIUS_MM`, 5-65 mm to the patient's
    left of the spine and from 10 mm behind to 60 mm in front of it. The widest one wins.
    """
    sx, sy = spacing[:2]
    pad = AORTA_RADIUS_MM[1] + 5.0
    x0, x1 = _window(spine[0], -65.0 - pad, -5.0 + pad, sx, ct_slice.shape[0])
    y0, y1 = _window(spine[1], -10.0 - pad, 60.0 + pad, sy, ct_slice.shape[1])
    crop = ndimage.median_filter(ct_slice[x0:x1, y0:y1], size=3)  # noise off, edges kept
    tissue = (crop >= SOFT_TISSUE_HU[0]) & (crop <= SOFT_TISSUE_HU[1])
    if not tissue.any():
        return None
    depth = ndimage.distance_transform_edt(tissue, sampling=(sx, sy))
    peaks = (
        (depth == ndimage.maximum_filter(depth, size=3))
        & (depth >= AORTA_RADIUS_MM[0])
        & (depth <= AORTA_RADIUS_MM[1])
    )
    xy = np.argwhere(peaks)
    dx = (xy[:, 0] + x0 - spine[0]) * sx
    dy = (xy[:, 1] + y0 - spine[1]) * sy
    xy = xy[(dx >= -65.0) & (dx <= -5.0) & (dy >= -10.0) & (dy <= 60.0)]
    if not len(xy):
        return None
    best = xy[np.argmax(depth[xy[:, 0], xy[:, 1]])]
    return int(best[0] + x0), int(best[1] + y0), float(depth[best[0], best[1]])


def _window(centre: float, lo_mm: float, hi_mm: float, step: float, size: int) -> tuple[int, int]:
    return max(int(np.floor(centre + lo_mm / step)), 0), min(int(np.ceil(centre + hi_mm / step)) + 1, size)


def _longest_tube(found: list[tuple[int, int, int, float]], spacing: np.ndarray) -> list | None:
    """The longest run of consecutive slices whose aorta centres move less than half a radius each."""
    best: list = []
    run: list = []
    for item in found:
        if run:
            z, x, y, r = run[-1]
            step = np.hypot((item[1] - x) * spacing[0], (item[2] - y) * spacing[1])
            if item[0] != z + 1 or step > max(0.5 * r, spacing[:2].max()):
                run = []
        run.append(item)
        if len(run) > len(best):
            best = list(run)
    return best or None


def _liver_voi(ras: _RasImages) -> np.ndarray | None:
    """The liver eroded by 10 mm: the largest soft-tissue component right of the midline below the lungs.

    The slab stops at the lowest lung slice: the lungs' posterior recesses reach below the liver dome,
    so the slab holds liver but not the heart that sits on it.
    """
    lungs = ras.lungs
    if lungs is None:
        return None
    z_lungs = np.flatnonzero(lungs.any(axis=(0, 1)))
    mid_x = np.argwhere(lungs)[:, 0].mean()
    sz = ras.spacing[2]
    # Below the lowest lung slice (the posterior recesses reach below the liver dome): liver, not heart.
    z0, z1 = max(int(z_lungs[0] - LIVER_SEARCH_MM / sz), 0), int(z_lungs[0])
    x0 = int(np.floor(mid_x))
    slab = ndimage.uniform_filter(
        ras.ct[x0:, :, z0:z1].astype(np.float32), size=3
    )  # noise off; the erosion drops the blurred edge
    tissue = (slab >= SOFT_TISSUE_HU[0]) & (slab <= SOFT_TISSUE_HU[1])
    if not tissue.any():
        return None
    core = ndimage.distance_transform_edt(tissue, sampling=ras.spacing) > LIVER_EROSION_MM
    labels, n = cc3d.connected_components(core, connectivity=6, return_N=True)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:] * np.prod(ras.spacing) / 1000.0
    if sizes.max() < MIN_LIVER_ML:
        return None
    voi = np.zeros(ras.ct.shape, bool)
    voi[x0:, :, z0:z1] = labels == int(np.argmax(sizes)) + 1
    return voi


def _robust_mean(values: np.ndarray) -> float:
    """Mean of the values within 3 robust standard deviations (1.4826 x MAD) of the median."""
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median))
    kept = values[np.abs(values - median) <= 3 * spread] if spread > 0 else values
    return float(kept.mean())
