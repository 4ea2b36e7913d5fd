"""``fapiseg longitudinal``: follow one patient's lesions through their studies and call the response."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

NAME = "longitudinal"
HELP = (
    "follow a patient's lesions across studies: CT registration, lesion tracks, per-lesion changes, "
    "RECIST 1.1 and PERCIST 1.0 response"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, type=Path, help="data folder: <patient>/<study>/SUV, CTres, SEG"
    )
    parser.add_argument(
        "--patient", required=True, help="the patient folder's name; studies sort in time by name"
    )
    parser.add_argument(
        "--pred",
        type=Path,
        help="lesion masks from PRED_DIR/<patient>/<study>/PRED.nii.gz instead of SEG.nii.gz",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output folder: tracks.csv, changes.csv, response.csv, studies.csv, figures",
    )
    parser.add_argument(
        "--regions",
        type=Path,
        help="organ label maps REGIONS_DIR/<patient>/<study>/REGIONS.nii.gz (or ORGANS.nii.gz; names in "
        "REGIONS.json beside it); default: those files beside the case, else regions from the CT",
    )
    parser.add_argument(
        "--gate-mm",
        type=float,
        default=None,
        help="lesions that do not overlap after registration match when their centres are within this "
        "distance plus the larger lesion's radius (default 10)",
    )
    parser.add_argument(
        "--min-new-lesion-ml",
        type=float,
        default=0.0,
        help="smallest new lesion (mL) that counts as progression (default 0: every new lesion)",
    )
    parser.add_argument("--rigid", action="store_true", help="register rigidly only (no affine stage)")
    parser.add_argument("--no-figures", action="store_true", help="write the tables only")


def run(args: argparse.Namespace) -> int:
    from fapiseg.longitudinal.course import follow_patient, write_course
    from fapiseg.longitudinal.tracks import DEFAULT_GATE_MM

    course = follow_patient(
        args.data,
        args.patient,
        pred_dir=args.pred,
        regions_dir=args.regions,
        gate_mm=DEFAULT_GATE_MM if args.gate_mm is None else args.gate_mm,
        min_new_volume_ml=args.min_new_lesion_ml,
        affine_stage=not args.rigid,
    )
    for line in course.failures:
        print(f"fapiseg longitudinal: {line}", file=sys.stderr)
    write_course(course, args.out, figures=not args.no_figures)
    _print_response(course, args.out)
    if course.failures:
        print(f"fapiseg longitudinal: {len(course.failures)} study(ies) left out", file=sys.stderr)
        return 1
    return 0


def _print_response(course, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    def number(v, fmt="+.1f"):
        return "-" if math.isnan(v) else format(v, fmt)

    n_tracks = course.tracking.tracks["track_id"].nunique() if len(course.tracking.tracks) else 0
    table = Table(
        title=f"{len(course.studies)} studies, {n_tracks} lesion tracks, {len(course.targets)} RECIST targets",
        title_justify="left",
    )
    headers = ("study", "reg.", "SoD mm", "SoD %", "RECIST", "SUVpeak", "peak %", "PERCIST", "new", "TLF %")
    for column in headers:
        table.add_column(
            column, justify="left" if column in ("study", "reg.", "RECIST", "PERCIST") else "right"
        )
    methods = dict(zip(course.summary["study"], course.summary["registration"]))
    for r in course.response.itertuples(index=False):
        table.add_row(
            r.study,
            methods[r.study],
            f"{r.sum_diameters_mm:.1f}",
            number(r.sum_diameters_change_pct),
            r.recist,
            number(r.suv_peak, ".2f"),
            number(r.suv_peak_change_pct),
            r.percist,
            str(r.new_lesions),
            number(r.total_tl_fap_change_pct),
        )
    console = Console()
    console.width = max(console.width, 100)  # ten columns need it; pipes report 80
    console.print(table)
    if not len(course.response):
        print("one study only: no follow-up to assess")
    print(f"written to {out}")
