"""Training throughput on CPU: iterations per second and the data-wait share, against plainer loops.

Trains the default configuration (``configs/train.yaml``, optionally with ``experiment=...`` or other
overrides) for two short epochs without validation or logging, three times in the same run:

- fapiseg: the configured pipeline (preprocessed volumes cached in memory, ``data.num_workers`` workers
  cropping and augmenting in the background; ``trainer.precision=auto``, which is bfloat16 on a CPU with
  AMX, and the channels-last 3-D layout on a CPU);
- float32: the same pipeline with float32 weights in the default layout
  (``trainer.precision=32-true model.channels_last=false``), the network step as PyTorch runs it by default;
- plain: that, and no cache and no workers (``data.cache=none data.num_workers=0``): every step reads and
  resamples the NIfTI files in the training process, the loop everyone writes first.

It prints, for the second (steady-state) epoch of each, training iterations per second and the share of
step time spent waiting for a batch (goal: under 10 %), then the speed-ups over both. The cohort is ``--data``, or a
phantom generated into a temporary folder. Run from the repository root:
``PYTHONPATH=$PWD .venv/bin/python benchmarks/train_throughput.py [--steps 20] [hydra overrides]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from fapiseg.cli import main as fapiseg_cli
from fapiseg.training.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
FLOAT32 = ["trainer.precision=32-true", "model.channels_last=false"]
VARIANTS = {"fapiseg": [], "float32": FLOAT32, "plain": [*FLOAT32, "data.cache=none", "data.num_workers=0"]}


def measure(data: Path, out: Path, steps: int, overrides: list[str], variant: list[str]) -> dict[str, float]:
    args = [
        f"data.root={data}", f"paths.root_dir={out}", f"paths.output_dir={out}", f"data.iterations_per_epoch={steps}",
        "trainer.max_epochs=2", "+trainer.limit_val_batches=0", "+trainer.enable_checkpointing=false",
        "trainer.enable_progress_bar=false", "~logger", "~callbacks.model_checkpoint", "~callbacks.last_checkpoint",
        "~callbacks.mlflow_artifacts",
        *overrides, *variant,
    ]  # fmt: skip
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=args, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    start = time.perf_counter()
    metrics = train(cfg)
    metrics["wall_s"] = time.perf_counter() - start
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="cohort folder (default: a generated 8-patient phantom)")
    parser.add_argument("--steps", type=int, default=20, help="training steps per epoch")
    parser.add_argument("overrides", nargs="*", help="hydra overrides, e.g. experiment=demo")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp, "phantom")
            fapiseg_cli(["phantom", "--out", str(data), "--patients", "8", "--studies", "1", "--seed", "0"])
        results = {
            name: measure(data, Path(tmp, name), args.steps, args.overrides, v)
            for name, v in VARIANTS.items()
        }
    print(f"\n{'':10} {'it/s':>8} {'data wait':>10} {'wall (2 epochs, incl. caching)':>32}")
    for name, m in results.items():
        print(f"{name:10} {m['perf/it_per_s']:8.2f} {m['perf/data_wait_share']:10.1%} {m['wall_s']:30.1f} s")
    for other in ("float32", "plain"):
        ratio = results["fapiseg"]["perf/it_per_s"] / results[other]["perf/it_per_s"]
        print(f"speed-up of training iterations over {other}: {ratio:.2f}x")


if __name__ == "__main__":
    main()
