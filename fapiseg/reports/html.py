"""The HTML report: one self-contained file (figures inline as base64 PNG) that opens without a server.

It reads what ``fapiseg evaluate`` wrote (summary.json, cases.csv, lesions.csv, froc.png), the
predictions (``PRED_DIR/<patient>/<study>/PRED.nii.gz``) and the data (SUV.nii.gz, SEG.nii.gz), and
shows, per cohort: the headline numbers with their 95 % intervals, the FROC curve, a table of cases,
and per case coronal and sagittal PET MIPs with reference (green) and predicted (red) outlines, the
predicted lesions numbered as in the lesion tables beside (or, where the MIPs leave too little room, below)
them, each predicted lesion with the reference lesion it matched.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from fapiseg import __version__
from fapiseg.data.cases import PET_NAME, PRED_NAME, SEG_NAME
from fapiseg.errors import CaseError, FapisegError
from fapiseg.io.geometry import same_grid
from fapiseg.io.nifti import atomic_path, load_volume
from fapiseg.metrics.cohort import CASES_CSV, FROC_PNG, LESIONS_CSV, SUMMARY_JSON
from fapiseg.reports.embed import figure_to_png, img_tag

#: Lesion-table rows (and numbered markers) shown per case; the rest are counted ("and N more").
MAX_LESION_ROWS = 25
REFERENCE_COLOR, PREDICTION_COLOR = "#1a9850", "#d73027"
PREDICTED_COLUMNS = {
    "lesion_id": "#",
    "match": "match",
    "matched_lesion_ids": "reference #",
    "volume_ml": "volume mL",
    "suv_max": "SUVmax",
    "suv_peak": "SUVpeak",
    "suv_mean": "SUVmean",
    "tl_fap": "TL-FAP",
    "longest_diameter_mm": "LD mm",
    "short_axis_mm": "SA mm",
    "tbr": "TBR",
    "mean_probability": "p",
    "detection_score": "score",
}
REFERENCE_COLUMNS = {
    "lesion_id": "#",
    "match": "found",
    "matched_lesion_ids": "found as #",
    "volume_ml": "volume mL",
    "suv_max": "SUVmax",
    "suv_peak": "SUVpeak",
    "longest_diameter_mm": "LD mm",
}


@dataclass
class CohortSection:
    """One evaluated cohort in the report; ``notes`` are (label, text) lines shown under its numbers."""

    title: str
    eval_dir: Path
    pred_dir: Path
    data_dir: Path
    notes: list[tuple[str, str]] = field(default_factory=list)


def write_report(
    sections: Sequence[CohortSection],
    out: str | Path,
    title: str = "fapiseg report",
    preamble: Sequence[tuple[str, str]] = (),
    max_cases: int | None = None,
) -> Path:
    """Build the report of ``sections`` and write it to ``out`` atomically.

    ``preamble`` is (label, text) lines shown at the top (what was run, timings); ``max_cases`` caps the
    number of case figures per section (all by default).
    """
    body = [f"<h1>{_e(title)}</h1>", _meta_line(), _key_values(preamble) if preamble else ""]
    if len(sections) > 1:
        body.append(_comparison(sections))
    body += [_section(s, max_cases) for s in sections]
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<style>{CSS}</style></head><body>{"".join(body)}
<footer>fapiseg {_e(__version__)}. Outlines on PET maximum-intensity projections: reference
<b style="color:{REFERENCE_COLOR}">green</b>, prediction <b style="color:{PREDICTION_COLOR}">red</b>; coronal seen
from the front (patient's right on the left), sagittal seen from the patient's left (anterior on the left);
black is uptake (SUV window in each figure). Dice, FPV and FNV follow the autoPET challenge (18-connected);
lesion detection uses 26-connected lesions and any overlap; intervals are 95 % Wilson score intervals.</footer>
</body></html>
"""
    out = Path(out)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def _section(section: CohortSection, max_cases: int | None) -> str:
    summary_path = section.eval_dir / SUMMARY_JSON
    if not summary_path.exists():
        raise FapisegError(f"{section.eval_dir}: no {SUMMARY_JSON} (run `fapiseg evaluate` first)")
    summary = json.loads(summary_path.read_text())
    cases = _read_csv(section.eval_dir / CASES_CSV)
    lesions = _read_csv(section.eval_dir / LESIONS_CSV)
    parts = [f"<section><h2>{_e(section.title)}</h2>", _headline(summary)]
    if section.notes:
        parts.append(_key_values(section.notes))
    parts.append('<div class="row">')
    parts.append(f'<div class="col">{_metrics_table(summary)}</div>')
    froc = section.eval_dir / FROC_PNG
    if froc.exists():
        parts.append(f'<div class="col">{img_tag(froc.read_bytes(), "FROC curve", "froc")}</div>')
    parts.append("</div>")
    if len(cases):
        parts.append("<h3>Cases</h3>" + _cases_table(cases))
    shown = cases if max_cases is None else cases.head(max_cases)
    for row in shown.itertuples(index=False):
        parts.append(
            _case_card(section, row, lesions[lesions["case"] == row.case] if len(lesions) else lesions)
        )
    if max_cases is not None and len(cases) > max_cases:
        parts.append(f"<p class='meta'>{len(cases) - max_cases} more case(s) not shown.</p>")
    parts.append("</section>")
    return "".join(parts)


