"""Free-response ROC: lesion sensitivity against false positives per scan as the lesion score threshold falls.

Each predicted lesion has a score (the false-positive reduction's detection score, else its mean
probability when a probability map is given, else its SUVmax; :func:`fapiseg.metrics.cohort.froc`).
Keeping only predicted lesions with score >= t, a reference lesion is detected when a kept lesion
matches it, so its detection score is the highest score among the predicted lesions that match it;
false positives are the kept predicted lesions that match no reference lesion.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fapiseg.io.nifti import atomic_path

FROC_COLUMNS = ["threshold", "sensitivity", "fp_per_scan", "detected", "false_positives"]


def froc_curve(
    detection_scores: Sequence[float], false_positive_scores: Sequence[float], n_scans: int
) -> pd.DataFrame:
    """The FROC operating points, from the strictest threshold (+inf: nothing kept) to the loosest.

    ``detection_scores`` has one entry per reference lesion (NaN when no predicted lesion matches it);
    ``false_positive_scores`` one per predicted lesion that matches no reference lesion.
    """
    detected = np.sort(np.asarray(detection_scores, float)[~np.isnan(detection_scores)])
    false_pos = np.sort(np.asarray(false_positive_scores, float))
    n_ref = len(detection_scores)
    thresholds = np.r_[np.inf, np.unique(np.r_[detected, false_pos])[::-1]]
    n_detected = detected.size - np.searchsorted(detected, thresholds, side="left")
    n_false = false_pos.size - np.searchsorted(false_pos, thresholds, side="left")
    return pd.DataFrame(
        {
            "threshold": thresholds,
            "sensitivity": n_detected / n_ref if n_ref else np.nan,
            "fp_per_scan": n_false / n_scans if n_scans else np.nan,
            "detected": n_detected,
            "false_positives": n_false,
        },
        columns=FROC_COLUMNS,
    )


def write_froc(curve: pd.DataFrame, csv_path: str | Path, png_path: str | Path, score_name: str) -> None:
    """Write the curve as CSV and as a step plot (PNG), each atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_path(csv_path) as tmp:
        curve.to_csv(tmp, index=False, float_format="%.10g")
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.step(curve["fp_per_scan"], curve["sensitivity"], where="post", marker=".", color="tab:red")
    ax.set_xlabel("false positives per scan")
    ax.set_ylabel("lesion sensitivity")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(left=0)
    ax.set_title(f"FROC (lesion score: {score_name})")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
