"""``fapiseg evaluate``: score a folder of predictions against the reference cases."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "evaluate"
HELP = (
    "score predictions against references: autoPET Dice/FPV/FNV, lesion detection, FROC, scan-level accuracy"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pred",
        required=True,
        type=Path,
        help="predictions: PRED_DIR/<patient>/<study>/PRED.nii.gz "
        "(optional PROB.nii.gz beside it scores the FROC)",
    )
    parser.add_argument(
        "--ref", required=True, type=Path, help="reference data folder (<patient>/<study>/SUV, CTres, SEG)"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder: cases.csv, lesions.csv, summary.json, froc.*"
    )
    parser.add_argument(
        "--reference-csv",
        type=Path,
        help="reference standard: columns case, positive (0/1) [, region (label in REGIONS.nii.gz)]; "
        "cases then need no SEG.nii.gz",
    )
    parser.add_argument(
        "--iou-threshold", type=float, help="a lesion matches when IoU >= this (default: any overlap)"
    )


def run(args: argparse.Namespace) -> int:
    from fapiseg.metrics.cohort import CASES_CSV, write_evaluation
    from fapiseg.metrics.diagnostic import read_reference_csv
    from fapiseg.metrics.evaluate import evaluate

    reference = read_reference_csv(args.reference_csv) if args.reference_csv else None
    evaluation = evaluate(
        args.pred,
        args.ref,
        reference,
        args.iou_threshold,
        report=lambda line: print(f"fapiseg evaluate: {line}", file=sys.stderr),
    )
    summary = write_evaluation(evaluation, args.out)
    _print_summary(summary, args.out)
    if evaluation.failures:
        print(
            f"fapiseg evaluate: {len(evaluation.failures)} case(s) failed; see {args.out / CASES_CSV}",
            file=sys.stderr,
        )
        return 1
    return 0


def _print_summary(summary: dict, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    def number(v, fmt=".3f"):
        return "-" if v is None else format(v, fmt)

    table = Table(
        title=f"{summary['n_scans']} scans, {summary['n_reference_lesions']} reference lesions",
        title_justify="left",
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("95 % CI / note")
    table.add_row("Dice (scans with a lesion)", number(summary["dice"]), "autoPET, 18-connected")
    table.add_row("FPV mL (all scans)", number(summary["fpv_ml"], ".2f"), "")
    table.add_row("FNV mL (scans with a lesion)", number(summary["fnv_ml"], ".2f"), "")
    table.add_row(
        "lesion sensitivity",
        number(summary["lesion_sensitivity"]),
        f"{summary['n_detected_lesions']}/{summary['n_reference_lesions']}, 26-connected",
    )
    table.add_row("false positives per scan", number(summary["fp_per_scan"], ".2f"), "")
    blocks = [("scan", summary["scan"])]
    if "reference_standard" in summary:
        blocks.append(
            (f"reference CSV ({summary['reference_standard']['level']})", summary["reference_standard"])
        )
    for label, block in blocks:
        for key in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
            p = block[key]
            ci = "-" if p["value"] is None else f"{p['ci_low']:.3f}-{p['ci_high']:.3f} (n={p['n']})"
            table.add_row(f"{label} {key}", number(p["value"]), ci)
    Console().print(table)
    print(f"written to {out}")
