"""A tiny synthetic PET/CT cohort for the training tests: hot spheres in a noisy body, in the autoPET layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import write_nifti


def write_cohort(
    root: Path, patients: int = 5, shape=(32, 32, 32), spacing=(4.0, 4.0, 4.0), seed: int = 0
) -> Path:
    """``root/pNN/t0/{SUV,CTres,SEG}.nii.gz``: a body ellipsoid (CT 40 HU, SUV ~1), a hot "bladder" without
    a lesion label and 1-2 labelled lesions (SUV 6-12) per patient. Stored LPS-like (two flipped axes)."""
    rng = np.random.default_rng(seed)
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(float)
    centre = (np.array(shape) - 1) / 2
    body = (((grid - centre) / (np.array(shape) * 0.42)) ** 2).sum(-1) <= 1
    for p in range(patients):
        suv = np.where(body, 1.0, 0.05) + rng.normal(0, 0.1, shape)
        ct = np.where(body, 40.0, -1000.0) + rng.normal(0, 10, shape)
        seg = np.zeros(shape, np.uint8)
        bladder = np.linalg.norm(grid - (centre + [0, 0, -shape[2] * 0.3]), axis=-1) <= 3
        suv[bladder] = 15.0
        for _ in range(1 + p % 2):
            c = rng.uniform(0.3, 0.7, 3) * np.array(shape)
            lesion = np.linalg.norm(grid - c, axis=-1) <= rng.uniform(2.0, 3.5)
            suv[lesion] = rng.uniform(6, 12)
            seg[lesion] = 1
        d = root / f"p{p:02d}" / "t0"
        write_nifti(d / "SUV.nii.gz", np.clip(suv, 0, None).astype(np.float32), affine)
        write_nifti(d / "CTres.nii.gz", ct.astype(np.float32), affine)
        write_nifti(d / "SEG.nii.gz", seg, affine)
    return root
