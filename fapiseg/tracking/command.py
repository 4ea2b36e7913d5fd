"""``fapiseg compare``: the runs of an MLflow experiment side by side."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "compare"
HELP = "compare the MLflow runs of an experiment: differing parameters and best validation metrics"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--experiment", help="MLflow experiment name (default: that of the most recent run)")
    parser.add_argument("--sort", metavar="METRIC", help="order by this metric, best first (e.g. val/dice)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write the table as CSV")
    parser.add_argument(
        "--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, else ./mlflow.db)"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from fapiseg.io.nifti import atomic_path
    from fapiseg.tracking.compare import client_for, compare_runs
    from fapiseg.tracking.store import tracking_uri

    table = compare_runs(client_for(args.tracking_uri or tracking_uri()), args.experiment, args.sort)
    if args.csv:
        with atomic_path(args.csv) as tmp:
            table.to_csv(tmp, index=False)
    view = Table(show_lines=False)
    for column in table.columns:
        numeric = column.startswith("val/")
        view.add_column(column, justify="right" if numeric else "left", overflow="fold", no_wrap=column == "run")
    for _, row in table.iterrows():
        view.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=max(120, 14 * len(table.columns) + int(table["run"].str.len().max()))).print(view)
    return 0
