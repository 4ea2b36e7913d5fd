"""Cohort results of an evaluation: the per-case table, the lesion table, summary.json and the FROC curve.

summary.json (the contract's keys first):

- ``dice``, ``fnv_ml``: means over scans whose reference mask holds a lesion (autoPET); ``fpv_ml``: mean
  over all scans with a reference mask; None when no scan qualifies;
- ``lesion_sensitivity``: detected reference lesions / reference lesions, pooled over scans;
- ``fp_per_scan``: predicted lesions that match no reference lesion / scans;
- ``scan``: sensitivity, specificity, PPV, NPV, accuracy of the scan-level call against the reference
  masks, each ``{"value", "ci_low", "ci_high", "n"}`` (95 % Wilson);
- added: counts, lesion precision and F1, the FROC's lesion score, and with a reference-standard CSV
  ``reference_standard`` (per scan or per region: the same five proportions and the 2 x 2 counts).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from fapiseg.io.nifti import atomic_path
from fapiseg.metrics.detection import LESION_CONNECTIVITY, f1_score
from fapiseg.metrics.diagnostic import diagnostic_accuracy
from fapiseg.metrics.evaluate import Evaluation
from fapiseg.metrics.froc import froc_curve, write_froc
from fapiseg.metrics.segmentation import AUTOPET_CONNECTIVITY
from fapiseg.metrics.table import CSV_FLOAT_FORMAT

#: The evaluation layout (the contract): write_evaluation writes these into OUT/, the HTML report reads them.
CASES_CSV, LESIONS_CSV, SUMMARY_JSON = "cases.csv", "lesions.csv", "summary.json"
FROC_CSV, FROC_PNG = "froc.csv", "froc.png"

CASE_COLUMNS = [
    "case",
    "status",
    "error",
    "dice",
    "fpv_ml",
    "fnv_ml",
    "n_ref",
    "n_pred",
    "tp",
    "fn",
    "fp",
    "reference_positive",
    "called_positive",
]


def case_table(evaluation: Evaluation) -> pd.DataFrame:
    """One row per case (cases.csv): autoPET scores, lesion counts, scan calls; failed cases: their error."""
    rows = []
    for r in evaluation.results:
        d, s = r.detection, r.scores
        rows.append(
            {
                "case": r.case,
                "status": "ok",
                "error": "",
                "dice": None if s is None else s.dice,
                "fpv_ml": None if s is None else s.fpv_ml,
                "fnv_ml": None if s is None else s.fnv_ml,
                "n_ref": None if d is None else d.n_ref,
                "n_pred": len(r.pred_table),
                "tp": None if d is None else d.tp,
                "fn": None if d is None else d.fn,
                "fp": None if d is None else d.fp,
                "reference_positive": _as_int(r.reference_positive),
                "called_positive": int(r.called_positive),
            }
        )
    for line in evaluation.failures:
        case, _, reason = line.partition(": ")
        rows.append({"case": case, "status": "error", "error": reason})
    table = pd.DataFrame(rows, columns=CASE_COLUMNS)
    if evaluation.reference is not None and "region" not in evaluation.reference:
        truth = dict(zip(evaluation.reference["case"], evaluation.reference["positive"]))
        table["reference_standard_positive"] = [_as_int(truth.get(c)) for c in table["case"]]
    counts = ["n_ref", "n_pred", "tp", "fn", "fp", "reference_positive", "called_positive"]
    counts += ["reference_standard_positive"] if "reference_standard_positive" in table else []
    return table.sort_values("case", kind="stable").astype({c: "Int64" for c in counts})


def lesion_rows(evaluation: Evaluation) -> pd.DataFrame:
    """Every reference and predicted lesion of every evaluated case (lesions.csv)."""
    tables = [r.lesion_rows() for r in evaluation.results]
    tables = [t for t in tables if len(t)] or tables[:1]
    return (
        pd.concat(tables, ignore_index=True)
        if tables
        else pd.DataFrame(columns=["case", "source", "lesion_id"])
    )


def froc(evaluation: Evaluation) -> tuple[pd.DataFrame, str]:
    """The cohort FROC and the name of the lesion score used.

    The score is the detection score (the false-positive reduction's, from infer.py's lesions.csv) when
    every case has one, else the mean probability when every case has a probability map, else SUVmax
    (mixing them would rank lesions on different scales).
    """
    scored = [r for r in evaluation.results if r.detection is not None]
    if scored and all(r.pred_detection_score is not None for r in scored):
        score_name = "detection_score"
    elif scored and all(r.pred_probability is not None for r in scored):
        score_name = "mean_probability"
    else:
        score_name = "suv_max"
    detection_scores, fp_scores = [], []
    for r in scored:
        scores = {
            "detection_score": r.pred_detection_score,
            "mean_probability": r.pred_probability,
            "suv_max": r.pred_table["suv_max"].to_numpy(float),
        }[score_name]
        best = np.full(r.detection.n_ref, np.nan)
        for pair in r.detection.matching_pairs():
            best[pair.ref] = np.fmax(best[pair.ref], scores[pair.pred])
        detection_scores.extend(best)
        fp_scores.extend(scores[~r.detection.pred_matched])
    return froc_curve(detection_scores, fp_scores, len(scored)), score_name


def summarise(evaluation: Evaluation, froc_score: str = "suv_max") -> dict:
    """summary.json's content (see the module docstring)."""
    scored = [r for r in evaluation.results if r.scores is not None]
    positive = [r for r in scored if r.reference_positive]
    n_ref = sum(r.detection.n_ref for r in scored)
    n_pred = sum(r.detection.n_pred for r in scored)
    tp = sum(r.detection.tp for r in scored)
    fp = sum(r.detection.fp for r in scored)
    sensitivity = tp / n_ref if n_ref else None
    precision = (n_pred - fp) / n_pred if n_pred else None
    scan = diagnostic_accuracy([r.reference_positive for r in scored], [r.called_positive for r in scored])
    summary = {
        "dice": _mean([r.scores.dice for r in positive]),
        "fpv_ml": _mean([r.scores.fpv_ml for r in scored]),
        "fnv_ml": _mean([r.scores.fnv_ml for r in positive]),
        "lesion_sensitivity": sensitivity,
        "fp_per_scan": fp / len(scored) if scored else None,
        "scan": scan.as_dict(),
        "scan_counts": scan.counts(),
        "n_scans": len(scored),
        "n_scans_with_reference_lesion": len(positive),
        "n_failed": len(evaluation.failures),
        "n_reference_lesions": n_ref,
        "n_predicted_lesions": n_pred,
        "n_detected_lesions": tp,
        "n_false_positive_lesions": fp,
        "lesion_precision": precision,
        "lesion_f1": f1_score(precision, sensitivity),
        "lesion_matching": "overlap"
        if evaluation.iou_threshold is None
        else f"iou>={evaluation.iou_threshold:g}",
        "connectivity": {"dice_fpv_fnv": AUTOPET_CONNECTIVITY, "lesions": LESION_CONNECTIVITY},
        "froc_score": froc_score,
    }
    if evaluation.reference is not None:
        summary["reference_standard"] = _reference_standard(evaluation)
    return summary


