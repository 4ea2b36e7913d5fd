"""Training callbacks: step timing (is data loading hidden?), a wall-clock training budget, MLflow artifacts.

None of them keeps state in checkpoints, so every checkpoint stays loadable with ``weights_only=True``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.loggers import MLFlowLogger
from pytorch_lightning.utilities import rank_zero_info, rank_zero_only

from fapiseg.data.transforms import suv_scaling
from fapiseg.reports.mip import Outline, mip_figure


class StepTimer(pl.Callback):
    """Logs ``perf/it_per_s`` and ``perf/data_wait_share``: the share of step time spent waiting for a batch.

    The wait is the time from the end of one training step (or the start of the epoch) to the start of
    the next; the compute is the step itself (forward, backward, optimiser).
    """

    def __init__(self) -> None:
        self.wait_s = self.compute_s = 0.0
        self.steps = 0
        self._mark = self._start = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.wait_s = self.compute_s = 0.0
        self.steps = 0
        self._mark = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._start = time.perf_counter()
        self.wait_s += self._start - self._mark

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._mark = time.perf_counter()
        self.compute_s += self._mark - self._start
        self.steps += 1

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        total = self.wait_s + self.compute_s
        if self.steps and total > 0:
            pl_module.log_dict(
                {"perf/it_per_s": self.steps / total, "perf/data_wait_share": self.wait_s / total},
                sync_dist=True,
            )


class TimeBudget(pl.Callback):
    """Train for ``minutes`` of wall-clock time: nnU-Net's polynomial learning-rate decay
    ``lr * (1 - progress) ** power``, where progress is the larger of the budget's elapsed share and the
    trainer's step share, then a last validation (so ``best.ckpt`` sees the final weights).

    A slower machine thus takes fewer steps but still ends annealed, instead of being cut off at a high
    learning rate with its last steps never validated (what ``trainer.max_time`` does). The clock starts
    when the training loop does (after caching), and a resumed run gets a fresh budget. ``deadline``
    (Unix time) ends the budget earlier when it comes first: a caller with its own time limit (``make
    demo``) gives training what is left of it. Use it with ``model.scheduler=null``: it sets the learning
    rate itself.
    """

    def __init__(self, minutes: float, power: float = 0.9, deadline: float | None = None) -> None:
        if minutes <= 0:
            raise ValueError(f"TimeBudget needs a positive number of minutes, got {minutes}")
        self.minutes_s = 60.0 * float(minutes)
        self.seconds = self.minutes_s
        self.deadline = None if deadline is None else float(deadline)
        self.power = float(power)
        self._start = 0.0
        self._base_lrs: list[list[float]] = []

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.lr_scheduler_configs:
            raise ValueError("TimeBudget sets the learning rate itself: train with model.scheduler=null")
        self.seconds = self.minutes_s
        if self.deadline is not None:
            # at least one second: a deadline already past still ends in one annealed, validated step
            self.seconds = max(min(self.seconds, self.deadline - time.time()), 1.0)
            rank_zero_info(f"TimeBudget: {self.seconds / 60:.1f} min of training left before the deadline")
        self._start = time.monotonic()
        self._base_lrs = [[group["lr"] for group in opt.param_groups] for opt in trainer.optimizers]

    def progress(self, trainer) -> float:
        """Share of the budget used, 0..1: elapsed time or steps taken, whichever is further on
        (rank 0's figure, so every DDP rank uses the same learning rate)."""
        elapsed = (time.monotonic() - self._start) / self.seconds
        steps = trainer.global_step / max(float(trainer.estimated_stepping_batches), 1.0)
        return float(trainer.strategy.broadcast(min(max(elapsed, steps), 1.0)))

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == trainer.max_epochs - 1:  # the step budget ends here: validate it
            trainer.check_val_every_n_epoch = 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        factor = (1.0 - self.progress(trainer)) ** self.power
        for optimizer, base_lrs in zip(trainer.optimizers, self._base_lrs):
            for group, base_lr in zip(optimizer.param_groups, base_lrs):
                group["lr"] = base_lr * factor

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.progress(trainer) >= 1.0:
            # Lightning validates a stopping epoch only when it is a validation epoch
            trainer.check_val_every_n_epoch = 1
            trainer.should_stop = True


def _mlflow(trainer: pl.Trainer) -> MLFlowLogger | None:
    return next((lg for lg in trainer.loggers if isinstance(lg, MLFlowLogger)), None)


class MlflowArtifacts(pl.Callback):
    """Logs to the MLflow run (rank 0 only): the resolved config (``config/config.yaml``), validation MIP
    figures every validation (``figures/epoch_NNNN_case_K.png``: coronal and sagittal PET MIPs of the
    first validation volumes with reference and predicted outlines, :mod:`fapiseg.reports.mip`) and, at the end, the best checkpoint
    (``checkpoints/best.ckpt``)."""

    @rank_zero_only
    def on_fit_start(self, trainer, pl_module) -> None:
        logger = _mlflow(trainer)
        if logger is None:
            return
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "config.yaml")
            path.write_text(OmegaConf.to_yaml(OmegaConf.create(pl_module.hparams.cfg)))
            logger.experiment.log_artifact(logger.run_id, str(path), "config")

    @rank_zero_only
    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        logger = _mlflow(trainer)
        if logger is None or trainer.sanity_checking:
            return
        to_suv = suv_scaling(pl_module.hparams.cfg["data"]).to_suv
        with tempfile.TemporaryDirectory() as tmp:
            for k, case in enumerate(pl_module.val_cases, start=1):
                suv = to_suv(torch.as_tensor(case["pet"])).numpy()
                outlines = [
                    Outline(case["ref"], "reference", "tab:green"),
                    Outline(case["pred"], "prediction", "tab:red"),
                ]
                fig = mip_figure(
                    suv,
                    case["affine"],
                    outlines,
                    f"epoch {trainer.current_epoch}, validation case {k}",
                    height_in=3.5,
                )
                path = Path(tmp, f"epoch_{trainer.current_epoch:04d}_case_{k}.png")
                fig.savefig(path)
                logger.experiment.log_artifact(logger.run_id, str(path), "figures")

    @rank_zero_only
    def on_fit_end(self, trainer, pl_module) -> None:
        logger = _mlflow(trainer)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if logger is None or not best or not Path(best).is_file():
            return
        with tempfile.TemporaryDirectory() as tmp:
            link = Path(tmp, "best.ckpt")
            link.symlink_to(Path(best).resolve())
            logger.experiment.log_artifact(logger.run_id, str(link), "checkpoints")
