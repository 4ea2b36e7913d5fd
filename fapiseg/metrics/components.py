"""Connected lesions of a mask: one labelling pass, then per-lesion bounding boxes, voxel counts, centroids.

Everything downstream (SUV statistics, diameters, matching) works on each lesion's bounding-box crop,
so the whole volume is read only a few times however many lesions there are. Lesions are
26-connected by default (the lesion table, detection); the autoPET segmentation metrics use 18.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np

from fapiseg.io.geometry import voxel_to_world

#: Neighbourhoods cc3d understands in 3-D: faces (6), + edges (18), + corners (26).
CONNECTIVITIES = (6, 18, 26)


@dataclass(frozen=True)
class Component:
    """One connected lesion: its value in the label image, size, bounding box and centre (voxel indices)."""

    label: int
    voxel_count: int
    bbox: tuple[slice, slice, slice]
    centroid_ijk: np.ndarray

    def crop(self, labels: np.ndarray) -> np.ndarray:
        """Boolean mask of this lesion inside its bounding box (shape of the box)."""
        return labels[self.bbox] == self.label


@dataclass
class Components:
    """The connected lesions of a mask, ordered by decreasing voxel count (lesion_id = position + 1).

    ``labels`` is cc3d's label image (0 = background); ``items[k].label`` is the value of lesion k+1 in it.
    Ties in size are broken by the world centroid (higher z, then y, then x first), so the order does not
    depend on how the image is stored.
    """

    labels: np.ndarray
    items: list[Component]
    connectivity: int

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


def label_components(
    mask: np.ndarray, connectivity: int = 26, affine: np.ndarray | None = None
) -> Components:
    """Label the connected components of ``mask`` (any dtype, lesion where > 0) and summarise each.

    ``affine`` only breaks ties in the size order (identity when omitted).
    """
    if connectivity not in CONNECTIVITIES:
        raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {connectivity}")
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"a 3-D mask is required, got shape {mask.shape}")
    binary = mask if mask.dtype == bool else mask > 0
    labels, n = cc3d.connected_components(binary, connectivity=connectivity, return_N=True)
    if n == 0:
        return Components(labels, [], connectivity)
    flat_index, order = _foreground(binary)
    label_of_voxel = np.ravel(labels, order=order)[flat_index]
    sort = np.argsort(label_of_voxel, kind="stable")
    label_of_voxel, flat_index = label_of_voxel[sort], flat_index[sort]
    starts = np.flatnonzero(np.r_[True, label_of_voxel[1:] != label_of_voxel[:-1]])
    counts = np.diff(np.r_[starts, label_of_voxel.size])
    ijk = np.unravel_index(flat_index, labels.shape, order=order)
    lo = np.stack([np.minimum.reduceat(a, starts) for a in ijk], axis=1)
    hi = np.stack([np.maximum.reduceat(a, starts) for a in ijk], axis=1) + 1
    centroid = (
        np.stack([np.add.reduceat(a.astype(np.float64), starts) for a in ijk], axis=1) / counts[:, None]
    )
    world = voxel_to_world(np.eye(4) if affine is None else affine, centroid).round(6)
    ranking = np.lexsort((-world[:, 0], -world[:, 1], -world[:, 2], -counts))
    items = [
        Component(
            int(label_of_voxel[starts[r]]),
            int(counts[r]),
            tuple(slice(int(a), int(b)) for a, b in zip(lo[r], hi[r])),
            centroid[r],
        )
        for r in ranking
    ]
    return Components(labels, items, connectivity)


def _foreground(binary: np.ndarray) -> tuple[np.ndarray, str]:
    """Flat positions of the True voxels of ``binary``, in its memory order (returned too: "C" or "F").

    Scans eight voxels at a time: on whole-body scans lesions are a tiny share of the voxels, so most
    64-bit words are zero and only the non-zero ones are unpacked.
    """
    order = "F" if binary.flags.f_contiguous and not binary.flags.c_contiguous else "C"
    flat = np.ravel(binary, order=order).view(np.uint8)
    n_words = flat.size // 8
    words = flat[: n_words * 8].view(np.uint64)
    candidates = (np.flatnonzero(words)[:, None] * 8 + np.arange(8)).ravel()
    candidates = np.r_[candidates, np.arange(n_words * 8, flat.size)]
    return candidates[flat[candidates] != 0], order
