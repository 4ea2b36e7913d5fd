"""Segmentation scores of one scan exactly as the autoPET challenge defines them.

Following the challenge's evaluation code (lab-midas/autoPET ``val_script.py``, kept in autoPET III/IV):

- Dice = 2 |P ∩ R| / (|P| + |R|) over all lesion voxels;
- false-positive volume = volume of the predicted connected components that share no voxel with the
  reference;
- false-negative volume = volume of the reference components that share no voxel with the prediction;
- components are 18-connected (cc3d ``connectivity=18``), volumes in mL.

A scan whose reference holds no lesion has no Dice (None: excluded from the mean, where autoPET would
divide by zero or report 0), a false-negative volume of 0 and its false-positive volume counted. The
voxel volume is |det| of the affine (autoPET multiplies the header's pixdims: the same for unsheared grids).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fapiseg.io.geometry import voxel_volume_ml
from fapiseg.metrics.components import label_components

#: The autoPET challenge's neighbourhood for FPV and FNV.
AUTOPET_CONNECTIVITY = 18


@dataclass(frozen=True)
class SegmentationScores:
    """autoPET scores of one scan: Dice (None without reference lesions), FPV and FNV in mL."""

    dice: float | None
    fpv_ml: float
    fnv_ml: float


def dice_fpv_fnv(pred: np.ndarray, ref: np.ndarray, affine: np.ndarray) -> SegmentationScores:
    """Dice, false-positive and false-negative volume (mL) of a predicted mask against a reference mask."""
    pred, ref = _binary(pred), _binary(ref)
    if pred.shape != ref.shape:
        raise ValueError(f"prediction {pred.shape} and reference {ref.shape} differ in shape")
    n_pred, n_ref = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
    dice = 2.0 * int(np.count_nonzero(pred & ref)) / (n_pred + n_ref) if n_ref else None
    voxel_ml = voxel_volume_ml(affine)
    return SegmentationScores(
        dice, _unmatched_voxels(pred, ref) * voxel_ml, _unmatched_voxels(ref, pred) * voxel_ml
    )


def false_positive_volume_ml(pred: np.ndarray, ref: np.ndarray, affine: np.ndarray) -> float:
    """Volume (mL) of predicted 18-connected components that do not overlap the reference."""
    return _unmatched_voxels(_binary(pred), _binary(ref)) * voxel_volume_ml(affine)


def false_negative_volume_ml(pred: np.ndarray, ref: np.ndarray, affine: np.ndarray) -> float:
    """Volume (mL) of reference 18-connected components that the prediction does not touch."""
    return _unmatched_voxels(_binary(ref), _binary(pred)) * voxel_volume_ml(affine)


def _unmatched_voxels(mask: np.ndarray, other: np.ndarray) -> int:
    """Voxels of the components of ``mask`` that share no voxel with ``other``."""
    if not mask.any():
        return 0
    if not other.any():
        return int(np.count_nonzero(mask))
    components = label_components(mask, AUTOPET_CONNECTIVITY)
    return sum(c.voxel_count for c in components if not other[c.bbox][c.crop(components.labels)].any())


def _binary(mask: np.ndarray) -> np.ndarray:
    mask = np.asarray(mask)
    return mask if mask.dtype == bool else mask > 0
