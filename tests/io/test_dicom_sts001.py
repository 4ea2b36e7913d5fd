"""The real GE PET series STS_001 (TCIA Soft-tissue-Sarcoma): SUV, geometry and the GTV against independent numbers.

Nothing here calls fapiseg to get the expected values: SUVbw is recomputed from the raw header with
plain arithmetic, the geometry is SimpleITK's, and the tumour volume is the sum of the contour polygon
areas (shoelace formula) times the slice spacing.
"""

from __future__ import annotations

import json
import tarfile

import nibabel as nib
import numpy as np
import pydicom
import pytest

from fapiseg.io.dicom.importer import import_study
from tests.conftest import SHARED_DATA
from tests.io.test_dicom_series import assert_same_voxels, sitk_read

ARCHIVE = SHARED_DATA / "sts001-pet" / "pet.tar.xz"
pytestmark = pytest.mark.skipif(not ARCHIVE.exists(), reason=f"real PET test data absent ({ARCHIVE})")


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The archive extracted once and imported once with the GTV_Mass outline."""
    root = tmp_path_factory.mktemp("sts001")
    with tarfile.open(ARCHIVE) as tar:
        tar.extractall(root, filter="data")
    out = root / "data" / "sts001" / "pet"
    import_study(root / "pet", out, rtstruct=root / "rtstruct", rois=["GTV_Mass"])
    suv = nib.load(out / "SUV.nii.gz")
    seg = nib.load(out / "SEG.nii.gz")
    return (
        root,
        np.asarray(suv.dataobj),
        suv.affine,
        np.asarray(seg.dataobj),
        json.loads((out / "import.json").read_text()),
    )


def seconds(tm: str) -> float:
    return int(tm[0:2]) * 3600 + int(tm[2:4]) * 60 + float(tm[4:])


def test_suv_equals_an_independent_computation(imported):
    """SUVbw = (stored x slope + intercept) x weight / (dose x 2^(-(SeriesTime - injection) / half-life)), per file."""
    root, suv, affine, _, sidecar = imported
    files = [pydicom.dcmread(p) for p in sorted((root / "pet").glob("*.dcm"))]
    first = files[0]
    radio = first.RadiopharmaceuticalInformationSequence[0]
    assert first.Units == "BQML" and first.DecayCorrection == "START"
    assert all(
        ds.SeriesDate == ds.AcquisitionDate and seconds(ds.SeriesTime) <= seconds(ds.AcquisitionTime)
        for ds in files
    )
    uptake_s = seconds(first.SeriesTime) - seconds(radio.RadiopharmaceuticalStartTime)
    decayed_dose = float(radio.RadionuclideTotalDose) * 2.0 ** (-uptake_s / float(radio.RadionuclideHalfLife))
    factor = float(first.PatientWeight) * 1000.0 / decayed_dose
    assert sidecar["suv_factor"] == pytest.approx(factor, rel=1e-12)
    assert sidecar["uptake_time_min"] == pytest.approx(uptake_s / 60.0, abs=1e-4)
    z0, dz = affine[2, 3], affine[2, 2]
    worst = 0.0
    for ds in files:
        k = int(round((float(ds.ImagePositionPatient[2]) - z0) / dz))
        expected = (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).T * factor
        worst = max(worst, float(np.abs(suv[:, :, k] - expected).max() / max(expected.max(), 1e-6)))
    assert worst < 1e-6


def test_geometry_agrees_with_simpleitk(imported):
    """Every voxel centre within 0.01 voxel of SimpleITK's, with the same activity (despite 0.08 mm slice jitter)."""
    root, suv, affine, _, sidecar = imported
    theirs, their_affine = sitk_read(root / "pet")
    assert_same_voxels(
        suv / sidecar["suv_factor"], affine, theirs.astype(np.float64), their_affine, tol_voxel=0.01
    )


def test_gtv_volume_matches_the_contour_areas(imported):
    """Rasterised GTV_Mass within 3 % of sum(shoelace area of each contour) x slice spacing."""
    root, suv, affine, seg, _ = imported
    rt = pydicom.dcmread(root / "rtstruct" / "1-1.dcm")
    number = next(int(r.ROINumber) for r in rt.StructureSetROISequence if r.ROIName == "GTV_Mass")
    contours = next(c for c in rt.ROIContourSequence if int(c.ReferencedROINumber) == number).ContourSequence
    area_mm2 = 0.0
    for contour in contours:
        xy = np.asarray(contour.ContourData, float).reshape(-1, 3)[:, :2]
        x, y = xy[:, 0], xy[:, 1]
        area_mm2 += 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
    contour_ml = area_mm2 * abs(affine[2, 2]) / 1000.0
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000.0
    mask_ml = seg.sum() * voxel_ml
    assert mask_ml == pytest.approx(contour_ml, rel=0.03)
    assert 5.0 < suv[seg > 0].max() < 50.0  # an FDG-avid sarcoma, not Bq/mL


def test_lesion_table_on_the_real_tumour(imported):
    """When fapiseg.metrics is present, its largest lesion is the GTV, with the same volume and SUVmax."""
    metrics = pytest.importorskip("fapiseg.metrics", reason="fapiseg.metrics is not in this tree yet")
    _, suv, affine, seg, _ = imported
    table = metrics.lesion_table(suv, seg, affine)
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000.0
    assert table["volume_ml"].sum() == pytest.approx(seg.sum() * voxel_ml, rel=1e-6)
    assert table["suv_max"].max() == pytest.approx(float(suv[seg > 0].max()), rel=1e-6)
