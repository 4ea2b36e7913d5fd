"""Response per follow-up: RECIST 1.1 on the baseline's target lesions, PERCIST 1.0 on the hottest lesion,
and the FAP-avid tumour burden (total volume and total lesion FAP) with their changes from baseline.

Definitions live in :mod:`fapiseg.longitudinal.recist` and :mod:`fapiseg.longitudinal.percist`; this
module reads the tracked lesions and feeds them in. A lesion is *new* at a follow-up when its track did
not exist at baseline (so a lesion that appeared at the first follow-up is still new at the second: it
was not there before treatment) and it holds at least ``min_new_volume_ml``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fapiseg.longitudinal import percist, recist
from fapiseg.longitudinal.regions import is_nodal
from fapiseg.longitudinal.tracks import StudyLesions, Tracking

#: The contract's columns of response.csv, in order; more follow them.
RESPONSE_COLUMNS = [
    "study",
    "baseline",
    "sum_diameters_mm",
    "sum_diameters_change_pct",
    "recist",
    "suv_peak",
    "suv_peak_change_pct",
    "percist",
    "new_lesions",
]


def slice_thickness_mm(affine: np.ndarray) -> float:
    """Spacing (mm) along the array axis closest to world z: the axial slice thickness of RECIST."""
    a = np.asarray(affine, float)[:3, :3]
    axis = int(np.argmax(np.abs(a[2]) / np.linalg.norm(a, axis=0)))
    return float(np.linalg.norm(a[:, axis]))


def target_track_ids(studies: list[StudyLesions], tracking: Tracking) -> list[int]:
    """RECIST target lesions (track ids) chosen on the baseline."""
    baseline = tracking.tracks[tracking.tracks["study"] == studies[0].study]
    return recist.select_targets(baseline, slice_thickness_mm(studies[0].affine))


def response_table(
    studies: list[StudyLesions], tracking: Tracking, targets: list[int], min_new_volume_ml: float = 0.0
) -> pd.DataFrame:
    """One row per follow-up (the contract's columns first, then the numbers behind them)."""
    base = studies[0]
    tracks, states = tracking.tracks, tracking.states
    base_rows = tracks[tracks["study"] == base.study]
    base_region = dict(zip(base_rows["track_id"], base_rows["region"]))
    nodal = {t: is_nodal(base_region[t]) for t in base_region}
    non_targets = [
        t
        for t in base_region
        if t not in targets
        and not (nodal[t] and _size(base_rows, t, True) < recist.NORMAL_NODE_SHORT_AXIS_MM)
    ]
    baseline_sum = sum(_size(base_rows, t, nodal[t]) for t in targets)
    baseline_peak = _hottest(base_rows)
    totals = {s.study: _totals(tracks[tracks["study"] == s.study]) for s in studies}
    nadir = baseline_sum
    rows = []
    for study in studies[1:]:
        here = states[states["study"] == study.study].set_index("track_id")
        lesions = tracks[tracks["study"] == study.study]
        measurements = [recist.TargetMeasurement(nodal[t], _state_size(here, t, nodal[t])) for t in targets]
        new = lesions[~lesions["track_id"].isin(base_region) & (lesions["volume_ml"] >= min_new_volume_ml)]
        new_tracks = sorted(set(new["track_id"]))
        non_target_left = any(
            _state_size(here, t, True) >= recist.NORMAL_NODE_SHORT_AXIS_MM
            if nodal[t]
            else here.loc[t, "volume_ml"] > 0
            for t in non_targets
        )
        r = recist.assess(
            measurements, baseline_sum, nadir, non_target_left, bool(new_tracks), bool(base_region)
        )
        nadir = min(nadir, r.sum_mm)
        p = percist.assess(
            baseline_peak, _hottest(lesions), bool(new_tracks), base.reference, study.reference
        )
        now, before = totals[study.study], totals[base.study]
        rows.append(
            {
                "study": study.study,
                "baseline": base.study,
                "sum_diameters_mm": r.sum_mm,
                "sum_diameters_change_pct": r.change_from_baseline_pct,
                "recist": r.response,
                "suv_peak": p.suv_peak,
                "suv_peak_change_pct": p.change_pct,
                "percist": p.category,
                "new_lesions": len(new_tracks),
                "new_track_ids": ";".join(str(t) for t in new_tracks),
                "recist_target_response": r.target,
                "baseline_sum_diameters_mm": r.baseline_sum_mm,
                "nadir_sum_diameters_mm": r.nadir_mm,
                "sum_diameters_change_from_nadir_pct": r.change_from_nadir_pct,
                "target_track_ids": ";".join(str(t) for t in targets),
                "non_target_lesions_present": non_target_left,
                "baseline_suv_peak": p.baseline_suv_peak,
                "suv_peak_change_abs": p.change_abs,
                "percist_measurable": p.measurable,
                "percist_threshold": _threshold(base.reference),
                "reference": "" if study.reference is None else study.reference.kind,
                "reference_suv_mean": np.nan if study.reference is None else study.reference.mean,
                "baseline_reference_suv_mean": np.nan if base.reference is None else base.reference.mean,
                "suv_type": study.suv_type,
                "n_lesions": now["n_lesions"],
                "total_volume_ml": now["total_volume_ml"],
                "total_volume_change_pct": _pct(now["total_volume_ml"], before["total_volume_ml"]),
                "total_tl_fap": now["total_tl_fap"],
                "total_tl_fap_change_pct": _pct(now["total_tl_fap"], before["total_tl_fap"]),
            }
        )
    columns = RESPONSE_COLUMNS + [c for c in (rows[0] if rows else {}) if c not in RESPONSE_COLUMNS]
    return pd.DataFrame(rows, columns=columns)


def study_table(studies: list[StudyLesions], tracking: Tracking) -> pd.DataFrame:
    """One row per study (baseline included): tumour burden, hottest lesion, reference and registration."""
    rows = []
    for study in studies:
        lesions = tracking.tracks[tracking.tracks["study"] == study.study]
        a = study.alignment
        rows.append(
            {
                "study": study.study,
                **_totals(lesions),
                "suv_peak": _hottest(lesions),
                "suv_max": float(lesions["suv_max"].max()) if len(lesions) else np.nan,
                "reference": "" if study.reference is None else study.reference.kind,
                "reference_suv_mean": np.nan if study.reference is None else study.reference.mean,
                "reference_suv_sd": np.nan if study.reference is None else study.reference.sd,
                "suv_type": study.suv_type,
                "registration": a.method,
                "registration_metric": a.metric,
                "registration_rotation_deg": a.rotation_deg,
                "registration_seconds": a.seconds,
                **{f"registration_m{i}{j}": a.matrix[i, j] for i in range(3) for j in range(4)},
            }
        )
    return pd.DataFrame(rows)


def with_change_columns(states: pd.DataFrame) -> pd.DataFrame:
    """Per track and study (changes.csv): each measurement's change (%) from the track's first appearance."""
    out = states.copy()
    for column in ("volume_ml", "tl_fap", "suv_max", "suv_peak", "longest_diameter_mm", "short_axis_mm"):
        first = out.groupby("track_id")[column].transform("first")
        out[f"{column}_change_pct"] = np.where(first > 0, 100.0 * (out[column] - first) / first, np.nan)
    return out


def _size(rows: pd.DataFrame, track_id: int, nodal: bool) -> float:
    row = rows[rows["track_id"] == track_id]
    return float(row["short_axis_mm" if nodal else "longest_diameter_mm"].sum())


def _state_size(states: pd.DataFrame, track_id: int, nodal: bool) -> float:
    if track_id not in states.index:
        return 0.0
    return float(states.loc[track_id, "short_axis_mm" if nodal else "longest_diameter_mm"])


def _hottest(lesions: pd.DataFrame) -> float:
    return float(lesions["suv_peak"].max()) if len(lesions) else np.nan


def _totals(lesions: pd.DataFrame) -> dict:
    return {
        "n_lesions": len(lesions),
        "total_volume_ml": float(lesions["volume_ml"].sum()),
        "total_tl_fap": float(lesions["tl_fap"].sum()),
    }


def _threshold(reference: percist.Reference | None) -> float:
    value = None if reference is None else reference.measurability_threshold
    return np.nan if value is None else value


def _pct(now: float, before: float) -> float:
    return 100.0 * (now - before) / before if before > 0 else np.nan
