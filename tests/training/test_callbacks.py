"""TimeBudget: the learning rate decays over a wall-clock budget (or the step budget), then one last validation.
The configured checkpoints: best.ckpt keeps the best score, last.ckpt the latest weights."""

from __future__ import annotations

import time

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch.utils.data import DataLoader, TensorDataset

from fapiseg.training.callbacks import TimeBudget
from tests.training.runs import compose_cfg

BASE_LR = 0.1


class _Recorder(pl.LightningModule):
    """A linear model whose steps take ``step_s`` seconds; records each step's learning rate and when it
    was validated."""

    def __init__(self, step_s: float = 0.0, scheduler: bool = False) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)
        self.step_s, self.scheduler = step_s, scheduler
        self.lrs: list[float] = []
        self.validated_at: list[int] = []

    def training_step(self, batch, batch_idx):
        time.sleep(self.step_s)
        self.lrs.append(self.optimizers().param_groups[0]["lr"])
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        if batch_idx == 0:
            self.validated_at.append(self.global_step)

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.parameters(), lr=BASE_LR)
        if not self.scheduler:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1)}


class _Worsening(_Recorder):
    """Its validation score falls every time: the first validation is the best one."""

    def validation_step(self, batch, batch_idx):
        super().validation_step(batch, batch_idx)
        self.log("val/dice", -float(self.global_step))


def _fit(
    module: _Recorder, budget: TimeBudget, max_epochs: int, check_val_every_n_epoch: int, checkpoints=()
) -> pl.Trainer:
    data = DataLoader(TensorDataset(torch.randn(4, 2)), batch_size=1)
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=max_epochs,
        check_val_every_n_epoch=check_val_every_n_epoch,
        num_sanity_val_steps=0,
        callbacks=[budget, *checkpoints],
        logger=False,
        enable_checkpointing=bool(checkpoints),
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, data, data)
    return trainer


def test_training_stops_when_the_time_is_up_annealed_and_validates_the_final_weights():
    module = _Recorder(step_s=0.05)
    trainer = _fit(module, TimeBudget(minutes=1.5 / 60), max_epochs=1000, check_val_every_n_epoch=1000)

    assert 10 <= trainer.global_step < 200  # stopped by the clock (1.5 s of 50 ms steps), not by the epochs
    assert module.validated_at == [trainer.global_step]  # once, after the last step
    assert module.lrs[0] == pytest.approx(BASE_LR, rel=0.1)
    assert all(a > b for a, b in zip(module.lrs, module.lrs[1:]))
    assert module.lrs[-1] < 0.5 * BASE_LR


def test_a_fast_machine_follows_the_poly_decay_over_the_steps_and_validates_the_last_epoch():
    module = _Recorder()
    trainer = _fit(module, TimeBudget(minutes=60), max_epochs=3, check_val_every_n_epoch=5)

    steps = 3 * 4
    assert trainer.global_step == steps
    assert module.lrs == pytest.approx([BASE_LR * (1 - k / steps) ** 0.9 for k in range(steps)], rel=1e-3)
    assert module.validated_at == [steps]  # 3 is no multiple of 5: validated because the budget ends


def test_a_deadline_before_the_budget_ends_ends_training_annealed_and_validated():
    module = _Recorder(step_s=0.05)
    budget = TimeBudget(minutes=60, deadline=time.time() + 1.5)
    trainer = _fit(module, budget, max_epochs=1000, check_val_every_n_epoch=1000)

    assert 10 <= trainer.global_step < 200  # stopped by the deadline, not by the hour or the epochs
    assert budget.seconds <= 1.5
    assert module.validated_at == [trainer.global_step]
    assert module.lrs[-1] < 0.5 * BASE_LR


def test_a_deadline_already_past_still_ends_in_a_validated_step():
    module = _Recorder(step_s=0.6)
    trainer = _fit(module, TimeBudget(minutes=60, deadline=time.time() - 10), 5, 5)

    assert trainer.global_step <= 2  # the floor of one second: one or two steps of 0.6 s, not 20
    assert module.validated_at == [trainer.global_step]


def test_a_scheduler_beside_the_budget_is_refused():
    with pytest.raises(ValueError, match="model.scheduler=null"):
        _fit(_Recorder(scheduler=True), TimeBudget(minutes=1), max_epochs=1, check_val_every_n_epoch=1)


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        TimeBudget(minutes=0)


def test_last_checkpoint_holds_the_final_weights_when_the_score_fell(tmp_path):
    callbacks = compose_cfg(["data.root=.", f"paths.output_dir={tmp_path}"]).callbacks
    checkpoints = [instantiate(callbacks[name]) for name in ("model_checkpoint", "last_checkpoint")]
    module = _Worsening(step_s=0.02)
    trainer = _fit(module, TimeBudget(minutes=0.5 / 60), 1000, 2, checkpoints)  # stops mid-epoch

    def step(name: str) -> int:
        return torch.load(tmp_path / "checkpoints" / name, weights_only=True)["global_step"]

    assert len(module.validated_at) >= 2 and module.validated_at[-1] == trainer.global_step
    assert step("best.ckpt") == module.validated_at[0]
    assert step("last.ckpt") == trainer.global_step
    assert trainer.checkpoint_callback is checkpoints[0]
