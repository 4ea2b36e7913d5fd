"""The lesion table: one row per 26-connected lesion with volume, SUV statistics, RECIST diameters and TBR.

One labelling pass finds the lesions and their bounding boxes; every measurement then works on the
lesion's own box (grown by the SUVpeak sphere or the isocontour margin where needed), so a whole-body
scan with dozens of lesions is measured in a few reads of the volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fapiseg.io.geometry import spacing_mm, voxel_to_world, voxel_volume_ml
from fapiseg.metrics.background import (
    BackgroundReference,
    find_background,
    reference_from_mask,
    reference_from_value,
)
from fapiseg.metrics.components import Components, label_components
from fapiseg.metrics.diameters import recist_diameters
from fapiseg.metrics.suv import sphere_runs, suv_peak
from fapiseg.metrics.thresholds import DEFAULT_FRACTIONS, DEFAULT_MARGIN_MM, column_name, threshold_volumes_ml

#: The contract's columns, in order.
LESION_COLUMNS = [
    "lesion_id",
    "volume_ml",
    "suv_max",
    "suv_mean",
    "suv_peak",
    "tl_fap",
    "longest_diameter_mm",
    "short_axis_mm",
    "centroid_x_mm",
    "centroid_y_mm",
    "centroid_z_mm",
    "tbr",
]
#: Added after them: voxel count, where the reference came from and its mean SUV.
EXTRA_COLUMNS = ["voxel_count", "tbr_reference", "tbr_reference_suv"]

#: Ten significant digits in CSV files: exact enough for any measurement, and 0.405 stays "0.405".
CSV_FLOAT_FORMAT = "%.10g"

Background = BackgroundReference | np.ndarray | float | None


def lesion_table(
    suv: np.ndarray,
    mask: np.ndarray,
    affine: np.ndarray,
    *,
    ct: np.ndarray | None = None,
    background: Background = None,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    margin_mm: float = DEFAULT_MARGIN_MM,
    detection_score: np.ndarray | None = None,
) -> pd.DataFrame:
    """Measure every 26-connected lesion of ``mask`` (> 0) on the SUV image; both share ``affine``.

    ``background`` is the TBR reference: a mask (its mean SUV), a value, a :class:`BackgroundReference`,
    or None to look for the aorta, then the liver, on ``ct`` (HU, same grid); TBR is empty when there is
    none. ``fractions`` of SUVmax give the isocontour volume columns (e.g. ``volume_41pct_ml``), grown
    inside the lesion's box plus ``margin_mm``; pass ``()`` to skip them. ``detection_score`` (a voxel map
    on the same grid, e.g. the false-positive reduction's) adds a ``detection_score`` column: its maximum
    over the lesion.
    """
    suv = np.asarray(suv)
    mask = np.asarray(mask)
    if suv.shape != mask.shape or suv.ndim != 3:
        raise ValueError(f"PET {suv.shape} and mask {mask.shape} must be 3-D images of the same shape")
    lesions = label_components(mask, 26, affine)
    reference = resolve_background(background, suv, affine, ct, lesions.labels)
    table = measure_lesions(suv, lesions, affine, reference, fractions, margin_mm)
    if detection_score is not None:
        if np.shape(detection_score) != mask.shape:
            raise ValueError(
                f"detection score {np.shape(detection_score)} and mask {mask.shape} differ in shape"
            )
        table["detection_score"] = [
            float(detection_score[c.bbox][c.crop(lesions.labels)].max()) for c in lesions
        ]
    return table


def resolve_background(
    background: Background,
    suv: np.ndarray,
    affine: np.ndarray,
    ct: np.ndarray | None,
    lesion_voxels: np.ndarray,
) -> BackgroundReference | None:
    """Turn the ``background`` option of :func:`lesion_table` into a reference (or None)."""
    if isinstance(background, BackgroundReference):
        return background
    if isinstance(background, np.ndarray) and background.ndim == 3:
        return reference_from_mask(suv, background, exclude=lesion_voxels)
    if background is not None:
        return reference_from_value(float(background))
    return find_background(suv, ct, affine, exclude=lesion_voxels)


def measure_lesions(
    suv: np.ndarray,
    lesions: Components,
    affine: np.ndarray,
    reference: BackgroundReference | None = None,
    fractions: tuple[float, ...] = DEFAULT_FRACTIONS,
    margin_mm: float = DEFAULT_MARGIN_MM,
) -> pd.DataFrame:
    """The lesion table of already labelled lesions (``lesions`` in their order: lesion_id 1..n)."""
    voxel_ml = voxel_volume_ml(affine)
    runs = sphere_runs(affine)
    margin_vox = np.ceil(margin_mm / spacing_mm(affine)).astype(int)
    rows = []
    for lesion_id, lesion in enumerate(lesions, start=1):
        inside = lesion.crop(lesions.labels)
        values = suv[lesion.bbox][inside]
        volume_ml = lesion.voxel_count * voxel_ml
        suv_max = float(values.max())
        suv_mean = float(values.mean(dtype=np.float64))
        diameters = recist_diameters(inside, affine)
        x, y, z = voxel_to_world(affine, lesion.centroid_ijk)
        row = {
            "lesion_id": lesion_id,
            "volume_ml": volume_ml,
            "suv_max": suv_max,
            "suv_mean": suv_mean,
            "suv_peak": suv_peak(suv, inside, lesion.bbox, runs).suv_peak,
            "tl_fap": volume_ml * suv_mean,
            "longest_diameter_mm": diameters.longest_mm,
            "short_axis_mm": diameters.short_axis_mm,
            "centroid_x_mm": float(x),
            "centroid_y_mm": float(y),
            "centroid_z_mm": float(z),
            "tbr": suv_max / reference.suv_mean if reference is not None else np.nan,
            "voxel_count": lesion.voxel_count,
            "tbr_reference": reference.kind if reference is not None else "",
            "tbr_reference_suv": reference.suv_mean if reference is not None else np.nan,
        }
        if fractions:
            hottest = np.unravel_index(
                int(np.argmax(np.where(inside, suv[lesion.bbox], -np.inf))), inside.shape
            )
            max_ijk = tuple(int(s.start + h) for s, h in zip(lesion.bbox, hottest))
            volumes = threshold_volumes_ml(
                suv, lesion.bbox, max_ijk, suv_max, fractions, margin_vox, voxel_ml
            )
            row.update({column_name(f): v for f, v in zip(fractions, volumes)})
        rows.append(row)
    columns = LESION_COLUMNS + EXTRA_COLUMNS + [column_name(f) for f in fractions]
    return pd.DataFrame(rows, columns=columns)
