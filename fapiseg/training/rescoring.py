"""Fit a checkpoint's false-positive reduction on training patients (``fapiseg rescore``).

The trained network segments each training case (with the inference settings it will be used with); its
candidates (:func:`fapiseg.inference.rescoring.candidates`) are labelled lesion when they touch the
reference mask (the contract's detection rule) and false positive otherwise; a
:class:`~fapiseg.inference.rescoring.Rescorer` is fitted on them and stored in a copy of the checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from fapiseg.errors import CaseError, FapisegError
from fapiseg.inference.batch import discover_cases
from fapiseg.inference.predictor import Predictor, PredictorOptions
from fapiseg.inference.rescoring import (
    CANDIDATE_THRESHOLD,
    CHECKPOINT_KEY,
    TARGET_FP_PER_SCAN,
    Rescorer,
    candidate_features,
    candidates,
    fit_rescorer,
)
from fapiseg.io.nifti import atomic_path
from fapiseg.metrics.components import label_components
from fapiseg.metrics.detection import LESION_CONNECTIVITY, match_components
from fapiseg.models.checkpoint import read_checkpoint


@dataclass
class RescoringFit:
    """The fitted rescorer and what it was fitted on (for the log and the demo)."""

    rescorer: Rescorer
    scans: int
    lesion_candidates: int
    false_candidates: int
    skipped: list[str]
    #: labelled cases left unsegmented because the deadline came
    not_reached: int = 0

    def describe(self) -> str:
        kept = f"score >= {self.rescorer.threshold:.3f}"
        return (
            f"{self.scans} scans, {self.lesion_candidates} lesion and {self.false_candidates} false candidates "
            f"(probability > {self.rescorer.candidate_threshold:g}); keeps {kept}"
            + (f"; skipped {len(self.skipped)}" if self.skipped else "")
            + (f"; {self.not_reached} more left for the time limit" if self.not_reached else "")
        )


def fit_checkpoint_rescorer(
    checkpoint: str | os.PathLike,
    data_root: str | os.PathLike,
    out: str | os.PathLike,
    options: PredictorOptions = PredictorOptions(),
    candidate_threshold: float = CANDIDATE_THRESHOLD,
    target_fp_per_scan: float = TARGET_FP_PER_SCAN,
    max_cases: int | None = None,
    report: Callable[[str], None] = print,
    deadline: float | None = None,
    min_cases: int = 12,
) -> RescoringFit:
    """Fit the rescorer of ``checkpoint`` on the labelled cases of ``data_root``; write the checkpoint with it
    to ``out`` (may be ``checkpoint`` itself; written atomically). Cases that fail are skipped and named.

    With a ``deadline`` (Unix time), no case is started after it once ``min_cases`` have been segmented: the
    fit barely depends on the count (on one demo model, 12 to 48 training scans gave the same held-out
    sensitivity and false positives to within their scatter between draws of the same size)."""
    cases = [c for c in discover_cases(data_root) if c.seg is not None][:max_cases]
    if not cases:
        raise FapisegError(f"{data_root}: no cases with a reference mask (SEG.nii.gz) to fit on")
    predictor = Predictor.from_checkpoint(checkpoint, options=replace(options, rescore=False))
    features, labels, skipped = [], [], []
    for case in cases:
        if deadline is not None and len(features) >= min_cases and time.time() >= deadline:
            break
        try:
            images, probability = predictor.case_probability(case, seg="need")
        except CaseError as e:
            report(f"skipped {e}")
            skipped.append(case.name)
            continue
        pet = images.pet
        found = candidates(probability, pet.affine, candidate_threshold)
        features.append(candidate_features(found, probability, pet.array, images.ct.array, pet.affine))
        reference = label_components(images.seg.array > 0, LESION_CONNECTIVITY, pet.affine)
        labels.append(match_components(found, reference).pred_matched)  # the contract's detection rule
    scans = len(features)
    x, y = np.concatenate(features), np.concatenate(labels)
    try:
        rescorer = fit_rescorer(x, y, scans, candidate_threshold, target_fp_per_scan)
    except ValueError as e:
        raise FapisegError(f"{data_root}: cannot fit the false-positive reduction: {e}") from None
    ckpt = read_checkpoint(checkpoint)
    ckpt[CHECKPOINT_KEY] = rescorer.to_dict()
    with atomic_path(out) as tmp:
        torch.save(ckpt, tmp)
    return RescoringFit(
        rescorer, scans, int(y.sum()), int((~y).sum()), skipped, len(cases) - scans - len(skipped)
    )
