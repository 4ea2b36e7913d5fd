"""A trained checkpoint opens with weights_only=True and alone rebuilds the network for inference."""

from __future__ import annotations

import pytest
import torch

from fapiseg.errors import FapisegError
from fapiseg.models.checkpoint import load_model
from fapiseg.tracking.params import REDACTED
from fapiseg.training.train import resolve_precision, train
from tests.cohort import write_cohort
from tests.training.runs import compose_cfg, tiny_overrides


@pytest.fixture(scope="module")
def best_ckpt(tmp_path_factory):
    cohort = write_cohort(tmp_path_factory.mktemp("cohort"), patients=5)
    out = tmp_path_factory.mktemp("run")
    train(compose_cfg(tiny_overrides(cohort, out, None) + ["data.spacing_mm=[4.0,4.5,5.0]"]))
    return out / "checkpoints" / "best.ckpt"


def _plain(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


def test_the_checkpoint_loads_with_weights_only_and_holds_the_resolved_config_as_plain_data(best_ckpt):
    ckpt = torch.load(best_ckpt, map_location="cpu", weights_only=True)
    cfg = ckpt["hyper_parameters"]["cfg"]
    assert type(cfg) is dict and _plain(cfg)
    assert cfg["data"]["spacing_mm"] == [4.0, 4.5, 5.0]
    assert cfg["trainer"]["precision"] == resolve_precision("cpu", "auto") != "auto"  # the one used
    assert cfg["data"]["root"] == REDACTED and "${" not in str(cfg)


def test_load_model_rebuilds_the_trained_network_in_eval_mode(best_ckpt):
    loaded = load_model(best_ckpt)
    assert not loaded.network.training
    assert loaded.spacing_mm == (4.0, 4.5, 5.0) and loaded.roi_size == (32, 32, 32) and loaded.overlap == 0.25
    state = torch.load(best_ckpt, map_location="cpu", weights_only=True)["state_dict"]
    for name, tensor in loaded.network.state_dict().items():
        assert torch.equal(tensor, state[f"network.{name}"])
    with torch.no_grad():
        logits = loaded.network(torch.zeros(1, 2, 32, 32, 32))
    assert tuple(logits.shape) == (1, 2, 32, 32, 32)  # main output only, despite deep supervision


def test_a_missing_or_foreign_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(FapisegError, match="not found"):
        load_model(tmp_path / "none.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(FapisegError, match="not a fapiseg checkpoint"):
        load_model(tmp_path / "other.ckpt")
