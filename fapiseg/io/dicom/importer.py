"""``import-dicom``: a PET series (and optionally CT and a reference outline) to one study folder.

Writes ``SUV.nii.gz`` (float32), ``CTres.nii.gz`` (HU on the PET grid, air outside the CT) and
``SEG.nii.gz`` (uint8 0/1 on the PET grid) with the PET affine, and ``import.json``: the header facts
behind the SUV (tracer, dose, uptake time, half-life, decay correction, units, scanner, factors) and
nothing that identifies the patient (no names, IDs, dates, accession numbers or UIDs).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from fapiseg import __version__
from fapiseg.data.validation import MAX_PLAUSIBLE_SUV, check_pet, ct_on_pet_grid
from fapiseg.errors import FapisegError
from fapiseg.io.dicom.rtstruct import read_rtstruct, rtstruct_mask
from fapiseg.io.dicom.seg import seg_mask
from fapiseg.io.dicom.series import ImageSeries, read_series
from fapiseg.io.dicom.suv import SuvConversion, suv_conversion
from fapiseg.io.geometry import spacing_mm, voxel_volume_ml
from fapiseg.io.nifti import Volume, atomic_path, save_volume

SIDECAR = "import.json"


@dataclass
class ImportResult:
    """What :func:`import_study` wrote, and the sidecar it wrote with it."""

    out_dir: Path
    written: list[Path] = field(default_factory=list)
    sidecar: dict = field(default_factory=dict)


def import_study(
    pet_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    ct_dir: str | os.PathLike | None = None,
    rtstruct: str | os.PathLike | None = None,
    seg: str | os.PathLike | None = None,
    rois: list[str] | None = None,
    suv_type: str = "bw",
    pet_series_uid: str | None = None,
    ct_series_uid: str | None = None,
) -> ImportResult:
    """Convert DICOM PET (+ CT, + RTSTRUCT or SEG) into the study folder ``out_dir``; see the module doc."""
    if rtstruct is not None and seg is not None:
        raise FapisegError("give either --rtstruct or --seg, not both")
    pet = read_series(pet_dir, ("PT",), pet_series_uid)
    conversion = suv_conversion(pet.datasets, suv_type)
    suv = (pet.rescaled() * conversion.factors[None, None, :]).astype(np.float32)
    top = float(np.nanmax(suv))
    if top > MAX_PLAUSIBLE_SUV:
        raise FapisegError(
            f"the converted PET reaches SUV {top:.4g}, implausible: check RadionuclideTotalDose (Bq), "
            "PatientWeight (kg) and Units"
        )
    check_pet("import-dicom", Volume(suv, pet.affine))  # finite, and positive somewhere
    out = Path(out_dir)
    result = ImportResult(out)
    sidecar = _sidecar(pet, conversion)
    result.written.append(save_volume(out / "SUV.nii.gz", suv, pet.affine))
    frame_of_reference = str(pet.first.get("FrameOfReferenceUID", "") or "") or None
    if ct_dir is not None:
        ct = read_series(ct_dir, ("CT",), ct_series_uid)
        hu = Volume(ct.rescaled().astype(np.float32), ct.affine)
        resampled = ct_on_pet_grid("import-dicom", hu, Volume(suv, pet.affine))
        if frame_of_reference and str(ct.first.get("FrameOfReferenceUID", "") or "") not in (
            "",
            frame_of_reference,
        ):
            sidecar["notes"].append(
                "CT and PET have different FrameOfReferenceUIDs; CT placed by its own coordinates"
            )
        sidecar["ct"] = {
            "manufacturer": _text(ct.first, "Manufacturer"),
            "model": _text(ct.first, "ManufacturerModelName"),
            "shape": list(ct.shape),
            "spacing_mm": _rounded(spacing_mm(ct.affine)),
        }
        result.written.append(save_volume(out / "CTres.nii.gz", resampled.array, pet.affine))
    if rtstruct is not None or seg is not None:
        if rtstruct is not None:
            mask = rtstruct_mask(read_rtstruct(rtstruct), pet.shape, pet.affine, frame_of_reference, rois)
            source = "RTSTRUCT"
        else:
            mask = seg_mask(seg, pet.shape, pet.affine, frame_of_reference, rois)
            source = "SEG"
        sidecar["mask"] = {
            "source": source,
            "rois": rois or "all",
            "voxels": int(mask.sum()),
            "volume_ml": round(float(mask.sum()) * voxel_volume_ml(pet.affine), 3),
        }
        result.written.append(save_volume(out / "SEG.nii.gz", mask, pet.affine))
    with atomic_path(out / SIDECAR) as tmp:
        tmp.write_text(json.dumps(sidecar, indent=2) + "\n")
    result.written.append(out / SIDECAR)
    result.sidecar = sidecar
    return result


def _sidecar(pet: ImageSeries, conv: SuvConversion) -> dict:
    """Header facts behind the SUV; deliberately no identifiers, dates or UIDs."""
    first = pet.first
    info = (first.get("RadiopharmaceuticalInformationSequence") or [Dataset()])[0]
    constant = bool(np.allclose(conv.factors, conv.factors[0], rtol=1e-9))
    return {
        "source": "DICOM",
        "fapiseg_version": __version__,
        "suv_type": conv.suv_type,
        "suv_unit": "cm2/mL" if conv.suv_type == "bsa" else "g/mL",
        "units": conv.units,
        "decay_correction": conv.decay_correction,
        "scan_time_source": conv.scan_time_source,
        "radiopharmaceutical": _text(info, "Radiopharmaceutical")
        or _code_meaning(info, "RadiopharmaceuticalCodeSequence"),
        "radionuclide": _code_meaning(info, "RadionuclideCodeSequence"),
        "injected_dose_mbq": _round(conv.dose_mbq),
        "uptake_time_min": _round(conv.uptake_time_min),
        "half_life_s": _round(conv.half_life_s),
        "weight_kg": _round(conv.weight_kg),
        "suv_factor": float(conv.factors[0]) if constant else None,
        "suv_factor_range": [float(conv.factors.min()), float(conv.factors.max())],
        "manufacturer": _text(first, "Manufacturer"),
        "model": _text(first, "ManufacturerModelName"),
        "pet": {
            "shape": list(pet.shape),
            "spacing_mm": _rounded(spacing_mm(pet.affine)),
            "axes": "i=column, j=row, k=slice along the normal; affine RAS+",
        },
        "notes": list(conv.notes),
    }


def _text(ds: Dataset, keyword: str) -> str | None:
    value = str(ds.get(keyword, "") or "").strip()
    return value or None


def _code_meaning(ds: Dataset, keyword: str) -> str | None:
    seq = ds.get(keyword)
    return _text(seq[0], "CodeMeaning") if seq else None


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 4) for v in values]
