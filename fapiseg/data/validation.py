"""Check a case before use and load it onto one grid: the PET grid.

Every problem becomes a one-line :class:`CaseError` that names the case and the reason, so a batch can
report it and go on with the next case.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import nibabel as nib
import nibabel.processing
import numpy as np

from fapiseg.data.cases import Case
from fapiseg.errors import CaseError
from fapiseg.io.geometry import same_grid, world_bounds
from fapiseg.io.nifti import Volume, load_volume

#: Below this share of the PET field of view covered by the CT, PET and CT are different scans.
MIN_CT_COVERAGE = 0.9
#: SUVbw above this is not physiological; such images are usually activity concentrations in Bq/mL.
MAX_PLAUSIBLE_SUV = 200.0
AIR_HU = -1024.0


@dataclass
class CaseImages:
    """A validated case: PET (SUVbw), CT (HU) resampled onto the PET grid, and the reference mask if any."""

    name: str
    pet: Volume
    ct: Volume | None
    seg: Volume | None

    @property
    def affine(self) -> np.ndarray:
        return self.pet.affine


def load_case(
    case: Case, need_ct: bool = True, seg: Literal["need", "read", "skip"] = "read"
) -> CaseImages:
    """Load and validate a case; raise :class:`CaseError` with the first problem found.

    ``seg``: the reference mask is required (``need``), read when present (``read``) or left unread
    (``skip``: for callers with no use for it, such as inference).
    """
    if seg not in ("need", "read", "skip"):
        raise ValueError(f"seg must be 'need', 'read' or 'skip', got {seg!r}")
    pet = load_volume(case.pet, case.name)
    check_pet(case.name, pet)
    ct = None
    if need_ct or case.ct.exists():
        ct = load_volume(case.ct, case.name)
        _check_finite(case.name, case.ct.name, ct.array)
        ct = ct_on_pet_grid(case.name, ct, pet)
    mask = None
    if case.seg is not None and seg != "skip":
        mask = load_volume(case.seg, case.name, dtype=np.float32)
        _check_finite(case.name, case.seg.name, mask.array)
        if not same_grid(mask.shape, mask.affine, pet.shape, pet.affine):
            raise CaseError(case.name, f"{case.seg.name} is not on the PET grid (shape {mask.shape} vs {pet.shape})")
        mask = Volume((mask.array > 0.5).astype(np.uint8), mask.affine)
    elif seg == "need":
        raise CaseError(case.name, "SEG.nii.gz is missing (a reference mask is required here)")
    return CaseImages(case.name, pet, ct, mask)


def check_pet(name: str, pet: Volume) -> None:
    """Refuse PET that is not finite, empty, or not in SUV units."""
    _check_finite(name, "SUV.nii.gz", pet.array)
    top = float(pet.array.max())
    if top <= 0:
        raise CaseError(name, "SUV.nii.gz holds no positive value; the PET is empty")
    if top > MAX_PLAUSIBLE_SUV:
        raise CaseError(name, f"SUV.nii.gz reaches {top:.4g}, implausible for SUVbw; values look like Bq/mL "
                              "(convert with `fapiseg import-dicom`)")
    if float(pet.array.min()) < -1.0:
        raise CaseError(name, f"SUV.nii.gz has negative values down to {float(pet.array.min()):.3g}")


def ct_on_pet_grid(name: str, ct: Volume, pet: Volume) -> Volume:
    """The CT itself when it shares the PET grid, else resampled (trilinear, air outside) into PET space.

    Refuses a CT that covers less than :data:`MIN_CT_COVERAGE` of the PET's field of view.
    """
    if same_grid(ct.shape, ct.affine, pet.shape, pet.affine):
        return ct
    coverage = _coverage(pet, ct)
    if coverage < MIN_CT_COVERAGE:
        raise CaseError(name, f"CT and PET cover different world regions (CT covers {coverage:.0%} of the PET field of view)")
    resampled = nibabel.processing.resample_from_to(nib.Nifti1Image(ct.array, ct.affine), (pet.shape, pet.affine),
                                                    order=1, cval=AIR_HU)
    return Volume(np.asarray(resampled.dataobj, dtype=np.float32), pet.affine.copy())


def _coverage(pet: Volume, ct: Volume) -> float:
    """Share of the PET's world box that lies inside the CT's world box."""
    plo, phi = world_bounds(pet.shape, pet.affine)
    clo, chi = world_bounds(ct.shape, ct.affine)
    inter = np.clip(np.minimum(phi, chi) - np.maximum(plo, clo), 0, None)
    return float(np.prod(inter) / max(np.prod(phi - plo), 1e-9))


def _check_finite(name: str, file: str, array: np.ndarray) -> None:
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise CaseError(name, f"{file} holds {bad} NaN or infinite voxel{'s' if bad > 1 else ''}")
