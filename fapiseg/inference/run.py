"""``infer.py``'s library call: an ``infer.yaml`` config in, the batch run, an exit status out."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from fapiseg.errors import FapisegError
from fapiseg.inference.batch import BatchResult, discover_cases, run_batch
from fapiseg.inference.postprocess import PostProcessing

if TYPE_CHECKING:
    from fapiseg.inference.predictor import PredictorOptions

REQUIRED = ("input", "output", "checkpoint")


def run_inference(cfg: DictConfig) -> int:
    """Run the batch that ``cfg`` (configs/infer.yaml) describes; 0 when every case was done, else 1.

    Expected failures print one line on stderr (``infer.py: error: ...``), never a traceback.
    """
    try:
        result = infer(cfg)
    except FapisegError as e:
        print(f"infer.py: error: {e}", file=sys.stderr)
        return 1
    if result.failed:
        print(
            f"infer.py: {len(result.failed)} of {len(result.results)} case(s) failed; see {result.summary_path}",
            file=sys.stderr,
        )
    return result.exit_code


def predictor_options(cfg: DictConfig) -> PredictorOptions:
    """The :class:`~fapiseg.inference.predictor.PredictorOptions` an ``infer.yaml`` config asks for."""
    from fapiseg.inference.predictor import PredictorOptions

    return PredictorOptions(
        overlap=cfg.overlap,
        sw_batch_size=cfg.sw_batch_size,
        tta=bool(cfg.tta),
        precision=str(cfg.precision),
        skip_suv=None if cfg.skip_suv is None else float(cfg.skip_suv),
        post=PostProcessing(
            float(cfg.threshold),
            float(cfg.min_volume_ml),
            None if cfg.min_suv_max is None else float(cfg.min_suv_max),
        ),
        rescore=bool(cfg.rescore),
    )


def infer(cfg: DictConfig) -> BatchResult:
    """Build the predictor from ``cfg`` and run it over every case (raises FapisegError when it cannot start)."""
    from fapiseg.inference.predictor import Predictor

    missing = [k for k in REQUIRED if OmegaConf.is_missing(cfg, k) or cfg.get(k) in (None, "")]
    if missing:
        raise FapisegError(
            f"missing {', '.join(f'{k}=...' for k in missing)} "
            "(usage: python infer.py input=DATA_DIR output=PRED_DIR checkpoint=CKPT)"
        )
    cases = discover_cases(cfg.input)
    checkpoint = cfg.checkpoint
    checkpoints = [str(c) for c in checkpoint] if OmegaConf.is_list(checkpoint) else str(checkpoint)
    options = predictor_options(cfg)
    predictor = Predictor.from_checkpoint(checkpoints, device=str(cfg.device), options=options)
    print(f"infer.py: {len(cases)} case(s) from {cfg.input}; {predictor.describe()}", file=sys.stderr)
    return run_batch(
        predictor,
        cases,
        cfg.output,
        overwrite=bool(cfg.overwrite),
        save_probabilities=bool(cfg.save_probabilities),
        dicom_pet=cfg.dicom_pet,
        progress=bool(cfg.progress),
    )
