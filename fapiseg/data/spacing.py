"""The model's voxel size, derived from the training cases as nnU-Net plans it.

nnU-Net's rule (``ExperimentPlanner.determine_fullres_target_spacing``): the median voxel size per axis;
when the data are strongly anisotropic (the coarsest median axis more than 3 times the finest) the
coarse axis takes the 10th percentile instead (but no finer than the other axes), so that thick-slice scans are not upsampled into
stripes. Spacings are read from the NIfTI headers (no voxel data) and expressed along the RAS axes,
the orientation every pipeline reorients to.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import nibabel as nib
import numpy as np

from fapiseg.io.geometry import spacing_mm

ANISOTROPY_RATIO = 3.0


def ras_spacing_mm(affine: np.ndarray) -> np.ndarray:
    """Voxel size (mm) along world x, y, z: the array-axis spacings permuted to RAS order."""
    axes = nib.orientations.io_orientation(np.asarray(affine, float))[:, 0].astype(int)
    ras = np.empty(3)
    ras[axes] = spacing_mm(affine)
    return ras


def target_spacing_mm(images: Iterable[str | Path]) -> tuple[float, float, float]:
    """nnU-Net's full-resolution target spacing (x y z, mm, rounded to 0.01 mm) of a set of images."""
    spacings = np.array([ras_spacing_mm(nib.load(str(p)).affine) for p in images])
    if spacings.size == 0:
        raise ValueError("no images to derive a target spacing from")
    target = np.median(spacings, axis=0)
    coarse = int(np.argmax(target))
    if target[coarse] > ANISOTROPY_RATIO * target.min():
        others = np.delete(target, coarse)
        target[coarse] = max(np.percentile(spacings[:, coarse], 10), others.max() + 1e-5)
    return tuple(round(float(s), 2) for s in target)  # type: ignore[return-value]
