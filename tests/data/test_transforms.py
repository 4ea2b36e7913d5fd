"""The MONAI pipelines: one preprocessing for training and inference, fixed SUV scaling, patch sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from monai.transforms import Invertd
from omegaconf import OmegaConf

from fapiseg.data.transforms import (
    HotSpotClassesd,
    RandChannelDropoutd,
    RandSUVd,
    ScaleSUVd,
    inference_transforms,
    training_transforms,
    validation_transforms,
)
from tests.conftest import write_nifti
from tests.training.runs import CONFIGS


@pytest.fixture(scope="module")
def cfg_data() -> dict:
    """The shipped data config, on a 4 mm grid with 16^3 patches."""
    with initialize_config_dir(str(CONFIGS), version_base="1.3"):
        cfg = compose(
            "train", overrides=["data.spacing_mm=[4,4,4]", "data.patch_size=[16,16,16]", "data.root=."]
        )
    return OmegaConf.to_container(cfg.data, resolve=False)


@pytest.fixture
def case(tmp_path, aniso_affine):
    """A 40x36x30 case on a flipped anisotropic grid: SUV ~1, a SUV-8 box lesion, an unlabelled SUV-12
    "bladder" box, CT 40 HU."""
    shape = (40, 36, 30)
    suv = np.random.default_rng(0).uniform(0.5, 2.0, shape).astype(np.float32)
    seg = np.zeros(shape, np.uint8)
    seg[10:16, 10:16, 10:14] = 1
    suv[seg > 0] = 8.0
    suv[28:34, 24:30, 20:26] = 12.0
    return {
        "pet": str(write_nifti(tmp_path / "SUV.nii.gz", suv, aniso_affine)),
        "ct": str(write_nifti(tmp_path / "CTres.nii.gz", np.full(shape, 40.0, np.float32), aniso_affine)),
        "label": str(write_nifti(tmp_path / "SEG.nii.gz", seg, aniso_affine)),
        "_seg": seg,
        "_affine": aniso_affine,
    }


def test_inference_preprocessing_stacks_pet_and_ct_on_a_ras_grid_at_the_target_spacing(cfg_data, case):
    image = inference_transforms(cfg_data)({"pet": case["pet"], "ct": case["ct"]})["image"]
    assert image.shape[0] == 2 and image.dtype == torch.float32
    assert np.allclose(np.diag(image.affine.numpy())[:3], [4, 4, 4])  # RAS: positive diagonal
    # 40 x 2.5 mm, 36 x 2 mm, 30 x 3 mm of field of view at 4 mm
    assert tuple(image.shape[1:]) == (25, 18, 23)
    assert float(image[0].max()) == pytest.approx(np.log1p(12.0) / 3.0, rel=1e-4)  # SUV 12, fixed scale
    assert float(image[1].mean()) == pytest.approx(
        40 / 1000, abs=1e-4
    )  # CT 40 HU in [-1000, 1000] -> [-1, 1]


def test_a_prediction_inverts_onto_the_input_grid(cfg_data, case):
    transform = inference_transforms(cfg_data)
    data = transform({"pet": case["pet"], "ct": case["ct"]})
    data["pred"] = (
        (data["image"][:1] > np.log1p(5.0) / 3.0) & (data["image"][:1] < np.log1p(10.0) / 3.0)
    ).float()
    back = Invertd(keys="pred", transform=transform, orig_keys="image", nearest_interp=True)(data)["pred"]
    assert tuple(back.shape[1:]) == case["_seg"].shape
    assert np.allclose(back.affine.numpy(), case["_affine"])
    overlap = (back[0].numpy() > 0.5) & (case["_seg"] > 0)
    assert overlap.sum() > 0.5 * case["_seg"].sum()


def test_validation_keeps_the_whole_volume_with_a_binary_label(cfg_data, case):
    data = validation_transforms(cfg_data)({k: case[k] for k in ("pet", "ct", "label")})
    assert data["label"].shape[1:] == data["image"].shape[1:]
    assert set(np.unique(data["label"].numpy())) == {0.0, 1.0}


def _patches(cfg_data, case, pos, hot, neg, centre_shift=0.0, samples=4):
    no_aug = {k: (0.0 if k.endswith("_prob") else v) for k, v in cfg_data["augmentation"].items()}
    sampling = {"pos": pos, "hot": hot, "neg": neg, "hot_suv": 4.0, "per_component": 64}
    cfg = cfg_data | {"sampling": sampling | {"centre_shift": centre_shift}, "samples_per_case": samples}
    transform = training_transforms(cfg | {"augmentation": no_aug | {"flip_axes": []}})
    transform.set_random_state(0)
    return transform({k: case[k] for k in ("pet", "ct", "label")})


def _lesion_centres(patches) -> np.ndarray:
    return np.array([np.argwhere(p["label"][0].numpy() > 0).mean(0) for p in patches])


def test_a_centre_shift_moves_lesions_off_the_patch_centre_but_keeps_them_in_it(cfg_data, case):
    """A window meets a lesion anywhere: with centre_shift the drawn lesion voxel wanders over the patch."""
    fixed = _lesion_centres(_patches(cfg_data, case, pos=1, hot=0, neg=0, samples=12))
    shifted = _patches(cfg_data, case, pos=1, hot=0, neg=0, centre_shift=0.75, samples=12)
    assert all(p["label"].sum() > 0 and tuple(p["image"].shape) == (2, 16, 16, 16) for p in shifted)
    # the lesion (15 x 12 x 12 mm: about 4 x 3 x 3 voxels at 4 mm) is far smaller than the 16-voxel patch, so
    # its centroid can move by the whole shift, +-6 voxels
    assert _lesion_centres(shifted).std(0).mean() > 2 * fixed.std(0).mean() + 1.0


def test_training_patches_hold_a_lesion_when_only_lesion_centres_are_drawn(cfg_data, case):
    patches = _patches(cfg_data, case, pos=1, hot=0, neg=0)
    assert len(patches) == 4
    for p in patches:
        assert tuple(p["image"].shape) == (2, 16, 16, 16) and tuple(p["label"].shape) == (1, 16, 16, 16)
        assert p["label"].sum() > 0 and set(p) == {"image", "label"}


def test_hard_negative_patches_are_centred_on_hot_uptake_outside_lesions(cfg_data, case):
    for p in _patches(cfg_data, case, pos=0, hot=1, neg=0):  # centres move inward near the border
        hot = (p["image"][0] >= np.log1p(4.0) / 3.0) & (p["label"][0] == 0)
        assert hot.sum() >= 8


def test_suv_scaling_is_fixed_and_invertible():
    scale = ScaleSUVd(keys="pet", mode="log1p", divisor=3.0)
    suv = torch.tensor([0.0, 1.0, 4.0, 20.0])
    assert torch.allclose(scale.scale(suv), torch.log1p(suv) / 3.0)
    assert torch.allclose(scale.to_suv(scale.scale(suv)), suv, atol=1e-5)
    assert torch.allclose(scale.scale(torch.tensor([-0.5])), torch.tensor([0.0]))  # negative SUV is noise


def test_uptake_augmentation_multiplies_suv_not_the_scaled_value():
    scale = ScaleSUVd(keys="pet", mode="log1p", divisor=3.0)
    image = torch.stack([scale.scale(torch.full((4, 4, 4), 2.0)), torch.zeros(4, 4, 4)])
    aug = RandSUVd(
        keys="image", scaling=scale, uptake_scale=0.5, uptake_prob=1.0, psf_sigma_vox=(0.5, 1), psf_prob=0.0
    )
    aug.set_random_state(0)
    out = aug({"image": image})["image"]
    factor = float(scale.to_suv(out[0]).mean() / 2.0)
    assert 0.5 <= factor <= 1.5 and factor != pytest.approx(1.0)
    assert torch.allclose(scale.to_suv(out[0]), torch.full((4, 4, 4), 2.0 * factor), atol=1e-4)
    assert torch.equal(out[1], image[1])  # CT untouched


def test_ct_dropout_blanks_only_the_ct_channel():
    image = torch.ones(2, 4, 4, 4)
    out = RandChannelDropoutd(keys="image", channel=1, prob=1.0)({"image": image})["image"]
    assert torch.equal(out[0], image[0]) and not out[1].any()


def _sampling_map(per_component: int) -> np.ndarray:
    """The sampling classes of a 40^3 volume: CT 40 HU except an air slab, SUV 1 except a large (10^3) and a
    small (2^3) lesion, a large (12^3) and a small (2x2x1) hot spot, a one-voxel hot speck, and spill-over
    (SUV 5) on a shell around the large lesion."""
    scale = ScaleSUVd(keys="pet", mode="log1p", divisor=3.0)
    suv = torch.ones(40, 40, 40)
    lesion = torch.zeros(40, 40, 40)
    suv[4:16, 4:16, 4:16] = 5.0  # spill-over shell ...
    lesion[5:15, 5:15, 5:15] = 1  # ... around the large lesion
    lesion[30:32, 4:6, 4:6] = 1
    suv[lesion > 0] = 8.0
    suv[4:16, 22:34, 22:34] = 12.0  # bladder-like
    suv[30:32, 30:32, 30] = 6.0  # joint-like
    suv[20, 5, 30] = 9.0  # noise speck
    ct = torch.full((40, 40, 40), 40 / 1000)
    ct[:, :, 36:] = -1.0  # air
    data = {"image": torch.stack([scale.scale(suv), ct]), "label": lesion[None]}
    transform = HotSpotClassesd(scale, hot_suv=4.0, air_ct=-0.95, per_component=per_component)
    return transform(data)["sampling"][0]


def test_every_lesion_and_hot_spot_offers_at_most_per_component_centres():
    classes = _sampling_map(per_component=16)
    assert (classes[5:15, 5:15, 5:15] == 1).sum() == 16  # 1000 lesion voxels -> 16 centres
    assert (classes[30:32, 4:6, 4:6] == 1).sum() == 8  # a small lesion keeps all of its 8
    assert (classes == 1).sum() == 24
    assert (classes[4:16, 22:34, 22:34] == 2).sum() == 16
    assert (classes[30:32, 30:32, 30] == 2).sum() == 4
    assert (classes == 2).sum() == 20  # no speck, no spill-over around the lesion


def test_air_is_its_own_class_and_never_a_lesion_or_hot_spot_centre():
    classes = _sampling_map(per_component=64)
    assert (classes[:, :, 36:] == 3).all()
    assert (classes[:, :, :36] != 3).all()
    assert classes[20, 5, 30] == 0  # a one-voxel speck is noise, not a hot spot
    assert (classes[4:16, 4:16, 4:16][_lesion_shell()] == 0).all()


def _lesion_shell() -> np.ndarray:
    shell = np.ones((12, 12, 12), bool)
    shell[1:11, 1:11, 1:11] = False
    return shell


def test_the_subset_is_fixed_so_cached_cases_keep_their_centres():
    assert np.array_equal(_sampling_map(per_component=16), _sampling_map(per_component=16))
