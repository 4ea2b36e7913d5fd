"""RECIST 1.1 (Eisenhauer et al., Eur J Cancer 2009;45:228-247): target lesions and the response category.

Measurability at baseline (section 3.1): a non-nodal lesion with a longest axial diameter of at least
10 mm (or twice the slice thickness when slices are thicker than 5 mm); a lymph node with a short axis
of at least 15 mm. Nodes of 10-15 mm short axis are pathological but not measurable (non-target);
smaller nodes are normal.

Targets (section 4.2): up to five measurable lesions in total and two per organ, all lymph nodes counting
as one organ and paired organs as one (:func:`fapiseg.longitudinal.regions.organ_of`). They are chosen by
size and to represent every involved organ: the largest lesion of each organ first (organs in order of
their largest lesion), then each organ's second largest, until five are taken. Size is the short axis for
nodes and the longest diameter otherwise; it is also what enters the sum of diameters.

Target response (section 4.3.1), evaluated in this order:

- CR: every non-nodal target gone (0 mm) and every nodal target below 10 mm short axis;
- PD: the sum has grown by at least 20 % and by at least 5 mm over the nadir, the smallest sum so far
  including baseline (a nadir of 0 makes any regrowth of 5 mm progression);
- PR: the sum has fallen by at least 30 % from baseline;
- SD: otherwise.

Thresholds are inclusive ("at least"), compared after rounding to 1e-9 so that 70 mm after 100 mm is
exactly -30 %. Overall response (table 1): a new lesion makes PD; target CR with non-target lesions still
present (a non-nodal one of any size or a node of 10 mm short axis or more) is PR, CR needs them gone
too. Unequivocal progression of non-target lesions is a reader's judgement and is not called here. With
no target lesion at baseline, table 2 applies: PD on a new lesion, CR when all lesions are gone,
``non-CR/non-PD`` otherwise; ``NE`` when the baseline holds no lesion at all.

Lesions that split on treatment count with the sum of their fragments' diameters; lesions that coalesce
count the coalesced lesion's diameter once, for the track it continues, and 0 for the others (section
4.3.3's note).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from fapiseg.longitudinal.regions import is_nodal, organ_of

MEASURABLE_DIAMETER_MM = 10.0
MEASURABLE_NODE_SHORT_AXIS_MM = 15.0
NORMAL_NODE_SHORT_AXIS_MM = 10.0
THICK_SLICE_MM = 5.0
MAX_TARGETS = 5
MAX_TARGETS_PER_ORGAN = 2
PR_DECREASE = 0.30
PD_INCREASE = 0.20
PD_ABSOLUTE_MM = 5.0


def target_size_mm(region: str, longest_diameter_mm: float, short_axis_mm: float) -> float:
    """What RECIST measures: the short axis of a node, the longest diameter of anything else."""
    return short_axis_mm if is_nodal(region) else longest_diameter_mm


def is_measurable(
    region: str, longest_diameter_mm: float, short_axis_mm: float, slice_thickness_mm: float = 0.0
) -> bool:
    """RECIST 1.1 measurability at baseline (see the module docstring)."""
    if is_nodal(region):
        return short_axis_mm >= MEASURABLE_NODE_SHORT_AXIS_MM
    minimum = MEASURABLE_DIAMETER_MM
    if slice_thickness_mm > THICK_SLICE_MM:
        minimum = max(minimum, 2.0 * slice_thickness_mm)
    return longest_diameter_mm >= minimum


def select_targets(baseline: pd.DataFrame, slice_thickness_mm: float = 0.0) -> list[int]:
    """Track ids of the target lesions, from the baseline's rows (``track_id``, ``region``,
    ``longest_diameter_mm``, ``short_axis_mm``), largest per organ first (module docstring)."""
    by_organ: dict[str, list[tuple[float, int]]] = {}
    for row in baseline.itertuples(index=False):
        if is_measurable(row.region, row.longest_diameter_mm, row.short_axis_mm, slice_thickness_mm):
            size = target_size_mm(row.region, row.longest_diameter_mm, row.short_axis_mm)
            by_organ.setdefault(organ_of(row.region), []).append((size, int(row.track_id)))
    ranked = {organ: sorted(items, key=lambda s: (-s[0], s[1])) for organ, items in by_organ.items()}
    organs = sorted(ranked, key=lambda organ: (-ranked[organ][0][0], ranked[organ][0][1]))
    targets: list[int] = []
    for rank in range(MAX_TARGETS_PER_ORGAN):
        for organ in organs:
            if rank < len(ranked[organ]) and len(targets) < MAX_TARGETS:
                targets.append(ranked[organ][rank][1])
    return targets


@dataclass(frozen=True)
class TargetMeasurement:
    """A target lesion at one study: whether it is a node, and its size (mm; 0 when it has gone)."""

    nodal: bool
    size_mm: float


@dataclass(frozen=True)
class RecistAssessment:
    """One follow-up's RECIST 1.1 numbers and categories (``target`` and overall ``response``)."""

    sum_mm: float
    baseline_sum_mm: float
    nadir_mm: float
    change_from_baseline_pct: float
    change_from_nadir_pct: float
    target: str
    response: str


def assess(
    targets: Sequence[TargetMeasurement],
    baseline_sum_mm: float,
    nadir_mm: float,
    non_targets_present: bool,
    new_lesion: bool,
    any_baseline_lesion: bool = True,
) -> RecistAssessment:
    """The RECIST 1.1 response of one follow-up (module docstring).

    ``targets`` are measured now (their baseline sum is ``baseline_sum_mm``); ``nadir_mm`` is the
    smallest sum before now, baseline included; ``non_targets_present`` says whether any non-target
    lesion remains (non-nodal of any size, nodes of 10 mm short axis or more).
    """
    total = float(sum(t.size_mm for t in targets))
    nan = float("nan")
    from_baseline = _fraction(total - baseline_sum_mm, baseline_sum_mm)
    from_nadir = _fraction(total - nadir_mm, nadir_mm)
    if not targets:
        if new_lesion:
            response = "PD"
        elif not any_baseline_lesion:
            response = "NE"
        else:
            response = "non-CR/non-PD" if non_targets_present else "CR"
        return RecistAssessment(total, baseline_sum_mm, nadir_mm, nan, nan, "NE", response)
    target = _target_response(targets, total, baseline_sum_mm, nadir_mm)
    if new_lesion or target == "PD":
        response = "PD"
    elif target == "CR":
        response = "PR" if non_targets_present else "CR"
    else:
        response = target
    return RecistAssessment(
        total, baseline_sum_mm, nadir_mm, 100 * from_baseline, 100 * from_nadir, target, response
    )


def _target_response(
    targets: Sequence[TargetMeasurement], total: float, baseline: float, nadir: float
) -> str:
    if all(t.size_mm < NORMAL_NODE_SHORT_AXIS_MM if t.nodal else t.size_mm == 0 for t in targets):
        return "CR"
    growth = round(total - nadir, 9)
    if growth >= PD_ABSOLUTE_MM and growth >= round(PD_INCREASE * nadir, 9):
        return "PD"
    if round(total - baseline, 9) <= -round(PR_DECREASE * baseline, 9):
        return "PR"
    return "SD"


def _fraction(change: float, reference: float) -> float:
    return change / reference if reference > 0 else float("nan")
