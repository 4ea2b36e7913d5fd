"""A network set to an output prior starts by calling every voxel a lesion with that probability."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from monai.networks.nets import DynUNet, UNet

from fapiseg.models.prior import output_layers, set_output_prior
from tests.training.runs import compose_cfg


def _dynunet(**kwargs) -> DynUNet:
    return DynUNet(3, 2, 2, [3, 3, 3], [1, 2, 2], [2, 2], filters=[4, 8, 16], **kwargs)


def test_every_head_starts_at_the_prior_when_the_features_carry_no_signal():
    net = _dynunet(deep_supervision=True, deep_supr_num=1)
    assert set_output_prior(net, 0.01) == 2  # the output block and one deep-supervision head
    for conv in output_layers(net, 2):
        conv.weight.data.zero_()  # the logits are then the biases alone
    net.train()
    heads = net(torch.randn(1, 2, 16, 16, 16))
    probs = torch.softmax(heads, dim=2)[:, :, 1]
    assert torch.allclose(probs, torch.full_like(probs, 0.01), atol=1e-6)


def test_the_prior_holds_for_more_than_one_foreground_class():
    net = DynUNet(3, 2, 3, [3, 3, 3], [1, 2, 2], [2, 2], filters=[4, 8, 16])
    set_output_prior(net, 0.05, classes=3)
    net.output_block.conv.conv.weight.data.zero_()
    probs = torch.softmax(net.eval()(torch.randn(1, 2, 8, 8, 8)), dim=1)
    assert torch.allclose(probs[:, 1:], torch.full_like(probs[:, 1:], 0.05), atol=1e-6)


def test_a_fresh_network_with_the_prior_calls_far_fewer_voxels_a_lesion():
    torch.manual_seed(0)
    plain, primed = _dynunet(), _dynunet()
    primed.load_state_dict(plain.state_dict())
    set_output_prior(primed, 0.01)
    image = torch.randn(1, 2, 16, 16, 16)
    with torch.no_grad():
        share = lambda net: float((net.eval()(image).argmax(1) == 1).float().mean())
    assert share(plain) > 0.2 and share(primed) < 0.02


def test_the_module_applies_the_configured_prior():
    overrides = ["data.root=.", "data.patch_size=[32,32,32]", "model.net.filters=[4,8,16,32,64]"]
    model = instantiate(compose_cfg([*overrides, "model.output_prior=0.02"]).model, cfg={})
    bias = model.network.output_block.conv.conv.bias
    assert float(torch.softmax(bias.detach(), 0)[1]) == pytest.approx(0.02)
    assert model.hparams.output_prior == 0.02
    default = instantiate(compose_cfg(overrides).model, cfg={})
    assert float(default.network.output_block.conv.conv.bias.abs().max()) == 0.0


@pytest.mark.parametrize("prior", [0.0, 0.5, 1.2])
def test_a_prior_outside_the_open_interval_is_refused(prior):
    with pytest.raises(ValueError, match="output prior"):
        set_output_prior(_dynunet(), prior)


def test_a_network_without_a_1x1x1_output_convolution_is_named():
    net = UNet(3, 2, 2, channels=(4, 8), strides=(2,))
    with pytest.raises(ValueError, match="UNet has no 1x1x1 output convolution"):
        set_output_prior(net, 0.01)
