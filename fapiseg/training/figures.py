"""Validation figures: a coronal PET maximum-intensity projection with reference and predicted outlines.

A minimal figure for MLflow while training; the report's MIPs live in :mod:`fapiseg.reports`.
Input arrays are on a RAS grid, as the pipelines produce them: axis 0 runs to the patient's right, shown
on the viewer's left (radiological convention); axis 2 runs up.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fapiseg.io.geometry import spacing_mm  # noqa: E402


def coronal_mip_figure(pet: np.ndarray, ref: np.ndarray, pred: np.ndarray, affine: np.ndarray, title: str):
    """A matplotlib Figure: inverted-grey coronal MIP of ``pet`` with ``ref`` (green) and ``pred`` (red) outlines."""
    sx, _, sz = spacing_mm(affine)
    mip = pet.max(axis=1).T
    fig, ax = plt.subplots(figsize=(3.2, 3.2 * mip.shape[0] * sz / max(mip.shape[1] * sx, 1e-6) + 0.4), dpi=100)
    extent = (0, mip.shape[1] * sx, 0, mip.shape[0] * sz)
    ax.imshow(mip, cmap="gray_r", origin="lower", extent=extent, vmin=0, vmax=float(np.percentile(mip, 99.5)) or 1)
    for mask, colour in ((ref, "lime"), (pred, "red")):
        proj = mask.max(axis=1).T.astype(float)
        if proj.any():
            ax.contour(proj, levels=[0.5], colors=colour, linewidths=0.8, origin="lower", extent=extent)
    ax.invert_xaxis()
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig
