"""RTSTRUCT contours to a voxel mask on an image grid (our own rasteriser: no OpenCV).

Each closed planar contour is taken from DICOM patient coordinates (LPS, mm) to the target grid's
continuous voxel indices through its RAS affine, then filled on the slice plane it lies in: a voxel
belongs to the contour when its centre is inside the polygon. Contours of one ROI on the same plane
combine by the even-odd rule (an inner contour is a hole, an island in the hole is filled again); ROIs
combine by union. When a plane does not fall on a slice centre (outlines drawn on a CT with other
slice positions) each slice takes the contour plane nearest to its centre.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
from matplotlib.path import Path as PolygonPath
from pydicom.dataset import Dataset

from fapiseg.errors import FapisegError
from fapiseg.io.dicom.series import LPS_TO_RAS, scan_folder
from fapiseg.io.geometry import world_to_voxel

#: A contour whose points spread over more than this many slices is not in a slice plane of the grid.
MAX_PLANE_SPREAD_SLICES = 0.5


def read_rtstruct(path: str | os.PathLike) -> Dataset:
    """The RTSTRUCT in ``path`` (a file, or a folder holding exactly one)."""
    path = Path(path)
    candidates = [p for s in scan_folder(path) if s.modality == "RTSTRUCT" for p in s.files]
    if not candidates:
        raise FapisegError(f"no RTSTRUCT in {path}")
    if len(candidates) > 1:
        raise FapisegError(f"{len(candidates)} RTSTRUCT files in {path}; give one file with --rtstruct")
    return pydicom.dcmread(candidates[0])


def roi_names(rtstruct: Dataset) -> list[str]:
    """Names of the ROIs of a structure set, in file order."""
    return [str(item.ROIName) for item in rtstruct.get("StructureSetROISequence", [])]


def rtstruct_mask(
    rtstruct: Dataset,
    shape: tuple[int, int, int],
    affine: np.ndarray,
    frame_of_reference_uid: str | None = None,
    rois: list[str] | None = None,
) -> np.ndarray:
    """Union of the chosen ROIs (all when ``rois`` is None) as a uint8 mask of ``shape`` on ``affine`` (RAS)."""
    names = {int(item.ROINumber): str(item.ROIName) for item in rtstruct.get("StructureSetROISequence", [])}
    frames = {
        int(item.ROINumber): str(item.get("ReferencedFrameOfReferenceUID", "") or "")
        for item in rtstruct.get("StructureSetROISequence", [])
    }
    chosen = set(names) if rois is None else {_roi_number(names, wanted) for wanted in rois}
    mask = np.zeros(shape, dtype=bool)
    drawn = 0
    for roi_contours in rtstruct.get("ROIContourSequence", []):
        number = int(roi_contours.ReferencedROINumber)
        if number not in chosen:
            continue
        name = names.get(number, str(number))
        if frame_of_reference_uid and frames.get(number) and frames[number] != frame_of_reference_uid:
            raise FapisegError(
                f"ROI '{name}' is drawn in another frame of reference than the PET "
                "(another scan, or a registration is needed first)"
            )
        contours = [
            _ras_points(c)
            for c in roi_contours.get("ContourSequence", [])
            if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) == "CLOSED_PLANAR"
        ]
        contours = [c for c in contours if len(c) >= 3]
        if not contours:
            if rois is not None:
                raise FapisegError(f"ROI '{name}' has no closed planar contour")
            continue
        roi_mask = rasterise_contours(contours, shape, affine)
        if not roi_mask.any():
            raise FapisegError(f"ROI '{name}' lies outside the PET field of view or is smaller than a voxel")
        mask |= roi_mask
        drawn += 1
    if drawn == 0:
        raise FapisegError(
            "the RTSTRUCT holds no closed planar contour" + (f" for {', '.join(rois)}" if rois else "")
        )
    return mask.astype(np.uint8)


def rasterise_contours(
    contours_ras: list[np.ndarray], shape: tuple[int, int, int], affine: np.ndarray
) -> np.ndarray:
    """Fill closed planar contours of one structure, (N, 3) world RAS mm each, into a bool mask of ``shape``."""
    planes: dict[float, list[np.ndarray]] = defaultdict(list)
    for points in contours_ras:
        ijk = world_to_voxel(affine, points)
        spread = float(np.ptp(ijk[:, 2]))
        if spread > MAX_PLANE_SPREAD_SLICES:
            raise FapisegError(
                f"a contour spans {spread:.2f} slices: it does not lie in a slice plane of the PET "
                "grid (drawn on an image with another orientation?)"
            )
        planes[round(float(ijk[:, 2].mean()), 3)].append(ijk[:, :2])
    nearest: dict[int, float] = {}
    for plane in planes:
        k = int(np.rint(plane))
        if 0 <= k < shape[2] and (k not in nearest or abs(plane - k) < abs(nearest[k] - k)):
            nearest[k] = plane
    mask = np.zeros(shape, dtype=bool)
    for k, plane in nearest.items():
        for polygon in planes[plane]:
            mask[:, :, k] ^= fill_polygon(polygon, shape[:2])
    return mask


def fill_polygon(polygon_ij: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bool image of ``shape`` (i, j) whose voxel centres lie inside the polygon (N, 2) in voxel indices."""
    out = np.zeros(shape, dtype=bool)
    low = np.maximum(np.ceil(polygon_ij.min(axis=0)).astype(int), 0)
    high = np.minimum(np.floor(polygon_ij.max(axis=0)).astype(int), np.array(shape) - 1)
    if np.any(high < low):
        return out
    ii, jj = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1), indexing="ij")
    inside = PolygonPath(polygon_ij).contains_points(np.column_stack([ii.ravel(), jj.ravel()]))
    out[low[0] : high[0] + 1, low[1] : high[1] + 1] = inside.reshape(ii.shape)
    return out


def _ras_points(contour: Dataset) -> np.ndarray:
    lps = np.asarray(contour.ContourData, dtype=np.float64).reshape(-1, 3)
    return lps * LPS_TO_RAS.diagonal()[:3]


def _roi_number(names: dict[int, str], wanted: str) -> int:
    for number, name in names.items():
        if name == wanted:
            return number
    for number, name in names.items():
        if name.strip().lower() == wanted.strip().lower():
            return number
    raise FapisegError(
        f"no ROI named '{wanted}' in the RTSTRUCT; it has: {', '.join(names.values()) or 'none'}"
    )
