"""Read one DICOM image series from a folder: find it, sort its slices by geometry, build the affine.

Array axis convention (the same for every image fapiseg imports): ``array[i, j, k]`` is column ``i``
and row ``j`` of slice ``k`` as stored in the DICOM files, with slices in increasing order along the
slice normal (row cosine x column cosine), so axis 0 follows the ImageOrientationPatient row cosine,
axis 1 its column cosine and axis 2 the normal. The affine maps ``(i, j, k)`` to NIfTI world
coordinates (RAS+, mm): it is the DICOM (LPS) affine with its first two world axes negated. Slice order
never comes from InstanceNumber, which scanners number either way.
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from fapiseg.errors import FapisegError

#: LPS (DICOM patient) to RAS (NIfTI world): negate x and y.
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Largest tolerated departure of a slice from a uniform stack, as a fraction of the slice spacing.
SPACING_TOLERANCE = 0.05


@dataclass
class SeriesSummary:
    """What a folder holds of one series, enough to let a user choose it (no patient identifiers)."""

    series_uid: str
    modality: str
    description: str
    files: list[Path]

    def describe(self) -> str:
        return f"{self.series_uid} ({self.modality}, '{self.description}', {len(self.files)} files)"


@dataclass
class ImageSeries:
    """A single-frame image series with slices in geometric order and its RAS affine.

    ``datasets[k]`` is the header (with pixel data) of slice ``k`` of the array convention above.
    """

    datasets: list[Dataset]
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        first = self.datasets[0]
        return int(first.Columns), int(first.Rows), len(self.datasets)

    @property
    def first(self) -> Dataset:
        return self.datasets[0]

    def rescaled(self) -> np.ndarray:
        """Stored pixels times each slice's RescaleSlope plus its RescaleIntercept, float64 (i, j, k)."""
        out = np.empty(self.shape, dtype=np.float64)
        for k, ds in enumerate(self.datasets):
            slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
            intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
            out[:, :, k] = ds.pixel_array.astype(np.float64).T * slope + intercept
        return out


def scan_folder(folder: str | os.PathLike) -> list[SeriesSummary]:
    """All DICOM series under ``folder`` (recursive), grouped by SeriesInstanceUID; non-DICOM files are skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise FapisegError(f"{folder} does not exist")
    paths = [folder] if folder.is_file() else sorted(p for p in folder.rglob("*") if p.is_file())
    groups: dict[str, list[tuple[Dataset, Path]]] = defaultdict(list)
    for path in paths:
        ds = _read_header(path)
        if ds is not None and "SeriesInstanceUID" in ds:
            groups[str(ds.SeriesInstanceUID)].append((ds, path))
    return [
        SeriesSummary(
            uid,
            str(items[0][0].get("Modality", "?")),
            str(items[0][0].get("SeriesDescription", "")),
            [p for _, p in items],
        )
        for uid, items in groups.items()
    ]


def choose_series(
    folder: str | os.PathLike, modalities: tuple[str, ...], series_uid: str | None = None
) -> SeriesSummary:
    """The one series of the given modalities in ``folder``, or the one named by ``series_uid``."""
    found = scan_folder(folder)
    if series_uid is not None:
        for s in found:
            if s.series_uid == series_uid:
                return s
        raise FapisegError(f"no series {series_uid} in {folder}; found: {_listing(found)}")
    wanted = [s for s in found if s.modality in modalities]
    if len(wanted) == 1:
        return wanted[0]
    kind = "/".join(modalities)
    if not wanted:
        raise FapisegError(f"no {kind} series in {folder}; found: {_listing(found)}")
    raise FapisegError(
        f"{len(wanted)} {kind} series in {folder}; choose one with --series-uid: {_listing(wanted)}"
    )


def read_series(
    folder: str | os.PathLike, modalities: tuple[str, ...], series_uid: str | None = None
) -> ImageSeries:
    """Read and geometrically sort the chosen image series of ``folder`` (see :func:`choose_series`)."""
    summary = choose_series(folder, modalities, series_uid)
    datasets = [pydicom.dcmread(p) for p in summary.files]
    return ImageSeries(*sort_slices(datasets))


def sort_slices(datasets: list[Dataset]) -> tuple[list[Dataset], np.ndarray]:
    """Slices ordered along the normal, and the RAS affine of the stack; refuses gaps, duplicates, mixed grids."""
    for ds in datasets:
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise FapisegError(
                "multi-frame (enhanced) DICOM images are not supported; export single-frame slices"
            )
        for key in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns"):
            if ds.get(key) is None:
                raise FapisegError(f"slice without {key}: cannot place the series in space")
    orientation = np.array(datasets[0].ImageOrientationPatient, dtype=np.float64)
    spacing = np.array(datasets[0].PixelSpacing, dtype=np.float64)  # (between rows, between columns) mm
    size = (int(datasets[0].Rows), int(datasets[0].Columns))
    for ds in datasets[1:]:
        if not np.allclose(np.array(ds.ImageOrientationPatient, float), orientation, atol=1e-4):
            raise FapisegError("slices of the series have different ImageOrientationPatient")
        if (int(ds.Rows), int(ds.Columns)) != size or not np.allclose(
            np.array(ds.PixelSpacing, float), spacing, atol=1e-4
        ):
            raise FapisegError("slices of the series have different sizes or PixelSpacing")
    row_cosine, column_cosine = orientation[:3], orientation[3:]
    normal = np.cross(row_cosine, column_cosine)
    positions = np.array([np.array(ds.ImagePositionPatient, float) for ds in datasets])
    order = np.argsort(positions @ normal, kind="stable")
    datasets = [datasets[i] for i in order]
    positions = positions[order]
    step = _slice_step(positions, normal)
    lps = np.eye(4)
    lps[:3, 0] = row_cosine * spacing[1]
    lps[:3, 1] = column_cosine * spacing[0]
    lps[:3, 2] = step
    lps[:3, 3] = positions[0]
    return datasets, LPS_TO_RAS @ lps


def _slice_step(positions: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """The LPS vector from one slice to the next; names the first duplicate or gap it meets."""
    if len(positions) < 2:
        raise FapisegError(f"the series has {len(positions)} slice; a 3-D volume needs at least 2")
    along = positions @ normal
    gaps = np.diff(along)
    duplicate = np.flatnonzero(gaps < 1e-3)
    if duplicate.size:
        k = int(duplicate[0])
        raise FapisegError(
            f"duplicate slice position {along[k]:.3f} mm along the normal (slices {k} and {k + 1} "
            "in geometric order); the folder may hold two series or repeated files"
        )
    step = (positions[-1] - positions[0]) / (len(positions) - 1)
    expected = positions[0] + np.arange(len(positions))[:, None] * step
    spacing = float(np.linalg.norm(step))
    off = np.linalg.norm(positions - expected, axis=1)
    if off.max() > SPACING_TOLERANCE * spacing:
        k = int(np.argmax(np.abs(gaps - np.median(gaps)))) if gaps.size else 0
        raise FapisegError(
            f"slice spacing is not uniform: {gaps[k]:.3f} mm between slices {k} and {k + 1} "
            f"(median {np.median(gaps):.3f} mm); a slice is missing or the series mixes stacks"
        )
    return step


def _read_header(path: Path) -> Dataset | None:
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, EOFError, ValueError, KeyError, TypeError):
        return None


def _listing(found: list[SeriesSummary]) -> str:
    return "; ".join(s.describe() for s in found) or "nothing readable as DICOM"
