"""The shared real scan (../shared/data/sts001-pet): a whole-body FDG PET and its drawn tumour outline.

Read independently of fapiseg's own DICOM import: SimpleITK for the series (LPS), pydicom for the
RTSTRUCT, matplotlib's point-in-polygon for the rasterisation (voxel centres inside the contour of
their slice). Values stay in Bq/mL: the lesion table does not depend on the unit.
"""

from __future__ import annotations

import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.conftest import SHARED_DATA

ARCHIVE = SHARED_DATA / "sts001-pet" / "pet.tar.xz"


@dataclass
class RealTumour:
    activity: np.ndarray  # (i, j, k) on the RAS affine below, Bq/mL
    mask: np.ndarray  # GTV_Mass rasterised
    affine: np.ndarray
    contours_mm: list[np.ndarray]  # each (n, 3) in RAS world mm


def load_real_tumour(workdir: Path) -> RealTumour:
    import pydicom
    import SimpleITK as sitk
    from matplotlib.path import Path as Polygon

    with tarfile.open(ARCHIVE) as archive:
        archive.extractall(workdir, filter="data")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(workdir / "pet")))
    image = reader.Execute()
    activity = np.transpose(sitk.GetArrayFromImage(image), (2, 1, 0)).astype(
        np.float32
    )  # (x, y, z) index order
    lps = np.eye(4)
    lps[:3, :3] = np.reshape(image.GetDirection(), (3, 3)) * np.array(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps  # LPS -> RAS
    structure = pydicom.dcmread(next((workdir / "rtstruct").glob("*.dcm")))
    number = next(r.ROINumber for r in structure.StructureSetROISequence if r.ROIName == "GTV_Mass")
    roi = next(c for c in structure.ROIContourSequence if c.ReferencedROINumber == number)
    contours = [
        np.reshape(np.asarray(c.ContourData, float), (-1, 3)) * [-1, -1, 1] for c in roi.ContourSequence
    ]
    mask = np.zeros(activity.shape, bool)
    inverse = np.linalg.inv(affine)
    ii, jj = np.meshgrid(np.arange(activity.shape[0]), np.arange(activity.shape[1]), indexing="ij")
    for contour in contours:
        ijk = contour @ inverse[:3, :3].T + inverse[:3, 3]
        k = int(round(ijk[:, 2].mean()))
        inside = Polygon(ijk[:, :2]).contains_points(np.stack([ii.ravel(), jj.ravel()], axis=1))
        mask[:, :, k] |= inside.reshape(ii.shape)
    return RealTumour(activity, mask, affine, contours)
