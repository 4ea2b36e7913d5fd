"""Where runs are kept: ``MLFLOW_TRACKING_URI``, else the SQLite store ``mlflow.db`` at the repository root."""

from __future__ import annotations

import os
from pathlib import Path

STORE_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"


def tracking_uri(root: str | Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else ``sqlite:///<root>/mlflow.db`` (root: the current folder)."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(root or Path.cwd()).resolve() / STORE_FILE}"


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store's new experiments go beside the database (``mlartifacts/``), not into
    the current folder as MLflow's default would; other stores keep their own default (None)."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return str(Path(uri[len(prefix) :]).parent / ARTIFACT_DIR)
