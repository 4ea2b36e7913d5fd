"""Which organ region a lesion lies in: from a label map when one is given, else from the CT and position.

RECIST 1.1 needs it twice: lymph nodes are measured by their short axis (and are measurable from 15 mm),
and at most two target lesions come from one organ, where all lymph nodes count as one organ and paired
organs (both lungs, both breasts) as one (EORTC RECIST FAQ, "paired organs").

**Label map** (``REGIONS.nii.gz`` or ``ORGANS.nii.gz`` beside the PET, on its grid, integer labels;
names from a JSON file beside it with the same stem, ``{"1": "liver", ...}``, else from the
``organ_labels`` legend of the data folder's ``truth.json`` (the phantom's), else ``label_<n>``): the
most frequent non-zero label under the lesion, else in the one-voxel shell around it. Organ maps hold
no lymph-node stations, so a lesion in a generic tissue (:data:`GENERIC_TISSUES`: fat, muscle, soft
tissue, ...) gets its region from the CT rules below instead.

**From the CT** (no label map, or a generic tissue), on the grid's closest RAS orientation, first rule
that applies:

1. ``bone``: at least 30 % of the lesion's voxels at >= 150 HU, or half of its one-voxel shell (a lytic
   lesion inside bone);
2. ``lung``: half of its voxels inside the lungs (air spaces found as for the TBR reference, closed by
   6 mm and filled slice by slice, so nodules inside them count);
3. ``liver``: half of its voxels within 12 mm of the eroded liver core the TBR reference finds;
4. in the slices that hold lung: ``lymph_node`` (mediastinal or hilar) inside the rib cage (the convex
   hull of lung and bone in the lesion's slice); outside it, ``breast`` in front of the lungs' centre and
   within their left-right extent, ``lymph_node`` (axillary) lateral to that extent, else ``soft_tissue``;
5. up to 100 mm above the lung apices: ``lymph_node`` (supraclavicular, cervical);
6. anything else (abdomen, pelvis, or no lungs found): ``soft_tissue``.

This is a coarse anatomical rule for breast-cancer staging, not an organ segmentation: give a label map
(e.g. TotalSegmentator organs plus lymph-node stations) when regions matter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from fapiseg.io.geometry import same_grid
from fapiseg.io.nifti import Volume, load_volume
from fapiseg.metrics.background import _liver_voi, _RasImages
from fapiseg.metrics.components import Components

REGION_MAP_NAMES = ("REGIONS.nii.gz", "ORGANS.nii.gz")
#: Label-map names that say where a lesion is in the body but not in which organ.
GENERIC_TISSUES = frozenset(
    {
        "fat",
        "muscle",
        "soft_tissue",
        "soft tissue",
        "skin",
        "subcutaneous_fat",
        "connective_tissue",
        "body",
        "unknown",
    }
)
BONE_HU = 150.0
LUNG_CLOSING_MM = 6.0
LIVER_MARGIN_MM = 12.0
NECK_MM = 100.0


def is_nodal(region: str) -> bool:
    """Whether a region name is a lymph node (station): RECIST measures nodes by their short axis."""
    return "node" in region.lower() or "lymph" in region.lower()


def organ_of(region: str) -> str:
    """The RECIST organ of a region: all lymph nodes are one organ, and so are paired organs' sides and
    the parts of the skeleton."""
    if is_nodal(region):
        return "lymph_node"
    if "bone" in region.lower():
        return "bone"
    words = [w for w in re.split(r"[\s_\-]+", region.lower()) if w not in {"left", "right", "l", "r"}]
    return "_".join(words) or region.lower()


@dataclass(frozen=True)
class RegionCall:
    """A lesion's region and where it came from (``label map`` or ``CT``)."""

    region: str
    source: str


