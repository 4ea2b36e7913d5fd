"""``fapiseg import-dicom``: scanner DICOM (PET, CT, RTSTRUCT/SEG) to a study folder in SUV."""

from __future__ import annotations

import argparse

NAME = "import-dicom"
HELP = (
    "convert a DICOM PET series (SUV by the QIBA procedure), optional CT and RTSTRUCT/SEG to a study folder"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pet", required=True, metavar="DIR", help="folder holding the PET series (searched recursively)"
    )
    parser.add_argument(
        "--ct", metavar="DIR", help="folder holding the CT series; written as CTres.nii.gz on the PET grid"
    )
    parser.add_argument(
        "--out", required=True, metavar="STUDY_DIR", help="study folder to write (DATA/<patient>/<study>)"
    )
    parser.add_argument(
        "--series-uid", metavar="UID", help="PET SeriesInstanceUID when the folder holds several series"
    )
    parser.add_argument(
        "--ct-series-uid", metavar="UID", help="CT SeriesInstanceUID when the folder holds several series"
    )
    parser.add_argument(
        "--suv-type",
        choices=("bw", "lbm", "bsa"),
        default="bw",
        help="bw: body weight (default); lbm: SUL, Janmahasatian lean body mass; bsa: Du Bois body surface area",
    )
    masks = parser.add_mutually_exclusive_group()
    masks.add_argument(
        "--rtstruct", metavar="FILE_OR_DIR", help="RTSTRUCT to rasterise onto the PET grid as SEG.nii.gz"
    )
    masks.add_argument("--seg", metavar="FILE", help="DICOM SEG to place onto the PET grid as SEG.nii.gz")
    parser.add_argument(
        "--roi",
        action="append",
        metavar="NAME",
        help="ROI (RTSTRUCT) or segment label (SEG) to use; repeat for several; default all",
    )


def run(args: argparse.Namespace) -> int:
    from fapiseg.io.dicom.importer import import_study

    result = import_study(
        args.pet,
        args.out,
        ct_dir=args.ct,
        rtstruct=args.rtstruct,
        seg=args.seg,
        rois=args.roi,
        suv_type=args.suv_type,
        pet_series_uid=args.series_uid,
        ct_series_uid=args.ct_series_uid,
    )
    s = result.sidecar
    factor = (
        f"{s['suv_factor']:.6g}"
        if s["suv_factor"] is not None
        else "per slice {:.6g}-{:.6g}".format(*s["suv_factor_range"])
    )
    uptake = f"{s['uptake_time_min']:.1f} min" if s["uptake_time_min"] is not None else "unknown"
    print(
        f"SUV{s['suv_type']} from {s['units']} (decay correction {s['decay_correction']}, uptake {uptake}, "
        f"factor {factor}); shape {'x'.join(map(str, s['pet']['shape']))}"
    )
    if "mask" in s:
        print(
            f"mask from {s['mask']['source']}: {s['mask']['voxels']} voxels, {s['mask']['volume_ml']:.2f} mL"
        )
    for path in result.written:
        print(f"wrote {path}")
    return 0
