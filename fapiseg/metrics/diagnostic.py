"""Scan-level (and region-level) diagnostic accuracy with 95 % Wilson score intervals.

A unit (a scan, or a region of a scan) is positive when its reference holds a lesion and called
positive when the prediction holds one. Sensitivity = TP / (TP + FN), specificity = TN / (TN + FP),
PPV = TP / (TP + FP), NPV = TN / (TN + FN), accuracy = (TP + TN) / all. Each comes with its Wilson
score interval (Wilson 1927; Newcombe 1998, method 3)::

    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)

with p = k / n and z the standard normal quantile (1.95996 for 95 %). At k = 0 the interval is
[0, z^2 / (n + z^2)], at k = n it is [n / (n + z^2), 1]. With n = 0 the value and interval are None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import norm

from fapiseg.errors import FapisegError


@dataclass(frozen=True)
class Proportion:
    """k of n, its value k / n and Wilson interval; all three None when n is 0."""

    k: int
    n: int
    value: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict:
        """The contract's form: ``{"value", "ci_low", "ci_high", "n"}``."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


@dataclass(frozen=True)
class DiagnosticAccuracy:
    """Counts of a 2 x 2 table and the five proportions derived from it."""

    tp: int
    fp: int
    tn: int
    fn: int
    confidence: float = 0.95

    @property
    def sensitivity(self) -> Proportion:
        return proportion(self.tp, self.tp + self.fn, self.confidence)

    @property
    def specificity(self) -> Proportion:
        return proportion(self.tn, self.tn + self.fp, self.confidence)

    @property
    def ppv(self) -> Proportion:
        return proportion(self.tp, self.tp + self.fp, self.confidence)

    @property
    def npv(self) -> Proportion:
        return proportion(self.tn, self.tn + self.fn, self.confidence)

    @property
    def accuracy(self) -> Proportion:
        return proportion(self.tp + self.tn, self.tp + self.fp + self.tn + self.fn, self.confidence)

    def as_dict(self) -> dict:
        """``{"sensitivity": {...}, "specificity", "ppv", "npv", "accuracy"}``, as the contract names them."""
        return {
            name: getattr(self, name).as_dict()
            for name in ("sensitivity", "specificity", "ppv", "npv", "accuracy")
        }

    def counts(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn}


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion k / n (n > 0)."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    z = float(norm.ppf(0.5 + confidence / 2))
    z2 = z * z
    if k == 0:
        return 0.0, z2 / (n + z2)
    if k == n:
        return n / (n + z2), 1.0
    p = k / n
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return centre - half, centre + half


def proportion(k: int, n: int, confidence: float = 0.95) -> Proportion:
    """k / n with its Wilson interval; None for all three when n is 0."""
    if n == 0:
        return Proportion(k, n, None, None, None)
    low, high = wilson_interval(k, n, confidence)
    return Proportion(int(k), int(n), k / n, low, high)


def diagnostic_accuracy(
    reference_positive: Sequence[bool], called_positive: Sequence[bool], confidence: float = 0.95
) -> DiagnosticAccuracy:
    """The 2 x 2 table of reference against call, one pair of booleans per scan (or region)."""
    ref = np.asarray(reference_positive, bool)
    called = np.asarray(called_positive, bool)
    if ref.shape != called.shape:
        raise ValueError(f"{ref.size} reference values but {called.size} calls")
    return DiagnosticAccuracy(
        int(np.sum(ref & called)),
        int(np.sum(~ref & called)),
        int(np.sum(~ref & ~called)),
        int(np.sum(ref & ~called)),
        confidence,
    )


def read_reference_csv(path: str | Path) -> pd.DataFrame:
    """A reference standard: columns ``case``, ``positive`` (0/1) and optionally ``region`` (integer label).

    One row per scan, or per scan and region. Returns the table with ``positive`` as bool.
    """
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"case": str})
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise FapisegError(f"{path}: cannot read the reference CSV ({e})") from None
    missing = [c for c in ("case", "positive") if c not in table.columns]
    if missing:
        raise FapisegError(
            f"{path}: the reference CSV needs columns case, positive (and optionally region); "
            f"missing {missing}"
        )
    if not table["positive"].isin([0, 1]).all():
        raise FapisegError(f"{path}: column positive must hold 0 or 1")
    keys = ["case", "region"] if "region" in table.columns else ["case"]
    if "region" in table.columns and not pd.api.types.is_integer_dtype(table["region"]):
        raise FapisegError(f"{path}: column region must hold integer labels (the values of REGIONS.nii.gz)")
    if table.duplicated(keys).any():
        raise FapisegError(
            f"{path}: duplicate rows for {table[table.duplicated(keys)][keys].iloc[0].tolist()}"
        )
    return table.assign(positive=table["positive"].astype(bool))[keys + ["positive"]]
