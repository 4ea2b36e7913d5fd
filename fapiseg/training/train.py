"""The body of ``train.py``: seed, build everything from the config with ``instantiate``, fit.

``train(cfg)`` returns the final metrics (``trainer.callback_metrics`` as floats, plus
``best/<monitor>``: the best checkpoint's score), so a sweeper can optimise ``cfg.optimized_metric``.
Before building the model it fills in what the config leaves open, so the config saved in the
checkpoint and in MLflow is the one actually used: ``data.spacing_mm`` (derived from the training cases
when null), ``trainer.precision`` (``auto``: mixed precision on a GPU, bfloat16 on a CPU with AMX) and the MLflow run name.
"""

from __future__ import annotations

import logging
import os

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from fapiseg.data.cases import find_cases
from fapiseg.errors import FapisegError
from fapiseg.hardware import cpu_has_amx
from fapiseg.tracking.params import flatten, redact, run_name
from fapiseg.tracking.store import artifact_location

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, float]:
    """Train with the composed config ``cfg`` (``configs/train.yaml``); see the module docstring."""
    pl.seed_everything(int(cfg.seed), workers=True)
    ensure_cohort(cfg.data.root, cfg.get("phantom"))
    datamodule = instantiate(cfg.data)
    with open_dict(cfg):
        cfg.data.spacing_mm = list(datamodule.spacing_mm)
        cfg.trainer.precision = resolve_precision(cfg.trainer.accelerator, cfg.trainer.precision)
        if cfg.get("logger") and cfg.logger.get("mlflow"):
            ml = cfg.logger.mlflow
            ml.run_name = ml.run_name or run_name(cfg.experiment_name, _task_overrides())
            ml.artifact_location = ml.artifact_location or artifact_location(ml.tracking_uri)
    saved = redact(OmegaConf.to_container(cfg, resolve=True))
    model = instantiate(cfg.model, cfg=saved)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    datamodule.setup("fit")
    params = flatten(saved) | {f"data.{k}": v for k, v in datamodule.counts().items()}
    params.pop("logger.mlflow.run_name", None)  # the run's name already
    for logger in loggers:
        logger.log_hyperparams(params)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    ckpt = trainer.checkpoint_callback
    if ckpt is not None and ckpt.best_model_score is not None:
        metrics[f"best/{ckpt.monitor}"] = float(ckpt.best_model_score)
    return metrics


def resolve_precision(accelerator: str, precision: str | int) -> str | int:
    """``auto``: ``bf16-mixed`` (or ``16-mixed``) when training runs on a CUDA GPU; on a CPU ``bf16-mixed``
    when it has AMX tiles (bfloat16 matrix units: a 32^3 DynUNet step takes 0.6x the float32 time), else
    ``32-true`` (without AMX, bfloat16 on a CPU is slower than float32, or, with AVX-512 BF16 alone,
    wrong: :func:`fapiseg.hardware.cpu_has_amx`)."""
    if str(precision) != "auto":
        return precision
    on_gpu = str(accelerator) in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if on_gpu:
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "bf16-mixed" if cpu_has_amx() else "32-true"


def ensure_cohort(root: str, phantom: DictConfig | None) -> None:
    """Generate the synthetic cohort into ``root`` when it holds no case and ``phantom`` says how.

    Only the first process does it; DDP's other processes start later, from ``trainer.fit``.
    """
    if os.path.isdir(root) and find_cases(root):
        return
    if not phantom:
        raise FapisegError(f"{root}: no cases found (and no phantom configured to generate)")
    if int(os.environ.get("LOCAL_RANK", "0")) != 0:
        raise FapisegError(f"{root}: no cases found")
    from fapiseg.cli import main as fapiseg_cli

    log.info("generating the phantom cohort (%s patients) into %s", phantom.patients, root)
    args = [
        "phantom",
        "--out",
        str(root),
        "--patients",
        str(phantom.patients),
        "--studies",
        str(phantom.studies),
        "--seed",
        str(phantom.seed),
    ]
    if phantom.get("family"):
        args += ["--family", str(phantom.family)]
    if fapiseg_cli(args) != 0:
        raise FapisegError(f"{root}: generating the phantom cohort failed")


def _task_overrides() -> list[str]:
    """The command-line overrides of this run (empty outside a Hydra application)."""
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
