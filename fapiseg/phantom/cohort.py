"""Patients, their studies and the cohort on disk with its ``truth.json``.

:func:`generate_patient` draws a patient (anatomy, hot spots, lesions and their course, scanner);
:func:`generate_study` makes one of its scans in memory (arrays, affine, truth record);
:func:`generate_cohort` writes ``DIR/<patient>/<study>/{SUV,CTres,SEG,ORGANS}.nii.gz`` and
``DIR/truth.json``. Every draw comes from a random stream keyed by (seed, family, patient, study), so
a patient or a scan can be made alone, in any order, and is the same every time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cc3d
import numpy as np
from scipy import ndimage

from fapiseg.io.geometry import voxel_to_world, voxel_volume_ml
from fapiseg.io.nifti import atomic_path, save_volume
from fapiseg.metrics.diameters import recist_diameters
from fapiseg.phantom.anatomy import ORGAN_LABELS, PHYSIOLOGICAL_HOT, Anatomy, draw_anatomy
from fapiseg.phantom.family import Family, get_family
from fapiseg.phantom.lesions import KINDS, Lesion, draw_plan, place_lesions, plan_lesions
from fapiseg.phantom.render import render_anatomy, render_lesion
from fapiseg.phantom.scanner import (
    FOV_Z,
    Pose,
    add_pet_noise,
    add_table,
    baseline_pose,
    blur,
    ct_look,
    repositioned,
    scanner_grid,
    store,
)
from fapiseg.phantom.therapy import COURSES, RANDOM_WEIGHTS, default_courses, new_lesion_states, plan_course
from fapiseg.phantom.uptake import add_hot_spots, assign_uptake, study_uptake

TRUTH_VERSION = 1
FAMILY_IDS = {"fapi": 0, "shifted": 1}
#: Largest repositioning between studies: shift (mm, each axis) and rotation (degrees, each axis).
MAX_SHIFT_MM, MAX_ROTATION_DEG = 20.0, 5.0
#: Lesions are kept this far (mm) inside the field of view's ends.
FOV_END_MARGIN_MM = 30.0
#: A physiological hot organ this close (mm) to a lesion is named in its truth record.
HOT_SEARCH_MM = 40.0


@dataclass
class Patient:
    """A synthetic patient: body, lesions with their course, scanner settings, baseline pose."""

    name: str
    index: int
    seed: int
    family: Family
    course: str
    n_studies: int
    reposition: bool
    anatomy: Anatomy
    lesions: list[Lesion]
    voxel_mm: np.ndarray
    fov: str
    pose: Pose

    @property
    def sex(self) -> str:
        return self.anatomy.sex


@dataclass
class LesionTruth:
    """One lesion in one scan. ``centre_mm``, ``volume_ml``, ``diameter_mm`` and ``image_suv_max`` are
    measured on the scan's SEG component (as ``lesion_table`` measures them); ``true_*`` and ``suv_max``
    describe the lesion itself."""

    track_id: int
    kind: str
    organ: str
    tissue: str
    centre_mm: list[float]
    true_centre_mm: list[float]
    volume_ml: float
    true_volume_ml: float
    voxel_count: int
    diameter_mm: float
    true_diameter_mm: float
    suv_max: float
    image_suv_max: float
    pattern: str
    nearest_hot_organ: str | None = None
    hot_organ_distance_mm: float | None = None


@dataclass
class Study:
    """One scan's truth record (a ``truth.json`` study entry)."""

    study: str
    case: str
    shape: list[int]
    voxel_size_mm: list[float]
    orientation: str
    fov: str
    psf_fwhm_mm: float
    liver_noise_cov: float
    shift_mm: list[float]
    rotation_deg: list[float]
    pivot_mm: list[float]
    world_from_baseline: list[list[float]]
    lesions: list[LesionTruth] = field(default_factory=list)
    physiological: list[dict] = field(default_factory=list)


