"""The LightningModule: a MONAI network, Dice+CE with deep supervision, whole-volume validation.

Built by ``hydra.utils.instantiate(cfg.model, cfg=resolved_cfg, _recursive_=False)`` from the
``model`` config group: ``net``, ``loss``, ``optimizer`` and ``scheduler`` are ``_target_`` configs
instantiated here, ``inference`` holds the sliding-window settings (``overlap``, ``sw_batch_size``,
``mode``) used for validation and by the inference side. Every constructor argument is saved as a plain
dict in ``checkpoint["hyper_parameters"]``; ``cfg`` is the whole resolved run configuration, so that
:func:`fapiseg.models.checkpoint.load_model` needs nothing but the ``.ckpt``.

The network outputs 2 channels of logits (background, lesion). Deep-supervision networks (DynUNet with
``deep_supervision: true``) return the stacked heads ``(B, 1 + n, 2, X, Y, Z)`` in training, each head
weighted 1/2^i (MONAI ``DeepSupervisionLoss``), and the main output only in eval mode.

Validation runs a MONAI sliding window over each whole (resampled) volume, takes the argmax and scores
it with :func:`fapiseg.metrics.dice_fpv_fnv` (autoPET Dice, FPV, FNV) and
:func:`fapiseg.metrics.match_lesions` (26-connected lesions) on the resampled grid, then logs
``val/loss``, ``val/dice`` (mean over scans with a lesion), ``val/lesion_sensitivity`` (pooled),
``val/fp_per_scan``, ``val/fpv_ml``, ``val/fnv_ml``, summed over DDP ranks before the ratios are taken.

``channels_last`` (``auto``: on a CPU) stores weights and inputs in the channels-last 3-D layout, which
oneDNN's CPU convolutions run fastest: a training step of the demo network takes 0.65x the time
(``benchmarks/train_throughput.py``). The losses are computed in float32 under mixed precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from monai.inferers import sliding_window_inference
from monai.losses import DeepSupervisionLoss
from omegaconf import DictConfig, OmegaConf

from fapiseg.metrics.detection import match_lesions
from fapiseg.metrics.segmentation import dice_fpv_fnv
from fapiseg.models.prior import set_output_prior

#: Sums kept over a validation epoch, in this order, then reduced over ranks.
_SUMS = ("loss", "scans", "dice_sum", "dice_scans", "fpv_ml", "fnv_ml", "ref_lesions", "detected", "fp")


def plain(value: Any) -> Any:
    """An OmegaConf node as plain Python containers (resolved); anything else unchanged."""
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig) else value


class SegmentationModule(pl.LightningModule):
    """See the module docstring. ``figure_cases`` validation volumes are kept for the MIP figures."""

    def __init__(
        self,
        net: Mapping,
        loss: Mapping,
        optimizer: Mapping,
        scheduler: Mapping | None,
        inference: Mapping,
        figure_cases: int = 2,
        channels_last: bool | str = "auto",
        cfg: Mapping | None = None,
        output_prior: float | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            {
                "net": plain(net),
                "loss": plain(loss),
                "optimizer": plain(optimizer),
                "scheduler": plain(scheduler),
                "inference": plain(inference),
                "figure_cases": int(figure_cases),
                "channels_last": channels_last,
                "cfg": plain(cfg),
                "output_prior": output_prior,
            },
            logger=False,
        )  # train() logs the flattened run config itself
        self.network = instantiate(self.hparams.net)
        if output_prior is not None:
            set_output_prior(self.network, float(output_prior), int(self.hparams.net["out_channels"]))
        self.criterion = instantiate(self.hparams.loss)
        self.train_loss = DeepSupervisionLoss(self.criterion, weight_mode="exp")
        self.roi_size = tuple(int(r) for r in self.hparams.inference["roi_size"])
        self.val_cases: list[dict[str, np.ndarray]] = []
        self._sums = torch.zeros(len(_SUMS), dtype=torch.float64)
        self._layout = torch.contiguous_format

    def setup(self, stage: str) -> None:
        """Choose the memory layout once the device is known (before the optimizer is built)."""
        wanted = self.hparams.channels_last
        on_cpu = self.trainer.strategy.root_device.type == "cpu"
        if wanted is True or (wanted == "auto" and on_cpu):
            self._layout = torch.channels_last_3d
            self.network.to(memory_format=self._layout)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network(image.contiguous(memory_format=self._layout))

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["image"]).float()
        heads = list(torch.unbind(out, dim=1)) if out.dim() == batch["image"].dim() + 1 else out
        loss = self.train_loss(heads, batch["label"])
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=len(batch["image"]),
            sync_dist=True,
        )
        self.log(
            "train/lr", self.optimizers().param_groups[0]["lr"], on_step=False, on_epoch=True, batch_size=1
        )
        return loss

    def sliding_window(self, image: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2, X, Y, Z) of whole volumes, windowed as the inference side does."""
        inf = self.hparams.inference
        return sliding_window_inference(
            image,
            self.roi_size,
            int(inf["sw_batch_size"]),
            self,
            overlap=float(inf["overlap"]),
            mode=inf["mode"],
        )

    def on_validation_epoch_start(self) -> None:
        self._sums = torch.zeros(len(_SUMS), dtype=torch.float64)
        self.val_cases = []

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        image, label = batch["image"], batch["label"]
        logits = torch.as_tensor(self.sliding_window(image)).float()
        loss = float(self.criterion(logits, torch.as_tensor(label)))
        pred = logits.argmax(dim=1).cpu().numpy().astype(np.uint8)
        ref = torch.as_tensor(label)[:, 0].cpu().numpy() > 0.5
        affines = image.affine.cpu().numpy().reshape(-1, 4, 4)
        for b in range(len(pred)):
            scores = dice_fpv_fnv(pred[b], ref[b], affines[b])
            counts = match_lesions(pred[b], ref[b])
            has_ref = scores.dice is not None
            self._sums += torch.tensor(
                [
                    loss,
                    1,
                    scores.dice or 0.0,
                    has_ref,
                    scores.fpv_ml,
                    scores.fnv_ml,
                    counts.n_ref,
                    counts.tp,
                    counts.fp,
                ],
                dtype=torch.float64,
            )
            if len(self.val_cases) < self.hparams.figure_cases:
                pet = torch.as_tensor(image)[b, 0].cpu().numpy()
                self.val_cases.append(
                    {"pet": pet, "ref": ref[b], "pred": pred[b].astype(bool), "affine": affines[b]}
                )

    def on_validation_epoch_end(self) -> None:
        sums = dict(
            zip(_SUMS, self.trainer.strategy.reduce(self._sums.to(self.device), reduce_op="sum").tolist())
        )
        scans = max(sums["scans"], 1.0)
        metrics = {
            "val/loss": sums["loss"] / scans,
            "val/dice": sums["dice_sum"] / sums["dice_scans"] if sums["dice_scans"] else 0.0,
            "val/lesion_sensitivity": sums["detected"] / sums["ref_lesions"] if sums["ref_lesions"] else 0.0,
            "val/fp_per_scan": sums["fp"] / scans,
            "val/fpv_ml": sums["fpv_ml"] / scans,
            "val/fnv_ml": sums["fnv_ml"] / sums["dice_scans"] if sums["dice_scans"] else 0.0,
        }
        self.log_dict(metrics, sync_dist=True)  # equal on every rank already

    def configure_optimizers(self) -> dict:
        optimizer = instantiate(self.hparams.optimizer, params=self.parameters())
        if not self.hparams.scheduler:
            return {"optimizer": optimizer}
        scheduler = instantiate(self.hparams.scheduler, optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
