"""What runs on one batch of windows: several networks (folds), mirrored copies (flip TTA), reduced precision.

Every network sees every mirrored copy of the windows; their softmax probabilities are flipped back and
averaged (as nnU-Net mirrors each patch), and the sliding window blends the logit of that mean (for one
network without TTA: its logit margin, exactly what a plain sliding window over the logits blends).
Precision: float16 autocast on a GPU; bfloat16 on a CPU that multiplies it natively (AMX or AVX-512 BF16),
else float32; channels-last memory on CPU.

On a CPU with several threads the windows of a batch are split among worker threads (up to one per
window), each running its share with its part of the intra-op threads (one each on a small machine): the
same threads, used window by window instead of op by op.
Each window's result is the same either way (it depends on no other window); the gain is that the
network's many small operations (the deep levels are 3^3-12^3 voxels) no longer wait at a barrier of
all threads, which matters most when the cores are shared with other work.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import torch

from fapiseg.hardware import cpu_has_native_bf16

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

    ``auto`` is float16 on CUDA; on a CPU bfloat16 when it multiplies bfloat16 natively (AMX tiles or
    AVX-512 BF16; training uses it on AMX only, :mod:`fapiseg.hardware`), else float32. On the demo
    cohorts bfloat16 windows took 0.43-0.9x the float32 time with masks at Dice >= 0.99 against float32
    (README, Inference, "bfloat16 on AMX" and "bfloat16 on AVX-512 BF16").
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else None
    return torch.float16 if precision == "fp16" else torch.bfloat16


class GroupNormAsInstanceNorm(torch.nn.Module):
    """``InstanceNorm`` (no running statistics) computed as ``group_norm`` with one group per channel.

    The same normalisation (per sample and channel, over space), but PyTorch's group-norm CPU kernel
    works on channels-last tensors in place and accumulates bfloat16 in float32, where instance norm
    copies to the contiguous layout and back around every call.
    """

    def __init__(self, norm: torch.nn.modules.instancenorm._InstanceNorm) -> None:
        super().__init__()
        self.num_groups, self.eps = norm.num_features, norm.eps
        self.weight, self.bias = norm.weight, norm.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)


def inference_copy(network: torch.nn.Module, channels_last: bool) -> torch.nn.Module:
    """A copy of ``network`` arranged for fast inference; the original is left as it is.

    Instance norms without running statistics become :class:`GroupNormAsInstanceNorm` (identical
    results); deep-supervision heads, which an eval-mode network computes and then discards, are
    dropped; batch norms are folded into the convolutions before them (:func:`fold_batch_norms`); with
    ``channels_last`` the weights are stored channels-last.
    """
    from monai.networks.nets.dynunet import DynUNetSkipLayer

    fast = copy.deepcopy(network).eval()
    for module in list(fast.modules()):
        if isinstance(module, DynUNetSkipLayer):
            module.heads = None  # the layer then skips its super_head (only training returns the heads)
        for name, child in module.named_children():
            if (
                isinstance(child, torch.nn.modules.instancenorm._InstanceNorm)
                and not child.track_running_stats
            ):
                setattr(module, name, GroupNormAsInstanceNorm(child))
    fast = fold_batch_norms(fast)
    return fast.to(memory_format=torch.channels_last_3d) if channels_last else fast


def fold_batch_norms(network: torch.nn.Module) -> torch.nn.Module:
    """``network`` (eval mode) with every batch norm that directly follows a convolution folded into it.

    In eval mode a batch norm is a fixed per-channel scale and shift, so the convolution's weights and
    bias absorb it (``torch.fx``'s conv-BN fusion) and one pass over the activations is saved; results
    agree to float rounding. A network ``torch.fx`` cannot trace, or one without batch norms, is returned
    unchanged.
    """
    from torch.fx.experimental.optimization import fuse

    if not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in network.modules()):
        return network
    try:
        return fuse(network)
    except Exception:  # noqa: BLE001 - any tracing failure: run the network as it is
        return network


class WindowPredictor:
    """Callable: windows (B, C, *roi) -> averaged lesion probability (B, 1, *roi), float32.

    The lesion probability of a network is ``softmax(logits, 1)[:, 1]``. ``networks`` are in eval mode
    on ``device``; ``flips`` come from :func:`mirror_axes`; ``dtype`` is the autocast dtype (None:
    float32); with ``fast`` the networks run as :func:`inference_copy` copies (channels-last on CPU);
    ``workers`` > 1 splits each batch among that many threads of ``worker_threads`` intra-op threads each
    (CPU only).
    """

    def __init__(
        self,
        networks: Sequence[torch.nn.Module],
        device: torch.device,
        flips: Sequence[tuple[int, ...]] = ((),),
        dtype: torch.dtype | None = None,
        fast: bool = False,
        workers: int = 1,
        worker_threads: int = 1,
    ) -> None:
        self.device = device
        self.workers = max(int(workers), 1) if device.type == "cpu" else 1
        self.worker_threads = max(int(worker_threads), 1)
        self._pool: ThreadPoolExecutor | None = None
        self.flips = list(flips)
        self.dtype = dtype
        self.channels_last = fast and device.type == "cpu"
        self.networks = [inference_copy(n, self.channels_last) for n in networks] if fast else list(networks)

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _split(self, run: Callable[[torch.Tensor], torch.Tensor], windows: torch.Tensor) -> torch.Tensor:
        """``run`` on ``windows``, split along the batch among the worker threads when there are several."""
        parts = min(self.workers, len(windows))
        if parts < 2:
            return run(windows)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                self.workers, initializer=torch.set_num_threads, initargs=(self.worker_threads,)
            )
        return torch.cat(list(self._pool.map(run, windows.tensor_split(parts))))

    def margin(self, windows: torch.Tensor) -> torch.Tensor:
        """Lesion logit margin (B, 1, *roi): ``logit(probability)``, what the sliding window blends.

        One network without TTA gives its ``logits[:, 1] - logits[:, 0]`` exactly, so the blended result
        is that of MONAI's plain sliding window over the network's logits (softmax after blending);
        an ensemble or TTA gives the logit of its mean probability (kept within +-16).
        """
        return self._split(self._margin, windows)

    @torch.no_grad()
    def _margin(self, windows: torch.Tensor) -> torch.Tensor:
        if len(self.networks) == 1 and len(self.flips) == 1 and not self.flips[0]:
            logits = self._run(self.networks[0], windows.to(self.device))
            return (logits[:, 1:2] - logits[:, 0:1]).contiguous()
        return torch.logit(self._probability(windows).double(), eps=1e-7).float()

    def _run(self, network: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with self._autocast():
            return network(x).float()

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        return self._split(self._probability, windows)

    @torch.no_grad()
    def _probability(self, windows: torch.Tensor) -> torch.Tensor:
        windows = windows.to(self.device)
        total = None
        for network in self.networks:
            for axes in self.flips:
                logits = self._run(network, windows.flip(axes) if axes else windows)
                lesion = torch.softmax(logits, dim=1)[:, 1:2]
                lesion = lesion.flip(axes) if axes else lesion
                total = lesion if total is None else total + lesion
        return (total / (len(self.networks) * len(self.flips))).contiguous()
