"""The whole cohort in one run: diagnostic accuracy (scan and lesion level, overall and by organ region)
and the response of every patient followed through therapy.

- **Accuracy** (with predictions): :func:`fapiseg.metrics.evaluate.evaluate` scores every case (autoPET
  Dice/FPV/FNV, lesion detection, FROC, scan-level accuracy; the reference-standard CSV when given).
  On top of it, every reference and predicted lesion gets its organ region
  (:mod:`fapiseg.longitudinal.regions`; a predicted lesion that matches a reference lesion takes that
  lesion's region), giving lesion sensitivity and PPV per region and a scan-level 2 x 2 table per region
  (a scan is positive for a region when its reference has a lesion there, called positive when the
  prediction has one there). Where the data folder's ``truth.json`` (the phantom's) names each lesion's
  kind, lesion sensitivity per kind too. Proportions carry 95 % Wilson intervals, which treat lesions as independent
  (lesions of one patient are not, so the lesion-level intervals are optimistic).
- **Response**: every patient with two or more studies is followed with
  :func:`fapiseg.longitudinal.course.follow_patient` on the predicted masks (or the reference masks
  without predictions), and, when both exist, on both, so that the predicted response can be compared
  with the reference response (the follow-ups are registered once, for both). Best overall response per patient is the best category up to and
  including the first progression (CR > PR > SD > non-CR/non-PD > PD; CMR > PMR > SMD > PMD), with the
  smallest change of the target sum (the waterfall plot's bar) over the same follow-ups.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fapiseg.data.cases import PRED_NAME, case_dir, find_cases
from fapiseg.data.validation import load_case
from fapiseg.errors import CaseError, FapisegError
from fapiseg.io.nifti import load_volume
from fapiseg.longitudinal.course import PatientCourse, follow_patient
from fapiseg.longitudinal.regions import find_region_map, lesion_regions
from fapiseg.metrics.components import label_components
from fapiseg.metrics.detection import LESION_CONNECTIVITY
from fapiseg.metrics.diagnostic import diagnostic_accuracy, proportion
from fapiseg.metrics.evaluate import Evaluation, evaluate

RECIST_ORDER = ("CR", "PR", "SD", "non-CR/non-PD", "PD", "NE")
PERCIST_ORDER = ("CMR", "PMR", "SMD", "PMD", "NE")
ACCURACY_COLUMNS = ["level", "by", "group", "metric", "value", "ci_low", "ci_high", "k", "n"]


@dataclass
class CohortStudy:
    """Everything ``fapiseg study`` computes (see the module docstring)."""

    evaluation: Evaluation | None
    accuracy: pd.DataFrame
    courses: dict[str, PatientCourse] = field(default_factory=dict)
    reference_courses: dict[str, PatientCourse] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    masks: str = "reference"  # what ``courses`` were followed on: "prediction" or "reference"

    def response(self) -> pd.DataFrame:
        """Every follow-up of every patient (response.csv rows plus ``patient`` and ``masks``)."""
        tables = [_with_patient(c.response, p, self.masks) for p, c in self.courses.items()]
        tables += [_with_patient(c.response, p, "reference") for p, c in self.reference_courses.items()]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["patient", "masks"])

    def tracks(self) -> pd.DataFrame:
        """Every tracked lesion of every patient (tracks.csv rows plus ``patient`` and ``masks``)."""
        tables = [_with_patient(c.tracks, p, self.masks) for p, c in self.courses.items()]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["patient", "masks"])

    def studies(self) -> pd.DataFrame:
        """Every study of every followed patient (studies.csv rows: burden, reference, registration)."""
        tables = [_with_patient(c.summary, p, self.masks) for p, c in self.courses.items()]
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["patient", "masks"])

    def best_response(self) -> pd.DataFrame:
        """One row per followed patient: best RECIST and PERCIST response, best change of the target sum,
        and the response at the last follow-up (from the masks the courses were run on)."""
        rows = [{"patient": p, **best_response(c.response)} for p, c in self.courses.items()]
        for row in rows:
            reference = self.reference_courses.get(row["patient"])
            if reference is not None:
                ref = best_response(reference.response)
                row["reference_best_recist"] = ref["best_recist"]
                row["reference_best_percist"] = ref["best_percist"]
        return pd.DataFrame(rows)

    def distribution(self) -> pd.DataFrame:
        """Counts of best responses and the usual rates, each with its 95 % Wilson interval."""
        best = self.best_response()
        rows = []
        n = len(best)
        for criterion, order in (("best_recist", RECIST_ORDER), ("best_percist", PERCIST_ORDER)):
            values = best[criterion].tolist() if n else []
            for category in order:
                rows.append(_rate(criterion, category, sum(v == category for v in values), n))
        values = best["best_recist"].tolist() if n else []
        rows.append(_rate("rate", "objective response (CR+PR)", sum(v in ("CR", "PR") for v in values), n))
        rows.append(
            _rate("rate", "disease control (CR+PR+SD)", sum(v in ("CR", "PR", "SD") for v in values), n)
        )
        values = best["best_percist"].tolist() if n else []
        rows.append(
            _rate("rate", "metabolic response (CMR+PMR)", sum(v in ("CMR", "PMR") for v in values), n)
        )
        return pd.DataFrame(rows)

    def agreement(self) -> pd.DataFrame:
        """Predicted against reference response, follow-up by follow-up (when both were run)."""
        rows = []
        for criterion in ("recist", "percist"):
            pairs = []
            for patient, reference in self.reference_courses.items():
                if patient not in self.courses:
                    continue
                predicted = self.courses[patient].response.set_index("study")[criterion]
                for study, ref in reference.response.set_index("study")[criterion].items():
                    if study in predicted.index:
                        pairs.append((ref, predicted[study]))
            p = proportion(sum(a == b for a, b in pairs), len(pairs))
            rows.append(
                {
                    "criterion": criterion,
                    "agreement": p.value,
                    "ci_low": p.ci_low,
                    "ci_high": p.ci_high,
                    "k": p.k,
                    "n": p.n,
                }
            )
        return pd.DataFrame(rows, columns=["criterion", "agreement", "ci_low", "ci_high", "k", "n"])


def run_study(
    data_dir: str | Path,
    pred_dir: str | Path | None = None,
    reference: pd.DataFrame | None = None,
    regions_dir: str | Path | None = None,
    report: Callable[[str], None] = print,
) -> CohortStudy:
    """Evaluate (with predictions) and follow every patient of ``data_dir``; ``report`` gets one line per
    failed case or patient."""
    data_dir = Path(data_dir)
    cases = find_cases(data_dir)
    if not cases:
        raise FapisegError(f"{data_dir}: no cases found (expected <patient>/<study>/SUV.nii.gz)")
    evaluation = None
    accuracy = pd.DataFrame(columns=ACCURACY_COLUMNS)
    failures: list[str] = []
    if pred_dir is not None:
        evaluation = evaluate(pred_dir, data_dir, reference, report=report)
        failures += evaluation.failures
        ref_regions, pred_regions = region_calls(evaluation, data_dir, Path(pred_dir), regions_dir)
        accuracy = accuracy_table(evaluation, ref_regions, pred_regions, lesion_kinds(evaluation, data_dir))
    study = CohortStudy(
        evaluation, accuracy, failures=failures, masks="reference" if pred_dir is None else "prediction"
    )
    studies_of: dict[str, int] = {}
    for case in cases:
        studies_of[case.patient] = studies_of.get(case.patient, 0) + 1
    for patient in (p for p, n in studies_of.items() if n >= 2):
        aligned = None
        if pred_dir is not None and all(c.seg is not None for c in cases if c.patient == patient):
            try:
                reference_course = follow_patient(data_dir, patient, regions_dir=regions_dir)
                study.reference_courses[patient] = reference_course
                aligned = reference_course.alignments  # the same CTs: register once for both
            except (CaseError, FapisegError) as e:
                study.failures.append(f"{e} (reference response of patient {patient} not assessed)")
                report(study.failures[-1])
        try:
            study.courses[patient] = follow_patient(
                data_dir, patient, pred_dir=pred_dir, regions_dir=regions_dir, alignments=aligned
            )
        except (CaseError, FapisegError) as e:
            study.failures.append(f"{e} (response of patient {patient} not assessed)")
            report(study.failures[-1])
            continue
        for line in study.courses[patient].failures:
            if line not in study.failures:
                study.failures.append(line)
                report(line)
    return study


def region_calls(
    evaluation: Evaluation, data_dir: Path, pred_dir: Path, regions_dir: str | Path | None
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Organ region of every reference and predicted lesion of every evaluated case, in lesion_id order.

    A predicted lesion that matches reference lesions takes the region of the one it overlaps most.
    """
    cases = {c.name: c for c in find_cases(data_dir)}
    ref_regions, pred_regions = {}, {}
    for result in evaluation.results:
        if result.detection is None:
            continue
        case = cases[result.case]
        images = load_case(case, need_ct=False, seg="need")
        pet = images.pet
        ct = None if images.ct is None else images.ct.array
        region_map, names = find_region_map(
            case_dir(regions_dir, case) if regions_dir is not None else case.pet.parent,
            pet,
            case.name,
            data_dir,
        )
        ref = label_components(images.seg.array > 0, LESION_CONNECTIVITY, pet.affine)
        pred_mask = load_volume(case_dir(pred_dir, case) / PRED_NAME, case.name).array > 0.5
        pred = label_components(pred_mask, LESION_CONNECTIVITY, pet.affine)
        ref_regions[case.name] = [c.region for c in lesion_regions(ref, pet.affine, ct, region_map, names)]
        own = [c.region for c in lesion_regions(pred, pet.affine, ct, region_map, names)]
        best: dict[int, tuple[int, int]] = {}
        for pair in result.detection.matching_pairs():
            if pair.overlap_voxels > best.get(pair.pred, (-1, -1))[0]:
                best[pair.pred] = (pair.overlap_voxels, pair.ref)
        pred_regions[case.name] = [
            ref_regions[case.name][best[j][1]] if j in best else own[j] for j in range(len(own))
        ]
    return ref_regions, pred_regions


