"""Lesion detection: match predicted to reference lesions (26-connected components) and count.

A reference lesion is detected when a predicted lesion matches it; a predicted lesion is a false
positive when it matches no reference lesion. By default "matches" means "shares at least one voxel"
(the contract's definition); with ``iou_threshold`` it means intersection over union >= the threshold.
One predicted lesion may detect several reference lesions and several may detect one, so
sensitivity counts reference lesions and precision counts predicted lesions:

- sensitivity = detected reference lesions / reference lesions;
- precision = predicted lesions that match / predicted lesions;
- F1 = 2 precision sensitivity / (precision + sensitivity).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fapiseg.metrics.components import Components, label_components

LESION_CONNECTIVITY = 26


@dataclass(frozen=True)
class LesionPair:
    """A predicted and a reference lesion that share voxels (indices into their lesion lists, 0-based)."""

    pred: int
    ref: int
    overlap_voxels: int
    iou: float


@dataclass
class DetectionCounts:
    """Matching of one scan's lesions: which reference lesions were found, which predictions were right.

    ``ref_detected[i]`` is True when reference lesion i+1 (lesion_id order) is detected; ``pred_matched[j]``
    when predicted lesion j+1 matches a reference lesion. ``pairs`` lists every overlapping pair.
    """

    ref_detected: np.ndarray
    pred_matched: np.ndarray
    pairs: list[LesionPair] = field(default_factory=list)
    iou_threshold: float | None = None

    def matching_pairs(self) -> list[LesionPair]:
        """The overlapping pairs that count as matches (all of them without an IoU threshold)."""
        return [p for p in self.pairs if self.iou_threshold is None or p.iou >= self.iou_threshold]

    @property
    def n_ref(self) -> int:
        return len(self.ref_detected)

    @property
    def n_pred(self) -> int:
        return len(self.pred_matched)

    @property
    def tp(self) -> int:
        """Detected reference lesions."""
        return int(np.count_nonzero(self.ref_detected))

    @property
    def fn(self) -> int:
        """Missed reference lesions."""
        return self.n_ref - self.tp

    @property
    def fp(self) -> int:
        """Predicted lesions that match no reference lesion."""
        return self.n_pred - int(np.count_nonzero(self.pred_matched))

    @property
    def sensitivity(self) -> float | None:
        return self.tp / self.n_ref if self.n_ref else None

    @property
    def precision(self) -> float | None:
        return (self.n_pred - self.fp) / self.n_pred if self.n_pred else None

    @property
    def f1(self) -> float | None:
        return f1_score(self.precision, self.sensitivity)


def f1_score(precision: float | None, sensitivity: float | None) -> float | None:
    """Harmonic mean of precision and sensitivity (None when either is undefined, 0 when both are 0)."""
    if precision is None or sensitivity is None:
        return None
    return 0.0 if precision + sensitivity == 0 else 2 * precision * sensitivity / (precision + sensitivity)


def match_lesions(
    pred: np.ndarray, ref: np.ndarray, iou_threshold: float | None = None, affine: np.ndarray | None = None
) -> DetectionCounts:
    """Match the 26-connected lesions of two masks (> 0 is lesion); ``affine`` only fixes the lesion order."""
    return match_components(
        label_components(pred, LESION_CONNECTIVITY, affine),
        label_components(ref, LESION_CONNECTIVITY, affine),
        iou_threshold,
    )


def match_components(
    pred: Components, ref: Components, iou_threshold: float | None = None
) -> DetectionCounts:
    """Match already labelled lesions (see :func:`match_lesions`)."""
    if iou_threshold is not None and not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
    ref_index = {c.label: i for i, c in enumerate(ref)}
    pairs = []
    for j, lesion in enumerate(pred):
        hit = ref.labels[lesion.bbox][lesion.crop(pred.labels)]
        labels, overlaps = np.unique(hit[hit > 0], return_counts=True)
        for label, overlap in zip(labels, overlaps):
            i = ref_index[int(label)]
            union = lesion.voxel_count + ref.items[i].voxel_count - int(overlap)
            pairs.append(LesionPair(j, i, int(overlap), int(overlap) / union))
    counts = DetectionCounts(np.zeros(len(ref), bool), np.zeros(len(pred), bool), pairs, iou_threshold)
    for pair in counts.matching_pairs():
        counts.ref_detected[pair.ref] = counts.pred_matched[pair.pred] = True
    return counts
