"""Maximum-intensity projections of PET in world orientation, with mask outlines, as matplotlib figures.

The volume is first turned to its closest RAS orientation through the affine (flips and axis swaps,
so any storage order gives the same picture; an oblique grid is shown on its nearest axes). The views
are those a nuclear-medicine reader expects:

- coronal: seen from the front, head up, the patient's right on the image's left (radiological);
- sagittal: seen from the patient's left, head up, anterior on the image's left.

Pixels are drawn in millimetres, so the aspect ratio is the patient's whatever the voxel size.
Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state, safe in any process).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from nibabel.orientations import apply_orientation, io_orientation

from fapiseg.io.geometry import spacing_mm, world_to_voxel

VIEWS = ("coronal", "sagittal")
#: Labels of the image's left and right edges in each view.
EDGE_LABELS = {"coronal": ("R", "L"), "sagittal": ("A", "P")}
#: Default display window, SUV: FAPI background is low, so 0-10 shows lesions and organs alike.
DEFAULT_SUV_WINDOW = (0.0, 10.0)


@dataclass
class Outline:
    """A mask to outline on the MIPs (same grid as the PET), with its legend label and colour."""

    mask: np.ndarray
    label: str
    color: str = "tab:red"
    linewidth: float = 1.0


@dataclass
class Marker:
    """A text label (e.g. a lesion number) drawn at a world point (RAS+, mm) on every view."""

    text: str
    xyz_mm: tuple[float, float, float]
    color: str = "tab:red"


@dataclass
class MipImage:
    """A projection ready to display: ``pixels[row, col]``, row 0 at the top (superior), and the pixel
    size in mm along rows (``row_mm``, vertical) and columns (``col_mm``, horizontal)."""

    pixels: np.ndarray
    row_mm: float
    col_mm: float

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """matplotlib ``imshow`` extent (left, right, bottom, top) in mm, origin at the top left."""
        rows, cols = self.pixels.shape
        return (0.0, cols * self.col_mm, rows * self.row_mm, 0.0)


def to_ras(volume: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The volume reordered to its closest RAS orientation (a view, no copy) and its voxel sizes (mm)."""
    ornt = io_orientation(np.asarray(affine, float))
    ras = apply_orientation(np.asarray(volume), ornt)
    spacing = np.empty(3)
    spacing[ornt[:, 0].astype(int)] = spacing_mm(affine)
    return ras, spacing


def display_position(affine: np.ndarray, shape: tuple, view: str, xyz_mm) -> tuple[float, float]:
    """Where a world point (RAS+, mm) appears on :func:`mip_image`'s picture: (horizontal, vertical) mm
    from the top-left corner, in the coordinates of :attr:`MipImage.extent`."""
    ornt = io_orientation(np.asarray(affine, float))
    ijk = world_to_voxel(affine, np.asarray(xyz_mm, float))
    ras_index, ras_size, spacing = np.empty(3), np.empty(3), np.empty(3)
    for axis, (target, flip) in enumerate(ornt.astype(int)):
        ras_index[target] = ijk[axis] if flip == 1 else shape[axis] - 1 - ijk[axis]
        ras_size[target] = shape[axis]
        spacing[target] = spacing_mm(affine)[axis]
    across = 0 if view == "coronal" else 1
    col = ras_size[across] - 1 - ras_index[across]
    row = ras_size[2] - 1 - ras_index[2]
    return float((col + 0.5) * spacing[across]), float((row + 0.5) * spacing[2])


def mip_image(volume: np.ndarray, affine: np.ndarray, view: str, reduce: str = "max") -> MipImage:
    """Project ``volume`` (i, j, k on ``affine``) for display in ``view`` ("coronal" or "sagittal").

    ``reduce`` is "max" (a MIP) or "any" (a mask's shadow, for outlines).
    """
    if view not in VIEWS:
        raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
    ras, (sx, sy, sz) = to_ras(volume, affine)
    axis = 1 if view == "coronal" else 0  # project along anterior-posterior, or left-right
    projected = ras.any(axis=axis) if reduce == "any" else ras.max(axis=axis)
    # projected is (x or y, z); show z top-down and the first axis from its high end (R, or A) leftwards.
    pixels = np.ascontiguousarray(projected[::-1, ::-1].T)
    return MipImage(pixels, row_mm=float(sz), col_mm=float(sx if view == "coronal" else sy))


