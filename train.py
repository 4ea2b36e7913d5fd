"""Train a lesion segmentation model: ``python train.py [hydra overrides]`` (see configs/train.yaml)."""

import hydra
from omegaconf import DictConfig

from fapiseg.training.train import train


@hydra.main(config_path="configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    """Returns the optimised metric, for sweepers."""
    return train(cfg).get(cfg.optimized_metric)


if __name__ == "__main__":
    main()