@dataclass
class StudyImages:
    """A scan in memory: arrays as stored (with ``affine``), and its truth record."""

    suv: np.ndarray
    ct: np.ndarray
    seg: np.ndarray
    organs: np.ndarray
    affine: np.ndarray
    truth: Study


def _rng(seed: int, family: Family, patient: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, FAMILY_IDS[family.name], patient, stream])


def generate_patient(
    index: int,
    *,
    seed: int = 0,
    family: str | Family = "fapi",
    course: str | None = None,
    n_studies: int = 1,
    reposition: bool = True,
) -> Patient:
    """Draw patient ``index`` of the cohort ``seed``. ``course`` (see :mod:`~fapiseg.phantom.therapy`)
    defaults to a random one, lesion-negative (``NED``) for about one patient in seven."""
    fam = family if isinstance(family, Family) else get_family(family)
    rng = _rng(seed, fam, index, 0)
    if course is None:
        names = list(RANDOM_WEIGHTS) + ["NED"]
        p = np.array(list(RANDOM_WEIGHTS.values()) + [0.15])
        course = str(rng.choice(names, p=p / p.sum()))
    if course not in COURSES:
        raise ValueError(f"unknown course {course!r}; choose one of {COURSES}")
    anatomy = draw_anatomy(rng, fam)
    add_hot_spots(anatomy, fam, rng)
    assign_uptake(anatomy, fam, rng)
    voxel, fov = fam.scanners[int(rng.integers(len(fam.scanners)))]
    z_lo, z_hi = (z * anatomy.height_scale for z in FOV_Z[fov])
    z_range = (z_lo + FOV_END_MARGIN_MM, z_hi - FOV_END_MARGIN_MM)
    lesions: list[Lesion] = []
    if course != "NED":
        plans = plan_lesions(anatomy, fam, rng)
        plan_course(course, plans, n_studies, rng)
        lesions = place_lesions(anatomy, plans, fam, rng, z_range)
        new = []
        for _ in range(int(rng.integers(1, 3))):
            plan = draw_plan(str(rng.choice(list(KINDS))), fam, rng)
            if new_lesion_states(course, plan, n_studies, rng):
                new.append(plan)
        if new:
            lesions += place_lesions(
                anatomy, new, fam, rng, z_range, first_track_id=len(lesions) + 1, existing=lesions
            )
    return Patient(
        f"p{index:03d}",
        index,
        seed,
        fam,
        course,
        n_studies,
        reposition,
        anatomy,
        lesions,
        np.asarray(voxel, float),
        fov,
        baseline_pose(rng, anatomy.height_scale),
    )


@dataclass
class StudyPose:
    """Where the patient lies in one study and the field of view's body-frame z range."""

    pose: Pose
    shift_mm: np.ndarray
    rotation_deg: np.ndarray
    pivot_mm: np.ndarray
    z_range: tuple[float, float]


def study_pose(patient: Patient, index: int, rng: np.random.Generator | None = None) -> StudyPose:
    """The pose of study ``index``: the baseline pose, moved rigidly (up to 20 mm, 5 degrees per axis)
    at follow-ups when the patient is repositioned. ``rng`` is the study's stream (made when omitted)."""
    rng = rng or _rng(patient.seed, patient.family, patient.index, 1 + index)
    z_lo, z_hi = (z * patient.anatomy.height_scale + rng.uniform(-8, 8) for z in FOV_Z[patient.fov])
    pivot = patient.pose.to_world(np.array([0.0, 0.0, (z_lo + z_hi) / 2]))
    shift, rotation = np.zeros(3), np.zeros(3)
    if index > 0 and patient.reposition:
        shift = rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, 3)
        rotation = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, 3)
    return StudyPose(repositioned(patient.pose, shift, rotation, pivot), shift, rotation, pivot, (z_lo, z_hi))


