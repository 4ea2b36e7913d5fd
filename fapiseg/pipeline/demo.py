"""The end-to-end demo behind ``make demo``: phantom cohorts -> training -> batch inference -> evaluation -> report.

Stages: phantom cohorts, training, the false-positive reduction, inference on the held-out and the shifted
patients, evaluation, the report. Everything lands in ``OUT`` (``outputs/demo`` for ``make demo``)::

    data/train, data/test, data/shifted   phantom cohorts (fapi family for training and held-out patients,
                                          the differently built ``shifted`` family for generalisation)
    train/                                the training run (Hydra run folder: checkpoints, logs)
    best.ckpt                             the trained model, with its false-positive reduction fitted on
                                          training patients (``fapiseg rescore``)
    predictions/, predictions_shifted/    infer.py outputs (PRED, PROB, lesions.csv, summary.csv)
    evaluation/, evaluation_shifted/      fapiseg evaluate outputs (summary.json, cases.csv, FROC)
    report.html                           the self-contained report of both
    demo.json                             stage timings and the headline numbers

Training runs as a subprocess of ``train.py`` (exactly the user's command: its config reads Hydra's
runtime — working directory, run folder, the overrides that name the MLflow run — which exists only
under ``@hydra.main``; a separate process also returns the training memory before inference). Inference
runs in this process through the library call ``infer.py`` makes, on ``configs/infer.yaml`` composed
with Hydra's compose API (that config is self-contained), and evaluation and the report are library
calls too. Each stage prints its time; a failing stage stops the demo with one line naming it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from fapiseg.errors import FapisegError
from fapiseg.io.nifti import atomic_path

REPO = Path(__file__).resolve().parents[2]
#: Lines of a failing Hydra application's stderr that say nothing about the failure.
HYDRA_HINTS = ("Set the environment variable HYDRA_FULL_ERROR", "full_key:", "object_type=")
#: Subfolders of OUT that the demo owns and rebuilds on every run.
OWNED = ("data", "train", "predictions", "predictions_shifted", "evaluation", "evaluation_shifted")
#: infer.py overrides the demo always makes (before the plan's own, which win): left-right mirroring
#: test-time augmentation, 2 passes for the demo network (trained with left-right flips only); on one demo
#: checkpoint it cut held-out false positives from 2.75 to 2.0 per scan at the same sensitivity.
DEMO_INFER = ("tta=true",)
#: Seconds kept free after training's last step. On 2 cores these took 132-163 s: the final validation,
#: checkpoints and MLflow's copy (about 40 s), the false-positive reduction on its minimum of 12 scans (about
#: 70 s), inference on the 8 held-out scans, evaluation and the report (about 45 s). The margin lets them run
#: 1.5x slower and still end within the contract's 15 minutes.
AFTER_TRAINING_S = 190.0
#: Seconds kept free after the false-positive reduction: inference, evaluation and the report, and a margin.
AFTER_RESCORING_S = 75.0


@dataclass
class DemoPlan:
    """The demo's sizes and seeds; ``train_overrides`` are extra ``train.py`` overrides (e.g. for tests)."""

    train_patients: int = 48
    test_patients: int = 4
    shifted_patients: int = 4
    seed: int = 0
    experiment: str = "demo"
    #: training patients the false-positive reduction is fitted on (0: none); about 4 s each on 2 cores
    rescore_patients: int = 24
    #: the whole demo's wall-clock budget (the contract allows 15 minutes), counted from ``started``
    minutes: float = 14.0
    #: Unix time the budget counts from (None: when the demo starts); ``make demo`` passes the time make
    #: started, so that creating the environment counts too
    started: float | None = None
    train_overrides: Sequence[str] = ()
    infer_overrides: Sequence[str] = ()


@dataclass
class Stage:
    name: str
    seconds: float
    detail: str = ""


@dataclass
class DemoResult:
    out_dir: Path
    stages: list[Stage] = field(default_factory=list)
    summaries: dict[str, dict] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.stages)


class DemoError(FapisegError):
    """A stage of the demo failed; the message names the stage and the reason."""