def lesion_regions(
    lesions: Components,
    affine: np.ndarray,
    ct: np.ndarray | None = None,
    region_map: np.ndarray | None = None,
    names: Mapping[int, str] | None = None,
) -> list[RegionCall]:
    """The region of each lesion (in lesion order): from ``region_map`` when given and specific, else
    from ``ct`` (``unknown`` without either)."""
    if not len(lesions):
        return []
    from_map = regions_from_label_map(lesions, region_map, names or {}) if region_map is not None else None
    if from_map is not None and not any(r.lower() in GENERIC_TISSUES for r in from_map):
        return [RegionCall(r, "label map") for r in from_map]
    from_ct = regions_from_ct(lesions, ct, affine) if ct is not None else ["unknown"] * len(lesions)
    if from_map is None:
        return [RegionCall(r, "CT" if ct is not None else "none") for r in from_ct]
    return [
        RegionCall(c, "CT") if m.lower() in GENERIC_TISSUES and ct is not None else RegionCall(m, "label map")
        for m, c in zip(from_map, from_ct)
    ]


def regions_from_label_map(
    lesions: Components, region_map: np.ndarray, names: Mapping[int, str]
) -> list[str]:
    """The most frequent non-zero label under each lesion (else in its one-voxel shell), by name."""
    region_map = np.asarray(region_map)
    out = []
    for lesion in lesions:
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in lesion.bbox)
        inside = lesions.labels[box] == lesion.label
        labels = region_map[box]
        found = _most_frequent(labels[inside])
        if found is None:
            found = _most_frequent(labels[ndimage.binary_dilation(inside) & ~inside])
        out.append("unknown" if found is None else names.get(found, f"label_{found}"))
    return out


def regions_from_ct(lesions: Components, ct: np.ndarray, affine: np.ndarray) -> list[str]:
    """Regions by the CT rules of the module docstring."""
    ornt = nib.orientations.io_orientation(affine)
    labels = nib.orientations.apply_orientation(lesions.labels, ornt)
    ras = _RasImages(
        np.ascontiguousarray(nib.orientations.apply_orientation(ct, ornt)),
        np.sqrt((np.asarray(affine, float)[:3, :3] ** 2).sum(axis=0))[ornt[:, 0].argsort()],
        labels > 0,
    )
    anatomy = _Anatomy(ras)
    boxes = ndimage.find_objects(labels)
    return [anatomy.classify(labels[boxes[c.label - 1]] == c.label, boxes[c.label - 1]) for c in lesions]


