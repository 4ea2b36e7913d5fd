"""Evaluate a folder of predictions against the reference cases, case by case.

Predictions are ``PRED_DIR/<patient>/<study>/PRED.nii.gz`` (the layout ``infer.py`` writes), on the
case's PET grid (0/1; > 0.5 is lesion), with an optional probability map ``PROB.nii.gz`` beside it and
the ``lesions.csv`` infer.py wrote (its ``detection_score`` column, when it describes the same lesions).
References come from the data layer (``SEG.nii.gz``); an optional reference-standard table
(:func:`~fapiseg.metrics.diagnostic.read_reference_csv`) gives scan- or region-level truth, and with it
a case needs no SEG.nii.gz. Region-level rows need a region label image ``REGIONS.nii.gz`` beside the
case's PET whose integer labels are the table's ``region`` values; a region is called positive when
the prediction has a voxel in it.

A case that cannot be evaluated is reported (``<case>: <reason>``) and left out; the others go on.
:mod:`fapiseg.metrics.cohort` turns the results into the cohort summary and the output files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fapiseg.data.cases import LESIONS_NAME, PRED_NAME, PROB_NAME, Case, case_dir, find_cases
from fapiseg.data.validation import load_case
from fapiseg.errors import CaseError, FapisegError
from fapiseg.io.geometry import same_grid
from fapiseg.io.nifti import Volume, load_volume
from fapiseg.metrics.background import find_background
from fapiseg.metrics.components import Components, label_components
from fapiseg.metrics.detection import LESION_CONNECTIVITY, DetectionCounts, match_components
from fapiseg.metrics.segmentation import SegmentationScores, dice_fpv_fnv
from fapiseg.metrics.table import measure_lesions

REGIONS_NAME = "REGIONS.nii.gz"


@dataclass
class CaseEvaluation:
    """One case's results; ``scores``, ``detection`` and ``ref_table`` are None without a reference mask.

    ``pred_probability`` is the mean probability of each predicted lesion (None without PROB.nii.gz),
    ``pred_detection_score`` its detection score from the prediction's lesions.csv (None without one);
    ``called_regions`` maps a region label to whether the prediction has a voxel in it.
    """

    case: str
    scores: SegmentationScores | None
    detection: DetectionCounts | None
    called_positive: bool
    ref_table: pd.DataFrame | None
    pred_table: pd.DataFrame
    pred_probability: np.ndarray | None = None
    called_regions: dict[int, bool] = field(default_factory=dict)
    pred_detection_score: np.ndarray | None = None

    @property
    def reference_positive(self) -> bool | None:
        """Whether the reference mask holds a lesion (None without a reference mask)."""
        return None if self.detection is None else self.detection.n_ref > 0

    def lesion_rows(self) -> pd.DataFrame:
        """The case's reference and predicted lesions with their match status (lesions.csv rows)."""
        pred = self.pred_table.assign(
            source="prediction",
            mean_probability=self.pred_probability if self.pred_probability is not None else np.nan,
            detection_score=self.pred_detection_score if self.pred_detection_score is not None else np.nan,
        )
        tables = [pred]
        if self.detection is not None:
            _add_match_columns(pred, "pred", self.detection, ("true_positive", "false_positive"))
            ref = self.ref_table.assign(source="reference")
            _add_match_columns(ref, "ref", self.detection, ("detected", "missed"))
            tables.insert(0, ref)
        rows = pd.concat([t for t in tables if len(t)] or [tables[0]], ignore_index=True)
        rows.insert(0, "case", self.case)
        front = ["case", "source", "lesion_id", "match", "matched_lesion_ids", "best_iou"]
        return rows[[c for c in front if c in rows] + [c for c in rows if c not in front]]


@dataclass
class Evaluation:
    """All evaluated cases, the failures (``<case>: <reason>`` lines) and the options they were run with."""

    results: list[CaseEvaluation]
    failures: list[str]
    reference: pd.DataFrame | None = None
    iou_threshold: float | None = None


