"""What this machine's CPU can do that changes how fapiseg runs on it."""

from __future__ import annotations

import torch


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles (Intel Sapphire Rapids and later), torch's own probe.

    With them bfloat16 trains the demo's 32^3 DynUNet in 0.6x its float32 time (README, "Devices"). Training
    uses bfloat16 on a CPU only with AMX: on AVX-512 BF16 without AMX (an AMD EPYC of family 26, torch
    2.13.0) oneDNN's bfloat16 weight gradient of a 3^3 convolution over a 2^3 input, the demo network's
    bottleneck, comes out as garbage (1e30 or NaN), and training diverges within 25 steps.
    """
    return _probe("_is_amx_tile_supported")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively: AMX tiles or AVX-512 BF16 dot products (Intel Cooper
    Lake, AMD Zen 4 and later); torch's own probes.

    Inference runs in bfloat16 there: the demo network's windows take 0.43x their float32 time on AVX-512 BF16
    and 0.5-0.9x on AMX (README, Inference). Forward convolutions are correct on both (the faulty kernel
    of :func:`cpu_has_amx` is a weight gradient, which inference never computes).
    """
    return cpu_has_amx() or _probe("_is_avx512_bf16_supported")


def _probe(name: str) -> bool:
    probe = getattr(torch.cpu, name, None)
    return bool(probe and probe())
