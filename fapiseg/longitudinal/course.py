"""One patient's course: load and measure each study, register the follow-ups, track, assess response.

Studies are the patient's cases in name order (the contract's time order); the first is the baseline.
Lesion masks are each case's ``SEG.nii.gz`` or, with ``pred_dir``, ``PRED_DIR/<patient>/<study>/PRED.nii.gz``
(> 0.5 is lesion). Organ regions come from a label map (``regions_dir/<patient>/<study>/REGIONS.nii.gz``
or ``ORGANS.nii.gz``, else the same names beside the case) or from the CT
(:mod:`fapiseg.longitudinal.regions`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fapiseg.data.cases import PRED_NAME, Case, case_dir, find_cases
from fapiseg.data.validation import load_case
from fapiseg.errors import CaseError, FapisegError
from fapiseg.io.geometry import same_grid
from fapiseg.io.nifti import atomic_path, load_volume
from fapiseg.longitudinal.figures import StudyImage, mip_comparison_figure, trajectory_figure
from fapiseg.longitudinal.percist import reference_statistics
from fapiseg.longitudinal.regions import find_region_map, is_nodal, lesion_regions
from fapiseg.longitudinal.registration import Alignment, identity_alignment, register_ct
from fapiseg.longitudinal.response import response_table, study_table, target_track_ids, with_change_columns
from fapiseg.longitudinal.tracks import DEFAULT_GATE_MM, StudyLesions, Tracking, follow_lesions
from fapiseg.metrics.background import find_background
from fapiseg.metrics.components import label_components
from fapiseg.metrics.detection import LESION_CONNECTIVITY
from fapiseg.metrics.table import CSV_FLOAT_FORMAT, measure_lesions
from fapiseg.reports.embed import figure_to_png

SIDECAR = "import.json"


@dataclass
class PatientCourse:
    """Everything ``fapiseg longitudinal`` writes for one patient."""

    patient: str
    studies: list[StudyLesions]
    tracking: Tracking
    targets: list[int]
    response: pd.DataFrame
    summary: pd.DataFrame
    failures: list[str] = field(default_factory=list)

    @property
    def study_names(self) -> list[str]:
        return [s.study for s in self.studies]

    @property
    def alignments(self) -> dict[str, Alignment]:
        """Each follow-up's alignment to the baseline, by study name."""
        return {s.study: s.alignment for s in self.studies[1:]}

    @property
    def tracks(self) -> pd.DataFrame:
        """tracks.csv: the lesion-table columns plus study, track_id, region, target and match details."""
        return self.tracking.tracks.assign(target=self.tracking.tracks["track_id"].isin(self.targets))

    @property
    def changes(self) -> pd.DataFrame:
        """changes.csv: per track and study, the summed measurements and their change from first sight."""
        return with_change_columns(self.tracking.states).assign(
            target=lambda t: t["track_id"].isin(self.targets)
        )


def patient_cases(data_dir: str | Path, patient: str) -> list[Case]:
    """The patient's cases in time (name) order; FapisegError when there are none."""
    cases = [c for c in find_cases(data_dir) if c.patient == patient]
    if not cases:
        raise FapisegError(
            f"{data_dir}: no studies of patient {patient!r} (expected {patient}/<study>/SUV.nii.gz)"
        )
    return cases


def follow_patient(
    data_dir: str | Path,
    patient: str,
    pred_dir: str | Path | None = None,
    regions_dir: str | Path | None = None,
    gate_mm: float = DEFAULT_GATE_MM,
    min_new_volume_ml: float = 0.0,
    affine_stage: bool = True,
    alignments: Mapping[str, Alignment] | None = None,
) -> PatientCourse:
    """Measure, align, track and assess all studies of ``patient`` (module docstring).

    A follow-up that cannot be used is left out and named in ``PatientCourse.failures``; a baseline that
    cannot be used raises its CaseError. ``alignments`` (by study name) are used instead of registering
    again, e.g. those of the same patient's course on other masks.
    """
    cases = patient_cases(data_dir, patient)
    studies: list[StudyLesions] = []
    failures: list[str] = []
    baseline = None
    for case in cases:
        try:
            study, ct, mask = load_study(case, pred_dir, regions_dir, data_dir)
        except CaseError as e:
            if baseline is None:
                raise
            failures.append(str(e))
            continue
        if baseline is None:
            baseline = ct, mask
        elif alignments is not None and study.study in alignments:
            study.alignment = alignments[study.study]
        else:
            study.alignment = register_ct(
                baseline[0],
                studies[0].affine,
                ct,
                study.affine,
                affine_stage=affine_stage,
                baseline_exclude=baseline[1],
                followup_exclude=mask,
            )
        studies.append(study)
    tracking = follow_lesions(studies, gate_mm)
    targets = target_track_ids(studies, tracking)
    response = response_table(studies, tracking, targets, min_new_volume_ml)
    summary = study_table(studies, tracking)
    return PatientCourse(patient, studies, tracking, targets, response, summary, failures)


