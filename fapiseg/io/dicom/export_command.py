"""``fapiseg export-seg``: a predicted mask back to DICOM, as a SEG that references the source PET series."""

from __future__ import annotations

import argparse

NAME = "export-seg"
HELP = "write a mask NIfTI (on the grid imported from a PET series) as a DICOM SEG for PACS and viewers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mask", required=True, metavar="PRED.nii.gz", help="0/1 mask on the imported PET grid"
    )
    parser.add_argument(
        "--pet",
        required=True,
        metavar="PET_SERIES_DIR",
        help="the PET DICOM series the mask was predicted on",
    )
    parser.add_argument("--out", required=True, metavar="FILE.dcm", help="DICOM SEG file to write")
    parser.add_argument(
        "--series-uid", metavar="UID", help="PET SeriesInstanceUID when the folder holds several series"
    )


def run(args: argparse.Namespace) -> int:
    from fapiseg.io.dicom.seg import export_seg

    print(f"wrote {export_seg(args.mask, args.pet, args.out, args.series_uid)}")
    return 0
