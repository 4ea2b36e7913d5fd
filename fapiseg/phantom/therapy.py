"""Therapy courses: how each lesion's size and uptake change from study to study.

A course is named by its response at the follow-ups (RECIST 1.1 / PERCIST 1.0 words):

- ``CR``: every lesion has vanished at every follow-up;
- ``PR``: the sum of diameters falls by 45-65 % (so that it still falls by at least 30 % when measured
  between voxel edges on a 4 mm grid), SUVmax by 35-60 % and at least 0.8;
  a lesion that shrinks below 4 mm vanishes;
- ``SD``: diameters and SUVmax change by at most 10 %;
- ``PD``: the sum of diameters grows by 30-60 % and at least 8 mm, SUVmax rises by 30-60 % and at least 0.8;
- ``PD_new``: one or two new lesions appear at the first follow-up; the others are stable;
- ``NED``: no lesion at any study (a lesion-negative patient).

Changes compound from follow-up to follow-up in the course's direction. Sizes scale every semi-axis
of a lesion by one factor, so its diameters scale by the same factor.
"""

from __future__ import annotations

import numpy as np

from fapiseg.phantom.lesions import LesionPlan, LesionState

COURSES = ("CR", "PR", "SD", "PD", "PD_new", "NED")
#: Weights of the courses drawn for a patient with lesions when none is given.
RANDOM_WEIGHTS = {"CR": 0.15, "PR": 0.3, "SD": 0.2, "PD": 0.15, "PD_new": 0.2}
#: Share of lesion-negative scans the default cohort aims at.
NEGATIVE_SCAN_SHARE = 0.17
MIN_DIAMETER_MM = 4.0


def default_courses(n_patients: int, n_studies: int, rng: np.random.Generator) -> list[str]:
    """Random courses for a cohort, with about :data:`NEGATIVE_SCAN_SHARE` of its scans lesion-negative.

    CR follow-ups are negative scans already; NED patients make up the rest.
    """
    names = list(RANDOM_WEIGHTS)
    p = np.array(list(RANDOM_WEIGHTS.values()))
    courses = list(rng.choice(names, size=n_patients, p=p / p.sum()))
    negative = sum(n_studies - 1 for c in courses if c == "CR")
    wanted = round(NEGATIVE_SCAN_SHARE * n_patients * n_studies)
    order = rng.permutation(n_patients)
    for k in order:
        if negative >= wanted or sum(c != "NED" for c in courses) <= max(1, n_patients // 2):
            break
        if courses[k] == "CR":
            continue
        courses[k] = "NED"
        negative += n_studies
    return [str(c) for c in courses]


def plan_course(course: str, plans: list[LesionPlan], n_studies: int, rng: np.random.Generator) -> None:
    """Fill each plan's ``states`` (one per study) for the course."""
    if course not in COURSES:
        raise ValueError(f"unknown course {course!r}; choose one of {COURSES}")
    for plan in plans:
        plan.states = [LesionState(True, 1.0, plan.suv_max)]
    total = sum(p.diameter_mm for p in plans)
    size_factor, suv_factor = 1.0, 1.0
    for _ in range(1, n_studies):
        if course == "PR":
            size_factor *= rng.uniform(0.35, 0.55) if size_factor == 1.0 else rng.uniform(0.8, 1.0)
            suv_factor *= rng.uniform(0.4, 0.65) if suv_factor == 1.0 else rng.uniform(0.85, 1.0)
        elif course == "PD":
            step = rng.uniform(1.3, 1.6) if size_factor == 1.0 else rng.uniform(1.1, 1.3)
            size_factor *= max(step, 1 + 8.0 / max(total * size_factor, 1.0))
            suv_factor *= rng.uniform(1.3, 1.6) if suv_factor == 1.0 else rng.uniform(1.05, 1.2)
        for plan in plans:
            prev = plan.states[-1]
            if course == "CR":
                plan.states.append(LesionState(False, 0.0, 0.0))
            elif course == "PR":
                scale = size_factor * rng.uniform(0.92, 1.08)
                suv = min(plan.suv_max * suv_factor, plan.suv_max - 0.8)
                present = prev.present and plan.diameter_mm * scale >= MIN_DIAMETER_MM
                plan.states.append(
                    LesionState(present, scale if present else 0.0, max(suv, 2.0) if present else 0.0)
                )
            elif course == "PD":
                suv = max(plan.suv_max * suv_factor, plan.suv_max + 0.8)
                plan.states.append(LesionState(True, size_factor * rng.uniform(0.95, 1.05), suv))
            else:  # SD, PD_new: stable within 10 %
                plan.states.append(
                    LesionState(True, rng.uniform(0.92, 1.08), plan.suv_max * rng.uniform(0.92, 1.08))
                )
    if course == "PR":  # the realised sum must drop by at least 30 % at every follow-up
        for k in range(1, n_studies):
            now = sum(p.diameter_mm * p.states[k].scale for p in plans)
            if now > 0.6 * total:
                fix = 0.55 * total / now
                for p in plans:
                    p.states[k].scale *= fix


def new_lesion_states(course: str, plan: LesionPlan, n_studies: int, rng: np.random.Generator) -> bool:
    """For ``PD_new``: make ``plan`` a lesion that appears at the first follow-up; False for other courses."""
    if course != "PD_new" or n_studies < 2:
        return False
    plan.states = [LesionState(False, 0.0, 0.0)]
    for k in range(1, n_studies):
        plan.states.append(LesionState(True, 1.0 if k == 1 else rng.uniform(1.0, 1.3), plan.suv_max))
    return True