def evaluate(
    pred_dir: str | Path,
    ref_dir: str | Path,
    reference: pd.DataFrame | None = None,
    iou_threshold: float | None = None,
    report: Callable[[str], None] = print,
) -> Evaluation:
    """Evaluate every reference case under ``ref_dir`` against its prediction under ``pred_dir``.

    ``reference`` is a reference-standard table (columns case, positive [, region]). ``report`` gets
    one line per failed case and per warning (cases the reference table does not list, predictions
    without a reference case).
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FapisegError(f"{pred_dir}: not a folder")
    cases = find_cases(ref_dir)
    if not cases:
        raise FapisegError(f"{ref_dir}: no cases found (expected <patient>/<study>/SUV.nii.gz)")
    regions_of: dict[str, list[int]] = {}
    if reference is not None and "region" in reference:
        regions_of = {
            name: sorted(int(r) for r in group["region"]) for name, group in reference.groupby("case")
        }
    results, failures = [], []
    for case in cases:
        try:
            results.append(
                evaluate_case(
                    case,
                    case_dir(pred_dir, case),
                    iou_threshold,
                    need_reference_mask=reference is None,
                    regions=regions_of.get(case.name, []),
                )
            )
        except CaseError as e:
            failures.append(str(e))
            report(str(e))
    known = {c.name for c in cases}
    if reference is not None:
        for name in sorted(set(reference["case"]) - known):
            failures.append(f"{name}: listed in the reference CSV but not found under {ref_dir}")
            report(failures[-1])
        for name in sorted(known - set(reference["case"])):
            report(
                f"{name}: warning: no row in the reference CSV; left out of the reference-standard accuracy"
            )
    predicted = {p.parent.relative_to(pred_dir).as_posix() for p in pred_dir.glob(f"*/*/{PRED_NAME}")}
    for name in sorted(predicted - known):
        report(f"{name}: warning: a prediction without a reference case; ignored")
    return Evaluation(results, failures, reference, iou_threshold)


def evaluate_case(
    case: Case,
    pred_folder: Path,
    iou_threshold: float | None = None,
    need_reference_mask: bool = True,
    regions: list[int] | None = None,
) -> CaseEvaluation:
    """Score one case's prediction (``pred_folder/PRED.nii.gz``) against its reference; raises CaseError."""
    images = load_case(case, need_ct=False, seg="need" if need_reference_mask else "read")
    pet, affine = images.pet, images.pet.affine
    pred = _load_on_grid(pred_folder / PRED_NAME, case.name, pet) > 0.5
    pred_lesions = label_components(pred, LESION_CONNECTIVITY, affine)
    ref = None if images.seg is None else images.seg.array > 0
    background = find_background(
        pet.array,
        None if images.ct is None else images.ct.array,
        affine,
        exclude=pred if ref is None else pred | ref,
    )
    probability = None
    if (pred_folder / PROB_NAME).exists():
        probability = _mean_per_lesion(_load_on_grid(pred_folder / PROB_NAME, case.name, pet), pred_lesions)
    pred_table = measure_lesions(pet.array, pred_lesions, affine, background)
    scores = detection = ref_table = None
    if ref is not None:
        scores = dice_fpv_fnv(pred, ref, affine)
        ref_lesions = label_components(ref, LESION_CONNECTIVITY, affine)
        detection = match_components(pred_lesions, ref_lesions, iou_threshold)
        ref_table = measure_lesions(pet.array, ref_lesions, affine, background)
    called_regions = _called_regions(case, pred, pet, regions) if regions else {}
    return CaseEvaluation(
        case.name,
        scores,
        detection,
        bool(pred_lesions.items),
        ref_table,
        pred_table,
        probability,
        called_regions,
        _detection_scores(pred_folder / LESIONS_NAME, pred_table),
    )


def _detection_scores(path: Path, pred_table: pd.DataFrame) -> np.ndarray | None:
    """The ``detection_score`` column of the prediction's lesions.csv, when that table describes the
    lesions of PRED.nii.gz (the same voxel counts in the same order); else None."""
    if not path.exists():
        return None
    try:
        written = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
    if "detection_score" not in written or "voxel_count" not in written:
        return None
    if not np.array_equal(written["voxel_count"].to_numpy(), pred_table["voxel_count"].to_numpy()):
        return None
    score = written["detection_score"].to_numpy(float)
    return score if np.isfinite(score).all() else None


def _load_on_grid(path: Path, case: str, pet: Volume) -> np.ndarray:
    """An image that must share the PET's grid (prediction, probability or region map), finite."""
    volume = load_volume(path, case)
    if not same_grid(volume.shape, volume.affine, pet.shape, pet.affine):
        raise CaseError(
            case,
            f"{path.name} is not on the PET grid (shape {volume.shape} vs {pet.shape}, or another affine)",
        )
    if not np.isfinite(volume.array).all():
        raise CaseError(case, f"{path.name} holds NaN or infinite values")
    return volume.array


def _mean_per_lesion(values: np.ndarray, lesions: Components) -> np.ndarray:
    return np.array([values[c.bbox][c.crop(lesions.labels)].mean(dtype=np.float64) for c in lesions])


def _called_regions(case: Case, pred: np.ndarray, pet: Volume, regions: list[int]) -> dict[int, bool]:
    """For each region label, whether the prediction has a voxel in it (region map: REGIONS.nii.gz)."""
    path = case.pet.parent / REGIONS_NAME
    if not path.exists():
        raise CaseError(case.name, f"the reference CSV has region rows but {REGIONS_NAME} is missing")
    region_map = np.rint(_load_on_grid(path, case.name, pet)).astype(np.int64)
    absent = [r for r in regions if not (region_map == r).any()]
    if absent:
        raise CaseError(case.name, f"{REGIONS_NAME} has no region labelled {absent[0]}")
    called = set(np.unique(region_map[pred]).tolist())
    return {r: r in called for r in regions}


def _add_match_columns(
    table: pd.DataFrame, side: str, detection: DetectionCounts, words: tuple[str, str]
) -> None:
    """Add ``match`` (``words`` for matched / not), ``matched_lesion_ids`` ("1;3") and ``best_iou`` to
    one side's lesion table; ``side`` is "ref" or "pred" (the :class:`LesionPair` field of this side)."""
    other = "pred" if side == "ref" else "ref"
    matched = detection.ref_detected if side == "ref" else detection.pred_matched
    counted = detection.matching_pairs()
    table["match"] = np.where(matched, *words)
    table["matched_lesion_ids"] = [
        ";".join(str(j + 1) for j in sorted({getattr(p, other) for p in counted if getattr(p, side) == i}))
        for i in range(len(table))
    ]
    table["best_iou"] = [
        max((p.iou for p in detection.pairs if getattr(p, side) == i), default=0.0) for i in range(len(table))
    ]
