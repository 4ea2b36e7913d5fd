"""Inference: the Predictor (checkpoints in, masks on the case's grid out), the skipping sliding window,
post-processing and the batch runner behind ``infer.py``.

``Predictor`` loads on first use, so that importing this package does not pull in the training code.
"""

from __future__ import annotations

from fapiseg.lazy import lazy_exports

_EXPORTS = {
    "Predictor": "predictor",
    "PredictorOptions": "predictor",
    "PostProcessing": "postprocess",
    "run_batch": "batch",
    "run_inference": "run",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
