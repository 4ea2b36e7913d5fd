"""Run names and logged parameters: readable, and free of local paths."""

from __future__ import annotations

from fapiseg.tracking.params import REDACTED, flatten, redact, run_name
from fapiseg.tracking.store import artifact_location, tracking_uri


def test_run_name_is_the_experiment_plus_the_overrides_that_matter():
    overrides = [
        "experiment=smoke",
        "seed=2",
        "data.root=/data/patient_x",
        "model/net=unet",
        "hydra.run.dir=/x",
    ]
    assert run_name("smoke", overrides) == "smoke seed=2 model/net=unet"


def test_private_paths_are_redacted_and_nested_keys_flattened():
    cfg = {
        "data": {"root": "/data/patient_x", "patch_size": [8, 8, 8]},
        "paths": {"data_dir": "/d"},
        "seed": 1,
    }
    flat = flatten(redact(cfg))
    assert flat == {"data.root": REDACTED, "data.patch_size": [8, 8, 8], "paths": REDACTED, "seed": 1}


def test_the_store_defaults_to_mlflow_db_at_the_root_unless_the_environment_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://localhost:5000")
    assert tracking_uri(tmp_path) == "http://localhost:5000"
    assert artifact_location(f"sqlite:///{tmp_path}/mlflow.db") == str(tmp_path / "mlartifacts")
    assert artifact_location("http://localhost:5000") is None
