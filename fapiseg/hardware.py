"""What this machine's CPU can do that changes how fapiseg runs on it."""

from __future__ import annotations

import torch


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles, which run bfloat16 convolutions natively (torch's own probe).

    With them bfloat16 runs the demo's 32^3 DynUNet in 0.6x its float32 time in training and 0.5-0.9x at
    inference (README); without them bfloat16 on a CPU is slower than float32.
    """
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())
