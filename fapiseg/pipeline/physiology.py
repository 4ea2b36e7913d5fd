"""Calls on physiological uptake: predicted lesions that sit on a hot organ and on no true lesion.

FAPI accumulates physiologically in the bladder and kidneys (excretion), the pancreas, the uterus and
degenerative joints; a reader must not call those lesions. On the phantom, where every voxel's organ is
known (``ORGANS.nii.gz``, legend in ``truth.json["organ_labels"]``), this is counted exactly: a predicted
lesion (26-connected) that shares no voxel with the reference mask and has a voxel in one of these organs
or touching one (the organ grown by one voxel, since the PET blurs organ uptake past its edge).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from fapiseg.data.cases import PRED_NAME, case_dir, find_cases
from fapiseg.errors import CaseError
from fapiseg.io.geometry import same_grid
from fapiseg.io.nifti import load_volume
from fapiseg.metrics.components import label_components

PHYSIOLOGICAL_ORGANS = ("bladder", "kidney", "joint", "pancreas", "uterus")
ORGANS_NAME = "ORGANS.nii.gz"


@dataclass
class PhysiologicalCalls:
    """Predicted lesions on physiological uptake, in total and per organ, over ``n_scans`` scans."""

    total: int = 0
    by_organ: Counter = field(default_factory=Counter)
    n_scans: int = 0

    def describe(self) -> str:
        organs = ", ".join(f"{organ} {n}" for organ, n in sorted(self.by_organ.items())) or "none"
        return f"{self.total} in {self.n_scans} scans ({organs})"


def count_physiological_calls(
    data_dir: str | Path, pred_dir: str | Path, organs: tuple[str, ...] = PHYSIOLOGICAL_ORGANS
) -> PhysiologicalCalls:
    """Count predicted lesions on the physiological ``organs`` over the phantom cohort ``data_dir``."""
    data_dir, pred_dir = Path(data_dir), Path(pred_dir)
    legend = json.loads((data_dir / "truth.json").read_text())["organ_labels"]
    wanted = {int(label): name for label, name in legend.items() if name in organs}
    result = PhysiologicalCalls()
    for case in find_cases(data_dir):
        organ_path, pred_path = (
            case.pet.parent / ORGANS_NAME,
            case_dir(pred_dir, case) / PRED_NAME,
        )
        if not (organ_path.exists() and pred_path.exists() and case.seg is not None):
            continue
        organ_map = load_volume(organ_path, case.name, dtype=np.int16)
        pred = load_volume(pred_path, case.name)
        ref = load_volume(case.seg, case.name)
        if not same_grid(pred.shape, pred.affine, organ_map.shape, organ_map.affine):
            raise CaseError(case.name, "PRED.nii.gz is not on the grid of ORGANS.nii.gz")
        result.n_scans += 1
        for organ in case_calls(organ_map.array, pred.array > 0.5, ref.array > 0.5, wanted):
            result.total += 1
            result.by_organ[organ] += 1
    return result


def case_calls(organ_map: np.ndarray, pred: np.ndarray, ref: np.ndarray, wanted: dict[int, str]) -> list[str]:
    """For each predicted lesion of one scan that is on a ``wanted`` organ and on no reference lesion,
    the organ's name (the organ it overlaps most after growing each organ by one voxel)."""
    lesions = label_components(pred, 26)
    names = []
    for lesion in lesions:
        voxels = lesion.crop(lesions.labels)
        if ref[lesion.bbox][voxels].any():
            continue
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in lesion.bbox)
        grown = {
            label: ndimage.binary_dilation(organ_map[box] == label, np.ones((3, 3, 3), bool))
            for label in wanted
        }
        inner = tuple(slice(s.start - b.start, s.stop - b.start) for s, b in zip(lesion.bbox, box))
        overlaps = {label: int(g[inner][voxels].sum()) for label, g in grown.items()}
        best = max(overlaps, key=overlaps.get, default=None)
        if best is not None and overlaps[best] > 0:
            names.append(wanted[best])
    return names
