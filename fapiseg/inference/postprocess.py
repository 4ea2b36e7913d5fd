"""Post-processing of a predicted mask: a learned false-positive reduction, then drop lesions too small, or
too faint, to report.

Lesions are 26-connected components (as in the lesion table), volumes come from the affine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fapiseg.inference.rescoring import Rescorer, rescored_scores
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


@dataclass(frozen=True)
class PostProcessed:
    """A case's lesion mask (0/1, uint8) and, with a rescorer, each lesion voxel's detection score: the
    rescorer's probability that its candidate is a lesion (float32, 0 outside the mask; None without)."""

    mask: np.ndarray
    detection_score: np.ndarray | None = None


def post_process(
    probability: np.ndarray,
    suv: np.ndarray,
    affine: np.ndarray,
    post: PostProcessing,
    ct: np.ndarray | None = None,
) -> PostProcessed:
    """The mask of ``probability`` > threshold (or of the candidates ``post.rescorer`` keeps, which reads
    the CT in HU on the same grid), without the lesions ``post`` drops."""
    score = None
    if post.rescorer is None:
        mask = probability > post.threshold
    elif ct is None:
        raise ValueError("the false-positive reduction (rescorer) needs the CT")
    else:
        score = rescored_scores(probability, suv, ct, affine, post.rescorer, post.threshold)
        mask = score > 0
    if post.min_volume_ml > 0 or post.min_suv_max is not None:
        mask = _large_and_hot(mask, suv, affine, post)
        if score is not None:  # a dropped lesion takes its score with it
            score = np.where(mask, score, np.float32(0))
    return PostProcessed(mask.astype(np.uint8), score)


def _large_and_hot(mask: np.ndarray, suv: np.ndarray, affine: np.ndarray, post: PostProcessing) -> np.ndarray:
    """``mask`` without the lesions smaller than ``post.min_volume_ml`` or fainter than ``post.min_suv_max``."""
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
    return keep[lesions.labels]
