"""Sliding-window inference that skips windows which cannot hold a lesion.

MONAI's :func:`monai.inferers.sliding_window_inference` does the windowing, padding and Gaussian
blending; this module only decides, window by window, whether the network needs to run. A window is
skipped when none of its voxels is a *candidate*: a voxel with uptake at or above a floor (PET) that
lies in the body (CT above air). Candidates are found once on the whole image; each window is looked up
by its coordinates.

What is blended is the lesion logit margin (``logits[:, 1] - logits[:, 0]``), then turned into a
probability by a sigmoid: for two classes that is exactly the softmax of MONAI's blended logits.
A skipped window contributes a margin of minus infinity, so every voxel inside a skipped window has
lesion probability 0.

Guarantee: a candidate voxel is never inside a skipped window, so every window that covers it runs and
its blended result is exactly that of the plain sliding window. Only non-candidate voxels (below the
uptake floor, or in air) that share a skipped window can differ, and they become 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from monai.inferers import sliding_window_inference

Predictor = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class WindowSkip:
    """When a window may be skipped, in the network's input units (after intensity scaling).

    A voxel is a candidate when channel ``pet_channel`` is >= ``pet_floor`` and, if ``ct_channel`` is
    set, channel ``ct_channel`` is >= ``ct_floor``. A window without a candidate voxel is skipped.
    """

    pet_floor: float
    pet_channel: int = 0
    ct_floor: float | None = None
    ct_channel: int | None = None

    def candidates(self, image: torch.Tensor) -> torch.Tensor:
        """Candidate voxels of ``image`` (B, C, *spatial): a bool tensor (B, *spatial)."""
        hot = image[:, self.pet_channel] >= self.pet_floor
        if self.ct_channel is not None and self.ct_floor is not None:
            hot &= image[:, self.ct_channel] >= self.ct_floor
        return hot

    def keep(self, windows: torch.Tensor) -> torch.Tensor:
        """Which windows (B, C, *roi) hold a candidate voxel: a bool tensor (B,)."""
        return self.candidates(windows).flatten(1).any(dim=1)


@dataclass
class WindowCount:
    """How many windows the network ran on, and how many were skipped."""

    run: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.run + self.skipped


def sliding_window_lesion_probability(
    image: torch.Tensor,
    predictor: Predictor,
    roi_size: tuple[int, int, int],
    overlap: float,
    sw_batch_size: int = 2,
    skip: WindowSkip | None = None,
    sigma_scale: float = 0.125,
    count: WindowCount | None = None,
) -> torch.Tensor:
    """Lesion probability (1, 1, *spatial) of ``image`` (1, C, *spatial), Gaussian-blended windows.

    ``predictor`` maps windows (B, C, *roi) to lesion logit margins (B, 1, *roi)
    (``logits[:, 1] - logits[:, 0]``). ``skip=None`` runs every window: then the result is the sigmoid
    of MONAI's sliding window of ``predictor``, i.e. the softmax of its blended logits. ``count``
    (optional) receives the number of windows run and skipped.
    """
    count = count if count is not None else WindowCount()
    candidates = None if skip is None else _padded_like_monai(skip.candidates(image)[0], roi_size)

    def run_windows(windows: torch.Tensor, coords) -> torch.Tensor:
        if candidates is None:
            keep = torch.ones(len(windows), dtype=torch.bool)
        else:  # coords: [batch slice, channel slice, *spatial slices] of each window, on the padded image
            keep = torch.tensor([bool(candidates[tuple(c[2:])].any()) for c in coords])
        count.run += int(keep.sum())
        count.skipped += int((~keep).sum())
        if bool(keep.all()):
            return predictor(windows).float()
        out = torch.full(
            (len(windows), 1, *windows.shape[2:]), -torch.inf, dtype=torch.float32, device=windows.device
        )
        if bool(keep.any()):
            kept = keep.to(windows.device)
            out[kept] = predictor(windows[kept]).float()
        return out

    margin = sliding_window_inference(
        image,
        roi_size,
        sw_batch_size,
        run_windows,
        overlap=overlap,
        mode="gaussian",
        sigma_scale=sigma_scale,
        with_coord=True,
    )
    return torch.sigmoid(margin)


def _padded_like_monai(mask: torch.Tensor, roi_size: tuple[int, ...]) -> torch.Tensor:
    """``mask`` padded (False) as MONAI pads an image smaller than the window: half before, the rest after."""
    pad = []
    for size, roi in zip(reversed(mask.shape), reversed(roi_size)):
        diff = max(roi - size, 0)
        pad += [diff // 2, diff - diff // 2]
    return torch.nn.functional.pad(mask, pad) if any(pad) else mask