def accuracy_table(
    evaluation: Evaluation,
    ref_regions: dict[str, list[str]],
    pred_regions: dict[str, list[str]],
    ref_kinds: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Scan- and lesion-level accuracy, overall, per region and (lesion sensitivity) per lesion kind, one
    proportion per row (accuracy.csv)."""
    scored = [r for r in evaluation.results if r.detection is not None]
    rows = []
    scan = diagnostic_accuracy([r.reference_positive for r in scored], [r.called_positive for r in scored])
    rows += _accuracy_rows("scan", "all", "all", scan)
    regions = sorted(
        {g for v in ref_regions.values() for g in v} | {g for v in pred_regions.values() for g in v}
    )
    for region in regions:
        per_region = diagnostic_accuracy(
            [region in ref_regions.get(r.case, []) for r in scored],
            [region in pred_regions.get(r.case, []) for r in scored],
        )
        rows += _accuracy_rows("scan", "region", region, per_region)
    for by, group in [("all", "all"), *(("region", g) for g in regions)]:
        ref_hits = _hits(scored, ref_regions, group, "ref")
        pred_hits = _hits(scored, pred_regions, group, "pred")
        rows.append(_proportion_row("lesion", by, group, "sensitivity", sum(ref_hits), len(ref_hits)))
        rows.append(_proportion_row("lesion", by, group, "ppv", sum(pred_hits), len(pred_hits)))
    if ref_kinds:
        for kind in sorted({k for v in ref_kinds.values() for k in v}):
            hits = _hits(scored, ref_kinds, kind, "ref")
            rows.append(_proportion_row("lesion", "kind", kind, "sensitivity", sum(hits), len(hits)))
    return pd.DataFrame(rows, columns=ACCURACY_COLUMNS)


def _hits(scored, labels: dict[str, list[str]], group: str, side: str) -> list[bool]:
    """Detected (``ref``) or matching (``pred``) flags of the lesions labelled ``group`` (all for "all")."""
    out = []
    for r in scored:
        flags = r.detection.ref_detected if side == "ref" else r.detection.pred_matched
        names = labels.get(r.case, [])
        out += [bool(f) for i, f in enumerate(flags) if group == "all" or names[i] == group]
    return out


def lesion_kinds(evaluation: Evaluation, data_dir: Path) -> dict[str, list[str]] | None:
    """The kind of every reference lesion (e.g. ``axillary_node``) from ``data_dir/truth.json`` (the
    phantom's), by the nearest true lesion centre within 10 mm plus the lesion's radius; None without it."""
    path = Path(data_dir) / "truth.json"
    if not path.exists():
        return None
    try:
        truth = json.loads(path.read_text())
        lesions_of = {
            s["case"]: s.get("lesions", []) for p in truth.get("patients", []) for s in p["studies"]
        }
    except (ValueError, KeyError, TypeError) as e:
        raise FapisegError(f"{path}: cannot read the lesion kinds ({e})") from None
    kinds = {}
    for r in evaluation.results:
        if r.ref_table is None:
            continue
        truth_lesions = [t for t in lesions_of.get(r.case, []) if "kind" in t and "centre_mm" in t]
        centres = np.array([t["centre_mm"] for t in truth_lesions], float).reshape(-1, 3)
        found = []
        for row in r.ref_table.itertuples(index=False):
            gate = 10.0 + np.cbrt(3 * row.volume_ml * 1000 / (4 * np.pi))
            distance = np.linalg.norm(
                centres - [row.centroid_x_mm, row.centroid_y_mm, row.centroid_z_mm], axis=1
            )
            near = int(np.argmin(distance)) if len(distance) else -1
            found.append(
                str(truth_lesions[near]["kind"]) if near >= 0 and distance[near] <= gate else "unknown"
            )
        kinds[r.case] = found
    return kinds


def best_response(response: pd.DataFrame) -> dict:
    """Best RECIST/PERCIST category and target-sum change up to the first progression, and the last ones."""
    if not len(response):
        return {
            "best_recist": "NE",
            "best_percist": "NE",
            "best_sum_diameters_change_pct": np.nan,
            "last_recist": "NE",
            "last_percist": "NE",
            "n_followups": 0,
        }
    rows = response.reset_index(drop=True)
    progressed = rows.index[rows["recist"] == "PD"]
    upto = rows.iloc[: progressed[0] + 1] if len(progressed) else rows
    progressed = rows.index[rows["percist"] == "PMD"]
    upto_percist = rows.iloc[: progressed[0] + 1] if len(progressed) else rows
    return {
        "best_recist": min(upto["recist"], key=_rank(RECIST_ORDER)),
        "best_percist": min(upto_percist["percist"], key=_rank(PERCIST_ORDER)),
        "best_sum_diameters_change_pct": float(upto["sum_diameters_change_pct"].min()),
        "last_recist": rows["recist"].iloc[-1],
        "last_percist": rows["percist"].iloc[-1],
        "n_followups": len(rows),
    }


def _rank(order: tuple[str, ...]):
    return lambda category: order.index(category) if category in order else len(order)


def _accuracy_rows(level: str, by: str, group: str, table) -> list[dict]:
    return [
        _proportion_row(level, by, group, name, getattr(table, name).k, getattr(table, name).n)
        for name in ("sensitivity", "specificity", "ppv", "npv", "accuracy")
    ]


def _proportion_row(level: str, by: str, group: str, metric: str, k: int, n: int) -> dict:
    p = proportion(int(k), int(n))
    return {
        "level": level,
        "by": by,
        "group": group,
        "metric": metric,
        "value": p.value,
        "ci_low": p.ci_low,
        "ci_high": p.ci_high,
        "k": int(k),
        "n": int(n),
    }


def _rate(criterion: str, category: str, k: int, n: int) -> dict:
    p = proportion(k, n)
    return {
        "criterion": criterion,
        "category": category,
        "k": k,
        "n": n,
        "proportion": p.value,
        "ci_low": p.ci_low,
        "ci_high": p.ci_high,
    }


def _with_patient(table: pd.DataFrame, patient: str, masks: str) -> pd.DataFrame:
    out = table.copy()
    out.insert(0, "patient", patient)
    out.insert(1, "masks", masks)
    return out
