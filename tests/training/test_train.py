"""The training entry function on a tiny generated cohort: MLflow run, checkpoints, resume, reproducibility."""

from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import pytest
import torch

from fapiseg.tracking.params import REDACTED
from fapiseg.training import train as train_module
from fapiseg.training.train import resolve_precision, train
from tests.cohort import write_cohort
from tests.conftest import REPO
from tests.training.runs import TINY, compose_cfg, tiny_overrides


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"), patients=5)


@pytest.fixture(scope="module")
def first_run(cohort, tmp_path_factory):
    """One tiny training run with seed 1: its metrics, output folder and MLflow store."""
    out = tmp_path_factory.mktemp("run1")
    store = out.parent / "mlflow_train.db"
    metrics = train(compose_cfg(tiny_overrides(cohort, out, store) + ["seed=1"]))
    return metrics, out, store


def _runs(store, experiment="smoke"):
    client = mlflow.MlflowClient(f"sqlite:///{store}")
    return client, client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def test_training_logs_params_metrics_and_artifacts_to_one_mlflow_run(first_run):
    metrics, out, store = first_run
    assert {"train/loss", "val/dice", "val/lesion_sensitivity", "val/fp_per_scan", "best/val/dice"} <= set(
        metrics
    )
    client, runs = _runs(store)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.run_name.startswith("smoke") and "seed=1" in run.info.run_name
    assert str(out) not in run.info.run_name
    assert len(run.data.params) >= 10 and run.data.params["data.n_train_cases"] == "4"
    assert run.data.params["data.root"] == REDACTED
    assert not any(str(out) in v or "p00" in v for v in run.data.params.values()), (
        "no local paths or case names"
    )
    for key in ("train/loss", "val/dice", "val/lesion_sensitivity", "perf/data_wait_share"):
        assert len(client.get_metric_history(run.info.run_id, key)) == 1, key
    artifacts = {
        a.path
        for d in ("config", "figures", "checkpoints")
        for a in client.list_artifacts(run.info.run_id, d)
    }
    assert {"config/config.yaml", "checkpoints/best.ckpt", "figures/epoch_0000_case_1.png"} <= artifacts
    assert (out / "checkpoints" / "best.ckpt").is_file() and (out / "checkpoints" / "last.ckpt").is_file()


def test_same_seed_gives_the_same_first_epoch_loss_and_another_seed_does_not(first_run, cohort, tmp_path):
    metrics = first_run[0]
    again = train(compose_cfg(tiny_overrides(cohort, tmp_path / "a", None) + ["seed=1", "~callbacks"]))
    other = train(compose_cfg(tiny_overrides(cohort, tmp_path / "b", None) + ["seed=2", "~callbacks"]))
    assert again["train/loss"] == pytest.approx(metrics["train/loss"], rel=1e-5)
    assert other["train/loss"] != pytest.approx(metrics["train/loss"], rel=1e-5)


def test_resume_from_last_checkpoint_continues_the_epochs(first_run, cohort, tmp_path):
    last = first_run[1] / "checkpoints" / "last.ckpt"
    cfg = compose_cfg(
        tiny_overrides(cohort, tmp_path, None) + ["seed=1", f"ckpt_path={last}", "trainer.max_epochs=2"]
    )
    train(cfg)
    resumed = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert (
        resumed["epoch"] == 1
        and resumed["global_step"] == 2 * torch.load(last, weights_only=True)["global_step"]
    )


@pytest.mark.parametrize("amx", [True, False])
def test_auto_precision_is_bfloat16_on_a_cpu_only_with_amx(monkeypatch, amx):
    monkeypatch.setattr(train_module, "cpu_has_amx", lambda: amx)
    assert resolve_precision("cpu", "auto") == ("bf16-mixed" if amx else "32-true")
    if not torch.cuda.is_available():
        assert resolve_precision("auto", "auto") == resolve_precision("cpu", "auto")
    assert resolve_precision("cpu", "32-true") == "32-true"
    assert resolve_precision("cpu", "bf16-mixed") == "bf16-mixed"


def _train_py(args: list[str], store, env_extra=None, timeout=240) -> subprocess.CompletedProcess:
    env = (
        os.environ
        | {"MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PYTHONPATH": str(REPO)}
        | (env_extra or {})
    )
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _cli_overrides(cohort, out):
    return [o for o in TINY if not o.startswith("experiment=")] + [
        f"data.root={cohort}",
        f"hydra.run.dir={out}",
        f"hydra.sweep.dir={out}",
        "logger.mlflow.tracking_uri=${oc.env:MLFLOW_TRACKING_URI}",
        f"logger.mlflow.artifact_location={out}/artifacts",
    ]


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_logs_one_mlflow_run(cohort, tmp_path):
    store = tmp_path / "ddp.db"
    args = ["experiment=smoke", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.strategy=ddp"]
    done = _train_py(args + _cli_overrides(cohort, tmp_path / "out"), store)
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = _runs(store)
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert "trainer.devices=2" in runs[0].info.run_name


@pytest.mark.slow
def test_a_multirun_over_seeds_logs_two_runs_that_compare_lists(cohort, tmp_path):
    store = tmp_path / "sweep.db"
    done = _train_py(["-m", "experiment=smoke", "seed=1,2"] + _cli_overrides(cohort, tmp_path / "out"), store)
    assert done.returncode == 0, done.stderr[-3000:]
    _, runs = _runs(store)
    names = sorted(r.info.run_name for r in runs)
    assert len(names) == 2 and names[0].startswith("smoke seed=1 ") and names[1].startswith("smoke seed=2 ")
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "fapiseg",
            "compare",
            "--experiment",
            "smoke",
            "--csv",
            str(tmp_path / "runs.csv"),
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env=os.environ | {"MLFLOW_TRACKING_URI": f"sqlite:///{store}", "PYTHONPATH": str(REPO)},
    )
    assert listed.returncode == 0, listed.stderr
    assert "smoke seed=1" in listed.stdout and "smoke seed=2" in listed.stdout, listed.stdout
    csv = (tmp_path / "runs.csv").read_text().splitlines()
    assert csv[0].startswith("run,status,seed,") and len(csv) == 3
