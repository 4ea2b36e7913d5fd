"""Organ regions of lesions: from the CT and position, or from a label map; RECIST's organ grouping."""

import json

import numpy as np
import pytest

from fapiseg.io.nifti import Volume
from fapiseg.longitudinal.regions import find_region_map, is_nodal, lesion_regions, organ_of
from fapiseg.metrics.components import label_components
from tests.conftest import write_nifti
from tests.longitudinal.phantoms import AFFINE, Sphere, make_study
from tests.metrics.synthetic import flip_and_permute

# One lesion in each region the CT rules know, centres in patient (= world) mm.
PLACED = {
    "lung": Sphere((45, 0, 40), 8),
    "liver": Sphere((40, 0, -50), 10),
    "bone": Sphere((0, -60, -20), 8, hu=700.0),
    "breast": Sphere((40, 68, 40), 8),
    "axillary node": Sphere((97, -10, 55), 6),
    "mediastinal node": Sphere((0, -25, 40), 6),
    "supraclavicular node": Sphere((30, 0, 80), 5),
    "abdomen": Sphere((-40, 40, -60), 8),
}
EXPECTED = {
    "lung": "lung",
    "liver": "liver",
    "bone": "bone",
    "breast": "breast",
    "axillary node": "lymph_node",
    "mediastinal node": "lymph_node",
    "supraclavicular node": "lymph_node",
    "abdomen": "soft_tissue",
}


def regions_by_placement(suv_ct_mask, affine):
    _, ct, mask = suv_ct_mask
    lesions = label_components(mask, 26, affine)
    found = [c.region for c in lesion_regions(lesions, affine, ct=ct)]
    out = {}
    for lesion, region in zip(lesions, found):
        centre = affine[:3, :3] @ lesion.centroid_ijk + affine[:3, 3]
        name = min(PLACED, key=lambda n: np.linalg.norm(np.subtract(PLACED[n].centre_mm, centre)))
        out[name] = region
    return out


@pytest.fixture(scope="module")
def study():
    return make_study(list(PLACED.values()))


def test_regions_from_the_ct(study):
    assert regions_by_placement(study, AFFINE) == EXPECTED


def test_regions_do_not_depend_on_how_the_image_is_stored(study):
    stored = [flip_and_permute(a, AFFINE, flips=(0, 2), order=(1, 2, 0)) for a in study]
    assert regions_by_placement(tuple(a for a, _ in stored), stored[0][1]) == EXPECTED


def test_without_a_ct_the_region_is_unknown(study):
    lesions = label_components(study[2], 26, AFFINE)
    assert {(c.region, c.source) for c in lesion_regions(lesions, AFFINE)} == {("unknown", "none")}


def test_a_label_map_names_the_region_under_the_lesion_or_around_it():
    mask = np.zeros((10, 10, 10), np.uint8)
    mask[1:3, 1:3, 1:3] = 1  # inside label 4
    mask[6:8, 6:8, 6:8] = 1  # unlabelled itself, label 7 around it
    labels = np.zeros(mask.shape, np.int32)
    labels[0:4, 0:4, 0:4] = 4
    labels[5:9, 5:9, 5:9] = 7
    labels[6:8, 6:8, 6:8] = 0
    lesions = label_components(mask, 26)
    names = [c.region for c in lesion_regions(lesions, np.eye(4), region_map=labels, names={4: "liver"})]
    assert names == ["label_7", "liver"]  # equal sizes: the higher lesion comes first


def test_a_lesion_in_generic_tissue_of_an_organ_map_gets_its_region_from_the_ct(study):
    _, ct, mask = study
    lesions = label_components(mask, 26, AFFINE)
    organ_map = np.where(mask > 0, 3, 0).astype(np.int32)  # every lesion in "fat"
    liver = [
        c
        for c in lesions
        if np.linalg.norm(AFFINE[:3, :3] @ c.centroid_ijk + AFFINE[:3, 3] - (40, 0, -50)) < 5
    ]
    organ_map[lesions.labels == liver[0].label] = 8
    calls = lesion_regions(lesions, AFFINE, ct=ct, region_map=organ_map, names={3: "fat", 8: "liver"})
    sources = {c.source for c in calls}
    assert sources == {"label map", "CT"}
    from_ct = [c.region for c in lesion_regions(lesions, AFFINE, ct=ct)]
    assert [c.region for c in calls] == from_ct  # the map's liver agrees with the CT's


def test_a_label_map_beside_the_case_is_found_with_its_names(tmp_path):
    pet = Volume(np.ones((4, 4, 4), np.float32), AFFINE)
    study = tmp_path / "p1" / "t0"
    write_nifti(study / "ORGANS.nii.gz", np.full((4, 4, 4), 2, np.int16), AFFINE)
    (tmp_path / "truth.json").write_text(json.dumps({"organ_labels": {"2": "breast"}}))
    assert find_region_map(study, pet, "p1/t0", tmp_path)[1] == {2: "breast"}  # the phantom's legend
    (study / "ORGANS.json").write_text(json.dumps({"2": "lymph node axillary left"}))
    region_map, names = find_region_map(study, pet, "p1/t0", tmp_path)
    assert region_map.shape == (4, 4, 4) and names == {2: "lymph node axillary left"}
    assert find_region_map(tmp_path / "nothing", pet, "p1/t0") == (None, {})


@pytest.mark.parametrize(
    "region, organ, nodal",
    [
        ("lymph_node", "lymph_node", True),
        ("lymph node axillary left", "lymph_node", True),
        ("lung_left", "lung", False),
        ("Right Lung", "lung", False),
        ("breast_r", "breast", False),
        ("liver", "liver", False),
        ("bone_marrow", "bone", False),
    ],
)
def test_recist_organs_group_nodes_and_paired_organs(region, organ, nodal):
    assert organ_of(region) == organ and is_nodal(region) is nodal
