"""RTSTRUCT rasterisation against analytic volumes: spheres from circle stacks, holes, ROI choice, frames."""

from __future__ import annotations

import numpy as np
import pytest

from fapiseg.errors import FapisegError
from fapiseg.io.dicom.rtstruct import roi_names, rtstruct_mask
from fapiseg.io.geometry import voxel_to_world, voxel_volume_ml
from tests.io.dicom_builders import SeriesSpec, circle_lps, rtstruct
from tests.io.test_dicom_series import ROTATION

SHAPE = (48, 40, 30)


def grid(**geometry) -> SeriesSpec:
    geometry.setdefault("spacing_mm", (1.0, 1.25, 1.5))
    geometry.setdefault("origin_lps", (-24.0, -25.0, -22.0))
    return SeriesSpec(np.zeros(SHAPE, np.int16), np.ones(SHAPE[2]), **geometry)


def sphere_contours(spec: SeriesSpec, centre_lps: np.ndarray, radius_mm: float) -> list[np.ndarray]:
    """One circle per slice plane that cuts the sphere, as a planning system would draw it."""
    u, v, n = np.asarray(spec.row_cosine), np.asarray(spec.column_cosine), spec.normal
    contours = []
    for k in range(SHAPE[2]):
        d = float((spec.position(k) - centre_lps) @ n)
        if abs(d) < radius_mm:
            contours.append(circle_lps(centre_lps + d * n, np.sqrt(radius_mm**2 - d**2), u, v))
    return contours


@pytest.mark.parametrize(
    "geometry",
    [
        {},
        {"row_cosine": (-1.0, 0.0, 0.0), "column_cosine": (0.0, -1.0, 0.0)},
        {"row_cosine": tuple(ROTATION[:, 0]), "column_cosine": tuple(ROTATION[:, 1])},
    ],
    ids=["axial", "flipped", "oblique"],
)
def test_sphere_volume_and_centre(geometry):
    """A 10 mm sphere drawn as a circle stack: volume within 3 % of 4/3 pi r^3, centroid on the centre."""
    spec = grid(**geometry)
    centre = spec.slice_centre(15) + 2.0 * np.asarray(spec.row_cosine) - 3.0 * np.asarray(spec.column_cosine)
    ds = rtstruct(spec, {"sphere": sphere_contours(spec, centre, 10.0)})
    mask = rtstruct_mask(ds, SHAPE, spec.ras_affine(), spec.frame_of_reference_uid)
    volume_mm3 = mask.sum() * voxel_volume_ml(spec.ras_affine()) * 1000.0
    assert volume_mm3 == pytest.approx(4 / 3 * np.pi * 10.0**3, rel=0.03)
    centroid_ras = voxel_to_world(spec.ras_affine(), np.argwhere(mask).mean(axis=0))
    np.testing.assert_allclose(centroid_ras, centre * [-1, -1, 1], atol=0.3)


def test_inner_contour_is_a_hole():
    """Two concentric contours on one slice fill the ring between them (even-odd rule)."""
    spec = grid()
    centre = spec.slice_centre(10) + [0.3, 0.2, 0.0]
    u, v = np.asarray(spec.row_cosine), np.asarray(spec.column_cosine)
    ds = rtstruct(spec, {"ring": [circle_lps(centre, 15.0, u, v, 200), circle_lps(centre, 7.0, u, v, 200)]})
    mask = rtstruct_mask(ds, SHAPE, spec.ras_affine())
    assert mask[:, :, 10].sum() * 1.0 * 1.25 == pytest.approx(np.pi * (15.0**2 - 7.0**2), rel=0.03)
    assert mask.sum() == mask[:, :, 10].sum()
    middle = np.rint(np.linalg.solve(spec.ras_affine(), [*(centre * [-1, -1, 1]), 1.0])[:3]).astype(int)
    assert mask[tuple(middle)] == 0


def test_roi_choice_union_and_errors():
    """--roi picks by name (case-insensitively); no --roi is the union; a wrong name lists the names."""
    spec = grid()
    u, v = np.asarray(spec.row_cosine), np.asarray(spec.column_cosine)
    a = [circle_lps(spec.slice_centre(8) + [-10.0, 0, 0], 4.0, u, v)]
    b = [circle_lps(spec.slice_centre(20) + [10.0, 0, 0], 5.0, u, v)]
    ds = rtstruct(spec, {"GTV_A": a, "GTV_B": b})
    assert roi_names(ds) == ["GTV_A", "GTV_B"]
    only_a = rtstruct_mask(ds, SHAPE, spec.ras_affine(), rois=["gtv_a"])
    both = rtstruct_mask(ds, SHAPE, spec.ras_affine())
    assert only_a[:, :, 8].any() and not only_a[:, :, 20].any()
    assert both.sum() == only_a.sum() + rtstruct_mask(ds, SHAPE, spec.ras_affine(), rois=["GTV_B"]).sum()
    with pytest.raises(FapisegError, match="no ROI named 'liver'.*GTV_A, GTV_B"):
        rtstruct_mask(ds, SHAPE, spec.ras_affine(), rois=["liver"])


def test_other_frame_of_reference_is_refused():
    spec = grid()
    ds = rtstruct(spec, {"s": sphere_contours(spec, spec.slice_centre(15), 5.0)})
    with pytest.raises(FapisegError, match="another frame of reference"):
        rtstruct_mask(ds, SHAPE, spec.ras_affine(), frame_of_reference_uid="1.2.3.4")


def test_contour_off_the_slice_planes_is_refused():
    """A sagittal contour cannot be filled on axial slices."""
    spec = grid()
    contour = circle_lps(spec.slice_centre(15), 6.0, np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0]))
    with pytest.raises(FapisegError, match="does not lie in a slice plane"):
        rtstruct_mask(rtstruct(spec, {"s": [contour]}), SHAPE, spec.ras_affine())


def test_roi_outside_the_field_of_view():
    spec = grid()
    u, v = np.asarray(spec.row_cosine), np.asarray(spec.column_cosine)
    far = [circle_lps(spec.slice_centre(10) + [500.0, 0, 0], 5.0, u, v)]
    with pytest.raises(FapisegError, match="outside the PET field of view"):
        rtstruct_mask(rtstruct(spec, {"far": far}), SHAPE, spec.ras_affine())