def draw_mip(
    ax,
    pet: np.ndarray,
    affine: np.ndarray,
    view: str,
    outlines: Sequence[Outline] = (),
    suv_window: tuple[float, float] = DEFAULT_SUV_WINDOW,
    edge_labels: bool = True,
    markers: Sequence[Marker] = (),
) -> None:
    """Draw the ``view`` MIP of ``pet`` (SUV) into ``ax``, black uptake on white, with mask outlines
    and text markers (e.g. lesion numbers beside their lesions)."""
    image = mip_image(pet, affine, view)
    ax.imshow(
        image.pixels,
        cmap="gray_r",
        vmin=suv_window[0],
        vmax=suv_window[1],
        extent=image.extent,
        interpolation="antialiased",
    )
    rows, cols = image.pixels.shape
    x = (np.arange(cols) + 0.5) * image.col_mm
    y = (np.arange(rows) + 0.5) * image.row_mm
    for outline in outlines:
        if outline.mask.shape != pet.shape:
            raise ValueError(f"outline {outline.label!r} has shape {outline.mask.shape}, the PET {pet.shape}")
        shadow = mip_image(outline.mask > 0, affine, view, reduce="any").pixels
        if shadow.any():
            ax.contour(
                x,
                y,
                shadow.astype(np.float32),
                levels=[0.5],
                colors=[outline.color],
                linewidths=outline.linewidth,
            )
    for marker in markers:
        h, v = display_position(affine, pet.shape, view, marker.xyz_mm)
        ax.annotate(
            marker.text,
            (h, v),
            xytext=(6, 3),
            textcoords="offset points",
            fontsize=7,
            color=marker.color,
            fontweight="bold",
        )
    ax.set_xlim(image.extent[0], image.extent[1])
    ax.set_ylim(image.extent[2], image.extent[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(view, fontsize=9)
    if edge_labels:
        left, right = EDGE_LABELS[view]
        for text, xpos, align in ((left, 0.02, "left"), (right, 0.98, "right")):
            ax.text(
                xpos, 0.98, text, transform=ax.transAxes, ha=align, va="top", fontsize=9, color="tab:blue"
            )


def mip_figure(
    pet: np.ndarray,
    affine: np.ndarray,
    outlines: Sequence[Outline] = (),
    title: str = "",
    views: Sequence[str] = VIEWS,
    suv_window: tuple[float, float] = DEFAULT_SUV_WINDOW,
    height_in: float = 5.0,
    markers: Sequence[Marker] = (),
) -> Figure:
    """A figure with the ``views`` MIPs of ``pet`` side by side, panel widths in true proportion.

    ``outlines`` are drawn on every view and named in a legend below; ``markers`` label world points.
    The figure is ``height_in`` inches tall; its width follows the patient's proportions.
    """
    images = [mip_image(pet, affine, v) for v in views]
    widths = [im.extent[1] for im in images]
    height_mm = images[0].extent[2]
    fig = Figure(figsize=(max(height_in * sum(widths) / height_mm + 0.4, 2.5), height_in + 0.6), dpi=100)
    axes = fig.subplots(1, len(views), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    for ax, view in zip(axes, views):
        draw_mip(ax, pet, affine, view, outlines, suv_window, markers=markers)
    handles = [Line2D([], [], color=o.color, linewidth=o.linewidth, label=o.label) for o in outlines]
    handles.append(Line2D([], [], color="none", label=f"SUV {suv_window[0]:g}-{suv_window[1]:g}"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9 if title else 0.95, bottom=0.08, wspace=0.05)
    return fig