def write_evaluation(evaluation: Evaluation, out_dir: str | Path) -> dict:
    """Write cases.csv, lesions.csv, summary.json, froc.csv and froc.png atomically; return the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curve, score_name = froc(evaluation)
    summary = summarise(evaluation, score_name)
    for name, table in ((CASES_CSV, case_table(evaluation)), (LESIONS_CSV, lesion_rows(evaluation))):
        with atomic_path(out_dir / name) as tmp:
            table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)
    write_froc(curve, out_dir / FROC_CSV, out_dir / FROC_PNG, score_name)
    with atomic_path(out_dir / SUMMARY_JSON) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False) + "\n")
    return summary


def _reference_standard(evaluation: Evaluation) -> dict:
    """Diagnostic accuracy against the reference-standard CSV, per scan or per region."""
    reference = evaluation.reference
    by_case = {r.case: r for r in evaluation.results}
    truth, called = [], []
    if "region" in reference:
        for case, region, positive in reference[["case", "region", "positive"]].itertuples(index=False):
            if case in by_case and int(region) in by_case[case].called_regions:
                truth.append(bool(positive))
                called.append(by_case[case].called_regions[int(region)])
        level = "region"
    else:
        for case, positive in reference[["case", "positive"]].itertuples(index=False):
            if case in by_case:
                truth.append(bool(positive))
                called.append(by_case[case].called_positive)
        level = "scan"
    accuracy = diagnostic_accuracy(truth, called)
    return {"level": level, **accuracy.as_dict(), "counts": accuracy.counts()}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else None


def _as_int(flag: bool | None) -> int | None:
    return None if flag is None else int(flag)
