"""The CPU probes behind bfloat16: AMX tiles for training, AMX or AVX-512 BF16 for inference."""

import pytest
import torch

from fapiseg.hardware import cpu_has_amx, cpu_has_native_bf16


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "native"),
    [(True, False, True), (False, True, True), (True, True, True), (False, False, False)],
)
def test_native_bfloat16_means_amx_tiles_or_avx512_bf16(monkeypatch, amx, avx512_bf16, native):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    assert cpu_has_native_bf16() is native
    assert cpu_has_amx() is amx


def test_a_torch_without_the_probes_has_neither(monkeypatch):
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported", raising=False)
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported", raising=False)
    assert not cpu_has_native_bf16() and not cpu_has_amx()
