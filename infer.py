"""Segment a folder of cases: ``python infer.py input=DATA_DIR output=PRED_DIR checkpoint=CKPT`` (configs/infer.yaml)."""

import sys

import hydra
from omegaconf import DictConfig

from fapiseg.inference.run import run_inference


@hydra.main(config_path="configs", config_name="infer", version_base="1.3")
def main(cfg: DictConfig) -> None:
    sys.exit(run_inference(cfg))


if __name__ == "__main__":
    main()
