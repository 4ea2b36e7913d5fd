"""Threshold re-segmentation: the volume of voxels at or above a fraction of a lesion's SUVmax.

The usual PET isocontour volumes (41 % and 50 % of SUVmax): inside a box VOI around the lesion (its
bounding box grown by ``margin_mm`` on every side, clipped to the image), the voxels with
SUV >= fraction x SUVmax that are 26-connected to the lesion's hottest voxel. They do not depend on
the drawn mask beyond where its maximum is, so they show how much the mask's own edge matters.
"""

from __future__ import annotations

import cc3d
import numpy as np

#: Default fractions of SUVmax (column ``volume_41pct_ml`` and ``volume_50pct_ml``).
DEFAULT_FRACTIONS = (0.41, 0.50)
DEFAULT_MARGIN_MM = 10.0


def column_name(fraction: float) -> str:
    """``volume_41pct_ml`` for 0.41."""
    return f"volume_{round(fraction * 100):d}pct_ml"


def threshold_volumes_ml(
    suv: np.ndarray,
    bbox: tuple[slice, slice, slice],
    max_ijk: tuple[int, int, int],
    suv_max: float,
    fractions: tuple[float, ...],
    margin_vox: np.ndarray,
    voxel_ml: float,
) -> list[float]:
    """Isocontour volumes (mL) for each fraction of ``suv_max``, grown from the voxel ``max_ijk``.

    ``margin_vox`` (3 ints) grows the bounding box ``bbox`` into the VOI. Without uptake (SUVmax <= 0)
    there is no isocontour and the volumes are NaN.
    """
    if suv_max <= 0:
        return [float("nan")] * len(fractions)
    lo = np.maximum([s.start for s in bbox] - margin_vox, 0)
    hi = np.minimum([s.stop for s in bbox] + margin_vox, suv.shape)
    voi = suv[tuple(slice(a, b) for a, b in zip(lo, hi))]
    seed = tuple(int(m - a) for m, a in zip(max_ijk, lo))
    volumes = []
    for fraction in fractions:
        labels = cc3d.connected_components(voi >= fraction * suv_max, connectivity=26)
        volumes.append(int(np.count_nonzero(labels == labels[seed])) * voxel_ml)
    return volumes
