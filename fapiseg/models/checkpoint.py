"""Load a trained network from a Lightning checkpoint alone: the interface of the inference side.

A checkpoint written by ``train.py`` is a normal Lightning ``.ckpt`` that ``torch.load(path,
map_location="cpu", weights_only=True)`` opens: tensors, numbers, strings and plain containers only.
``checkpoint["hyper_parameters"]["cfg"]`` is the fully resolved run configuration as a plain dict.
The inference side reads these keys of it:

- ``model.net``: the network's ``_target_`` config (``hydra.utils.instantiate`` builds it);
- ``data.spacing_mm``: the model's voxel size, x y z in mm (RAS axes), after any derivation;
- ``data.patch_size``: the sliding-window size in voxels (= ``model.inference.roi_size``);
- ``model.inference.overlap``, ``model.inference.sw_batch_size``, ``model.inference.mode``;
- ``data.pet``, ``data.ct``: the intensity scaling, applied by
  :func:`fapiseg.data.transforms.inference_transforms` ``(cfg["data"])``.

The network's weights are the ``network.`` entries of ``checkpoint["state_dict"]``. Its output is 2
channels of logits (background, lesion); the lesion probability is ``softmax(logits, 1)[:, 1]``.
``fapiseg rescore`` adds ``checkpoint["fapiseg_rescorer"]``, the false-positive reduction fitted to this
network (:class:`fapiseg.inference.rescoring.Rescorer`, plain numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.utils import instantiate

from fapiseg.errors import FapisegError
from fapiseg.inference.rescoring import CHECKPOINT_KEY, Rescorer

NETWORK_PREFIX = "network."


@dataclass
class LoadedModel:
    """A trained network in eval mode with the settings it was trained with."""

    cfg: dict
    network: torch.nn.Module
    spacing_mm: tuple[float, float, float]
    roi_size: tuple[int, int, int]
    overlap: float
    rescorer: Rescorer | None = None


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents, loaded with ``weights_only=True`` (no code runs while loading)."""
    path = Path(path)
    if not path.is_file():
        raise FapisegError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise FapisegError(
            f"{path.name}: not a loadable checkpoint ({type(e).__name__}: {str(e)[:200]})"
        ) from None


def load_model(path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the network from the checkpoint's saved config, load its weights, put it in eval mode on ``device``."""
    ckpt = read_checkpoint(path)
    try:
        cfg = ckpt["hyper_parameters"]["cfg"]
        net_cfg = cfg["model"]["net"]
    except (KeyError, TypeError):
        raise FapisegError(
            f"{Path(path).name}: no saved configuration (hyper_parameters.cfg); not a fapiseg checkpoint"
        ) from None
    network = instantiate(net_cfg)
    state = {
        k[len(NETWORK_PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(NETWORK_PREFIX)
    }
    network.load_state_dict(state)
    network.eval().to(device)
    inference = cfg["model"]["inference"]
    rescorer = None
    if CHECKPOINT_KEY in ckpt:
        try:
            rescorer = Rescorer.from_dict(ckpt[CHECKPOINT_KEY])
        except (KeyError, TypeError, ValueError) as e:
            raise FapisegError(f"{Path(path).name}: unreadable false-positive reduction ({e})") from None
    return LoadedModel(
        cfg=cfg,
        network=network,
        spacing_mm=tuple(float(s) for s in cfg["data"]["spacing_mm"]),
        roi_size=tuple(int(r) for r in inference["roi_size"]),
        overlap=float(inference["overlap"]),
        rescorer=rescorer,
    )
