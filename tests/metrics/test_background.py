"""The TBR reference: given mask or value, else blood pool in the aorta found on CT, else the liver."""

import numpy as np
import pytest

from fapiseg.metrics.background import find_background, reference_from_mask, reference_from_value
from fapiseg.metrics.table import lesion_table
from tests.metrics.synthetic import flip_and_permute, thorax_phantom


@pytest.fixture(scope="module")
def thorax():
    return thorax_phantom()


def test_aorta_blood_pool_is_found_inside_the_aorta(thorax):
    ct, pet, affine, truth = thorax
    ref = find_background(pet, ct, affine)
    assert ref.kind == "aorta"
    assert ref.suv_mean == pytest.approx(truth["aorta_suv"], rel=1e-6)
    assert ref.voi.any() and not (ref.voi & ~truth["aorta"]).any()
    slices = np.flatnonzero(ref.voi.any(axis=(0, 1)))
    assert (slices[-1] - slices[0] + 1) * 4.0 == pytest.approx(20.0, abs=4.0)  # PERCIST: 2 cm long


def test_aorta_is_found_whatever_the_storage_order(thorax):
    ct, pet, affine, truth = thorax
    ct2, affine2 = flip_and_permute(ct, affine, flips=(0, 1), order=(2, 0, 1))
    pet2, _ = flip_and_permute(pet, affine, flips=(0, 1), order=(2, 0, 1))
    ref = find_background(pet2, ct2, affine2)
    assert ref.kind == "aorta" and ref.suv_mean == pytest.approx(truth["aorta_suv"], rel=1e-6)


def test_liver_is_used_when_there_is_no_aorta():
    ct, pet, affine, truth = thorax_phantom(aorta=False, noise_hu=25.0)
    ref = find_background(pet, ct, affine)
    assert ref.kind == "liver"
    assert ref.suv_mean == pytest.approx(truth["liver_suv"], rel=1e-6)
    assert not (ref.voi & ~truth["liver"]).any()


def test_the_blood_pool_cylinder_moves_away_from_lesions(thorax):
    ct, pet, affine, truth = thorax
    pet = pet.copy()
    lesion = truth["aorta"].copy()
    lesion[:, :, :40] = False  # a lesion filling the upper thoracic aorta
    pet[lesion] = 20.0
    ref = find_background(pet, ct, affine, exclude=lesion)
    assert ref.kind == "aorta" and not (ref.voi & lesion).any()
    assert ref.suv_mean == pytest.approx(truth["aorta_suv"], rel=1e-6)


def test_no_reference_without_ct_or_on_a_small_phantom():
    pet = np.full((20, 20, 20), 2.0, np.float32)
    ct = np.full(pet.shape, 40.0, np.float32)
    assert find_background(pet, None, np.eye(4)) is None
    assert find_background(pet, ct, np.eye(4)) is None


def test_tbr_against_a_given_mask_and_value():
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    suv = np.full((20, 20, 20), 1.0)
    mask = np.zeros(suv.shape, bool)
    mask[5:8, 5:8, 5:8] = True
    suv[mask] = 9.0
    reference = np.zeros(suv.shape, bool)
    reference[12:18, 12:18, 12:18] = True
    suv[reference] = 1.5
    reference[6, 6, 6] = True  # a lesion voxel in the reference VOI is left out
    row = lesion_table(suv, mask, affine, background=reference).iloc[0]
    assert row["tbr"] == pytest.approx(9.0 / 1.5) and row["tbr_reference"] == "mask"
    row = lesion_table(suv, mask, affine, background=2.0).iloc[0]
    assert row["tbr"] == pytest.approx(4.5) and row["tbr_reference"] == "value"
    row = lesion_table(suv, mask, affine).iloc[0]
    assert np.isnan(row["tbr"]) and row["tbr_reference"] == ""


def test_tbr_from_the_automatic_aorta(thorax):
    ct, pet, affine, _truth = thorax
    pet = pet.copy()
    mask = np.zeros(pet.shape, bool)
    mask[60:63, 40:43, 50:53] = True  # a lesion in the right lung
    pet[mask] = 7.2
    row = lesion_table(pet, mask, affine, ct=ct).iloc[0]
    assert row["tbr_reference"] == "aorta"
    assert row["tbr"] == pytest.approx(7.2 / 1.8, rel=1e-6)
    assert row["tbr_reference_suv"] == pytest.approx(1.8, rel=1e-6)


def test_bad_references_are_refused():
    with pytest.raises(ValueError):
        reference_from_value(0.0)
    with pytest.raises(ValueError):
        reference_from_mask(np.ones((4, 4, 4)), np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match="positive"):
        reference_from_mask(np.zeros((4, 4, 4)), np.ones((4, 4, 4)))


def test_a_structure_without_uptake_is_no_reference(thorax):
    ct, pet, affine, _ = thorax
    assert find_background(np.zeros_like(pet), ct, affine) is None