def run_demo(
    out_dir: str | Path, plan: DemoPlan | None = None, log: Callable[[str], None] = print
) -> DemoResult:
    """Run every stage into ``out_dir`` (see the module docstring); raises :class:`DemoError`."""
    plan = plan or DemoPlan()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for name in OWNED:
        shutil.rmtree(out / name, ignore_errors=True)
    result = DemoResult(out)
    data = {
        "train": out / "data" / "train",
        "test": out / "data" / "test",
        "shifted": out / "data" / "shifted",
    }
    cohorts = {
        "train": (plan.train_patients, "fapi", plan.seed),
        "test": (plan.test_patients, "fapi", plan.seed + 1),
        "shifted": (plan.shifted_patients, "shifted", plan.seed + 2),
    }
    # training gets what the budget leaves (at most its own 8.5 minutes), and the false-positive reduction
    # stops taking scans when only inference, evaluation and the report still fit
    budget_start = plan.started or time.time()
    deadline = budget_start + 60.0 * plan.minutes
    total = 7 if plan.rescore_patients else 6
    step = iter(range(1, total + 1))

    with _stage(result, log, next(step), total, "phantom cohorts") as detail:
        from fapiseg.phantom import generate_cohort

        for key, (patients, family, seed) in cohorts.items():
            generate_cohort(data[key], patients, 1, seed=seed, family=family, workers=_workers())
        detail.append(
            ", ".join(f"{key}: {n} patients ({fam}, seed {s})" for key, (n, fam, s) in cohorts.items())
        )

    training = f"training (train.py experiment={plan.experiment})"
    with _stage(result, log, next(step), total, training) as detail:
        checkpoint = _train(data["train"], out / "train", plan, deadline - AFTER_TRAINING_S)
        shutil.copy2(checkpoint, out / "best.ckpt")
        detail.append(f"best checkpoint -> {out / 'best.ckpt'}")

    floor, lowest = _reporting_floor(data["train"])
    result.facts["suv_floor"] = floor
    result.facts["lowest_training_lesion_suv_max"] = lowest
    predictions = {"test": out / "predictions", "shifted": out / "predictions_shifted"}
    if plan.rescore_patients:
        with _stage(result, log, next(step), total, "false-positive reduction (fapiseg rescore)") as detail:
            from fapiseg.inference.run import predictor_options
            from fapiseg.training.rescoring import fit_checkpoint_rescorer

            # the settings inference will use: the rescorer judges the probabilities they give
            cfg = _infer_config(
                data["train"], predictions["test"], out / "best.ckpt", floor, plan.infer_overrides
            )
            fit = fit_checkpoint_rescorer(
                out / "best.ckpt",
                data["train"],
                out / "best.ckpt",
                predictor_options(cfg),
                max_cases=plan.rescore_patients,
                report=lambda line: log(f"  {line}"),
                deadline=deadline - AFTER_RESCORING_S,
            )
            result.facts["rescorer_threshold"] = fit.rescorer.threshold
            detail.append(fit.describe())
    for key in ("test", "shifted"):
        with _stage(result, log, next(step), total, f"inference ({key} cohort)") as detail:
            batch = _infer(data[key], predictions[key], out / "best.ckpt", floor, plan.infer_overrides)
            seconds = [r.seconds for r in batch.results if r.seconds is not None]
            result.facts[f"{key}_seconds_per_case"] = float(np.mean(seconds)) if seconds else None
            detail.append(f"{len(batch.results)} cases, {np.mean(seconds):.1f} s per case, SUV floor {floor}")

    evaluations = {"test": out / "evaluation", "shifted": out / "evaluation_shifted"}
    with _stage(result, log, next(step), total, "evaluation (fapiseg evaluate)") as detail:
        from fapiseg.metrics.cohort import write_evaluation
        from fapiseg.metrics.evaluate import evaluate
        from fapiseg.pipeline.physiology import count_physiological_calls

        for key in ("test", "shifted"):
            evaluation = evaluate(predictions[key], data[key], report=lambda line: log(f"  {line}"))
            if evaluation.failures:
                raise DemoError(f"evaluation: {evaluation.failures[0]}")
            result.summaries[key] = write_evaluation(evaluation, evaluations[key])
            calls = count_physiological_calls(data[key], predictions[key])
            result.facts[f"{key}_physiological_calls"] = calls.total
            result.facts[f"{key}_physiological_calls_detail"] = calls.describe()
            s = result.summaries[key]
            detail.append(
                f"{key}: Dice {_fmt(s['dice'])}, lesion sensitivity {_fmt(s['lesion_sensitivity'])}, "
                f"FP/scan {_fmt(s['fp_per_scan'])}, calls on physiological uptake {calls.total}"
            )

    with _stage(result, log, next(step), total, "report") as detail:
        _write_report(result, data, predictions, evaluations, plan)
        detail.append(str(out / "report.html"))

    _write_demo_json(result, plan)
    used = (time.time() - budget_start) / 60
    log(
        f"demo finished in {result.seconds / 60:.1f} min ({used:.1f} of its {plan.minutes:g}-minute budget): "
        f"{out / 'report.html'}"
    )
    return result


