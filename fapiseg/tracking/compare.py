"""Runs of one MLflow experiment side by side: name, the parameters that differ, best validation metrics.

Each metric column is the best value the run reached over its validations (highest for Dice and
sensitivity, lowest for losses, false positives and volumes), read from the metric history.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from fapiseg.errors import FapisegError

METRIC_PREFIX = "val/"
_LOWER_IS_BETTER = ("loss", "fp", "fpv", "fnv")


def lower_is_better(metric: str) -> bool:
    """True for losses, false positives and false-positive/negative volumes."""
    leaf = metric.rsplit("/", 1)[-1]
    return any(leaf == w or leaf.startswith(w + "_") for w in _LOWER_IS_BETTER)


def client_for(uri: str) -> MlflowClient:
    """An MLflow client on ``uri``; a SQLite store must already exist (MLflow would silently create one)."""
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        raise FapisegError(
            f"no MLflow store at {uri[len('sqlite:///') :]} (train first, or set MLFLOW_TRACKING_URI)"
        )
    return MlflowClient(uri)


def compare_runs(
    client: MlflowClient, experiment: str | None = None, sort: str | None = None
) -> pd.DataFrame:
    """One row per run of ``experiment`` (default: the experiment of the most recent run).

    Columns: ``run`` (the run name), ``status``, the parameters whose values differ between the runs,
    then the best value of every ``val/*`` metric. ``sort`` orders by a metric column, best first;
    otherwise runs are in start order.
    """
    exp_id = _experiment_id(client, experiment)
    runs = client.search_runs([exp_id], order_by=["attributes.start_time ASC"], max_results=10_000)
    if not runs:
        raise FapisegError(f"experiment {experiment or exp_id!r} has no runs")
    params = _differing_params(runs)
    rows = []
    for run in runs:
        row = {"run": run.info.run_name, "status": run.info.status}
        row |= {k: run.data.params.get(k, "") for k in params}
        row |= _best_metrics(client, run)
        rows.append(row)
    table = pd.DataFrame(rows)
    if sort:
        if sort not in table.columns:
            metrics = [c for c in table.columns if c.startswith(METRIC_PREFIX)]
            raise FapisegError(f"cannot sort by {sort!r}: the metrics are {', '.join(metrics) or 'none'}")
        table = table.sort_values(sort, ascending=lower_is_better(sort), na_position="last", kind="stable")
    return table.reset_index(drop=True)


def _experiment_id(client: MlflowClient, name: str | None) -> str:
    if name is not None:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            known = ", ".join(sorted(e.name for e in client.search_experiments())) or "none"
            raise FapisegError(f"no MLflow experiment named {name!r} (experiments: {known})")
        return exp.experiment_id
    ids = [e.experiment_id for e in client.search_experiments()]
    latest = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1) if ids else []
    if not latest:
        raise FapisegError("the MLflow store holds no runs")
    return latest[0].info.experiment_id


def _differing_params(runs: list[Run]) -> list[str]:
    """Parameter names whose value is not the same in every run (a missing one counts as different)."""
    keys = sorted(set().union(*(r.data.params for r in runs)))
    return [k for k in keys if len({r.data.params.get(k) for r in runs}) > 1]


def _best_metrics(client: MlflowClient, run: Run) -> dict[str, float]:
    best = {}
    for key in sorted(k for k in run.data.metrics if k.startswith(METRIC_PREFIX)):
        values = [m.value for m in client.get_metric_history(run.info.run_id, key)]
        best[key] = min(values) if lower_is_better(key) else max(values)
    return best
