"""Match a follow-up's lesions to the tracks followed so far: overlap after alignment, else centroid distance.

Both sides are in the baseline frame (the follow-up's lesions resampled through the registration). The
one-to-one assignment is Hungarian (``scipy.optimize.linear_sum_assignment``) on the cost

- ``1 - overlap / min(size_track, size_lesion)`` (in [0, 1)) when the two masks share voxels,
- ``1 + distance / gate`` (in (1, 2]) when they do not but their centroids are within the gate,
- forbidden otherwise,

so any overlap beats any distance, and a larger share of overlap beats a smaller one. The gate is
``gate_mm`` plus the larger of the two lesions' equivalent-sphere radii: a shrinking lesion's centre
stays inside its former extent. After the assignment:

- a lesion left over that overlaps a track is a *fragment* of it (the lesion split);
- a track left over that overlaps an assigned lesion has *merged* into that lesion (lesions coalesced);
- other lesions are *new*; other tracks are *absent* in this study.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

#: Cost of a forbidden pair: any allowed pair (cost <= 2) is cheaper than half of it.
FORBIDDEN = 1e6


@dataclass(frozen=True)
class Match:
    """Track ``track`` continues as lesion ``lesion`` (indices into the two lists), ``by`` overlap or distance."""

    track: int
    lesion: int
    by: str


@dataclass
class Assignment:
    """The outcome of matching one study: one-to-one matches, then splits, merges, new and absent."""

    matches: list[Match] = field(default_factory=list)
    fragments: dict[int, int] = field(default_factory=dict)  # lesion -> track it split from
    merged: dict[int, int] = field(default_factory=dict)  # track -> lesion it coalesced into
    new: list[int] = field(default_factory=list)  # lesions
    absent: list[int] = field(default_factory=list)  # tracks

    def track_of(self) -> dict[int, int]:
        """Lesion index -> track index, for matched lesions and fragments."""
        return {m.lesion: m.track for m in self.matches} | dict(self.fragments)


def assign_lesions(overlap: np.ndarray, distance_mm: np.ndarray, gate_mm: np.ndarray) -> Assignment:
    """Assign lesions (columns) to tracks (rows); all three inputs are (tracks, lesions) matrices.

    ``overlap`` is the overlap share in [0, 1] (:func:`overlap_share`; 0 where the masks are apart),
    ``distance_mm`` the centroid distance and ``gate_mm`` the largest distance allowed (:func:`gates_mm`).
    """
    overlap = np.asarray(overlap, float)
    distance_mm = np.asarray(distance_mm, float)
    n_tracks, n_lesions = overlap.shape
    cost = np.full((n_tracks, n_lesions), FORBIDDEN)
    near = distance_mm <= gate_mm
    cost[near] = 1.0 + distance_mm[near] / np.asarray(gate_mm, float)[near]
    touching = overlap > 0
    cost[touching] = 1.0 - overlap[touching]
    result = Assignment()
    if n_tracks and n_lesions:
        rows, cols = linear_sum_assignment(cost)
        for t, l in zip(rows, cols):
            if cost[t, l] < FORBIDDEN / 2:
                result.matches.append(Match(int(t), int(l), "overlap" if touching[t, l] else "distance"))
    matched_tracks = {m.track for m in result.matches}
    matched_lesions = {m.lesion for m in result.matches}
    for l in range(n_lesions):
        if l in matched_lesions:
            continue
        if touching[:, l].any():
            result.fragments[l] = int(np.argmax(overlap[:, l]))
        else:
            result.new.append(l)
    assigned = matched_lesions | set(result.fragments)
    for t in range(n_tracks):
        if t in matched_tracks:
            continue
        into = [l for l in np.flatnonzero(touching[t]) if l in assigned]
        if into:
            result.merged[t] = int(max(into, key=lambda l: overlap[t, l]))
        else:
            result.absent.append(t)
    return result


def overlap_share(
    shared_voxels: np.ndarray, track_voxels: np.ndarray, lesion_voxels: np.ndarray
) -> np.ndarray:
    """Shared voxels over the smaller of the two masks, a (tracks, lesions) matrix in [0, 1]."""
    smaller = np.minimum.outer(np.asarray(track_voxels, float), np.asarray(lesion_voxels, float))
    return np.divide(shared_voxels, smaller, out=np.zeros(smaller.shape), where=smaller > 0)


def gates_mm(track_volume_ml: np.ndarray, lesion_volume_ml: np.ndarray, gate_mm: float) -> np.ndarray:
    """``gate_mm`` plus the larger equivalent-sphere radius of each (track, lesion) pair (mm)."""

    def radius(volume_ml):
        return np.cbrt(3.0 * np.asarray(volume_ml, float) * 1000.0 / (4.0 * np.pi))

    return gate_mm + np.maximum.outer(radius(track_volume_ml), radius(lesion_volume_ml))