@contextmanager
def _stage(result: DemoResult, log: Callable[[str], None], step: int, total: int, name: str):
    """Time a stage, print it, and turn its failure into one :class:`DemoError` line."""
    log(f"[{step}/{total}] {name} ...")
    detail: list[str] = []
    start = time.perf_counter()
    try:
        yield detail
    except FapisegError as e:
        raise DemoError(f"stage {step} ({name}) failed: {e}") from None
    except Exception as e:  # the demo reports any failure as one line naming the stage
        raise DemoError(
            f"stage {step} ({name}) failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
        ) from e
    seconds = time.perf_counter() - start
    result.stages.append(Stage(name, seconds, "; ".join(detail)))
    log(f"[{step}/{total}] {name}: done in {seconds:.0f} s" + (f" ({'; '.join(detail)})" if detail else ""))


def _workers() -> int:
    """Processes for making the phantom patients: the machine's cores, at most 4 (same files either way)."""
    return max(1, min(4, os.cpu_count() or 1))


def _train(data_root: Path, run_dir: Path, plan: DemoPlan, deadline: float) -> Path:
    """``python train.py experiment=demo data.root=... hydra.run.dir=...`` from the repository root; its
    time budget also ends at ``deadline`` (Unix time)."""
    script = REPO / "train.py"
    if not script.exists():
        raise DemoError(
            f"{script} not found: the demo runs from a source checkout (git clone, then make demo)"
        )
    command = [
        sys.executable,
        str(script),
        f"experiment={plan.experiment}",
        f"data.root={data_root}",
        f"hydra.run.dir={run_dir}",
        f"seed={plan.seed}",
        f"callbacks.time_budget.deadline={deadline:.0f}",
        *plan.train_overrides,
    ]
    tail = _run_streaming(command, cwd=REPO)
    if tail.returncode != 0:
        raise DemoError(f"training failed (train.py exit {tail.returncode}): {tail.last_line}")
    checkpoint = run_dir / "checkpoints" / "best.ckpt"
    if not checkpoint.exists():
        raise DemoError(f"training wrote no {checkpoint} (did validation run?)")
    return checkpoint


@dataclass
class _Finished:
    returncode: int
    last_line: str


def _run_streaming(command: list[str], cwd: Path) -> _Finished:
    """Run ``command`` with its output shown live; keep the last line of its stderr for an error message."""
    proc = subprocess.Popen(command, cwd=cwd, stderr=subprocess.PIPE)
    tail = b""
    for chunk in iter(lambda: proc.stderr.read1(4096), b""):
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        tail = (tail + chunk)[-8192:]
    proc.wait()
    lines = [line.strip() for line in tail.decode(errors="replace").replace("\r", "\n").splitlines()]
    lines = [line for line in lines if line and not line.startswith(HYDRA_HINTS)]
    return _Finished(proc.returncode, lines[-1] if lines else "")


def _reporting_floor(train_root: Path) -> tuple[float | None, float]:
    """The demo's SUV floor: three quarters of the faintest lesion SUVmax of the training cohort (a margin for
    partial-volume loss on other scanners), rounded down to 0.1. Calls fainter than it are not reported
    (``min_suv_max``), so windows without a voxel that reaches it need not run (``skip_suv``): a model cannot
    vouch for uptake fainter than any lesion it was shown. Returns (floor, faintest); with no training
    lesion, floor None: infer.yaml's skip floor and no SUVmax filter."""
    from fapiseg.data.cases import find_cases
    from fapiseg.io.nifti import load_volume
    from fapiseg.metrics.components import label_components

    faintest = np.inf
    for case in find_cases(train_root):
        if case.seg is None:
            continue
        suv, seg = load_volume(case.pet).array, load_volume(case.seg).array > 0.5
        lesions = label_components(seg, 26)
        for lesion in lesions:
            faintest = min(faintest, float(suv[lesion.bbox][lesion.crop(lesions.labels)].max()))
    if not np.isfinite(faintest):
        return None, float(faintest)
    return float(np.floor(7.5 * faintest) / 10), float(faintest)


