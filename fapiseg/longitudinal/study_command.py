"""``fapiseg study``: the whole cohort in one command, diagnostic accuracy and response to therapy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "study"
HELP = (
    "the whole cohort: scan- and lesion-level diagnostic accuracy by region, every patient's response "
    "(RECIST 1.1, PERCIST 1.0), CSVs and report.html"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, type=Path, help="data folder: <patient>/<study>/SUV, CTres, SEG"
    )
    parser.add_argument(
        "--pred",
        type=Path,
        help="predictions PRED_DIR/<patient>/<study>/PRED.nii.gz: scored against SEG.nii.gz, and followed "
        "for the response (without it, the response is that of the reference masks)",
    )
    parser.add_argument(
        "--reference",
        type=Path,
        metavar="CSV",
        help="reference standard: columns case, positive (0/1) [, region]; as in `fapiseg evaluate`",
    )
    parser.add_argument(
        "--regions",
        type=Path,
        help="organ label maps REGIONS_DIR/<patient>/<study>/REGIONS.nii.gz (or ORGANS)",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        help="output folder: accuracy.csv, response.csv, best_response.csv, response_distribution.csv, "
        "tracks.csv, waterfall.png, summary.json, report.html, evaluation/",
    )
    parser.add_argument("--max-patients", type=int, help="show at most this many patients in report.html")


def run(args: argparse.Namespace) -> int:
    from fapiseg.errors import FapisegError
    from fapiseg.longitudinal.study import run_study
    from fapiseg.longitudinal.study_report import write_study
    from fapiseg.metrics.diagnostic import read_reference_csv

    if args.reference is not None and args.pred is None:
        raise FapisegError("--reference scores predictions: give --pred too")
    reference = read_reference_csv(args.reference) if args.reference else None
    study = run_study(
        args.data,
        args.pred,
        reference,
        args.regions,
        report=lambda line: print(f"fapiseg study: {line}", file=sys.stderr),
    )
    write_study(study, args.out, args.max_patients)
    _print(study, args.out)
    if study.failures:
        print(
            f"fapiseg study: {len(study.failures)} problem(s); see {args.out / 'report.html'}",
            file=sys.stderr,
        )
        return 1
    return 0


def _print(study, out: Path) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.width = max(console.width, 100)
    if len(study.accuracy):
        table = Table(title="diagnostic accuracy (95 % Wilson)", title_justify="left")
        for column in ("level", "group", "metric", "value", "95 % CI", "k/n"):
            table.add_column(column, justify="right" if column in ("value", "k/n") else "left")
        for r in study.accuracy.itertuples(index=False):
            if r.by != "all":
                continue
            value = "-" if pd.isna(r.value) else f"{r.value:.3f}"
            ci = "-" if value == "-" else f"{r.ci_low:.3f}-{r.ci_high:.3f}"
            table.add_row(r.level, r.group, r.metric, value, ci, f"{r.k}/{r.n}")
        console.print(table)
    distribution = study.distribution()
    table = Table(title=f"best response of {len(study.courses)} patient(s)", title_justify="left")
    for column in ("criterion", "category", "k/n", "proportion"):
        table.add_column(column)
    for r in distribution.itertuples(index=False):
        if r.k or r.criterion == "rate":
            table.add_row(
                r.criterion,
                r.category,
                f"{r.k}/{r.n}",
                "-" if pd.isna(r.proportion) else f"{r.proportion:.2f}",
            )
    console.print(table)
    print(f"written to {out}")