class _Anatomy:
    """Lungs, bone, liver and the rib cage of one CT (RAS view), computed once for all its lesions."""

    def __init__(self, ras: _RasImages) -> None:
        self.ct = ras.ct
        self.spacing = ras.spacing
        self.bone = ras.ct >= BONE_HU
        self.lungs = self._filled_lungs(ras.lungs)
        liver = _liver_voi(ras) if self.lungs is not None else None
        self.liver = None
        if liver is not None:
            self.liver = ndimage.distance_transform_edt(~liver, sampling=self.spacing) <= LIVER_MARGIN_MM
        self.lung_slices = np.flatnonzero(self.lungs.any(axis=(0, 1))) if self.lungs is not None else None

    def _filled_lungs(self, lungs: np.ndarray | None) -> np.ndarray | None:
        if lungs is None:
            return None
        radius = np.maximum(np.round(LUNG_CLOSING_MM / self.spacing).astype(int), 1)
        found = np.argwhere(lungs)
        box = tuple(slice(max(a - r, 0), b + r + 1) for a, b, r in zip(found.min(0), found.max(0), radius))
        closed = ndimage.binary_closing(lungs[box], structure=np.ones(2 * radius + 1, bool)) | lungs[box]
        for z in range(closed.shape[2]):
            closed[:, :, z] = ndimage.binary_fill_holes(closed[:, :, z])
        filled = np.zeros_like(lungs)
        filled[box] = closed
        return filled

    def classify(self, inside: np.ndarray, box: tuple[slice, ...]) -> str:
        """The region of the lesion ``inside`` (boolean crop of the RAS volume at ``box``)."""
        grown = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        big = np.zeros([g.stop - g.start for g in grown], bool)
        big[tuple(slice(b.start - g.start, b.stop - g.start) for b, g in zip(box, grown))] = inside
        shell = ndimage.binary_dilation(big) & ~big
        bone = self.bone[grown]
        if bone[big].mean() >= 0.3 or (shell.any() and bone[shell].mean() >= 0.5):
            return "bone"
        if self.lungs is not None and self.lungs[grown][big].mean() >= 0.5:
            return "lung"
        if self.liver is not None and self.liver[grown][big].mean() >= 0.5:
            return "liver"
        if self.lung_slices is None or not len(self.lung_slices):
            return "soft_tissue"
        centre = np.argwhere(big).mean(axis=0) + [g.start for g in grown]
        z = round(centre[2])
        z_low, z_high = self.lung_slices[0], self.lung_slices[-1]
        if z > z_high:
            return "lymph_node" if (z - z_high) * self.spacing[2] <= NECK_MM else "soft_tissue"
        if z < z_low:
            return "soft_tissue"
        return self._thoracic(centre, z)

    def _thoracic(self, centre: np.ndarray, z: int) -> str:
        lung_xy = np.argwhere(self.lungs[:, :, z])
        if not len(lung_xy):
            return "soft_tissue"
        cage = np.concatenate([lung_xy, np.argwhere(self.bone[:, :, z])])
        try:
            facets = ConvexHull(cage).equations  # inside: normal . x + offset <= 0 for every facet
            inside_cage = bool(np.all(facets[:, :2] @ centre[:2] + facets[:, 2] <= 0))
        except QhullError:
            inside_cage = False
        if inside_cage:
            return "lymph_node"
        x_low, x_high = lung_xy[:, 0].min(), lung_xy[:, 0].max()
        if x_low <= centre[0] <= x_high:
            return "breast" if centre[1] > lung_xy[:, 1].mean() else "soft_tissue"
        return "lymph_node"


def _most_frequent(values: np.ndarray) -> int | None:
    values = np.rint(values[values > 0]).astype(np.int64)
    if not values.size:
        return None
    found, counts = np.unique(values, return_counts=True)
    return int(found[np.argmax(counts)])


def find_region_map(
    study_dir: Path, pet: Volume, case: str, data_root: Path | None = None
) -> tuple[np.ndarray | None, dict[int, str]]:
    """A study's region label map (REGIONS.nii.gz, else ORGANS.nii.gz in ``study_dir``) and its names
    (beside it, else ``data_root/truth.json``'s ``organ_labels``).

    Returns ``(None, {})`` when there is none; raises CaseError when it is not on the PET grid.
    """
    from fapiseg.errors import CaseError

    for candidate in (study_dir / name for name in REGION_MAP_NAMES):
        if not candidate.exists():
            continue
        volume = load_volume(candidate, case)
        if not same_grid(volume.shape, volume.affine, pet.shape, pet.affine):
            raise CaseError(case, f"{candidate.name} is not on the PET grid")
        return np.rint(volume.array).astype(np.int32), _region_names(candidate, case, data_root)
    return None, {}


def _region_names(label_map: Path, case: str, data_root: Path | None) -> dict[int, str]:
    """Names from ``<stem>.json`` beside the label map (``{"1": "liver"}``), else from the data folder's
    ``truth.json`` (``organ_labels``), else none."""
    from fapiseg.errors import CaseError

    sidecar = label_map.with_name(label_map.name.split(".")[0] + ".json")
    try:
        if sidecar.exists():
            return {int(k): str(v) for k, v in json.loads(sidecar.read_text()).items()}
        truth = None if data_root is None else Path(data_root) / "truth.json"
        if truth is not None and truth.exists():
            legend = json.loads(truth.read_text()).get("organ_labels", {})
            return {int(k): str(v) for k, v in legend.items()}
    except (ValueError, AttributeError) as e:
        raise CaseError(case, f"cannot read the names of {label_map.name}: {e}") from None
    return {}
