"""The Predictor: checkpoint in, the mask on the case's own grid out, at the right world position."""

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.inferers import sliding_window_inference
from nibabel.orientations import apply_orientation, inv_ornt_aff

from fapiseg.data.cases import find_cases
from fapiseg.errors import CaseError, FapisegError
from fapiseg.inference import Predictor, PredictorOptions
from fapiseg.io.geometry import voxel_to_world, voxel_volume_ml
from tests.conftest import write_nifti
from tests.inference.checkpoints import threshold_checkpoint, unet_checkpoint

LESION_CENTRE = np.array([12.0, -18.0, 20.0])  # world mm (RAS+)
LESION_RADIUS = 11.0
FP32 = PredictorOptions(precision="fp32", skip_suv=None)


def write_case(
    root,
    name,
    ornt=((0, 1), (1, 1), (2, 1)),
    spacing=(3.0, 3.5, 4.0),
    shape=(40, 36, 30),
    seed=0,
    body_suv=1.0,
):
    """A body (CT 40 HU, SUV ``body_suv``) in air with one hot sphere at LESION_CENTRE, stored in orientation ``ornt``."""
    ras_affine = np.diag([*spacing, 1.0])
    ras_affine[:3, 3] = -(np.array(shape) - 1) / 2 * np.array(spacing)
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    world = voxel_to_world(ras_affine, ijk)
    rng = np.random.default_rng(seed)
    body = ((world / (np.array(shape) * np.array(spacing) * 0.45)) ** 2).sum(-1) <= 1
    suv = np.where(body, body_suv, 0.02) + rng.normal(0, 0.05, shape) * body
    lesion = np.linalg.norm(world - LESION_CENTRE, axis=-1) <= LESION_RADIUS
    suv[lesion] = 8.0
    ct = np.where(body, 40.0, -1000.0)
    ornt = np.asarray(ornt, float)
    affine = ras_affine @ inv_ornt_aff(ornt, shape)
    folder = root / name
    write_nifti(folder / "SUV.nii.gz", apply_orientation(suv, ornt).astype(np.float32), affine)
    write_nifti(folder / "CTres.nii.gz", apply_orientation(ct, ornt).astype(np.float32), affine)
    write_nifti(folder / "SEG.nii.gz", apply_orientation(lesion, ornt).astype(np.uint8), affine)
    return folder


@pytest.fixture(scope="module")
def threshold_ckpt(tmp_path_factory):
    return threshold_checkpoint(tmp_path_factory.mktemp("ckpt") / "threshold.ckpt")


def test_settings_come_from_the_checkpoint(threshold_ckpt):
    predictor = Predictor.from_checkpoint(threshold_ckpt, device="auto")
    assert not predictor.network.training
    assert (
        predictor.roi_size == (32, 32, 32)
        and predictor.overlap == 0.25
        and predictor.spacing == (4.0, 4.0, 4.0)
    )
    assert "1 network(s)" in predictor.describe()


STORAGES = {
    "ras": ((0, 1), (1, 1), (2, 1)),
    "lps": ((0, -1), (1, -1), (2, 1)),
    "permuted": ((2, -1), (0, 1), (1, -1)),
}


@pytest.mark.parametrize("storage", STORAGES)
def test_the_mask_is_on_the_case_grid_and_the_lesion_where_it_is_in_the_world(
    threshold_ckpt, tmp_path, storage
):
    folder = write_case(tmp_path, f"p1/{storage}", STORAGES[storage])
    img = Predictor.from_checkpoint(threshold_ckpt).predict(folder)
    suv = __import__("nibabel").load(folder / "SUV.nii.gz")
    assert img.shape == suv.shape and np.allclose(img.affine, suv.affine)
    mask = np.asarray(img.dataobj)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    centroid = voxel_to_world(img.affine, np.argwhere(mask).mean(axis=0))
    assert np.linalg.norm(centroid - LESION_CENTRE) < 1.5
    volume = mask.sum() * voxel_volume_ml(img.affine)
    assert volume == pytest.approx(4 / 3 * np.pi * LESION_RADIUS**3 / 1000, rel=0.2)


def test_a_plain_monai_sliding_window_over_network_gives_the_same_probabilities(tmp_path):
    """What an outside benchmark does with .network, .roi_size, .overlap and the training preprocessing."""
    from fapiseg.data.transforms import inference_transforms

    folder = write_case(tmp_path, "p1/t0")
    predictor = Predictor.from_checkpoint(unet_checkpoint(tmp_path / "unet.ckpt"), device="cpu", options=FP32)
    image = inference_transforms(predictor.cfg["data"])(
        {"pet": str(folder / "SUV.nii.gz"), "ct": str(folder / "CTres.nii.gz")}
    )["image"]
    assert np.allclose(np.asarray(image.pixdim), predictor.spacing)
    with torch.no_grad():
        plain = sliding_window_inference(
            image[None],
            predictor.roi_size,
            2,
            lambda x: torch.softmax(predictor.network(x), 1)[:, 1:2],
            overlap=predictor.overlap,
            mode="gaussian",
        )
    ours = predictor.lesion_probability(image)
    torch.testing.assert_close(ours, plain[0, 0].as_tensor(), atol=1e-5, rtol=0)


