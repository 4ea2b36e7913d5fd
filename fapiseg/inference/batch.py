"""The batch runner behind ``infer.py``: every case of a data folder, robustly, resumably, with a summary.

Per case it writes into ``PRED_DIR/<patient>/<study>/`` (each file under a temporary name, renamed
when complete): ``PROB.nii.gz`` (lesion probability, optional), ``PRED.nii.gz`` (0/1 mask on the
input's grid and affine), ``PRED_SEG.dcm`` (when a PET DICOM series is given) and, last,
``lesions.csv``. A case whose files are all there is finished: a rerun skips it unless ``overwrite``.

A case that cannot be read or predicted is reported as ``<case>: <reason>`` and the batch goes on;
``PRED_DIR/summary.csv`` (rewritten after every case) has one row per case, and the exit status is
non-zero when any case failed.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import nibabel as nib
import numpy as np
import pandas as pd

from fapiseg.data.cases import (
    CT_NAME,
    LESIONS_NAME,
    PET_NAME,
    PRED_NAME,
    PROB_NAME,
    SEG_NAME,
    Case,
    case_dir,
    find_cases,
)
from fapiseg.data.validation import CaseImages
from fapiseg.errors import FapisegError
from fapiseg.io.nifti import Volume, atomic_path, save_volume
from fapiseg.metrics.table import CSV_FLOAT_FORMAT, lesion_table

SEG_DICOM_NAME, SUMMARY_NAME = "PRED_SEG.dcm", "summary.csv"
SUMMARY_COLUMNS = ["case", "status", "lesions", "total_volume_ml", "total_tl_fap", "seconds", "error"]
#: PROB.nii.gz stores the probability as uint8 with this slope: steps of 1/255, a quarter of float32's size.
PROBABILITY_STEP = 1.0 / 255.0


@dataclass
class CasePrediction:
    """A case's predicted mask and lesion probability on its own (input) grid, and its validated images;
    with the false-positive reduction, each lesion voxel's detection score on the same grid."""

    images: CaseImages
    mask: Volume
    probability: Volume
    detection_score: np.ndarray | None = None


class CasePredictor(Protocol):
    """What the runner needs: validate and predict one case (raises :class:`FapisegError` when it cannot)."""

    def predict_case(self, case: Case) -> CasePrediction: ...


@dataclass
class CaseResult:
    """One row of summary.csv. ``status``: ``ok``, ``skipped`` (finished by an earlier run) or ``error``."""

    case: str
    status: str
    lesions: int | None = None
    total_volume_ml: float | None = None
    total_tl_fap: float | None = None
    seconds: float | None = None
    error: str = ""


@dataclass
class BatchResult:
    results: list[CaseResult]
    summary_path: Path

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.status == "error"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def discover_cases(input_dir: str | Path) -> list[Case]:
    """The cases of a data folder, or the single case of a study folder (one holding SUV.nii.gz)."""
    input_dir = Path(input_dir)
    if (input_dir / PET_NAME).exists():
        seg = input_dir / SEG_NAME
        return [
            Case(
                input_dir.parent.name or "case",
                input_dir.name,
                input_dir / PET_NAME,
                input_dir / CT_NAME,
                seg if seg.exists() else None,
            )
        ]
    cases = find_cases(input_dir)
    if not cases:
        raise FapisegError(f"{input_dir}: no cases found (expected <patient>/<study>/{PET_NAME})")
    return cases


def dicom_series_dir(dicom_pet: Path, case: Case, n_cases: int) -> Path | None:
    """The PET DICOM series of ``case``: ``dicom_pet/<patient>/<study>/`` when that exists, else
    ``dicom_pet`` itself for a single-case run; None when the case has none."""
    own = case_dir(dicom_pet, case)
    if own.is_dir():
        return own
    return dicom_pet if n_cases == 1 else None


def outputs_complete(folder: Path, save_probabilities: bool, with_dicom: bool) -> bool:
    """Whether an earlier run finished this case (lesions.csv is written last)."""
    needed = [PRED_NAME, LESIONS_NAME] + ([PROB_NAME] if save_probabilities else [])
    needed += [SEG_DICOM_NAME] if with_dicom else []
    return all((folder / name).is_file() for name in needed)


def save_probability(path: Path, probability: Volume) -> Path:
    """Write a probability map compactly (uint8 steps of 1/255 via the NIfTI slope), atomically."""
    steps = np.rint(np.clip(probability.array, 0.0, 1.0) / PROBABILITY_STEP).astype(np.uint8)
    img = nib.Nifti1Image(steps, probability.affine)
    img.header.set_slope_inter(PROBABILITY_STEP, 0.0)
    img.set_sform(probability.affine, code=1)
    img.set_qform(probability.affine, code=1)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def write_lesion_csv(path: Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)


