"""Whole-body inference: fapiseg's Predictor end to end against a plain MONAI sliding window, same network.

    .venv/bin/python benchmarks/inference_speed.py [--checkpoint outputs/demo/best.ckpt] [--case STUDY_DIR]
        [--family fapi shifted] [--seed 7] [--threads N] [--skip-suv 1.0] [--rounds 3]

The plain alternative is what an outside benchmark runs with the contract's attributes: the training
preprocessing, then ``monai.inferers.sliding_window_inference`` over ``predictor.network`` at
``predictor.roi_size`` and ``predictor.overlap`` (Gaussian blending, float32), then the lesion probability
put back on the input grid. Its time counts only the sliding window; fapiseg's counts everything
(reading and checking the case, preprocessing, windows, resampling, post-processing). Both masks are
compared on the input grid (Dice). Both run alternately, best of ``--rounds`` rounds each after a
warm-up, with the same torch thread count. Without ``--case`` one whole-body phantom scan per ``--family`` is
generated (the training family and the differently built ``shifted`` one); without a
trained checkpoint (default outputs/demo/best.ckpt, written by ``make demo``) the demo's network with
random weights stands in, which measures speed only (an untrained network's mask means nothing).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from monai.inferers import sliding_window_inference

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=REPO / "outputs/demo/best.ckpt")
    parser.add_argument(
        "--case", type=Path, help="a study folder (SUV.nii.gz, CTres.nii.gz); default: a phantom"
    )
    parser.add_argument("--seed", type=int, default=7, help="phantom seed when no --case is given")
    parser.add_argument(
        "--family", nargs="+", default=["fapi", "shifted"], help="phantom families (one scan each)"
    )
    parser.add_argument("--threads", type=int, help="torch threads for both (default: torch's)")
    parser.add_argument("--skip-suv", type=float, help="fapiseg's skip floor (default: infer.yaml's)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each method (best counts)")
    args = parser.parse_args()

    from fapiseg.inference import Predictor
    from fapiseg.inference.batch import discover_cases
    from fapiseg.inference.predictor import PredictorOptions

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        trained = args.checkpoint.exists()
        checkpoint = args.checkpoint if trained else untrained_checkpoint(Path(tmp) / "untrained.ckpt")
        folders = [args.case] if args.case else [
            phantom_case(Path(tmp) / family, args.seed, family) for family in args.family
        ]
        options = PredictorOptions() if args.skip_suv is None else PredictorOptions(skip_suv=args.skip_suv)
        predictor = Predictor.from_checkpoint(checkpoint, device="cpu", options=options)
        print(f"network: {'trained ' + str(checkpoint) if trained else 'UNTRAINED demo DynUNet (speed only)'}")
        print(f"fapiseg: {predictor.describe()}; torch threads {torch.get_num_threads()}")
        ratios, dices = [], []
        for folder in folders:
            (case,) = discover_cases(folder)
            ratio, dice = compare(predictor, case, f"{folder.parent.parent.name}/{case.name}", args.rounds)
            ratios.append(ratio)
            dices.append(dice)

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    if len(folders) > 1:
        print(f"all cases: ratio fapiseg / plain {min(ratios):.2f}-{max(ratios):.2f}, Dice >= {min(dices):.4f}")
    print(f"peak memory (RSS): {peak_gb:.2f} GB")
    return 0


def compare(predictor, case, label: str, rounds: int) -> tuple[float, float]:
    """Time fapiseg's Predictor end to end and a plain MONAI sliding window on ``case``; print one
    block; return (time ratio, Dice of the masks)."""
    from fapiseg.inference.resample import to_input_grid

    image = predictor.preprocess(case)

    def plain():
        with torch.inference_mode():
            return sliding_window_inference(
                image[None],
                predictor.roi_size,
                predictor.sw_batch_size,
                predictor.network,
                overlap=predictor.overlap,
                mode="gaussian",
            )

    # Warm up both, then alternate them (the machine may be shared: each keeps its best of ``rounds``).
    ours, logits = predictor.predict_case(case), plain()
    ours_times, plain_times = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        ours = predictor.predict_case(case)
        ours_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        logits = plain()
        plain_times.append(time.perf_counter() - start)
    ours_seconds, plain_seconds = min(ours_times), min(plain_times)
    windows = predictor.last_windows
    plain_prob = torch.softmax(torch.as_tensor(logits), 1)[0, 1].numpy()
    pet = ours.images.pet
    plain_mask = to_input_grid(plain_prob, np.asarray(image.affine), pet.shape, pet.affine) > 0.5
    ours_mask = ours.mask.array > 0
    both = int(plain_mask.sum() + ours_mask.sum())
    dice = 1.0 if both == 0 else 2 * int((plain_mask & ours_mask).sum()) / both

    print(f"case {label} {nib_shape(case.pet)}")
    print(f"plain MONAI sliding window (fp32, every window): {plain_seconds:.1f} s")
    print(
        f"fapiseg Predictor end to end: {ours_seconds:.1f} s "
        f"({windows.run} of {windows.total} windows run, {windows.skipped} skipped)"
    )
    print(f"ratio fapiseg / plain: {ours_seconds / plain_seconds:.2f}")
    print(
        f"Dice fapiseg vs plain mask: {dice:.4f} ({int(ours_mask.sum())} vs {int(plain_mask.sum())} voxels)"
    )
    return ours_seconds / plain_seconds, dice


def nib_shape(path: Path) -> tuple:
    import nibabel as nib

    return tuple(nib.load(str(path)).shape)


def phantom_case(root: Path, seed: int, family: str) -> Path:
    """One whole-body (neck to thigh) phantom scan of ``family``."""
    from fapiseg.phantom import generate_cohort

    generate_cohort(root, 1, 1, seed=seed, family=family)
    return next(root.glob("*/*/SUV.nii.gz")).parent


def untrained_checkpoint(path: Path) -> Path:
    """The demo experiment's network and settings (configs, experiment=demo) with random weights."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=demo", "paths.root_dir=.", "paths.output_dir=."])
    cfg = OmegaConf.to_container(cfg, resolve=True)
    cfg["data"]["spacing_mm"] = cfg["data"]["spacing_mm"] or [4.0, 4.0, 4.0]
    torch.manual_seed(0)
    network = instantiate(cfg["model"]["net"])
    state = {f"network.{k}": v for k, v in network.state_dict().items()}
    torch.save({"hyper_parameters": {"cfg": cfg}, "state_dict": state}, path)
    return path


if __name__ == "__main__":
    sys.exit(main())