def test_skipping_and_bfloat16_keep_the_mask(tmp_path):
    write_case(tmp_path / "data", "p1/t0", body_suv=0.5)  # fat-like background: windows off the lesion skip
    (case,) = find_cases(tmp_path / "data")
    threshold_ckpt = threshold_checkpoint(tmp_path / "small_window.ckpt", roi_size=(16, 16, 16))
    reference = Predictor.from_checkpoint(threshold_ckpt, options=FP32).predict_case(case).mask.array
    fast = Predictor.from_checkpoint(threshold_ckpt, options=PredictorOptions(precision="bf16"))
    mask = fast.predict_case(case).mask.array
    assert fast.last_windows.skipped > 0
    assert 2 * (mask & reference).sum() / (mask.sum() + reference.sum()) > 0.99


def test_an_ensemble_averages_its_members(tmp_path):
    write_case(tmp_path / "data", "p1/t0")
    (case,) = find_cases(tmp_path / "data")
    a, b = unet_checkpoint(tmp_path / "a.ckpt", seed=0), unet_checkpoint(tmp_path / "b.ckpt", seed=1)
    prob = {
        k: Predictor.from_checkpoint(p, options=FP32).predict_case(case).probability.array
        for k, p in (("a", [a]), ("b", [b]), ("ab", [a, b]))
    }
    np.testing.assert_allclose(prob["ab"], (prob["a"] + prob["b"]) / 2, atol=1e-5)


def test_tta_mirrors_along_the_axes_the_network_was_mirrored_along_in_training(tmp_path):
    lr_only = unet_checkpoint(tmp_path / "lr.ckpt", flip_axes=[0])
    unstated = unet_checkpoint(tmp_path / "default.ckpt")
    tta = PredictorOptions(tta=True)
    assert Predictor.from_checkpoint(lr_only, options=tta).window_predictor.flips == [(), (2,)]
    assert len(Predictor.from_checkpoint(unstated, options=tta).window_predictor.flips) == 8
    ensemble = Predictor.from_checkpoint([lr_only, unstated], options=tta)
    assert ensemble.window_predictor.flips == [(), (2,)]
    assert "2 mirrorings (spatial axes 0)" in ensemble.describe()
    assert "TTA off" in Predictor.from_checkpoint(lr_only).describe()


def test_checkpoints_with_other_preprocessing_are_not_ensembled(tmp_path):
    a = unet_checkpoint(tmp_path / "a.ckpt")
    b = unet_checkpoint(tmp_path / "b.ckpt", spacing_mm=(2.0, 2.0, 2.0))
    with pytest.raises(FapisegError, match="differ in spacing_mm"):
        Predictor.from_checkpoint([a, b])


def test_a_bad_case_is_a_case_error(threshold_ckpt, tmp_path):
    folder = write_case(tmp_path, "p1/t0")
    (folder / "CTres.nii.gz").unlink()
    with pytest.raises(CaseError, match="CTres.nii.gz is missing"):
        Predictor.from_checkpoint(threshold_ckpt).predict(folder)


def test_preprocessing_the_loaded_case_equals_preprocessing_its_files(threshold_ckpt, tmp_path):
    from fapiseg.data.validation import load_case
    from fapiseg.inference.predictor import _as_stored

    predictor = Predictor.from_checkpoint(threshold_ckpt, device="cpu")
    folder = write_case(tmp_path, "p1/t0", ornt=((1, -1), (0, 1), (2, -1)))  # axes swapped and flipped
    (case,) = find_cases(tmp_path)
    images = load_case(case, need_ct=True)
    pet = images.pet.array.copy()
    assert _as_stored(images.ct, case.ct)
    from_files, from_arrays = predictor.preprocess(case), predictor.preprocess(case, images)
    assert torch.equal(from_arrays.as_tensor(), from_files.as_tensor())
    assert torch.equal(from_arrays.affine, from_files.affine)
    assert np.array_equal(images.pet.array, pet)  # the loaded PET is left as it was
    (folder / "SUV.nii.gz").rename(folder / "moved.nii.gz")  # not read again
    assert torch.equal(predictor.preprocess(case, images).as_tensor(), from_files.as_tensor())
    (folder / "moved.nii.gz").rename(folder / "SUV.nii.gz")
    # a CT on another grid (one slice shorter): load_case moved it, so the stored file is preprocessed
    ct = nib.load(str(folder / "CTres.nii.gz"))
    write_nifti(folder / "CTres.nii.gz", np.asarray(ct.dataobj)[..., :-1], ct.affine)
    images = load_case(case, need_ct=True)
    assert not _as_stored(images.ct, case.ct)
    assert torch.equal(predictor.preprocess(case, images).as_tensor(), predictor.preprocess(case).as_tensor())