def generate_study(patient: Patient, index: int) -> StudyImages:
    """Scan ``index`` (0 = baseline) of a patient, in memory."""
    if not 0 <= index < patient.n_studies:
        raise ValueError(f"{patient.name} has {patient.n_studies} studies; there is no study {index}")
    fam, anatomy = patient.family, patient.anatomy
    rng = _rng(patient.seed, fam, patient.index, 1 + index)
    where = study_pose(patient, index, rng)
    pose, shift, rotation, pivot = where.pose, where.shift_mm, where.rotation_deg, where.pivot_mm
    z_lo, z_hi = where.z_range
    psf = float(rng.uniform(*fam.psf_fwhm_mm))
    cov = float(rng.uniform(*fam.liver_noise_cov))
    grain = float(rng.uniform(*fam.noise_grain_voxels))
    orientation = str(rng.choice(list(fam.orientations), p=np.array(fam.orientation_weights)))
    ct_noise = float(rng.uniform(*fam.ct_noise_hu))

    lo, hi = _body_box(anatomy)
    lo[2], hi[2] = z_lo, z_hi
    trunk_lo, trunk_hi = anatomy.structure("body").shape.bounds()
    grid = scanner_grid(
        lo, hi, pose, patient.voxel_mm, float(rng.uniform(8, 25)), (trunk_hi - trunk_lo)[:2] + 20
    )
    suvs, scales = study_uptake(anatomy.structures, rng)
    images = render_anatomy(anatomy.structures, suvs, scales, grid, pose, rng)
    pet = blur(images.activity, psf, grid.spacing)
    rendered = []
    for lesion in patient.lesions:
        state = lesion.states[index]
        if not state.present:
            continue
        r = render_lesion(
            lesion, state.scale, state.suv_max, grid, pose, psf, images.activity, pet, images.hu
        )
        if r is not None:
            rendered.append((r, state))
    liver = [s for s, v in zip(anatomy.structures, suvs) if s.organ == "liver"]
    liver_suv = (
        float(np.mean([v for s, v in zip(anatomy.structures, suvs) if s.organ == "liver"])) if liver else 1.2
    )
    suv = add_pet_noise(pet + np.float32(rng.uniform(0.01, 0.03)), liver_suv, cov, grain, rng)
    add_table(images.hu, grid, rng)
    ct = ct_look(images.hu, ct_noise, rng)
    seg_ids = np.zeros(grid.shape, np.uint16)
    for k, (r, _) in enumerate(rendered):
        crop = seg_ids[r.box]
        if (crop[r.mask] > 0).any():
            raise RuntimeError(f"{patient.name}: lesions {r.lesion.track_id} and another overlap in SEG")
        crop[r.mask] = k + 1
    affine = grid.affine.astype(np.float32).astype(np.float64)
    lesion_truth = [
        _lesion_truth(r, state, k + 1, seg_ids, suv, images.organs, affine, pose, anatomy)
        for k, (r, state) in enumerate(rendered)
    ]
    n_components = cc3d.connected_components(seg_ids > 0, connectivity=26, return_N=True)[1]
    if n_components != len(rendered):
        raise RuntimeError(f"{patient.name}: {len(rendered)} lesions make {n_components} SEG components")
    physiological = _physiological(anatomy, suvs, images.organs, suv)
    name = f"t{index}"
    truth = Study(
        study=name,
        case=f"{patient.name}/{name}",
        shape=[],
        voxel_size_mm=[],
        orientation=orientation,
        fov=patient.fov,
        psf_fwhm_mm=round(psf, 3),
        liver_noise_cov=round(cov, 4),
        shift_mm=[round(float(v), 3) for v in shift],
        rotation_deg=[round(float(v), 3) for v in rotation],
        pivot_mm=[round(float(v), 3) for v in pivot],
        world_from_baseline=_world_from_baseline(patient.pose, pose),
        lesions=lesion_truth,
        physiological=physiological,
    )
    arrays = {}
    for key, array in (
        ("suv", suv),
        ("ct", ct),
        ("seg", (seg_ids > 0).astype(np.uint8)),
        ("organs", images.organs),
    ):
        arrays[key], stored_affine = store(array, affine, orientation)
    stored_affine = stored_affine.astype(np.float32).astype(np.float64)  # NIfTI keeps the affine in float32
    truth.shape = [int(n) for n in arrays["suv"].shape]
    truth.voxel_size_mm = [round(float(v), 4) for v in np.sqrt((stored_affine[:3, :3] ** 2).sum(axis=0))]
    return StudyImages(arrays["suv"], arrays["ct"], arrays["seg"], arrays["organs"], stored_affine, truth)


