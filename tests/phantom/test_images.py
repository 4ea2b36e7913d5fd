"""What the scans look like: CT numbers and SUV per organ, the blood-pool reference, storage orientations."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from fapiseg.metrics import find_background, lesion_table
from fapiseg.phantom.anatomy import LABEL_OF
from fapiseg.phantom.scanner import store
from tests.phantom.conftest import scans


def _images(cohort_dir, case):
    return {k: nib.load(str(cohort_dir / case / f"{k}.nii.gz")) for k in ("SUV", "CTres", "SEG", "ORGANS")}


def _median(image, organs, organ):
    return float(np.median(np.asarray(image.dataobj)[np.asarray(organs.dataobj) == LABEL_OF[organ]]))


def test_ct_numbers_per_tissue(cohort_dir, truth):
    for _, study in scans(truth):
        im = _images(cohort_dir, study["case"])
        ct, organs = im["CTres"], im["ORGANS"]
        assert _median(ct, organs, "lung") < -700
        assert -130 < _median(ct, organs, "fat") < -70
        for organ in ("muscle", "liver", "aorta"):
            assert 20 < _median(ct, organs, organ) < 70, organ
        bone = np.isin(np.asarray(organs.dataobj), [LABEL_OF["bone_cortical"], LABEL_OF["bone_marrow"]])
        assert np.median(np.asarray(ct.dataobj)[bone]) > 200
        assert np.asarray(ct.dataobj)[np.asarray(organs.dataobj) == 0].mean() < -900  # air around the body


def test_suv_per_organ_is_fapi_like(cohort_dir, truth):
    for _, study in scans(truth):
        im = _images(cohort_dir, study["case"])
        suv, organs = im["SUV"], im["ORGANS"]
        for organ, (lo, hi) in {
            "aorta": (1.0, 2.2),
            "liver": (0.9, 1.7),
            "muscle": (0.6, 1.5),
            "fat": (0.2, 0.7),
            "lung": (0.15, 0.7),
        }.items():
            assert lo < _median(suv, organs, organ) < hi, (study["case"], organ)
        physiological = {p["organ"]: p for p in study["physiological"]}
        if "bladder" in physiological:
            assert physiological["bladder"]["suv_max"] >= 5.0 and _median(suv, organs, "bladder") > 4.0
        if "kidney" in physiological:
            assert 2.5 <= _median(suv, organs, "kidney") <= 8.0


def test_the_automatic_blood_pool_reference_finds_the_aorta(cohort_dir, truth):
    for _, study in scans(truth):
        im = _images(cohort_dir, study["case"])
        suv, ct = np.asarray(im["SUV"].dataobj), np.asarray(im["CTres"].dataobj, np.float32)
        ref = find_background(suv, ct, im["SUV"].affine, exclude=np.asarray(im["SEG"].dataobj))
        assert ref is not None and ref.kind == "aorta", study["case"]
        assert (np.asarray(im["ORGANS"].dataobj)[ref.voi] == LABEL_OF["aorta"]).all()
        assert 1.0 < ref.suv_mean < 2.2


@pytest.mark.parametrize("axcodes", ["LPS", "SPL", "AIR"])
def test_flipped_and_permuted_storage_keeps_world_centres(cohort_dir, truth, axcodes):
    _, study = next((p, s) for p, s in scans(truth) if s["lesions"])
    im = _images(cohort_dir, study["case"])
    suv, seg = np.asarray(im["SUV"].dataobj), np.asarray(im["SEG"].dataobj)
    canonical = nib.as_closest_canonical(im["SUV"])
    seg_ras = np.asarray(nib.as_closest_canonical(im["SEG"]).dataobj)
    suv2, affine2 = store(np.asarray(canonical.dataobj), canonical.affine, axcodes)
    seg2, _ = store(seg_ras, canonical.affine, axcodes)
    assert nib.aff2axcodes(affine2) == tuple(axcodes)
    table = lesion_table(suv2, seg2, affine2, background=1.0)
    centres = table[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy()
    for lesion in study["lesions"]:
        assert np.min(np.linalg.norm(centres - lesion["centre_mm"], axis=1)) < 1e-3
    assert sorted(table["volume_ml"].round(5)) == sorted(
        round(les["volume_ml"], 5) for les in study["lesions"]
    )
    del suv, seg


def test_scans_are_stored_in_several_orientations(truth):
    orientations = {s["orientation"] for _, s in scans(truth)}
    assert orientations <= {"RAS", "LPS", "LAS"} and len(orientations) >= 2
