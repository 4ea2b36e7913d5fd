"""A tiny reference cohort with predictions, including bad cases, for the evaluation tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import write_nifti

AFFINE = np.array([[-2.5, 0, 0, 50.0], [0, -2.0, 0, 30.0], [0, 0, 3.0, -40.0], [0, 0, 0, 1]])
VOXEL_ML = 0.015
SHAPE = (24, 20, 16)


def _box(a, b, c):
    mask = np.zeros(SHAPE, np.uint8)
    mask[a, b, c] = 1
    return mask


LESION_A = _box(slice(3, 6), slice(3, 6), slice(3, 6))  # 27 voxels
LESION_B = _box(slice(15, 17), slice(12, 14), slice(10, 12))  # 8 voxels
LESION_C = _box(slice(18, 20), slice(2, 4), slice(12, 14))  # 8 voxels, where no reference lesion is


def write_study(
    root: Path,
    name: str,
    seg: np.ndarray | None,
    pred: np.ndarray | None = None,
    pred_root: Path | None = None,
    seed: int = 0,
) -> None:
    rng = np.random.default_rng(seed)
    suv = rng.uniform(0.5, 1.5, SHAPE).astype(np.float32)
    if seg is not None:
        suv[seg > 0] = 6.0
    if pred is not None:
        suv[pred > 0] = np.maximum(suv[pred > 0], 3.0)
    d = root / name
    write_nifti(d / "SUV.nii.gz", suv, AFFINE)
    write_nifti(d / "CTres.nii.gz", np.full(SHAPE, 40.0, np.float32), AFFINE)
    if seg is not None:
        write_nifti(d / "SEG.nii.gz", seg, AFFINE)
    if pred is not None:
        write_nifti(pred_root / name / "PRED.nii.gz", pred, AFFINE)


def make_cohort(tmp_path: Path) -> tuple[Path, Path]:
    """Three good cases and three bad ones; returns (data, predictions).

    p1/t0: one lesion, found exactly. p1/t1: lesions A and B; the prediction finds A and adds C.
    p2/t0: no lesion, none predicted. p3/t0: prediction missing. p4/t0: prediction on another grid.
    p5/t0: prediction file truncated.
    """
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_study(data, "p1/t0", LESION_A, LESION_A, pred)
    write_study(data, "p1/t1", LESION_A | LESION_B, LESION_A | LESION_C, pred, seed=1)
    write_study(data, "p2/t0", np.zeros(SHAPE, np.uint8), np.zeros(SHAPE, np.uint8), pred, seed=2)
    write_study(data, "p3/t0", LESION_A)
    write_study(data, "p4/t0", LESION_A, LESION_A, pred)
    write_nifti(pred / "p4/t0/PRED.nii.gz", LESION_A[:-1], AFFINE)
    write_study(data, "p5/t0", LESION_A, LESION_A, pred)
    path = pred / "p5/t0/PRED.nii.gz"
    path.write_bytes(path.read_bytes()[:100])
    return data, pred
