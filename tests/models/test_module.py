"""Every configured network builds from its config and gives 2-channel logits; deep supervision trains."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from hydra.utils import instantiate

from tests.training.runs import compose_cfg


@pytest.mark.parametrize("net", ["dynunet", "unet", "segresnet", "swinunetr"])
def test_each_network_config_gives_two_channel_logits_in_eval_mode(net):
    size = 64 if net == "swinunetr" else 32  # SwinUNETR downsamples by 32
    overrides = [f"model/net={net}", "data.root=.", f"data.patch_size=[{size},{size},{size}]"]
    if net == "swinunetr":
        overrides.append("model.net.feature_size=12")
    model = instantiate(compose_cfg(overrides).model, cfg={})
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 2, size, size, size))
    assert tuple(out.shape) == (1, 2, size, size, size)


def test_deep_supervision_heads_enter_the_training_loss():
    cfg = compose_cfg(["data.root=.", "data.patch_size=[32,32,32]", "model.net.filters=[4,8,16,32,64]"])
    model = instantiate(cfg.model, cfg={})
    model.train()
    image, label = torch.randn(2, 2, 32, 32, 32), (torch.rand(2, 1, 32, 32, 32) > 0.9).float()
    out = model(image)
    assert out.shape[:3] == (2, 1 + cfg.model.net.deep_supr_num, 2)
    loss = model.train_loss(list(torch.unbind(out, dim=1)), label)
    main_only = model.criterion(out[:, 0], label)
    assert torch.isfinite(loss) and float(loss) > float(main_only)


def _attached(model, device: str):
    """``model`` as a trainer on ``device`` would set it up (only the strategy's device is read)."""
    model.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))
    model.setup("fit")
    return model


@pytest.mark.parametrize("wanted", ["auto", True, False])
def test_channels_last_layout_on_a_cpu_gives_the_same_logits(wanted):
    cfg = compose_cfg(["data.root=.", "data.patch_size=[32,32,32]", "model.net.filters=[4,8,16,32,64]"])
    torch.manual_seed(0)
    reference = instantiate(cfg.model, cfg={}).eval()
    model = instantiate(cfg.model, cfg={}, channels_last=wanted)
    model.load_state_dict(reference.state_dict())
    _attached(model, "cpu").eval()
    weight = next(p for p in model.network.parameters() if p.dim() == 5)
    assert weight.is_contiguous(memory_format=torch.channels_last_3d) == (wanted is not False)
    image = torch.randn(1, 2, 32, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(image), reference.network(image), atol=1e-5)


def test_channels_last_auto_keeps_the_default_layout_off_the_cpu():
    cfg = compose_cfg(["data.root=.", "data.patch_size=[32,32,32]", "model.net.filters=[4,8,16,32,64]"])
    model = _attached(instantiate(cfg.model, cfg={}), "meta")
    weight = next(p for p in model.network.parameters() if p.dim() == 5)
    assert weight.is_contiguous() and model._layout == torch.contiguous_format
