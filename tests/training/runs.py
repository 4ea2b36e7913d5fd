"""Compose the real training config with tiny budgets, as ``train.py`` would, for in-process tests."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from tests.conftest import REPO

CONFIGS = REPO / "configs"

#: experiment=smoke shrunk to the 32^3 test cohort: one epoch of two steps, validation, checkpoints.
TINY = [
    "experiment=smoke",
    "data.spacing_mm=[4.0,4.0,4.0]",
    "data.patch_size=[32,32,32]",
    "data.iterations_per_epoch=2",
    "data.num_workers=0",
    "model.inference.sw_batch_size=1",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
]


def tiny_overrides(data_root: Path, out_dir: Path, store: Path | None) -> list[str]:
    """TINY on ``data_root``, writing under ``out_dir``, logging to the SQLite file ``store`` (None: no logger)."""
    paths = [f"data.root={data_root}", f"paths.root_dir={out_dir}", f"paths.output_dir={out_dir}"]
    if store is None:
        return TINY + paths + ["~logger"]
    return (
        TINY
        + paths
        + [
            f"logger.mlflow.tracking_uri=sqlite:///{store}",
            f"logger.mlflow.artifact_location={out_dir.parent / 'artifacts'}",
        ]
    )


def compose_cfg(overrides: list[str]) -> DictConfig:
    """``configs/train.yaml`` with ``overrides``; Hydra's runtime config is set as in a real run."""
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg
