"""Shared fixtures: small generated images and the location of the real test scans."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    """Save a test image (no atomic write needed here; tests own their folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(array), np.asarray(affine, float)), str(path))
    return path


@pytest.fixture
def aniso_affine() -> np.ndarray:
    """An anisotropic grid with two flipped axes (LPS-like storage), as scanners write them."""
    return np.array([[-2.5, 0, 0, 50.0], [0, -2.0, 0, 30.0], [0, 0, 3.0, -40.0], [0, 0, 0, 1]])


@pytest.fixture
def make_study(tmp_path, aniso_affine):
    """Write one ``<patient>/<study>`` folder with SUV, CTres and SEG on the same grid; returns its root."""

    def make(patient: str = "p1", study: str = "t0", shape=(20, 18, 16), seg: bool = True, root: Path | None = None):
        root = root or tmp_path / "data"
        rng = np.random.default_rng(0)
        suv = rng.uniform(0.5, 2.0, shape).astype(np.float32)
        ct = np.full(shape, 40.0, np.float32)
        mask = np.zeros(shape, np.uint8)
        mask[5:8, 5:8, 5:8] = 1
        suv[mask > 0] = 8.0
        d = root / patient / study
        write_nifti(d / "SUV.nii.gz", suv, aniso_affine)
        write_nifti(d / "CTres.nii.gz", ct, aniso_affine)
        if seg:
            write_nifti(d / "SEG.nii.gz", mask, aniso_affine)
        return root

    return make
