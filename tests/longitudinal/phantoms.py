"""Small hand-made PET/CT studies with known lesions and a known patient pose, for the longitudinal tests.

The anatomy is defined in patient coordinates (mm; x to the patient's left is negative, y anterior, z
superior): a body that narrows at the shoulders, two unequal lungs, heart, spine, liver and aorta. A study
places the patient in the scanner by a rigid ``pose`` (patient -> world), so a repositioned follow-up is the
same anatomy under another pose, and every lesion's world centre is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from tests.conftest import write_nifti
from tests.metrics.synthetic import world_grid

SHAPE = (64, 64, 48)
AFFINE = np.array([[4.0, 0, 0, -126.0], [0, 4.0, 0, -126.0], [0, 0, 4.0, -94.0], [0, 0, 0, 1]])


@dataclass(frozen=True)
class Sphere:
    """A lesion: centre (patient mm), radius (mm), uniform SUV and CT value."""

    centre_mm: tuple[float, float, float]
    radius_mm: float
    suv: float = 8.0
    hu: float = 40.0


def pose(shift_mm=(0.0, 0.0, 0.0), rotation_deg=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Patient -> world: rotate about the patient's origin (x, y, z Euler angles), then shift."""
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_euler("xyz", rotation_deg, degrees=True).as_matrix()
    matrix[:3, 3] = shift_mm
    return matrix


def make_study(
    lesions: list[Sphere], patient_pose: np.ndarray | None = None, seed: int = 0, shape=SHAPE, affine=AFFINE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(SUV, CT HU, lesion mask) of the phantom under ``patient_pose`` on the grid ``shape``/``affine``."""
    world = world_grid(shape, affine)
    inverse = np.linalg.inv(np.eye(4) if patient_pose is None else patient_pose)
    p = world @ inverse[:3, :3].T + inverse[:3, 3]
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    ct = np.full(shape, -1000.0)
    suv = np.zeros(shape)

    def put(region, hu, uptake):
        ct[region], suv[region] = hu, uptake

    half_width = np.where(z > 70, 70.0, 115.0)  # the neck above the shoulders
    put((x / half_width) ** 2 + (y / 85) ** 2 <= 1, -80.0, 0.6)
    right_lung = (((x - 45) / 35) ** 2 + ((y + 5) / 50) ** 2 <= 1) & (z >= -10) & (z <= 66)
    left_lung = (((x + 45) / 30) ** 2 + ((y + 5) / 45) ** 2 <= 1) & (z >= 0) & (z <= 62)
    put(right_lung | left_lung, -800.0, 0.3)
    put((((x + 10) / 30) ** 2 + ((y - 20) / 25) ** 2 <= 1) & (z >= -5) & (z <= 50), 40.0, 1.5)
    put((((x - 40) / 55) ** 2 + (y / 50) ** 2 <= 1) & (z >= -90) & (z <= -12), 55.0, 1.2)
    put((x + 18) ** 2 + (y + 40) ** 2 <= 9.0**2, 40.0, 1.6)
    put(x**2 + (y + 60) ** 2 <= 12.0**2, 500.0, 0.9)
    mask = np.zeros(shape, np.uint8)
    for lesion in lesions:
        inside = ((p - np.asarray(lesion.centre_mm)) ** 2).sum(axis=-1) <= lesion.radius_mm**2
        put(inside, lesion.hu, lesion.suv)
        mask[inside] = 1
    rng = np.random.default_rng(seed)
    ct += rng.normal(0.0, 10.0, shape)
    suv = np.clip(suv + rng.normal(0.0, 0.02, shape), 0.0, None)
    return suv.astype(np.float32), ct.astype(np.float32), mask


def world_centre(lesion: Sphere, patient_pose: np.ndarray | None = None) -> np.ndarray:
    """Where the lesion's centre lies in the scanner world under ``patient_pose``."""
    m = np.eye(4) if patient_pose is None else patient_pose
    return m[:3, :3] @ np.asarray(lesion.centre_mm, float) + m[:3, 3]


def write_study(root: Path, patient: str, study: str, lesions, patient_pose=None, seed=0) -> Path:
    """Write ``root/patient/study`` with SUV, CTres and SEG; returns the study folder."""
    suv, ct, mask = make_study(lesions, patient_pose, seed)
    folder = root / patient / study
    write_nifti(folder / "SUV.nii.gz", suv, AFFINE)
    write_nifti(folder / "CTres.nii.gz", ct, AFFINE)
    write_nifti(folder / "SEG.nii.gz", mask, AFFINE)
    return folder
