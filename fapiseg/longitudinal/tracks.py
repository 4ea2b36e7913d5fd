"""Follow one patient's lesions through their studies: measure, align to the baseline, match, number.

Each study's lesions are measured with the lesion table (:func:`fapiseg.metrics.measure_lesions`) on its
own grid. Every follow-up is registered to the baseline on CT
(:mod:`fapiseg.longitudinal.registration`), its lesion labels are resampled into the baseline grid
(nearest neighbour) and matched (:mod:`fapiseg.longitudinal.matching`) against every track seen so far,
each at its latest appearance, so a lesion that vanishes and comes back keeps its id.

Track ids: the baseline's lesions get 1..n in lesion_id order (by decreasing volume); lesions that
continue no track (new lesions) get the next free ids, study by study in lesion_id order. A lesion split
into fragments keeps its id on every fragment (rows with status ``split``); a lesion that coalesced with
another is ``merged`` into the track the coalesced lesion continues.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from fapiseg.io.geometry import voxel_to_world, world_to_voxel
from fapiseg.longitudinal.matching import Assignment, assign_lesions, gates_mm, overlap_share
from fapiseg.longitudinal.percist import Reference
from fapiseg.longitudinal.registration import Alignment
from fapiseg.metrics.components import Components

#: Added to the lesion gate (mm): how far a lesion's centre may move between studies beyond its own radius.
DEFAULT_GATE_MM = 10.0

Mask = tuple[
    tuple[slice, slice, slice], np.ndarray
]  # a bounding box in the baseline grid and the mask inside it


@dataclass
class StudyLesions:
    """One study, measured: its lesions and their table (lesion-table columns plus ``region``), its
    PERCIST background reference and its alignment to the baseline (identity for the baseline itself)."""

    study: str
    affine: np.ndarray
    shape: tuple[int, int, int]
    lesions: Components
    table: pd.DataFrame
    alignment: Alignment
    reference: Reference | None = None
    suv_type: str = "bw"
    pet_path: Path | None = None


@dataclass
class _Track:
    """What matching needs of a track: its mask(s) at its latest appearance, in the baseline grid."""

    track_id: int
    masks: list[Mask]
    centroid_mm: np.ndarray
    volume_ml: float


@dataclass
class Tracking:
    """The result: ``tracks`` (one row per lesion per study) and ``states`` (one row per track per study
    from its first appearance on: ``present``, ``split``, ``merged`` or ``absent``, with the track's
    measurements summed over its fragments)."""

    tracks: pd.DataFrame
    states: pd.DataFrame
    assignments: dict[str, Assignment] = field(default_factory=dict)


def follow_lesions(studies: list[StudyLesions], gate_mm: float = DEFAULT_GATE_MM) -> Tracking:
    """Give every lesion of every study a track id (module docstring); ``studies[0]`` is the baseline."""
    baseline = studies[0]
    memory: list[_Track] = []
    rows: list[pd.DataFrame] = []
    assignments: dict[str, Assignment] = {}
    for index, study in enumerate(studies):
        masks = _masks_in_baseline(study, baseline)
        centroids = study.alignment.to_baseline(_centroids(study.table))
        volumes = study.table["volume_ml"].to_numpy(float)
        track_ids = np.zeros(len(study.table), int)
        status = np.array(["new"] * len(study.table), dtype=object)
        matched_by = np.array([""] * len(study.table), dtype=object)
        merged_ids: list[list[int]] = [[] for _ in range(len(study.table))]
        next_id = max((t.track_id for t in memory), default=0) + 1
        if index == 0:
            track_ids[:] = np.arange(1, len(study.table) + 1)
            status[:] = "baseline"
            assignment = Assignment(new=list(range(len(study.table))))
        else:
            assignment = _assign(memory, masks, centroids, volumes, gate_mm)
            for match in assignment.matches:
                track_ids[match.lesion] = memory[match.track].track_id
                status[match.lesion], matched_by[match.lesion] = "matched", match.by
            for lesion, track in assignment.fragments.items():
                track_ids[lesion] = memory[track].track_id
                status[lesion], matched_by[lesion] = "split", "overlap"
            for track, lesion in assignment.merged.items():
                merged_ids[lesion].append(memory[track].track_id)
            for offset, lesion in enumerate(assignment.new):
                track_ids[lesion] = next_id + offset
            assignments[study.study] = assignment
        _remember(memory, track_ids, masks, centroids, volumes, assignment)
        table = study.table.copy()
        table.insert(0, "study", study.study)
        table.insert(1, "track_id", track_ids)
        table["status"] = status
        table["matched_by"] = matched_by
        table["merged_track_ids"] = [";".join(str(t) for t in sorted(ids)) for ids in merged_ids]
        for axis, name in enumerate("xyz"):
            table[f"baseline_frame_{name}_mm"] = centroids[:, axis] if len(table) else []
        rows.append(table)
    tracks = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return Tracking(tracks, track_states(tracks, [s.study for s in studies]), assignments)


def track_states(tracks: pd.DataFrame, studies: list[str]) -> pd.DataFrame:
    """One row per track per study from its first appearance: its status and measurements then.

    Fragments of a split lesion add up (volume, total lesion FAP, diameters) or take the maximum (SUVmax,
    SUVpeak); a merged or absent track measures 0 (NaN for SUV), since its tissue is counted elsewhere
    or gone.
    """
    merged_into = {}
    for row in tracks.itertuples(index=False):
        for track in filter(None, str(row.merged_track_ids).split(";")):
            merged_into[(row.study, int(track))] = int(row.track_id)
    first_seen = tracks.groupby("track_id")["study"].first().map(studies.index)
    rows = []
    by_study = {name: group for name, group in tracks.groupby("study", sort=False)}
    for index, study in enumerate(studies):
        here = by_study.get(study, tracks.iloc[:0])
        for track_id, seen in first_seen.items():
            if seen > index:
                continue
            lesions = here[here["track_id"] == track_id]
            row = {"study": study, "track_id": int(track_id)}
            if len(lesions):
                row["status"] = "split" if len(lesions) > 1 else "present"
                row.update(_aggregate(lesions))
            else:
                into = merged_into.get((study, int(track_id)))
                row["status"] = "absent" if into is None else "merged"
                row["merged_into_track_id"] = into
                row.update(_aggregate(lesions))
            rows.append(row)
    columns = [
        "study",
        "track_id",
        "status",
        "merged_into_track_id",
        "region",
        "n_fragments",
        "volume_ml",
        "tl_fap",
        "suv_max",
        "suv_peak",
        "longest_diameter_mm",
        "short_axis_mm",
    ]
    return pd.DataFrame(rows, columns=columns).astype({"merged_into_track_id": "Int64"})


def _aggregate(lesions: pd.DataFrame) -> dict:
    if not len(lesions):
        return {
            "n_fragments": 0,
            "volume_ml": 0.0,
            "tl_fap": 0.0,
            "suv_max": np.nan,
            "suv_peak": np.nan,
            "longest_diameter_mm": 0.0,
            "short_axis_mm": 0.0,
        }
    return {
        "region": lesions["region"].iloc[0] if "region" in lesions else "",
        "n_fragments": len(lesions),
        "volume_ml": float(lesions["volume_ml"].sum()),
        "tl_fap": float(lesions["tl_fap"].sum()),
        "suv_max": float(lesions["suv_max"].max()),
        "suv_peak": float(lesions["suv_peak"].max()),
        "longest_diameter_mm": float(lesions["longest_diameter_mm"].sum()),
        "short_axis_mm": float(lesions["short_axis_mm"].sum()),
    }


def _assign(
    memory: list[_Track], masks: list[Mask], centroids: np.ndarray, volumes: np.ndarray, gate_mm: float
) -> Assignment:
    shared = np.array(
        [[sum(_shared_voxels(a, masks[j]) for a in t.masks) for j in range(len(masks))] for t in memory]
    ).reshape(len(memory), len(masks))
    track_voxels = np.array([sum(int(m[1].sum()) for m in t.masks) for t in memory])
    lesion_voxels = np.array([int(m[1].sum()) for m in masks])
    track_centres = np.array([t.centroid_mm for t in memory]).reshape(len(memory), 3)
    distance = np.linalg.norm(track_centres[:, None, :] - centroids[None, :, :], axis=-1)
    gate = gates_mm(np.array([t.volume_ml for t in memory]), volumes, gate_mm)
    return assign_lesions(overlap_share(shared, track_voxels, lesion_voxels), distance, gate)


def _remember(
    memory: list[_Track],
    track_ids: np.ndarray,
    masks: list[Mask],
    centroids: np.ndarray,
    volumes: np.ndarray,
    assignment: Assignment,
) -> None:
    """Update each track seen in this study to its latest appearance (merged tracks: the coalesced lesion)."""
    by_id = {t.track_id: t for t in memory}
    parts: dict[int, list[int]] = {}
    for lesion, track_id in enumerate(track_ids):
        parts.setdefault(int(track_id), []).append(lesion)
    for track_index, lesion in assignment.merged.items():
        parts.setdefault(memory[track_index].track_id, []).append(lesion)
    for track_id, lesions in parts.items():
        weight = volumes[lesions]
        centre = (centroids[lesions] * weight[:, None]).sum(axis=0) / max(weight.sum(), 1e-12)
        track = _Track(track_id, [masks[i] for i in lesions], centre, float(weight.sum()))
        if track_id in by_id:
            memory[memory.index(by_id[track_id])] = track
        else:
            memory.append(track)


def _shared_voxels(a: Mask, b: Mask) -> int:
    lo = [max(x.start, y.start) for x, y in zip(a[0], b[0])]
    hi = [min(x.stop, y.stop) for x, y in zip(a[0], b[0])]
    if any(h <= low for low, h in zip(lo, hi)):
        return 0
    crop_a = a[1][tuple(slice(low - s.start, h - s.start) for low, h, s in zip(lo, hi, a[0]))]
    crop_b = b[1][tuple(slice(low - s.start, h - s.start) for low, h, s in zip(lo, hi, b[0]))]
    return int(np.count_nonzero(crop_a & crop_b))


def _centroids(table: pd.DataFrame) -> np.ndarray:
    return table[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy(float).reshape(-1, 3)


def _masks_in_baseline(study: StudyLesions, baseline: StudyLesions) -> list[Mask]:
    """Each lesion of ``study`` as a mask on the baseline grid, resampled through the alignment."""
    if study is baseline:
        return [(c.bbox, c.crop(study.lesions.labels)) for c in study.lesions]
    if not len(study.lesions):
        return []
    lo_src = np.min([[s.start for s in c.bbox] for c in study.lesions], axis=0)
    hi_src = np.max([[s.stop for s in c.bbox] for c in study.lesions], axis=0)
    corners = np.array(np.meshgrid(*[[a - 0.5, b - 0.5] for a, b in zip(lo_src, hi_src)], indexing="ij"))
    world = study.alignment.to_baseline(voxel_to_world(study.affine, corners.reshape(3, -1).T))
    index = world_to_voxel(baseline.affine, world)
    lo = np.clip(np.floor(index.min(axis=0)).astype(int) - 1, 0, baseline.shape)
    hi = np.clip(np.ceil(index.max(axis=0)).astype(int) + 2, 0, baseline.shape)
    if np.any(hi <= lo):
        return [(tuple(slice(0, 0) for _ in range(3)), np.zeros((0, 0, 0), bool)) for _ in study.lesions]
    # baseline voxel -> baseline world -> follow-up world -> follow-up voxel
    m = np.linalg.inv(study.affine) @ study.alignment.matrix @ baseline.affine
    box = ndimage.affine_transform(
        study.lesions.labels,
        m[:3, :3],
        offset=m[:3, :3] @ lo + m[:3, 3],
        output_shape=tuple(hi - lo),
        order=0,
        mode="constant",
        cval=0,
    )
    objects = ndimage.find_objects(box)
    masks = []
    for c in study.lesions:
        found = objects[c.label - 1] if c.label - 1 < len(objects) else None
        if found is None:
            masks.append((tuple(slice(int(a), int(a)) for a in lo), np.zeros((0, 0, 0), bool)))
            continue
        bbox = tuple(slice(int(s.start + o), int(s.stop + o)) for s, o in zip(found, lo))
        masks.append((bbox, box[found] == c.label))
    return masks
