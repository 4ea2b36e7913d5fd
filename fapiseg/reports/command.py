"""``fapiseg report``: the self-contained HTML report of an evaluated prediction folder."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "report"
HELP = (
    "write a self-contained HTML report (MIPs with outlines, lesion tables, metrics, FROC) of an evaluation"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--eval",
        required=True,
        type=Path,
        metavar="EVAL_DIR",
        help="output folder of `fapiseg evaluate` (summary.json, cases.csv, lesions.csv, froc.png)",
    )
    parser.add_argument(
        "--pred",
        required=True,
        type=Path,
        metavar="PRED_DIR",
        help="predictions: PRED_DIR/<patient>/<study>/PRED.nii.gz",
    )
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        metavar="DATA_DIR",
        help="the cases: DATA_DIR/<patient>/<study>/SUV.nii.gz (and SEG.nii.gz)",
    )
    parser.add_argument("--out", required=True, type=Path, metavar="report.html", help="HTML file to write")
    parser.add_argument("--title", default="fapiseg report", help="the report's title")
    parser.add_argument("--max-cases", type=int, help="show MIPs of at most this many cases (default: all)")


def run(args: argparse.Namespace) -> int:
    from fapiseg.reports.html import CohortSection, write_report

    section = CohortSection(title=str(args.pred), eval_dir=args.eval, pred_dir=args.pred, data_dir=args.data)
    print(f"wrote {write_report([section], args.out, title=args.title, max_cases=args.max_cases)}")
    return 0
