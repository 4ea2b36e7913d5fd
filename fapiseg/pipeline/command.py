"""``fapiseg demo``: the whole job end to end on the synthetic FAPI PET/CT cohort (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "demo"
HELP = "run phantom -> train -> batch inference -> evaluate -> report on synthetic FAPI PET/CT (make demo)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fapiseg.pipeline.demo import DemoPlan

    plan = DemoPlan()
    parser.add_argument(
        "--out", type=Path, default=Path("outputs/demo"), help="output folder (default outputs/demo)"
    )
    parser.add_argument("--train-patients", type=int, default=plan.train_patients)
    parser.add_argument(
        "--test-patients", type=int, default=plan.test_patients, help="held-out fapi-family patients"
    )
    parser.add_argument(
        "--shifted-patients",
        type=int,
        default=plan.shifted_patients,
        help="patients of the shifted family (generalisation)",
    )
    parser.add_argument("--seed", type=int, default=plan.seed)
    parser.add_argument(
        "--rescore-patients",
        type=int,
        default=plan.rescore_patients,
        help="training patients the false-positive reduction is fitted on (0: none)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=plan.minutes,
        help="wall-clock budget of the whole demo: training gets what the other stages leave (at most its "
        "configured 8.5 min)",
    )
    parser.add_argument(
        "--started",
        type=float,
        metavar="UNIX_TIME",
        help="when the budget started (default: now); make demo passes its own start, so the install counts",
    )
    parser.add_argument(
        "--train-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra train.py override (repeatable), e.g. trainer.max_epochs=2",
    )
    parser.add_argument(
        "--infer-override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra infer.py override (repeatable), e.g. tta=true",
    )


def run(args: argparse.Namespace) -> int:
    from fapiseg.pipeline.demo import DemoPlan, run_demo

    plan = DemoPlan(
        args.train_patients,
        args.test_patients,
        args.shifted_patients,
        args.seed,
        rescore_patients=args.rescore_patients,
        minutes=args.minutes,
        started=args.started,
        train_overrides=args.train_override,
        infer_overrides=args.infer_override,
    )
    run_demo(args.out, plan, log=lambda line: print(line, flush=True))
    return 0
