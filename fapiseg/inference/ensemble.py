"""What runs on one batch of windows: several networks (folds), mirrored copies (flip TTA), reduced precision.

Every network sees every mirrored copy of the windows; their softmax probabilities are flipped back and
averaged, so the sliding window blends one probability map whatever the ensemble (as nnU-Net mirrors
each patch). Reduced precision: float16 autocast on a GPU; bfloat16 on a CPU that has native bfloat16
instructions (otherwise it would be emulated, and slower than float32); channels-last memory on CPU.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Sequence

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def mirror_axes(tta: bool, axes: Sequence[int] = (0, 1, 2)) -> list[tuple[int, ...]]:
    """The flips to average: none, or every subset of the spatial ``axes`` (8 for three axes).

    Axes are spatial (0 = the first spatial axis); the returned tuples index a (B, C, X, Y, Z) tensor.
    """
    if not tta:
        return [()]
    spatial = [a + 2 for a in axes]
    return [combo for n in range(len(spatial) + 1) for combo in itertools.combinations(spatial, n)]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: the first CUDA GPU when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: float32).

    ``auto`` is float16 on CUDA, bfloat16 on a CPU with native bfloat16 support, else float32.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and _cpu_has_bf16() else None
    return torch.float16 if precision == "fp16" else torch.bfloat16


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class WindowPredictor:
    """Callable: windows (B, C, *roi) -> averaged lesion/background probabilities (B, K, *roi), float32.

    ``networks`` are in eval mode on ``device``; ``flips`` come from :func:`mirror_axes`.
    """

    def __init__(
        self,
        networks: Sequence[torch.nn.Module],
        device: torch.device,
        flips: Sequence[tuple[int, ...]] = ((),),
        dtype: torch.dtype | None = None,
        channels_last: bool | None = None,
    ) -> None:
        self.networks = list(networks)
        self.device = device
        self.flips = list(flips)
        self.dtype = dtype
        self.channels_last = device.type == "cpu" if channels_last is None else channels_last
        if self.channels_last:  # on copies: the caller's networks stay as they are
            self.networks = [copy.deepcopy(n).to(memory_format=torch.channels_last_3d) for n in self.networks]

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    @torch.no_grad()
    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        windows = windows.to(self.device)
        total = None
        for network in self.networks:
            for axes in self.flips:
                x = windows.flip(axes) if axes else windows
                if self.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last_3d)
                with self._autocast():
                    logits = network(x)
                probabilities = torch.softmax(logits.float(), dim=1)
                probabilities = probabilities.flip(axes) if axes else probabilities
                total = probabilities if total is None else total + probabilities
        return (total / (len(self.networks) * len(self.flips))).contiguous()
