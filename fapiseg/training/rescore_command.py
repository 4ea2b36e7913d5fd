"""``fapiseg rescore``: fit a checkpoint's false-positive reduction on labelled training cases."""

from __future__ import annotations

import argparse
from pathlib import Path

#: fapiseg.inference.rescoring's CANDIDATE_THRESHOLD and TARGET_FP_PER_SCAN, written out so that building
#: the CLI parser does not import torch (a test keeps them equal).
CANDIDATE_THRESHOLD = 0.05
TARGET_FP_PER_SCAN = 0.5

NAME = "rescore"
HELP = (
    "fit the false-positive reduction of a trained checkpoint on labelled cases (its candidates' size, "
    "uptake, contrast and CT) and store it in the checkpoint; infer.py then applies it"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="trained checkpoint (.ckpt)")
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="labelled cases (<patient>/<study>/ with SEG.nii.gz), normally the training cohort",
    )
    parser.add_argument("--out", type=Path, help="checkpoint to write (default: replace --checkpoint)")
    parser.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="segment with mirroring TTA, as infer.py tta=true (use the setting you will infer with)",
    )
    parser.add_argument(
        "--skip-suv", type=float, default=1.0, help="infer.py's skip_suv (windows below it are not run)"
    )
    parser.add_argument(
        "--candidate-threshold",
        type=float,
        default=CANDIDATE_THRESHOLD,
        help="lesion probability that makes a candidate",
    )
    parser.add_argument(
        "--target-fp",
        type=float,
        default=TARGET_FP_PER_SCAN,
        help="false positives per training scan at the operating point (sets the score threshold)",
    )
    parser.add_argument("--max-cases", type=int, help="fit on the first N labelled cases only")


def run(args: argparse.Namespace) -> int:
    from fapiseg.inference.predictor import PredictorOptions
    from fapiseg.training.rescoring import fit_checkpoint_rescorer

    out = args.out or args.checkpoint
    fit = fit_checkpoint_rescorer(
        args.checkpoint,
        args.data,
        out,
        PredictorOptions(tta=args.tta, skip_suv=args.skip_suv),
        candidate_threshold=args.candidate_threshold,
        target_fp_per_scan=args.target_fp,
        max_cases=args.max_cases,
    )
    print(f"false-positive reduction: {fit.describe()} -> {out}")
    return 0
