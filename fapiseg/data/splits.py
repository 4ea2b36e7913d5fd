"""Patient-level k-fold splits: a patient's studies are never split across folds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fapiseg.data.cases import Case


def patient_folds(patients: Sequence[str], n_folds: int, seed: int = 0) -> list[list[str]]:
    """Shuffle the unique patients with ``seed`` and deal them into ``n_folds`` folds of near-equal size.

    The result depends only on the set of patients and the seed, not on their order.
    """
    unique = sorted(set(patients))
    if n_folds < 2:
        raise ValueError(f"n_folds must be at least 2, got {n_folds}")
    if len(unique) < n_folds:
        raise ValueError(f"{len(unique)} patients cannot fill {n_folds} folds")
    order = np.random.default_rng(seed).permutation(len(unique))
    return [sorted(unique[i] for i in order[f::n_folds]) for f in range(n_folds)]


def split_cases(cases: Sequence[Case], fold: int, n_folds: int, seed: int = 0) -> tuple[list[Case], list[Case]]:
    """(training, validation) cases for ``fold``: validation holds every study of the fold's patients."""
    folds = patient_folds([c.patient for c in cases], n_folds, seed)
    if not 0 <= fold < n_folds:
        raise ValueError(f"fold must be in 0..{n_folds - 1}, got {fold}")
    held_out = set(folds[fold])
    return [c for c in cases if c.patient not in held_out], [c for c in cases if c.patient in held_out]
