"""Each kind of bad case gets a one-line error that names the case and the reason."""

import numpy as np
import pytest

from fapiseg.data.cases import find_cases
from fapiseg.data.validation import load_case
from fapiseg.errors import CaseError
from tests.conftest import write_nifti


def _only_case(root):
    (case,) = find_cases(root)
    return case


def _error(case) -> str:
    with pytest.raises(CaseError) as err:
        load_case(case)
    message = str(err.value)
    assert message.startswith(f"{case.name}: ") and "\n" not in message
    return message


def test_good_case_loads_on_the_pet_grid(make_study):
    images = load_case(_only_case(make_study()))
    assert images.pet.shape == images.ct.shape == images.seg.shape == (20, 18, 16)
    assert images.seg.array.dtype == np.uint8 and int(images.seg.array.sum()) == 27


def test_reference_mask_is_left_unread_when_not_wanted(make_study):
    root = make_study()
    (root / "p1/t0/SEG.nii.gz").write_bytes(b"not a nifti")  # would fail if it were read
    images = load_case(_only_case(root), seg="skip")
    assert images.seg is None and images.pet.shape == (20, 18, 16)


def test_an_unknown_reference_mask_option_is_refused(make_study):
    with pytest.raises(ValueError, match="seg must be"):
        load_case(_only_case(make_study()), seg="needed")


def test_missing_ct(make_study):
    root = make_study()
    (root / "p1/t0/CTres.nii.gz").unlink()
    assert "CTres.nii.gz is missing" in _error(_only_case(root))


def test_truncated_pet(make_study):
    root = make_study()
    f = root / "p1/t0/SUV.nii.gz"
    f.write_bytes(f.read_bytes()[:200])
    assert "SUV.nii.gz cannot be read" in _error(_only_case(root))


def test_two_dimensional_pet(make_study, aniso_affine):
    root = make_study()
    write_nifti(root / "p1/t0/SUV.nii.gz", np.ones((20, 18), np.float32), aniso_affine)
    assert "3-D volume is required" in _error(_only_case(root))


def test_nans_in_pet(make_study, aniso_affine):
    root = make_study()
    suv = np.ones((20, 18, 16), np.float32)
    suv[3, 3, 3] = np.nan
    write_nifti(root / "p1/t0/SUV.nii.gz", suv, aniso_affine)
    assert "SUV.nii.gz holds 1 NaN or infinite voxel" in _error(_only_case(root))


def test_pet_in_bq_per_ml_is_refused(make_study, aniso_affine):
    root = make_study()
    write_nifti(root / "p1/t0/SUV.nii.gz", np.full((20, 18, 16), 5000.0, np.float32), aniso_affine)
    assert "look like Bq/mL" in _error(_only_case(root))


def test_ct_elsewhere_in_the_world_is_refused(make_study, aniso_affine):
    root = make_study()
    moved = aniso_affine.copy()
    moved[2, 3] += 500.0
    write_nifti(root / "p1/t0/CTres.nii.gz", np.zeros((20, 18, 16), np.float32), moved)
    assert "cover different world regions" in _error(_only_case(root))


def test_ct_on_a_finer_grid_is_resampled_to_pet(make_study, aniso_affine):
    root = make_study()
    fine = aniso_affine.copy()
    fine[:3, :3] /= 2
    ct = np.full((40, 36, 32), 30.0, np.float32)
    write_nifti(root / "p1/t0/CTres.nii.gz", ct, fine)
    images = load_case(_only_case(root))
    assert images.ct.shape == images.pet.shape
    assert np.allclose(images.ct.affine, images.pet.affine)
    assert np.isclose(images.ct.array[5, 5, 5], 30.0)


def test_mask_on_another_grid_is_refused(make_study, aniso_affine):
    root = make_study()
    write_nifti(root / "p1/t0/SEG.nii.gz", np.zeros((10, 9, 8), np.uint8), aniso_affine)
    assert "SEG.nii.gz is not on the PET grid" in _error(_only_case(root))
