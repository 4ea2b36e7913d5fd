"""Start a segmentation network at a small lesion probability (the prior-probability bias of RetinaNet).

With zero output biases a fresh network calls half of every patch a lesion. Cross-entropy then spends
the first steps driving every logit towards background, until the softmax saturates and the Dice term
of a "no lesion" output (loss 1 per head) has almost no gradient left: the demo network sat on that
plateau for 150-450 of its ~950 steps. Biases that make every voxel start at probability ``prior``
(about the lesion share of a training patch) skip it (README, "The demo").
"""

from __future__ import annotations

import math

import torch
from torch import nn


def output_layers(net: nn.Module, classes: int) -> list[nn.Conv3d]:
    """The 1x1x1 convolutions that produce ``classes`` channels: the output head and any deep-supervision heads."""
    return [
        m
        for m in net.modules()
        if isinstance(m, nn.Conv3d)
        and m.kernel_size == (1, 1, 1)
        and m.out_channels == classes
        and m.bias is not None
    ]


def set_output_prior(net: nn.Module, prior: float, classes: int = 2) -> int:
    """Set the output biases so that, before any training, softmax gives each foreground class ``prior``.

    Channel 0 is background. Returns the number of output layers set; raises ``ValueError`` for a prior
    outside (0, 1/classes) or a network with no 1x1x1 output convolution (MONAI's ``UNet``, for one).
    """
    if not 0.0 < prior < 1.0 / classes:
        raise ValueError(f"output prior must lie in (0, {1.0 / classes:g}), got {prior}")
    layers = output_layers(net, classes)
    if not layers:
        raise ValueError(
            f"{type(net).__name__} has no 1x1x1 output convolution with {classes} channels to set a prior on"
        )
    # softmax of (0, b, ..., b): each foreground class gets e^b / (1 + (classes - 1) e^b) = prior
    b = math.log(prior / (1.0 - (classes - 1) * prior))
    bias = torch.full((classes,), b)
    bias[0] = 0.0
    with torch.no_grad():
        for conv in layers:
            conv.bias.copy_(bias)
    return len(layers)
