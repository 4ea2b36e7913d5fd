"""The cohort on disk: layout, truth.json, lesions against SEG, the lesion table, load_case, seeds."""

from __future__ import annotations

import cc3d
import nibabel as nib
import numpy as np

from fapiseg.data import find_cases, load_case
from fapiseg.io.nifti import Volume
from fapiseg.metrics import lesion_table
from fapiseg.phantom.anatomy import LABEL_OF, ORGAN_LABELS, PHYSIOLOGICAL_HOT
from fapiseg.phantom.cohort import generate_cohort, generate_patient, generate_study
from tests.phantom.conftest import COURSES, SEED, scans

FILES = ("SUV.nii.gz", "CTres.nii.gz", "SEG.nii.gz", "ORGANS.nii.gz")


def _load(cohort_dir, case: str) -> dict:
    """The scan's four images as stored (their own dtypes)."""
    out = {}
    for name in FILES:
        img = nib.load(str(cohort_dir / case / name))
        out[name.split(".")[0]] = Volume(np.asanyarray(img.dataobj), img.affine)
    return out


def test_layout_and_truth_json(cohort_dir, truth):
    assert truth["generator"] == "fapiseg.phantom" and truth["version"] == 1 and truth["seed"] == SEED
    assert truth["family"] == "fapi"
    assert truth["organ_labels"]["1"] == "lung" and set(truth["organ_labels"].values()) == set(
        ORGAN_LABELS.values()
    )
    assert [p["patient"] for p in truth["patients"]] == ["p000", "p001", "p002"]
    assert [p["course"] for p in truth["patients"]] == COURSES
    for patient, study in scans(truth):
        assert study["case"] == f"{patient['patient']}/{study['study']}"
        images = _load(cohort_dir, study["case"])
        assert images["SUV"].array.dtype == np.float32
        assert images["SEG"].array.dtype == np.uint8 and set(np.unique(images["SEG"].array)) <= {0, 1}
        assert images["ORGANS"].array.dtype == np.uint8
        for v in images.values():
            assert v.shape == tuple(study["shape"])
            np.testing.assert_allclose(v.affine, images["SUV"].affine)
        np.testing.assert_allclose(images["SUV"].spacing_mm, study["voxel_size_mm"], atol=1e-3)
        assert 2.0 <= min(study["voxel_size_mm"]) and max(study["voxel_size_mm"]) <= 5.0
        assert 4.5 <= study["psf_fwhm_mm"] <= 7.0
        for lesion in study["lesions"]:
            assert set(lesion) >= {
                "track_id",
                "kind",
                "organ",
                "centre_mm",
                "volume_ml",
                "true_volume_ml",
                "diameter_mm",
                "suv_max",
                "image_suv_max",
            }
        assert {p["organ"] for p in study["physiological"]} <= set(PHYSIOLOGICAL_HOT)
    assert not list(cohort_dir.rglob(".*"))  # no temporary files left behind


def test_load_case_accepts_every_case(cohort_dir, truth):
    cases = find_cases(cohort_dir)
    assert [c.name for c in cases] == [s["case"] for _, s in scans(truth)]
    for case in cases:
        images = load_case(case, seg="need")
        assert images.ct is not None and images.seg is not None


def test_each_truth_lesion_is_one_seg_component_with_its_volume(cohort_dir, truth):
    for _, study in scans(truth):
        images = _load(cohort_dir, study["case"])
        seg, affine = images["SEG"].array, images["SEG"].affine
        _labels, n = cc3d.connected_components(seg, connectivity=26, return_N=True)
        assert n == len(study["lesions"])
        table = lesion_table(images["SUV"].array, seg, affine, background=1.0)
        for lesion in study["lesions"]:
            d = np.hypot.reduce(
                table[["centroid_x_mm", "centroid_y_mm", "centroid_z_mm"]].to_numpy() - lesion["centre_mm"],
                axis=1,
            )
            row = table.iloc[int(np.argmin(d))]
            assert d.min() < 1e-3  # the truth centre is the component's centroid in the world
            assert abs(row["volume_ml"] - lesion["volume_ml"]) < 1e-5
            assert abs(row["longest_diameter_mm"] - lesion["diameter_mm"]) < 1e-2
            assert abs(row["suv_max"] - lesion["image_suv_max"]) < 1e-3
            # the voxelised volume follows the true one (partial voxels at the edge either way)
            voxel_ml = lesion["volume_ml"] / lesion["voxel_count"]
            assert abs(lesion["volume_ml"] - lesion["true_volume_ml"]) < max(
                0.5 * lesion["true_volume_ml"], 3 * voxel_ml
            )


def test_lesions_sit_in_their_organ_and_are_fapi_hot(truth):
    expected = {
        "liver_metastasis": {"liver"},
        "lung_metastasis": {"lung"},
        "bone_metastasis": {"bone_marrow", "bone_cortical"},
        "breast_primary": {"breast", "fat"},
        "axillary_node": {"fat", "muscle", "soft_tissue"},
        "supraclavicular_node": {"fat", "muscle", "soft_tissue"},
        "internal_mammary_node": {"fat", "muscle", "soft_tissue"},
        "mediastinal_node": {"fat", "soft_tissue"},
    }
    baseline = [les for p in truth["patients"] for les in p["studies"][0]["lesions"]]
    assert baseline
    for lesion in baseline:
        assert lesion["tissue"] in expected[lesion["kind"]], lesion
        assert 5.0 <= lesion["suv_max"] <= 20.0
        assert 4.0 <= lesion["true_diameter_mm"] <= 40.0
        assert lesion["image_suv_max"] < lesion["suv_max"] * 1.5  # blurred, not sharpened


def test_lesions_never_touch_physiological_hot_spots(cohort_dir, truth):
    hot = [LABEL_OF[o] for o in PHYSIOLOGICAL_HOT]
    for _, study in scans(truth):
        images = _load(cohort_dir, study["case"])
        assert not np.isin(images["ORGANS"].array[images["SEG"].array > 0], hot).any()


def test_same_seed_gives_identical_images(cohort_dir, truth):
    study = generate_study(generate_patient(1, seed=SEED, course=COURSES[1], n_studies=2), 1)
    images = _load(cohort_dir, "p001/t1")
    np.testing.assert_array_equal(study.suv, images["SUV"].array)
    np.testing.assert_array_equal(study.ct, images["CTres"].array)
    np.testing.assert_array_equal(study.seg, images["SEG"].array)
    np.testing.assert_array_equal(study.affine, images["SUV"].affine)


def test_patients_made_in_parallel_processes_are_the_same_files(cohort_dir, tmp_path):
    generate_cohort(tmp_path, n_patients=2, n_studies=2, seed=SEED, courses=COURSES[:2], workers=2)
    for name in FILES:
        assert (tmp_path / "p001/t1" / name).read_bytes() == (cohort_dir / "p001/t1" / name).read_bytes()


def test_different_seeds_give_different_bodies():
    a, b = (generate_patient(0, seed=s).anatomy for s in (11, 12))
    assert a.width_scale != b.width_scale and a.fat_mm != b.fat_mm
    liver_a, liver_b = (np.prod(x.regions["liver"].shapes[0].shapes[0].radii) for x in (a, b))
    assert abs(liver_a / liver_b - 1) > 1e-3