def _headline(summary: dict) -> str:
    scan = summary.get("scan", {})
    cards = [
        ("Dice", _num(summary.get("dice")), "mean over scans with a lesion"),
        (
            "Lesion sensitivity",
            _num(summary.get("lesion_sensitivity")),
            f"{summary.get('n_detected_lesions', '?')} of {summary.get('n_reference_lesions', '?')} lesions found",
        ),
        (
            "False positives / scan",
            _num(summary.get("fp_per_scan"), 2),
            f"{summary.get('n_scans', '?')} scans",
        ),
        ("Scan sensitivity", _num(scan.get("sensitivity", {}).get("value")), _ci(scan.get("sensitivity"))),
        ("Scan specificity", _num(scan.get("specificity", {}).get("value")), _ci(scan.get("specificity"))),
    ]
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{_e(a)}</div><div class="value">{_e(b)}</div>'
            f'<div class="sub">{_e(c)}</div></div>'
            for a, b, c in cards
        )
        + "</div>"
    )


def _metrics_table(summary: dict) -> str:
    rows = [
        ("Dice (autoPET)", _num(summary.get("dice")), "mean over scans with a reference lesion"),
        ("False-positive volume, mL", _num(summary.get("fpv_ml"), 2), "mean over all scans"),
        (
            "False-negative volume, mL",
            _num(summary.get("fnv_ml"), 2),
            "mean over scans with a reference lesion",
        ),
        (
            "Lesion sensitivity",
            _num(summary.get("lesion_sensitivity")),
            f"{summary.get('n_detected_lesions')}/{summary.get('n_reference_lesions')} reference lesions",
        ),
        (
            "Lesion precision",
            _num(summary.get("lesion_precision")),
            f"{summary.get('n_predicted_lesions')} predicted",
        ),
        (
            "False positives per scan",
            _num(summary.get("fp_per_scan"), 2),
            f"{summary.get('n_false_positive_lesions')} false-positive lesions",
        ),
    ]
    for key in ("sensitivity", "specificity", "ppv", "npv", "accuracy"):
        p = summary.get("scan", {}).get(key, {})
        rows.append((f"Scan {key.upper() if len(key) == 3 else key}", _num(p.get("value")), _ci(p)))
    if summary.get("n_failed"):
        rows.append(("Cases not evaluated", str(summary["n_failed"]), "see the case table"))
    body = "".join(
        f"<tr><td>{_e(a)}</td><td class='num'>{_e(b)}</td><td class='sub'>{_e(c)}</td></tr>"
        for a, b, c in rows
    )
    return (
        f"<table class='metrics'><tr><th>metric</th><th>value</th><th>95 % CI / basis</th></tr>{body}</table>"
    )


