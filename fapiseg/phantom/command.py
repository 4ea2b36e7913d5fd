"""``fapiseg phantom``: write the synthetic FAPI PET/CT cohort and its truth.json."""

from __future__ import annotations

import argparse
import sys
import time

NAME = "phantom"
HELP = "write a synthetic FAPI PET/CT cohort (SUV, CTres, SEG, ORGANS per study) and DIR/truth.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="folder to write DIR/<patient>/<study>/ into"
    )
    parser.add_argument(
        "--patients", type=int, default=10, metavar="N", help="number of patients (default 10)"
    )
    parser.add_argument(
        "--studies",
        type=int,
        default=1,
        metavar="T",
        help="studies per patient, t0 ... t(T-1), with therapy-driven change (default 1)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="S", help="random seed; same seed, same files (default 0)"
    )
    parser.add_argument(
        "--family",
        choices=("fapi", "shifted"),
        default="fapi",
        help="fapi: the training generator (default); shifted: a differently built cohort for "
        "measuring generalisation",
    )
    parser.add_argument(
        "--course",
        action="append",
        metavar="C",
        dest="courses",
        choices=("CR", "PR", "SD", "PD", "PD_new", "NED"),
        help="therapy course of the patients in order (repeat; cycled); default random",
    )
    parser.add_argument(
        "--no-reposition",
        action="store_true",
        help="patients lie exactly as at baseline in every study (no rigid shift or rotation)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="W",
        help="make patients in W processes (same files; default 1)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")


def run(args: argparse.Namespace) -> int:
    from fapiseg.errors import FapisegError
    from fapiseg.phantom.cohort import generate_cohort

    if args.patients < 1 or args.studies < 1:
        raise FapisegError("--patients and --studies must be at least 1")
    start = time.perf_counter()

    def progress(case: str) -> None:
        if not args.quiet:
            print(f"{case}  ({time.perf_counter() - start:.1f} s)", file=sys.stderr)

    truth = generate_cohort(
        args.out,
        args.patients,
        args.studies,
        seed=args.seed,
        family=args.family,
        courses=args.courses,
        reposition=not args.no_reposition,
        progress=progress,
    )
    scans = [s for p in truth["patients"] for s in p["studies"]]
    negative = sum(not s["lesions"] for s in scans)
    lesions = sum(len(s["lesions"]) for s in scans)
    print(
        f"wrote {len(scans)} scans of {len(truth['patients'])} patients ({lesions} lesions, {negative} lesion-negative "
        f"scans) to {args.out} in {time.perf_counter() - start:.1f} s"
    )
    return 0
