"""Averaging networks and mirrored copies, and reduced precision, on one batch of windows."""

import pytest
import torch
from monai.networks.nets import UNet

import fapiseg.inference.ensemble as ensemble_module
from fapiseg.inference.ensemble import (
    WindowPredictor,
    autocast_dtype,
    inference_copy,
    mirror_axes,
    resolve_device,
)

CPU = torch.device("cpu")


def small_net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return UNet(3, 2, 2, channels=(4, 8), strides=(2,), num_res_units=0).eval()


@pytest.fixture(scope="module")
def windows():
    return torch.randn(2, 2, 16, 16, 16, generator=torch.Generator().manual_seed(3))


def test_one_network_without_tta_is_its_softmax(windows):
    net = small_net(0)
    out = WindowPredictor([net], CPU, fast=False)(windows)
    with torch.no_grad():
        torch.testing.assert_close(out, torch.softmax(net(windows), 1)[:, 1:2])


def test_tta_averages_the_eight_mirrored_predictions_flipped_back(windows):
    net = small_net(0)
    flips = mirror_axes(True)
    assert len(set(flips)) == 8 and () in flips and (2, 3, 4) in flips
    with torch.no_grad():
        expected = (
            sum(
                torch.softmax(net(windows.flip(a)), 1)[:, 1:2].flip(a)
                if a
                else torch.softmax(net(windows), 1)[:, 1:2]
                for a in flips
            )
            / 8
        )
    torch.testing.assert_close(WindowPredictor([net], CPU, flips, fast=False)(windows), expected)


def test_tta_leaves_a_mirror_symmetric_network_unchanged(windows):
    pointwise = torch.nn.Conv3d(2, 2, 1).eval()
    plain = WindowPredictor([pointwise], CPU)(windows)
    torch.testing.assert_close(WindowPredictor([pointwise], CPU, mirror_axes(True))(windows), plain)


def test_an_ensemble_is_the_mean_of_its_members(windows):
    a, b = small_net(0), small_net(1)
    mean = (WindowPredictor([a], CPU)(windows) + WindowPredictor([b], CPU)(windows)) / 2
    torch.testing.assert_close(WindowPredictor([a, b], CPU)(windows), mean)


def test_channels_last_and_bfloat16_keep_the_probabilities(windows):
    net = small_net(0)
    reference = WindowPredictor([net], CPU, fast=False)(windows)
    torch.testing.assert_close(
        WindowPredictor([net], CPU, fast=True)(windows), reference, atol=1e-5, rtol=1e-4
    )
    low = WindowPredictor([net], CPU, dtype=torch.bfloat16)(windows)
    assert low.dtype == torch.float32
    assert (low - reference).abs().max() < 0.05


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bfloat16_only_on_a_cpu_that_multiplies_it_natively(monkeypatch, native):
    monkeypatch.setattr(ensemble_module, "cpu_has_native_bf16", lambda: native)
    assert autocast_dtype("auto", CPU) == (torch.bfloat16 if native else None)
    assert autocast_dtype("auto", torch.device("cuda")) == torch.float16
    assert autocast_dtype("fp32", CPU) is None and autocast_dtype("bf16", CPU) == torch.bfloat16


def test_precision_and_device_choices():
    with pytest.raises(ValueError, match="precision"):
        autocast_dtype("int8", CPU)
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == CPU


def test_the_inference_copy_computes_the_same_and_leaves_the_network_alone(windows):
    from monai.networks.nets import DynUNet

    net = DynUNet(
        3, 2, 2, [3, 3, 3], [1, 2, 2], [2, 2], filters=[4, 8, 16], norm_name="instance",
        deep_supervision=True, deep_supr_num=1,
    ).eval()
    heads = [m for m in net.modules() if getattr(m, "super_head", None) is not None]
    assert heads and all(m.heads is not None for m in heads)
    fast = inference_copy(net, channels_last=True)
    # the copy skips the deep-supervision heads (eval mode discards them); the original keeps them
    assert all(m.heads is None for m in fast.modules() if getattr(m, "super_head", None) is not None)
    assert all(m.heads is not None for m in heads)
    assert any(isinstance(m, torch.nn.InstanceNorm3d) for m in net.modules())
    assert not any(isinstance(m, torch.nn.InstanceNorm3d) for m in fast.modules())
    assert next(net.parameters()).is_contiguous()  # the original keeps its layout
    with torch.no_grad():
        torch.testing.assert_close(
            fast(windows.contiguous(memory_format=torch.channels_last_3d)), net(windows), atol=1e-4, rtol=1e-3
        )


def test_the_inference_copy_folds_batch_norms_into_the_convolutions(windows):
    from monai.networks.nets import DynUNet

    torch.manual_seed(0)
    net = DynUNet(3, 2, 2, [3, 3, 3], [1, 2, 2], [2, 2], filters=[4, 8, 16], norm_name="batch")
    with torch.no_grad():  # running statistics and affine parameters far from their initial 0 / 1
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 2.0)
                m.bias.uniform_(-1.0, 1.0)
        for _ in range(3):
            net(3 * windows + 1)
    net.eval()
    fast = inference_copy(net, channels_last=True)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in net.modules())  # the original keeps them
    with torch.no_grad():
        torch.testing.assert_close(
            fast(windows.contiguous(memory_format=torch.channels_last_3d)), net(windows), atol=1e-4, rtol=1e-3
        )


def test_a_network_that_cannot_be_traced_keeps_its_batch_norms_and_results(windows):
    class DataDependent(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = torch.nn.Conv3d(2, 2, 3, padding=1), torch.nn.BatchNorm3d(2)

        def forward(self, x):
            return self.norm(self.conv(x)) if x.sum() > 0 else -x  # control flow on values: fx cannot trace

    net = DataDependent().eval()
    fast = inference_copy(net, channels_last=False)
    assert any(isinstance(m, torch.nn.BatchNorm3d) for m in fast.modules())
    with torch.no_grad():
        torch.testing.assert_close(fast(windows.abs()), net(windows.abs()))


def test_the_margin_of_one_network_is_its_logit_difference_and_of_tta_the_logit_of_the_mean(windows):
    net = small_net(0)
    with torch.no_grad():
        logits = net(windows)
        one = WindowPredictor([net], torch.device("cpu"))
        torch.testing.assert_close(one.margin(windows), logits[:, 1:2] - logits[:, 0:1])
        tta = WindowPredictor([net], torch.device("cpu"), flips=mirror_axes(True))
        torch.testing.assert_close(torch.sigmoid(tta.margin(windows)), tta(windows), rtol=0, atol=1e-6)


def test_worker_threads_give_the_serial_result_and_leave_the_callers_threads_alone(windows):
    batch = torch.cat([windows, windows.flip(2), windows * 0.5])  # 6 windows: 3 per worker
    a, b = small_net(0), small_net(1)
    threads = torch.get_num_threads()
    for networks, flips in [([a], [()]), ([a, b], mirror_axes(True))]:
        serial = WindowPredictor(networks, CPU, flips, fast=True)
        parallel = WindowPredictor(networks, CPU, flips, fast=True, workers=2)
        torch.testing.assert_close(parallel.margin(batch), serial.margin(batch), rtol=0, atol=1e-6)
        torch.testing.assert_close(parallel(batch), serial(batch), rtol=0, atol=1e-6)
        assert parallel(batch[:1]).shape == (1, 1, 16, 16, 16)  # fewer windows than workers
    assert parallel._pool is not None and serial._pool is None
    assert torch.get_num_threads() == threads  # the workers' single thread is theirs only
