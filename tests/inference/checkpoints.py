"""Checkpoints in the format train.py writes (a Lightning .ckpt: ``hyper_parameters.cfg`` + ``network.*``
weights; see fapiseg.models.checkpoint), built directly so that inference tests need no training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

PET_SCALING = {"mode": "log1p", "divisor": 3.0}
CT_WINDOW = [-1000.0, 1000.0]


def write_checkpoint(
    path: Path,
    net_cfg: dict,
    state_dict: dict,
    spacing_mm=(4.0, 4.0, 4.0),
    roi_size=(32, 32, 32),
    overlap: float = 0.25,
    flip_axes=None,
) -> Path:
    """``flip_axes`` None: a config that does not say which flips training used."""
    cfg = {
        "model": {
            "net": net_cfg,
            "inference": {
                "roi_size": list(roi_size),
                "overlap": overlap,
                "sw_batch_size": 2,
                "mode": "gaussian",
            },
        },
        "data": {
            "spacing_mm": list(spacing_mm),
            "patch_size": list(roi_size),
            "pet": dict(PET_SCALING),
            "ct": {"window": list(CT_WINDOW)},
        },
    }
    if flip_axes is not None:
        cfg["data"]["augmentation"] = {"flip_axes": list(flip_axes)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {"hyper_parameters": {"cfg": cfg}, "state_dict": {f"network.{k}": v for k, v in state_dict.items()}},
        path,
    )
    return path


def threshold_checkpoint(path: Path, suv: float = 4.0, gain: float = 40.0, **kwargs) -> Path:
    """A 1x1x1 convolution whose lesion probability is sigmoid(gain * (scaled PET - scaled ``suv``)):
    lesion exactly where SUV > ``suv``, so predictions can be checked against the image itself."""
    weight = torch.zeros(2, 2, 1, 1, 1)
    weight[1, 0] = gain
    bias = torch.tensor([0.0, -gain * float(np.log1p(suv)) / PET_SCALING["divisor"]])
    net = {"_target_": "torch.nn.Conv3d", "in_channels": 2, "out_channels": 2, "kernel_size": 1}
    return write_checkpoint(path, net, {"weight": weight, "bias": bias}, **kwargs)


def unet_checkpoint(path: Path, seed: int = 0, **kwargs) -> Path:
    """A small random MONAI UNet (untrained): for comparisons with a plain MONAI sliding window."""
    from monai.networks.nets import UNet

    net = {
        "_target_": "monai.networks.nets.UNet",
        "spatial_dims": 3,
        "in_channels": 2,
        "out_channels": 2,
        "channels": [4, 8, 16],
        "strides": [2, 2],
        "num_res_units": 1,
    }
    torch.manual_seed(seed)
    module = UNet(3, 2, 2, channels=(4, 8, 16), strides=(2, 2), num_res_units=1)
    return write_checkpoint(path, net, module.state_dict(), **kwargs)
