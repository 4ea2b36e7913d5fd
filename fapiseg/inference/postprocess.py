"""Post-processing of a predicted mask: a learned false-positive reduction, then drop lesions too small, or
too faint, to report.

Lesions are 26-connected components (as in the lesion table), volumes come from the affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fapiseg.inference.rescoring import Rescorer, rescored_mask
from fapiseg.io.geometry import voxel_volume_ml
from fapiseg.metrics.components import label_components


@dataclass(frozen=True)
class PostProcessing:
    """Keep a predicted lesion when its volume is >= ``min_volume_ml`` and, if set, its SUVmax is
    >= ``min_suv_max``; the probability threshold makes the mask from the lesion probability. With a
    ``rescorer`` (:mod:`fapiseg.inference.rescoring`) the mask holds the candidates it keeps."""

    threshold: float = 0.5
    min_volume_ml: float = 0.0
    min_suv_max: float | None = None
    rescorer: Rescorer | None = None


def lesion_mask(
    probability: np.ndarray,
    suv: np.ndarray,
    affine: np.ndarray,
    post: PostProcessing,
    ct: np.ndarray | None = None,
) -> np.ndarray:
    """The 0/1 mask (uint8) of ``probability`` > threshold (or of the candidates ``post.rescorer`` keeps,
    which reads the CT in HU on the same grid), without the lesions ``post`` drops."""
    if post.rescorer is None:
        mask = probability > post.threshold
    elif ct is None:
        raise ValueError("the false-positive reduction (rescorer) needs the CT")
    else:
        mask = rescored_mask(probability, suv, ct, affine, post.rescorer, post.threshold) > 0
    if post.min_volume_ml <= 0 and post.min_suv_max is None:
        return mask.astype(np.uint8)
    lesions = label_components(mask, 26, affine)
    voxel_ml = voxel_volume_ml(affine)
    keep = np.zeros(int(lesions.labels.max()) + 1, dtype=bool)  # indexed by label; 0 = background
    for lesion in lesions:
        big = lesion.voxel_count * voxel_ml >= post.min_volume_ml
        hot = (
            post.min_suv_max is None
            or float(suv[lesion.bbox][lesion.crop(lesions.labels)].max()) >= post.min_suv_max
        )
        keep[lesion.label] = big and hot
    return keep[lesions.labels].astype(np.uint8)
