"""Response figures: per-lesion trajectories, baseline and follow-up MIPs side by side, a waterfall plot.

Figures are :class:`matplotlib.figure.Figure` objects (no pyplot state); the MIPs are drawn by
:func:`fapiseg.reports.mip.draw_mip`, so they share the demo report's orientation and outlines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fapiseg.reports.mip import Marker, Outline, draw_mip, mip_image

#: Colours of the response categories (RECIST and PERCIST share them by meaning).
CATEGORY_COLOURS = {
    "CR": "tab:blue",
    "CMR": "tab:blue",
    "PR": "tab:green",
    "PMR": "tab:green",
    "SD": "tab:gray",
    "SMD": "tab:gray",
    "non-CR/non-PD": "tab:gray",
    "PD": "tab:red",
    "PMD": "tab:red",
}


def trajectory_figure(changes: pd.DataFrame, studies: Sequence[str], targets: Sequence[int] = ()) -> Figure:
    """SUVmax and volume of every lesion track over the studies (changes.csv rows).

    Targets are drawn solid, other lesions dashed; a track is drawn from its first study on, and a lesion
    that has gone shows volume 0 and no SUVmax.
    """
    fig = Figure(figsize=(9.0, 3.6), dpi=100)
    axes = fig.subplots(1, 2)
    x_of = {s: i for i, s in enumerate(studies)}
    for track_id, rows in changes.groupby("track_id"):
        x = rows["study"].map(x_of).to_numpy()
        style = "-" if track_id in set(targets) else "--"
        line = axes[0].plot(x, rows["suv_max"], style, marker="o", ms=4, label=f"{track_id}")[0]
        axes[1].plot(x, rows["volume_ml"], style, marker="o", ms=4, color=line.get_color())
    for ax, label in zip(axes, ("SUVmax", "volume (mL)")):
        ax.set_xticks(range(len(studies)), list(studies))
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(title="track", fontsize=7, title_fontsize=7, ncol=2, frameon=False)
    fig.suptitle("lesion trajectories (solid: RECIST targets)", fontsize=10)
    fig.tight_layout()
    return fig


@dataclass
class StudyImage:
    """One study to show: its name, PET (SUV) with affine, lesion mask, response label and the track id
    to write beside each lesion, ``(track_id, world centroid)``."""

    study: str
    suv: np.ndarray
    affine: np.ndarray
    mask: np.ndarray
    label: str = ""
    tracks: Sequence[tuple[int, np.ndarray]] = ()


def mip_comparison_figure(images: Sequence[StudyImage], height_in: float = 4.5) -> Figure:
    """Coronal MIPs of the studies side by side with their lesion outlines, baseline first."""
    widths = [mip_image(i.suv, i.affine, "coronal").extent[1] for i in images]
    heights = [mip_image(i.suv, i.affine, "coronal").extent[2] for i in images]
    aspect = sum(widths) / max(heights)
    fig = Figure(figsize=(max(height_in * aspect + 0.4, 3.0), height_in + 0.5), dpi=100)
    axes = fig.subplots(1, len(images), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    for ax, image in zip(axes, images):
        markers = [Marker(str(track_id), tuple(xyz)) for track_id, xyz in image.tracks]
        draw_mip(ax, image.suv, image.affine, "coronal", [Outline(image.mask, "lesions")], markers=markers)
        ax.set_title(f"{image.study}  {image.label}".strip(), fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02, wspace=0.05)
    return fig


def waterfall_figure(
    best: pd.DataFrame,
    column: str = "best_sum_diameters_change_pct",
    category: str = "best_recist",
    title: str = "best RECIST response",
) -> Figure:
    """Bars of each patient's best change (``column``, %) sorted from worst to best, coloured by
    ``category``; the RECIST PD (+20 %) and PR (-30 %) lines for reference."""
    rows = best.dropna(subset=[column]).sort_values(column, ascending=False)
    fig = Figure(figsize=(max(4.0, 0.35 * len(rows) + 2.0), 3.4), dpi=100)
    ax = fig.subplots()
    colours = [CATEGORY_COLOURS.get(c, "tab:purple") for c in rows[category]]
    ax.bar(np.arange(len(rows)), rows[column], color=colours)
    ax.axhline(20, color="tab:red", lw=0.8, ls=":")
    ax.axhline(-30, color="tab:green", lw=0.8, ls=":")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(np.arange(len(rows)), rows["patient"], rotation=90, fontsize=7)
    ax.set_ylabel("change from baseline (%)")
    ax.set_title(title, fontsize=10)
    for name in dict.fromkeys(rows[category]):
        ax.bar([np.nan], [np.nan], color=CATEGORY_COLOURS.get(name, "tab:purple"), label=name)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
