"""``fapiseg compare``: differing parameters, best metrics, sorting, CSV, one-line errors."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest

from fapiseg.cli import main
from fapiseg.errors import FapisegError
from fapiseg.tracking.compare import client_for, compare_runs, lower_is_better


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Two runs of experiment "exp": seed differs, lr is shared; three epochs of metrics each."""
    path = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    client = mlflow.MlflowClient(f"sqlite:///{path}")
    exp = client.create_experiment("exp", artifact_location=str(path.parent / "artifacts"))
    for seed, dice, loss in ((1, [0.2, 0.6, 0.5], [1.0, 0.5, 0.7]), (2, [0.3, 0.4, 0.8], [0.9, 0.8, 0.6])):
        run = client.create_run(exp, run_name=f"smoke seed={seed}")
        client.log_param(run.info.run_id, "seed", seed)
        client.log_param(run.info.run_id, "model.optimizer.lr", 0.003)
        for step, (d, l) in enumerate(zip(dice, loss)):
            client.log_metric(run.info.run_id, "val/dice", d, step=step)
            client.log_metric(run.info.run_id, "val/loss", l, step=step)
        client.set_terminated(run.info.run_id)
    return path


def test_compare_lists_differing_params_and_the_best_value_of_each_metric(store):
    table = compare_runs(client_for(f"sqlite:///{store}"), "exp")
    assert list(table.columns) == ["run", "status", "seed", "val/dice", "val/loss"]
    assert table["run"].tolist() == ["smoke seed=1", "smoke seed=2"]
    assert table["val/dice"].tolist() == [0.6, 0.8] and table["val/loss"].tolist() == [0.5, 0.6]


def test_sorting_puts_the_best_first_in_the_metric_direction(store):
    client = client_for(f"sqlite:///{store}")
    assert compare_runs(client, "exp", sort="val/dice")["run"].tolist() == ["smoke seed=2", "smoke seed=1"]
    assert compare_runs(client, "exp", sort="val/loss")["run"].tolist() == ["smoke seed=1", "smoke seed=2"]
    assert lower_is_better("val/fp_per_scan") and not lower_is_better("val/lesion_sensitivity")


def test_the_command_prints_the_table_and_writes_csv(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    assert main(["compare", "--sort", "val/dice", "--csv", str(tmp_path / "runs.csv")]) == 0
    out = capsys.readouterr().out
    assert out.index("smoke seed=2") < out.index("smoke seed=1")
    assert pd.read_csv(tmp_path / "runs.csv")["seed"].tolist() == [2, 1]


def test_unknown_experiments_metrics_and_stores_are_one_line_errors(store, tmp_path, capsys, monkeypatch):
    client = client_for(f"sqlite:///{store}")
    with pytest.raises(FapisegError, match="no MLflow experiment named 'nope'"):
        compare_runs(client, "nope")
    with pytest.raises(FapisegError, match="cannot sort by 'val/x'"):
        compare_runs(client, "exp", sort="val/x")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/missing.db")
    assert main(["compare"]) == 1
    assert "no MLflow store" in capsys.readouterr().err and not (tmp_path / "missing.db").exists()
