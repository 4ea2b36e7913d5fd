"""Write a cohort study: its CSV tables, summary.json, the waterfall plot and a self-contained report.html.

The report uses the demo report's stylesheet (:data:`fapiseg.reports.html.CSS`) and inline figures
(:func:`fapiseg.reports.embed.img_tag`): headline numbers, diagnostic accuracy by region, the response
distribution and waterfall plot, and per patient the response table, the MIPs of the studies side by side
with track ids, and the lesion trajectories. The evaluation's own files (cases.csv, lesions.csv, FROC)
are in ``evaluation/``, as ``fapiseg evaluate`` writes them.
"""

from __future__ import annotations

import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from fapiseg import __version__
from fapiseg.io.nifti import atomic_path
from fapiseg.longitudinal.course import PatientCourse, study_images
from fapiseg.longitudinal.figures import mip_comparison_figure, trajectory_figure, waterfall_figure
from fapiseg.longitudinal.study import CohortStudy
from fapiseg.metrics.cohort import write_evaluation
from fapiseg.metrics.table import CSV_FLOAT_FORMAT
from fapiseg.reports.embed import figure_to_png, img_tag
from fapiseg.reports.html import CSS

RESPONSE_SHOWN = {
    "study": "study",
    "recist": "RECIST",
    "sum_diameters_mm": "SoD mm",
    "sum_diameters_change_pct": "SoD %",
    "percist": "PERCIST",
    "suv_peak": "SUVpeak",
    "suv_peak_change_pct": "SUVpeak %",
    "new_lesions": "new",
    "total_volume_change_pct": "volume %",
    "total_tl_fap_change_pct": "TL-FAP %",
}


