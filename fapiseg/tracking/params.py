"""What goes into MLflow: the flattened resolved config (local paths left out) and a readable run name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Config keys (dotted prefixes) that hold local paths: never logged, never put in checkpoints, since
#: a data folder or a resumed checkpoint can name a patient. Counts of cases are logged instead.
PRIVATE_KEYS = (
    "paths",
    "data.root",
    "data.cache_dir",
    "ckpt_path",
    "trainer.default_root_dir",
    "callbacks.model_checkpoint.dirpath",
    "callbacks.last_checkpoint.dirpath",
    "logger.mlflow.tracking_uri",
    "logger.mlflow.artifact_location",
)
REDACTED = "<local path, not logged>"
#: Overrides that say nothing about the model and so stay out of run names.
_UNNAMED = ("experiment", "experiment_name", "hydra", "hparams_search")


def _is_private(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in PRIVATE_KEYS)


def redact(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A copy of a plain config dict with the :data:`PRIVATE_KEYS` values replaced by :data:`REDACTED`."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if _is_private(dotted):
            out[key] = REDACTED if value is not None else None
        elif isinstance(value, Mapping):
            out[key] = redact(value, dotted + ".")
        else:
            out[key] = value
    return out


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values (MLflow shows them as text)."""
    flat: dict[str, Any] = {}
    for key, value in cfg.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def run_name(experiment: str, overrides: Iterable[str]) -> str:
    """``experiment`` plus the command-line overrides that differ from it, e.g. ``"smoke seed=2"``.

    Overrides of private keys (paths) and of Hydra itself are left out.
    """
    parts = [experiment]
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key.split(".")[0].split("/")[0] in _UNNAMED or _is_private(key.replace("/", ".")):
            continue
        parts.append(item)
    return " ".join(parts)