def _cases_table(cases: pd.DataFrame) -> str:
    columns = {
        "case": "case",
        "status": "status",
        "dice": "Dice",
        "n_ref": "reference lesions",
        "tp": "found",
        "fn": "missed",
        "fp": "false positives",
        "fpv_ml": "FPV mL",
        "fnv_ml": "FNV mL",
        "error": "error",
    }
    table = cases[[c for c in columns if c in cases]].rename(columns=columns)
    return _table(table, "cases")


def _case_card(section: CohortSection, row, lesions: pd.DataFrame) -> str:
    case = row.case
    header = f"<h3>{_e(case)}</h3>"
    if getattr(row, "status", "ok") != "ok":
        return f"<div class='case'>{header}<p class='error'>not evaluated: {_e(row.error)}</p></div>"
    predicted = lesions[lesions["source"] == "prediction"] if len(lesions) else lesions
    reference = lesions[lesions["source"] == "reference"] if len(lesions) else lesions
    facts = [f"Dice {_num(row.dice)}" if not _missing(row.dice) else "no reference lesion"]
    if not _missing(getattr(row, "n_ref", None)):
        if row.n_ref:
            facts.append(f"{_int(row.tp)} of {_int(row.n_ref)} lesions found")
        facts.append(f"{_int(row.fp)} false positive(s)")
    try:
        figure = _case_figure(section, case, predicted, reference)
    except (CaseError, FapisegError) as e:
        figure = f"<p class='error'>{_e(str(e))}</p>"
    tables = []
    if len(predicted):
        tables.append("<h4>Predicted lesions</h4>" + _lesion_table(predicted, PREDICTED_COLUMNS))
    else:
        tables.append("<h4>Predicted lesions</h4><p class='meta'>none</p>")
    if len(reference):
        tables.append("<h4>Reference lesions</h4>" + _lesion_table(reference, REFERENCE_COLUMNS))
    return (
        f"<div class='case'>{header}<p class='facts'>{_e(' · '.join(facts))}</p><div class='row'>"
        f"<div class='mip'>{figure}</div><div class='col tables'>{''.join(tables)}</div></div></div>"
    )


def _case_figure(section: CohortSection, case: str, predicted: pd.DataFrame, reference: pd.DataFrame) -> str:
    from fapiseg.reports.mip import Marker, Outline, mip_figure

    folder = Path(*case.split("/"))
    pet = load_volume(section.data_dir / folder / PET_NAME, case)
    outlines = []
    seg_path = section.data_dir / folder / SEG_NAME
    if seg_path.exists():
        outlines.append(Outline(_on_grid(seg_path, case, pet) > 0.5, "reference", REFERENCE_COLOR, 2.4))
    pred_path = section.pred_dir / folder / PRED_NAME
    if pred_path.exists():
        outlines.append(Outline(_on_grid(pred_path, case, pet) > 0.5, "prediction", PREDICTION_COLOR))
    markers = [
        Marker(str(int(r.lesion_id)), (r.centroid_x_mm, r.centroid_y_mm, r.centroid_z_mm), PREDICTION_COLOR)
        for r in predicted.itertuples(index=False)
    ]
    if "match" in reference:
        markers += [
            Marker(
                f"missed {int(r.lesion_id)}",
                (r.centroid_x_mm, r.centroid_y_mm, r.centroid_z_mm),
                REFERENCE_COLOR,
            )
            for r in reference.itertuples(index=False)
            if r.match == "missed"
        ]
    fig = mip_figure(pet.array, pet.affine, outlines, markers=markers, height_in=4.2)
    return img_tag(figure_to_png(fig, dpi=80), f"MIPs of {case}")


def _on_grid(path: Path, case: str, pet) -> np.ndarray:
    volume = load_volume(path, case)
    if not same_grid(volume.shape, volume.affine, pet.shape, pet.affine):
        raise CaseError(case, f"{path.name} is not on the PET grid")
    return volume.array


