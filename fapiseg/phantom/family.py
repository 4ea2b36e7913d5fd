"""The two generator families: ``fapi`` (training and tests) and ``shifted`` (generalisation).

A family is the set of ranges every draw comes from. ``shifted`` is not a reseed of ``fapi``: its
bodies, arm positions, uptake levels, lesion shapes, scanners and storage orientations lie outside the
training ranges (see the README), so a model that only learned the training generator shows it there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Scanner voxel sizes (mm, x y z) and the fields of view they are used with.
FAPI_SCANNERS: tuple[tuple[tuple[float, float, float], str], ...] = (
    ((4.07, 4.07, 3.27), "neck_to_thigh"),
    ((4.07, 4.07, 3.27), "torso"),
    ((3.65, 3.65, 3.27), "torso"),
    ((3.65, 3.65, 4.0), "neck_to_thigh"),
    ((3.0, 3.0, 3.0), "torso"),
    ((2.0, 2.0, 2.0), "chest"),
)
SHIFTED_SCANNERS: tuple[tuple[tuple[float, float, float], str], ...] = (
    ((5.0, 5.0, 5.0), "neck_to_thigh"),
    ((4.8, 4.8, 2.0), "torso"),
    ((1.65, 1.65, 3.0), "chest"),
    ((2.6, 2.6, 5.0), "neck_to_thigh"),
)


@dataclass(frozen=True)
class Family:
    """Ranges of one generator family (uniform draws between the two numbers unless said otherwise)."""

    name: str
    # patients
    female_fraction: float = 0.85
    age_range: tuple[int, int] = (30, 80)
    height_scale: tuple[float, float] = (0.92, 1.04)
    width_scale: tuple[float, float] = (0.88, 1.15)
    depth_clip: tuple[float, float] = (0.85, 1.2)
    fat_mm: tuple[float, float] = (8.0, 26.0)
    arm_poses: tuple[str, ...] = ("up", "down")
    arm_weights: tuple[float, ...] = (0.6, 0.4)
    breast_size: tuple[float, float] = (0.7, 1.5)
    nephrectomy_fraction: float = 0.0
    mastectomy_fraction: float = 0.0
    # uptake (SUVbw) of organs: background and physiological hot spots
    uptake: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(FAPI_UPTAKE))
    uptake_scale: tuple[float, float] = (1.0, 1.0)  # one factor for all background organs of a patient
    joint_count: tuple[int, int] = (0, 5)
    scar_fraction: float = 0.35
    fibrosis_fraction: float = 0.25
    # lesions
    lesion_suv: tuple[float, float] = (5.0, 20.0)
    lesion_shape: str = "lobulated"
    lesion_counts: tuple[int, int] = (1, 7)
    # scanner
    scanners: tuple[tuple[tuple[float, float, float], str], ...] = FAPI_SCANNERS
    psf_fwhm_mm: tuple[float, float] = (4.5, 7.0)
    liver_noise_cov: tuple[float, float] = (0.07, 0.16)
    noise_grain_voxels: tuple[float, float] = (0.6, 1.0)
    orientations: tuple[str, ...] = ("RAS", "LPS", "LAS")
    orientation_weights: tuple[float, ...] = (0.45, 0.4, 0.15)
    ct_noise_hu: tuple[float, float] = (8.0, 18.0)


FAPI_UPTAKE: dict[str, tuple[float, float]] = {
    "lung": (0.3, 0.5),
    "airway": (0.0, 0.05),
    "fat": (0.3, 0.5),
    "muscle": (0.8, 1.2),
    "soft_tissue": (0.8, 1.2),
    "bowel": (0.8, 1.3),
    "stomach": (1.0, 1.8),
    "liver": (1.0, 1.5),
    "spleen": (1.0, 1.6),
    "pancreas": (2.0, 6.0),
    "kidney": (3.0, 6.0),
    "renal_pelvis": (4.0, 12.0),
    "ureter": (2.0, 8.0),
    "bladder": (10.0, 40.0),
    "heart": (1.4, 2.2),
    "aorta": (1.2, 2.0),
    "blood_pool": (1.2, 2.0),
    "bone_cortical": (0.3, 0.6),
    "bone_marrow": (0.8, 1.2),
    "spinal_canal": (0.2, 0.4),
    "breast": (0.9, 2.0),
    "uterus_pre": (3.0, 10.0),
    "uterus_post": (1.5, 3.0),
    "salivary_gland": (2.0, 5.0),
    "thyroid": (1.5, 4.0),
    "joint": (3.0, 8.0),
    "scar": (2.0, 5.0),
    "fibrosis": (2.0, 4.0),
}

SHIFTED_UPTAKE: dict[str, tuple[float, float]] = {
    **FAPI_UPTAKE,
    "bladder": (40.0, 80.0),
    "kidney": (5.0, 9.0),
    "renal_pelvis": (10.0, 25.0),
    "pancreas": (4.0, 8.0),
    "joint": (5.0, 10.0),
}

FAPI = Family("fapi")
SHIFTED = Family(
    "shifted",
    female_fraction=0.7,
    age_range=(25, 88),
    height_scale=(0.86, 1.1),
    width_scale=(0.72, 1.42),
    depth_clip=(0.7, 1.45),
    fat_mm=(3.0, 42.0),
    arm_poses=("one_up", "down"),
    arm_weights=(0.6, 0.4),
    breast_size=(0.5, 2.0),
    nephrectomy_fraction=0.3,
    mastectomy_fraction=0.4,
    uptake=SHIFTED_UPTAKE,
    uptake_scale=(0.7, 1.6),
    joint_count=(2, 8),
    scar_fraction=0.5,
    fibrosis_fraction=0.4,
    lesion_suv=(4.0, 6.0),
    lesion_shape="spiculated",
    lesion_counts=(1, 9),
    scanners=SHIFTED_SCANNERS,
    psf_fwhm_mm=(3.5, 8.0),
    liver_noise_cov=(0.12, 0.25),
    noise_grain_voxels=(0.0, 0.35),
    orientations=("SPL", "ASR", "LIP", "PLS"),
    orientation_weights=(0.3, 0.3, 0.2, 0.2),
    ct_noise_hu=(20.0, 35.0),
)

FAMILIES: dict[str, Family] = {"fapi": FAPI, "shifted": SHIFTED}


def get_family(name: str) -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown phantom family {name!r}; choose one of {sorted(FAMILIES)}") from None