def load_study(
    case: Case,
    pred_dir: str | Path | None = None,
    regions_dir: str | Path | None = None,
    data_root: str | Path | None = None,
) -> tuple[StudyLesions, np.ndarray, np.ndarray]:
    """Measure one study's lesions (lesion table, regions, PERCIST reference); returns it, its CT and mask.

    ``data_root`` is the data folder, whose ``truth.json`` may name the labels of ``ORGANS.nii.gz``.
    """
    images = load_case(case, need_ct=True, seg="need" if pred_dir is None else "skip")
    pet, ct = images.pet, images.ct.array
    if pred_dir is None:
        mask = images.seg.array > 0
    else:
        mask = _prediction(case, Path(pred_dir), pet)
    lesions = label_components(mask, LESION_CONNECTIVITY, pet.affine)
    background = find_background(pet.array, ct, pet.affine, exclude=mask)
    table = measure_lesions(pet.array, lesions, pet.affine, background)
    folder = case.pet.parent
    region_map, names = find_region_map(
        case_dir(regions_dir, case) if regions_dir is not None else folder,
        pet,
        case.name,
        None if data_root is None else Path(data_root),
    )
    calls = lesion_regions(lesions, pet.affine, ct=ct, region_map=region_map, names=names)
    table["region"] = [c.region for c in calls]
    table["region_source"] = [c.source for c in calls]
    table["nodal"] = [is_nodal(r) for r in table["region"]]
    study = StudyLesions(
        case.study,
        pet.affine,
        pet.shape,
        lesions,
        table,
        identity_alignment(),
        reference_statistics(pet.array, background),
        _suv_type(folder),
        case.pet,
    )
    return study, ct, mask


def _prediction(case: Case, pred_dir: Path, pet) -> np.ndarray:
    path = case_dir(pred_dir, case) / PRED_NAME
    volume = load_volume(path, case.name)
    if not same_grid(volume.shape, volume.affine, pet.shape, pet.affine):
        raise CaseError(
            case.name, f"{PRED_NAME} is not on the PET grid (shape {volume.shape} vs {pet.shape})"
        )
    if not np.isfinite(volume.array).all():
        raise CaseError(case.name, f"{PRED_NAME} holds NaN or infinite values")
    return volume.array > 0.5


def _suv_type(folder: Path) -> str:
    """``bw``, ``lbm`` (SUL) or ``bsa`` from the import sidecar; ``bw`` (the layout's SUVbw) without one."""
    try:
        return str(json.loads((folder / SIDECAR).read_text()).get("suv_type", "bw"))
    except (OSError, ValueError):
        return "bw"


def write_course(course: PatientCourse, out_dir: str | Path, figures: bool = True) -> list[Path]:
    """Write tracks.csv, changes.csv, response.csv, studies.csv (and the figures) atomically; returns them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    tables = {
        "tracks.csv": course.tracks,
        "changes.csv": course.changes,
        "response.csv": course.response,
        "studies.csv": course.summary,
    }
    for name, table in tables.items():
        with atomic_path(out_dir / name) as tmp:
            table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT)
        written.append(out_dir / name)
    if figures:
        for name, fig in (
            ("trajectories.png", trajectory_figure(course.changes, course.study_names, course.targets)),
            ("mips.png", mip_comparison_figure(study_images(course))),
        ):
            with atomic_path(out_dir / name) as tmp:
                tmp.write_bytes(figure_to_png(fig))
            written.append(out_dir / name)
    return written


def study_images(course: PatientCourse) -> list[StudyImage]:
    """Each study's PET (read again from disk), lesion mask, response label and track ids, for the MIPs."""
    labels = {r.study: f"RECIST {r.recist}, PERCIST {r.percist}" for r in course.response.itertuples()}
    tracks = course.tracks
    images = []
    for study in course.studies:
        pet = load_volume(study.pet_path, study.study)
        rows = tracks[tracks["study"] == study.study]
        centres = rows[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(float)
        images.append(
            StudyImage(
                study.study,
                pet.array,
                pet.affine,
                study.lesions.labels > 0,
                labels.get(study.study, "baseline"),
                list(zip(rows["track_id"].astype(int), centres)),
            )
        )
    return images