def _lesion_table(lesions: pd.DataFrame, columns: dict[str, str]) -> str:
    """The first MAX_LESION_ROWS lesions (by lesion_id: largest first) and a count of the others."""
    table = (
        lesions.sort_values("lesion_id")[[c for c in columns if c in lesions]].head(MAX_LESION_ROWS).copy()
    )
    more = len(lesions) - len(table)
    table = table.drop(
        columns=[c for c in ("mean_probability", "detection_score") if c in table and table[c].isna().all()]
    )
    if "match" in table:
        table["match"] = table["match"].replace(
            {
                "true_positive": "true positive",
                "false_positive": "false positive",
                "detected": "yes",
                "missed": "MISSED",
            }
        )
    note = f"<p class='meta'>and {more} smaller lesion(s) not listed</p>" if more > 0 else ""
    return _table(table.rename(columns=columns), "lesions") + note


def _comparison(sections: Sequence[CohortSection]) -> str:
    """Side-by-side headline numbers of several cohorts (e.g. held-out vs shifted phantoms)."""
    rows = []
    for s in sections:
        path = s.eval_dir / SUMMARY_JSON
        summary = json.loads(path.read_text()) if path.exists() else {}
        scan = summary.get("scan", {})
        rows.append(
            {
                "cohort": s.title,
                "scans": summary.get("n_scans"),
                "Dice": _num(summary.get("dice")),
                "lesion sensitivity": f"{_num(summary.get('lesion_sensitivity'))} "
                f"({summary.get('n_detected_lesions')}/{summary.get('n_reference_lesions')})",
                "FP / scan": _num(summary.get("fp_per_scan"), 2),
                "scan sensitivity": f"{_num(scan.get('sensitivity', {}).get('value'))} {_ci(scan.get('sensitivity'))}",
                "scan specificity": f"{_num(scan.get('specificity', {}).get('value'))} {_ci(scan.get('specificity'))}",
            }
        )
    return "<h2>Summary</h2>" + _table(pd.DataFrame(rows), "metrics")


def _table(table: pd.DataFrame, css_class: str) -> str:
    return table.to_html(
        index=False, classes=css_class, border=0, na_rep="–", float_format=_float, escape=True
    )


def _key_values(items: Sequence[tuple[str, str]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f"<table class='kv'>{rows}</table>"


def _meta_line() -> str:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<p class='meta'>generated {now} by fapiseg {_e(__version__)}</p>"


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame(columns=["case", "source", "lesion_id"])
    return pd.read_csv(path)


def _float(v: float) -> str:
    if v == 0 or abs(v) >= 100:
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}".rstrip("0").rstrip(".")


def _num(v, digits: int = 3) -> str:
    return "–" if _missing(v) else f"{float(v):.{digits}f}"


def _int(v) -> str:
    return "?" if _missing(v) else str(int(v))


def _ci(p: dict | None) -> str:
    if not p or p.get("value") is None:
        return "n = 0" if p else ""
    return f"({p['ci_low']:.2f}–{p['ci_high']:.2f}, n = {p['n']})"


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _e(text) -> str:
    return html.escape(str(text))


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1300px;
       color: #222; padding: 0 16px; }
h1 { margin-bottom: 0; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 36px; }
h3 { margin: 18px 0 4px; } h4 { margin: 10px 0 4px; font-size: 0.95em; }
.meta, .sub { color: #777; font-size: 0.85em; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { background: #f5f7fa; border-radius: 6px; padding: 10px 16px; min-width: 150px; }
.card .label { font-size: 0.8em; color: #555; text-transform: uppercase; letter-spacing: 0.03em; }
.card .value { font-size: 1.8em; font-weight: 600; }
.row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.col { flex: 1; min-width: 360px; overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85em; margin: 6px 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
table.kv th { text-align: left; background: none; color: #555; font-weight: 600; }
table.kv td { text-align: left; }
td.sub, table.cases td:last-child { text-align: left; }
table.lesions td { white-space: nowrap; }
.col.tables { min-width: min-content; }  /* below the MIPs when both do not fit side by side */
.case { border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 16px 12px; margin: 14px 0; }
.facts { margin: 0 0 6px; color: #444; }
.error { color: #b2182b; }
img.froc { max-width: 460px; }
footer { margin-top: 40px; color: #777; font-size: 0.8em; border-top: 1px solid #ddd; padding-top: 8px; }
"""