def _body_box(anatomy: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame box of the skin, arms and breasts (x, y; z is the field of view's), and room for the
    table behind the back."""
    boxes = [
        s.shape.bounds()
        for s in anatomy.structures
        if s.name == "body" or s.name.startswith(("arm_", "breast_", "shoulder_fat_"))
    ]
    lo = np.min([b[0] for b in boxes], axis=0)
    hi = np.max([b[1] for b in boxes], axis=0)
    lo[1] -= 12.0
    return lo, hi


def _world_from_baseline(baseline: Pose, pose: Pose) -> list[list[float]]:
    """4x4 matrix taking a baseline world point to the same body point's world position in this scan."""
    m = pose.matrix @ np.linalg.inv(baseline.matrix)
    return [[round(float(v), 6) for v in row] for row in m]


def _lesion_truth(
    r,
    state,
    seg_id: int,
    seg_ids: np.ndarray,
    suv: np.ndarray,
    organs: np.ndarray,
    affine: np.ndarray,
    pose: Pose,
    anatomy: Anatomy,
) -> LesionTruth:
    lesion = r.lesion
    mask = seg_ids == seg_id
    ijk = np.argwhere(mask)
    centre = voxel_to_world(affine, ijk.mean(axis=0))
    true_centre = pose.to_world(lesion.centre)
    lo, hi = ijk.min(axis=0), ijk.max(axis=0) + 1
    crop = mask[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    diameters = recist_diameters(crop, affine)
    tissue = int(anatomy.labels_at(*[np.array([v]) for v in lesion.centre])[0])  # at the exact centre
    return LesionTruth(
        track_id=lesion.track_id,
        kind=lesion.kind,
        organ=KINDS[lesion.kind]["organ"],
        tissue=ORGAN_LABELS.get(tissue, "outside"),
        centre_mm=[round(float(v), 3) for v in centre],
        true_centre_mm=[round(float(v), 3) for v in true_centre],
        volume_ml=round(float(len(ijk) * voxel_volume_ml(affine)), 6),
        true_volume_ml=round(r.true_volume_ml, 6),
        voxel_count=len(ijk),
        diameter_mm=round(diameters.longest_mm, 3),
        true_diameter_mm=round(lesion.diameter_mm * state.scale, 3),
        suv_max=round(r.suv_max, 4),
        image_suv_max=round(float(suv[mask].max()), 4),
        pattern=lesion.pattern,
        **_nearest_hot_organ(mask, organs, affine, lo, hi),
    )


def _nearest_hot_organ(
    mask: np.ndarray, organs: np.ndarray, affine: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> dict:
    """The physiological hot organ nearest to a lesion within 40 mm, and the gap (mm) between them."""
    spacing = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    pad = np.ceil(HOT_SEARCH_MM / spacing).astype(int)
    box = tuple(slice(max(a - p, 0), min(b + p, n)) for a, b, p, n in zip(lo, hi, pad, organs.shape))
    hot_labels = [k for k, v in ORGAN_LABELS.items() if v in PHYSIOLOGICAL_HOT]
    crop = organs[box]
    hot = np.isin(crop, hot_labels)
    if not hot.any():
        return {}
    distance, (i, j, k) = ndimage.distance_transform_edt(~hot, sampling=spacing, return_indices=True)
    inside = mask[box]
    d = np.where(inside, distance, np.inf)
    best = np.unravel_index(int(np.argmin(d)), d.shape)
    if d[best] > HOT_SEARCH_MM:
        return {}
    organ = ORGAN_LABELS[int(crop[i[best], j[best], k[best]])]
    return {"nearest_hot_organ": organ, "hot_organ_distance_mm": round(float(d[best]), 2)}


def _physiological(anatomy: Anatomy, suvs: list[float], organs: np.ndarray, suv: np.ndarray) -> list[dict]:
    """Each physiological hot organ in the scan: its true SUV (highest part) and the image's SUVmax in it."""
    out = []
    for organ in PHYSIOLOGICAL_HOT:
        label = next(k for k, v in ORGAN_LABELS.items() if v == organ)
        where = organs == label
        if not where.any():
            continue
        true = max(v for s, v in zip(anatomy.structures, suvs) if s.organ == organ)
        out.append(
            {
                "organ": organ,
                "suv_max": round(float(true), 4),
                "image_suv_max": round(float(suv[where].max()), 4),
                "voxel_count": int(where.sum()),
            }
        )
    return out


def generate_cohort(
    out_dir: str | os.PathLike,
    n_patients: int,
    n_studies: int = 1,
    seed: int = 0,
    family: str = "fapi",
    courses: list[str] | None = None,
    reposition: bool = True,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> dict:
    """Write a cohort and its ``truth.json``; return the truth.

    ``courses`` gives each patient's course in order (cycled when shorter than the cohort); by default
    they are random, with about 17 % of the scans lesion-negative. ``progress(case)`` is called after
    each scan is written. ``workers`` > 1 makes patients in that many processes (same files).
    """
    if n_patients < 1 or n_studies < 1:
        raise ValueError("a cohort needs at least one patient and one study")
    fam = get_family(family)
    if courses:
        bad = [c for c in courses if c not in COURSES]
        if bad:
            raise ValueError(f"unknown course(s) {bad}; choose from {COURSES}")
        plan = [courses[k % len(courses)] for k in range(n_patients)]
    else:
        plan = default_courses(n_patients, n_studies, _rng(seed, fam, 10**6, 0))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, p, seed, fam.name, plan[p], n_studies, reposition) for p in range(n_patients)]
    records: list[dict] = []
    if workers > 1 and n_patients > 1:
        with ProcessPoolExecutor(max_workers=min(workers, n_patients)) as pool:
            for record in pool.map(_write_patient, jobs):
                records.append(record)
                for study in record["studies"]:
                    if progress is not None:
                        progress(study["case"])
    else:
        for job in jobs:
            records.append(_write_patient(job, progress))
    truth = {
        "generator": "fapiseg.phantom",
        "version": TRUTH_VERSION,
        "seed": int(seed),
        "family": fam.name,
        "organ_labels": {str(k): v for k, v in ORGAN_LABELS.items()},
        "seg_rule": SEG_RULE,
        "patients": records,
    }
    with atomic_path(out / "truth.json") as tmp:
        tmp.write_text(json.dumps(truth, indent=1))
    return truth


SEG_RULE = "a voxel is lesion when at least half of its sub-voxels (about 1 mm) lie inside the lesion"


def _write_patient(job: tuple, progress: Callable[[str], None] | None = None) -> dict:
    """Make one patient's studies, write their images, return the patient's truth record."""
    out, index, seed, family, course, n_studies, reposition = job
    patient = generate_patient(
        index, seed=seed, family=family, course=course, n_studies=n_studies, reposition=reposition
    )
    record = {
        "patient": patient.name,
        "sex": patient.sex,
        "age": patient.anatomy.age,
        "course": patient.course,
        "arms": patient.anatomy.arms,
        "missing_organs": list(patient.anatomy.missing),
        "studies": [],
    }
    for s in range(n_studies):
        study = generate_study(patient, s)
        folder = out / patient.name / study.truth.study
        save_volume(folder / "SUV.nii.gz", study.suv, study.affine)
        save_volume(folder / "CTres.nii.gz", study.ct, study.affine)
        save_volume(folder / "SEG.nii.gz", study.seg, study.affine)
        save_volume(folder / "ORGANS.nii.gz", study.organs, study.affine)
        record["studies"].append(asdict(study.truth))
        if progress is not None:
            progress(study.truth.case)
    return record
