"""``fapiseg lesions``: the lesion table of one PET and mask, as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "lesions"
HELP = "measure every connected lesion of a mask on a PET (SUV): volume, SUVmax/mean/peak, TLF, RECIST, TBR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pet", required=True, type=Path, help="PET in SUVbw (NIfTI), e.g. SUV.nii.gz")
    parser.add_argument(
        "--mask", required=True, type=Path, help="lesion mask on the PET grid (> 0.5 is lesion)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="CSV to write, one row per 26-connected lesion"
    )
    parser.add_argument(
        "--ct",
        type=Path,
        help="CT in HU for the automatic TBR reference (aorta, else liver); "
        "default: CTres.nii.gz beside the PET when present",
    )
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument(
        "--reference-mask", type=Path, help="background reference VOI for TBR (its mean SUV)"
    )
    reference.add_argument("--reference-suv", type=float, help="background reference SUV for TBR")


def run(args: argparse.Namespace) -> int:
    from fapiseg.data.validation import check_pet, ct_on_pet_grid
    from fapiseg.errors import FapisegError
    from fapiseg.io.nifti import atomic_path, load_volume
    from fapiseg.metrics.table import CSV_FLOAT_FORMAT, lesion_table

    pet = load_volume(args.pet, args.pet.name)
    check_pet(args.pet.name, pet)
    mask = _on_pet_grid(args.mask, pet) > 0.5
    background = args.reference_suv
    if args.reference_mask is not None:
        background = _on_pet_grid(args.reference_mask, pet) > 0.5
    ct = None
    ct_path = args.ct or args.pet.parent / "CTres.nii.gz"
    if background is None and (args.ct is not None or ct_path.exists()):
        ct = ct_on_pet_grid(ct_path.name, load_volume(ct_path, ct_path.name), pet).array
    try:
        table = lesion_table(pet.array, mask, pet.affine, ct=ct, background=background)
    except ValueError as e:
        raise FapisegError(str(e)) from None
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)
    found = (
        f"; TBR against {table['tbr_reference'].iloc[0]} (SUV {table['tbr_reference_suv'].iloc[0]:.2f})"
        if len(table) and table["tbr_reference"].iloc[0]
        else ""
    )
    print(f"{len(table)} lesion{'' if len(table) == 1 else 's'} -> {args.out}{found}")
    return 0


def _on_pet_grid(path: Path, pet):
    """The image at ``path`` as an array, refused unless it shares the PET's grid."""
    from fapiseg.errors import CaseError
    from fapiseg.io.geometry import same_grid
    from fapiseg.io.nifti import load_volume

    volume = load_volume(path, path.name)
    if not same_grid(volume.shape, volume.affine, pet.shape, pet.affine):
        raise CaseError(
            path.name, f"not on the PET grid (shape {volume.shape} vs {pet.shape}, or another affine)"
        )
    return volume.array