def _infer_config(
    data_root: Path, pred_dir: Path, checkpoint: Path, floor: float | None, overrides: Sequence[str]
) -> DictConfig:
    """``infer.py input=... output=... checkpoint=... skip_suv=F min_suv_max=F tta=true [overrides]`` composed
    with the compose API (``floor`` None: infer.yaml's skip and SUVmax defaults)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        return compose(
            "infer",
            overrides=[
                f"input={data_root}",
                f"output={pred_dir}",
                f"checkpoint={checkpoint}",
                *([f"skip_suv={floor}", f"min_suv_max={floor}"] if floor is not None else []),
                "save_probabilities=true",
                *DEMO_INFER,
                *overrides,
            ],
        )


def _infer(data_root: Path, pred_dir: Path, checkpoint: Path, floor: float | None, overrides: Sequence[str]):
    """``python infer.py ...`` (:func:`_infer_config`) through its library call."""
    from fapiseg.inference.run import infer

    batch = infer(_infer_config(data_root, pred_dir, checkpoint, floor, overrides))
    if batch.failed:
        first = batch.failed[0]
        raise DemoError(f"inference failed on {len(batch.failed)} case(s), e.g. {first.case}: {first.error}")
    return batch


def _write_report(
    result: DemoResult, data: dict, predictions: dict, evaluations: dict, plan: DemoPlan
) -> None:
    from fapiseg.reports.html import CohortSection, write_report

    facts = result.facts
    sections = []
    for key, title in (
        ("test", "Held-out phantom patients (fapi family, as trained)"),
        ("shifted", "Generalisation: the shifted phantom family (other bodies, uptake, scanners)"),
    ):
        notes = [
            (
                "predicted lesions on physiological uptake",
                (
                    f"{facts[f'{key}_physiological_calls_detail']} (bladder, kidney, joint, pancreas, uterus; "
                    "predicted lesions touching these organs and no reference lesion)"
                ),
            ),
            ("inference time", f"{facts[f'{key}_seconds_per_case']:.1f} s per case (CPU)"),
        ]
        sections.append(CohortSection(title, evaluations[key], predictions[key], data[key], notes))
    preamble = [
        (
            "pipeline",
            "fapiseg phantom → python train.py experiment="
            + plan.experiment
            + " → python infer.py → fapiseg evaluate → this report",
        )
    ]
    preamble += [(f"stage: {s.name}", f"{s.seconds:.0f} s — {s.detail}") for s in result.stages]
    if facts["suv_floor"] is not None:
        preamble.append(
            (
                "SUV floor",
                (
                    f"calls with SUVmax below {facts['suv_floor']:g} were dropped and windows with no voxel "
                    f"≥ SUV {facts['suv_floor']:g} in the body not run: three quarters of the faintest "
                    f"lesion SUVmax in the training cohort ({facts['lowest_training_lesion_suv_max']:.2f})"
                ),
            )
        )
    write_report(
        sections,
        result.out_dir / "report.html",
        title="fapiseg demo: synthetic FAPI PET/CT",
        preamble=preamble,
    )


def _write_demo_json(result: DemoResult, plan: DemoPlan) -> None:
    content = {
        "stages": [
            {"name": s.name, "seconds": round(s.seconds, 1), "detail": s.detail} for s in result.stages
        ],
        "total_seconds": round(result.seconds, 1),
        "plan": {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in plan.__dict__.items()},
        "held_out": _headline(result.summaries.get("test", {})),
        "shifted": _headline(result.summaries.get("shifted", {})),
        "facts": result.facts,
    }
    with atomic_path(result.out_dir / "demo.json") as tmp:
        tmp.write_text(json.dumps(content, indent=2, default=float) + "\n")


def _headline(summary: dict) -> dict:
    keys = ("dice", "fpv_ml", "fnv_ml", "lesion_sensitivity", "fp_per_scan", "n_scans", "n_reference_lesions")
    return {k: summary.get(k) for k in keys} | {"scan": summary.get("scan")}


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"