def write_summary(path: Path, results: Sequence[CaseResult]) -> None:
    table = pd.DataFrame([asdict(r) for r in results], columns=SUMMARY_COLUMNS).astype({"lesions": "Int64"})
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def run_batch(
    predictor: CasePredictor,
    cases: Sequence[Case],
    output_dir: str | Path,
    *,
    overwrite: bool = False,
    save_probabilities: bool = True,
    dicom_pet: str | Path | None = None,
    progress: bool = True,
    report: Callable[[str], None] | None = None,
) -> BatchResult:
    """Predict every case into ``output_dir`` (see the module docstring); never raises for a bad case.

    ``report`` gets one line per case (default: stderr).
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    report = report or (lambda line: print(line, file=sys.stderr, flush=True))
    dicom_root = Path(dicom_pet) if dicom_pet else None
    summary_path = output_dir / SUMMARY_NAME
    results: list[CaseResult] = []
    with _progress(progress, len(cases)) as advance:
        for case in cases:
            result = _run_case(
                predictor, case, output_dir, overwrite, save_probabilities, dicom_root, len(cases)
            )
            results.append(result)
            write_summary(summary_path, results)
            report(_describe(result))
            advance(case.name)
    return BatchResult(results, summary_path)


def _run_case(
    predictor: CasePredictor,
    case: Case,
    output_dir: Path,
    overwrite: bool,
    save_probabilities: bool,
    dicom_root: Path | None,
    n_cases: int,
) -> CaseResult:
    folder = case_dir(output_dir, case)
    if not overwrite and outputs_complete(folder, save_probabilities, dicom_root is not None):
        return _finished_earlier(case, folder)
    start = time.perf_counter()
    try:
        series = None
        if dicom_root is not None:
            series = dicom_series_dir(dicom_root, case, n_cases)
            if series is None:
                raise FapisegError(f"no PET DICOM series at {case_dir(dicom_root, case)}")
        prediction = predictor.predict_case(case)
        table = _write_case(prediction, folder, save_probabilities, series)
    except FapisegError as e:
        return CaseResult(case.name, "error", error=_reason(case, e), seconds=time.perf_counter() - start)
    except Exception as e:  # noqa: BLE001 - one unforeseen failure must not stop a night's batch
        # Not an expected failure: go on with the other cases, and keep the details for a bug report.
        with (output_dir / "errors.log").open("a") as log:
            log.write(f"{case.name}\n{traceback.format_exc()}\n")
        reason = f"unexpected {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''} (see errors.log)"
        return CaseResult(case.name, "error", error=reason, seconds=time.perf_counter() - start)
    return CaseResult(
        case.name,
        "ok",
        lesions=len(table),
        total_volume_ml=float(table["volume_ml"].sum()),
        total_tl_fap=float(table["tl_fap"].sum()),
        seconds=time.perf_counter() - start,
    )


def _write_case(
    prediction: CasePrediction, folder: Path, save_probabilities: bool, dicom_series: Path | None
) -> pd.DataFrame:
    images, mask = prediction.images, prediction.mask
    if save_probabilities:
        save_probability(folder / PROB_NAME, prediction.probability)
    save_volume(folder / PRED_NAME, mask.array.astype(np.uint8), mask.affine)
    if dicom_series is not None:
        from fapiseg.io.dicom import export_seg

        export_seg(folder / PRED_NAME, dicom_series, folder / SEG_DICOM_NAME)
    table = lesion_table(
        images.pet.array,
        mask.array,
        mask.affine,
        ct=None if images.ct is None else images.ct.array,
        detection_score=prediction.detection_score,
    )
    write_lesion_csv(folder / LESIONS_NAME, table)
    return table


def _finished_earlier(case: Case, folder: Path) -> CaseResult:
    try:
        table = pd.read_csv(folder / LESIONS_NAME)
        return CaseResult(
            case.name, "skipped", len(table), float(table["volume_ml"].sum()), float(table["tl_fap"].sum())
        )
    except (OSError, ValueError, KeyError, pd.errors.ParserError):
        return CaseResult(case.name, "skipped", error=f"{LESIONS_NAME} of the earlier run is unreadable")


def _reason(case: Case, error: FapisegError) -> str:
    """The reason of an error, without a leading ``<case>: `` (summary.csv has its own case column)."""
    text = str(error)
    return text[len(case.name) + 2 :] if text.startswith(f"{case.name}: ") else text


def _describe(result: CaseResult) -> str:
    if result.status == "error":
        return f"{result.case}: error: {result.error}"
    volume = f"{result.total_volume_ml:.2f} mL" if result.total_volume_ml is not None else "? mL"
    timing = f" in {result.seconds:.1f} s" if result.seconds is not None else " (finished earlier; skipped)"
    return f"{result.case}: {result.lesions} lesion(s), {volume}{timing}"


class _progress:
    """A rich progress bar over the cases (or nothing); the context value advances it by one case."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self) -> Callable[[str], None]:
        if not self.enabled:
            return lambda name: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("inference"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=Console(stderr=True),
            transient=True,
        )
        self.bar.start()
        task = self.bar.add_task("", total=self.total)
        return lambda name: self.bar.update(task, advance=1, description=name)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
