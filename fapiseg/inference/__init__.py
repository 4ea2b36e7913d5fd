"""Inference: the Predictor (checkpoints in, masks on the case's grid out), the skipping sliding window,
post-processing and the batch runner behind ``infer.py``.

``Predictor`` loads on first use, so that importing this package does not pull in the training code.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Predictor": "predictor",
    "PredictorOptions": "predictor",
    "PostProcessing": "postprocess",
    "run_batch": "batch",
    "run_inference": "run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