def write_study(study: CohortStudy, out_dir: str | Path, max_patients: int | None = None) -> dict:
    """Write everything (module docstring) to ``out_dir`` atomically; returns summary.json's content."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict = {"n_patients_followed": len(study.courses), "n_failed": len(study.failures)}
    if study.evaluation is not None:
        summary["evaluation"] = write_evaluation(study.evaluation, out_dir / "evaluation")
    best = study.best_response()
    tables = {
        "accuracy.csv": study.accuracy,
        "response.csv": study.response(),
        "tracks.csv": study.tracks(),
        "studies.csv": study.studies(),
        "best_response.csv": best,
        "response_distribution.csv": study.distribution(),
    }
    if study.reference_courses:
        tables["response_agreement.csv"] = study.agreement()
    for name, table in tables.items():
        _write_csv(table, out_dir / name)
    summary["accuracy"] = _records(study.accuracy)
    summary["response_distribution"] = _records(tables["response_distribution.csv"])
    if "response_agreement.csv" in tables:
        summary["response_agreement"] = _records(tables["response_agreement.csv"])
    waterfall = None
    if len(best) and best["best_sum_diameters_change_pct"].notna().any():
        waterfall = figure_to_png(waterfall_figure(best))
        with atomic_path(out_dir / "waterfall.png") as tmp:
            tmp.write_bytes(waterfall)
    with atomic_path(out_dir / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default) + "\n")
    with atomic_path(out_dir / "report.html") as tmp:
        tmp.write_text(_page(study, summary, tables, waterfall, max_patients), encoding="utf-8")
    return summary


def _page(study: CohortStudy, summary: dict, tables: dict, waterfall: bytes | None, max_patients) -> str:
    parts = [
        "<h1>fapiseg study</h1>",
        (
            f"<p class='meta'>generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by fapiseg "
            f"{_e(__version__)}; lesion masks for the response: {_e(study.masks)}</p>"
        ),
        _cards(study, summary, tables["response_distribution.csv"]),
    ]
    if study.failures:
        parts.append(
            "<h2>Not assessed</h2><ul>"
            + "".join(f"<li class='error'>{_e(f)}</li>" for f in study.failures)
            + "</ul>"
        )
    if len(study.accuracy):
        parts.append(
            "<h2>Diagnostic accuracy</h2><p class='meta'>95 % Wilson intervals; lesion-level intervals "
            "treat lesions as independent. Regions from organ maps or the CT.</p>"
        )
        parts.append(_accuracy_html(study.accuracy))
    parts.append("<h2>Response</h2>")
    parts.append(
        "<div class='row'><div class='col'>" + _table(tables["response_distribution.csv"]) + "</div>"
    )
    if waterfall is not None:
        parts.append("<div class='col'>" + img_tag(waterfall, "waterfall plot of best response") + "</div>")
    parts.append("</div>")
    if "response_agreement.csv" in tables:
        parts.append(
            "<h3>Predicted against reference response</h3>" + _table(tables["response_agreement.csv"])
        )
    if len(tables["best_response.csv"]):
        parts.append("<h3>Best response per patient</h3>" + _table(tables["best_response.csv"]))
    shown = list(study.courses.items())[: max_patients if max_patients is not None else None]
    for patient, course in shown:
        parts.append(_patient_card(patient, course))
    if len(shown) < len(study.courses):
        parts.append(f"<p class='meta'>{len(study.courses) - len(shown)} more patient(s) not shown.</p>")
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>fapiseg study</title>"
        f"<style>{CSS}</style></head><body>{''.join(parts)}<footer>RECIST 1.1 (Eisenhauer 2009) on up to five "
        "targets chosen at baseline; PERCIST 1.0 (Wahl 2009, O 2016) on SUVpeak of the hottest lesion. Coronal "
        "MIPs seen from the front, lesions outlined and numbered by track.</footer></body></html>\n"
    )


def _cards(study: CohortStudy, summary: dict, distribution: pd.DataFrame) -> str:
    cards = [("patients followed", str(len(study.courses)), f"{len(study.failures)} failure(s)")]
    if "evaluation" in summary:
        e = summary["evaluation"]
        cards.append(("scans", str(e["n_scans"]), f"Dice {_num(e['dice'])}"))
        lesion = study.accuracy[(study.accuracy["level"] == "lesion") & (study.accuracy["by"] == "all")]
        sens = lesion[lesion["metric"] == "sensitivity"].iloc[0]
        cards.append(("lesion sensitivity", _num(sens["value"]), _ci(sens)))
        for key in ("sensitivity", "specificity"):
            p = e["scan"][key]
            cards.append((f"scan {key}", _num(p["value"]), _ci(p)))
    rate = distribution[distribution["criterion"] == "rate"]
    for row in rate.itertuples(index=False):
        cards.append((row.category.split(" (")[0], _num(row.proportion), f"{row.k}/{row.n}"))
    return (
        "<div class='cards'>"
        + "".join(
            f"<div class='card'><div class='label'>{_e(a)}</div><div class='value'>{_e(b)}</div>"
            f"<div class='sub'>{_e(c)}</div></div>"
            for a, b, c in cards
        )
        + "</div>"
    )


def _accuracy_html(accuracy: pd.DataFrame) -> str:
    cells = accuracy.assign(
        text=[f"{_num(r.value)} {_ci(r._asdict())}".strip() for r in accuracy.itertuples(index=False)]
    )
    parts = []
    for level in ("scan", "lesion"):
        part = cells[cells["level"] == level]
        if len(part):
            table = part.pivot(index=["by", "group"], columns="metric", values="text").reset_index()
            order = ["by", "group"] + [
                m for m in ("sensitivity", "specificity", "ppv", "npv", "accuracy") if m in table
            ]
            parts.append(f"<h3>{level} level</h3>" + _table(table[order]))
    return "".join(parts)


def _patient_card(patient: str, course: PatientCourse) -> str:
    response = course.response[[c for c in RESPONSE_SHOWN if c in course.response]].rename(
        columns=RESPONSE_SHOWN
    )
    mips = img_tag(
        figure_to_png(mip_comparison_figure(study_images(course), height_in=3.6), dpi=70),
        f"MIPs of {patient}",
    )
    trajectories = img_tag(
        figure_to_png(trajectory_figure(course.changes, course.study_names, course.targets), dpi=70),
        f"lesion trajectories of {patient}",
    )
    return (
        f"<div class='case'><h3>{_e(patient)}</h3><p class='facts'>{len(course.studies)} studies, "
        f"{len(course.targets)} RECIST target(s): tracks {_e(', '.join(map(str, course.targets)) or 'none')}</p>"
        f"{_table(response)}<div class='row'><div class='mip'>{mips}</div><div class='col'>{trajectories}</div>"
        "</div></div>"
    )


def _write_csv(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)


def _records(table: pd.DataFrame) -> list[dict]:
    return json.loads(table.to_json(orient="records"))


def _json_default(value):
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _table(table: pd.DataFrame) -> str:
    return table.to_html(index=False, border=0, na_rep="–", float_format=lambda v: f"{v:.3g}", escape=True)


def _num(value, digits: int = 3) -> str:
    return (
        "–"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{float(value):.{digits}f}"
    )


def _ci(p) -> str:
    if p.get("value") is None or (isinstance(p.get("value"), float) and math.isnan(p["value"])):
        return f"n = {int(p.get('n', 0))}"
    return f"({p['ci_low']:.2f}–{p['ci_high']:.2f}, n = {int(p['n'])})"


def _e(text) -> str:
    return html.escape(str(text))
