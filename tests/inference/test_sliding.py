"""Skipping windows changes nothing where a lesion could be: compared with MONAI's plain sliding window
over the network's logits (softmax after blending)."""

import numpy as np
import pytest
import torch
from monai.data.utils import dense_patch_slices
from monai.inferers import sliding_window_inference
from monai.inferers.utils import _get_scan_interval
from monai.networks.nets import UNet

from fapiseg.inference.sliding import WindowCount, WindowSkip, sliding_window_lesion_probability

ROI, OVERLAP = (16, 16, 16), 0.5
SHAPE = (40, 36, 30)


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    net = UNet(3, 2, 2, channels=(4, 8), strides=(2,), num_res_units=0).eval()

    def margins(x):
        with torch.no_grad():
            logits = net(x)
            return logits[:, 1:2] - logits[:, 0:1]

    margins.net = net
    return margins


def image_with_hot_spots(seed: int = 0) -> torch.Tensor:
    """PET channel: low background with two hot spots; CT channel: body in the middle, air around."""
    rng = np.random.default_rng(seed)
    pet = rng.uniform(0.0, 0.2, SHAPE).astype(np.float32)
    pet[5:8, 4:7, 3:6] = 2.0
    pet[30, 20, 25] = 1.0  # a single voxel exactly at the floor
    ct = np.full(SHAPE, -1.0, np.float32)
    ct[2:38, 2:34, :] = 0.0
    return torch.from_numpy(np.stack([pet, ct]))[None]


def plain(image, predictor):
    """Lesion probability of MONAI's sliding window over the logits, softmax after blending."""
    with torch.no_grad():
        logits = sliding_window_inference(image, ROI, 2, predictor.net, overlap=OVERLAP, mode="gaussian")
    return torch.softmax(logits, dim=1)[:, 1:2]


def test_without_skipping_it_is_monai_sliding_window(predictor):
    image = image_with_hot_spots()
    ours = sliding_window_lesion_probability(image, predictor, ROI, OVERLAP, sw_batch_size=2)
    torch.testing.assert_close(ours, plain(image, predictor), rtol=0, atol=1e-6)


def test_candidate_voxels_get_the_plain_probabilities(predictor):
    image = image_with_hot_spots()
    skip = WindowSkip(pet_floor=1.0, ct_floor=-0.5, ct_channel=1)
    count = WindowCount()
    ours = sliding_window_lesion_probability(image, predictor, ROI, OVERLAP, skip=skip, count=count)
    reference = plain(image, predictor)
    candidates = skip.candidates(image)[0]
    assert candidates.sum() == 28  # the 3x3x3 spot and the single voxel at the floor
    assert count.skipped > 0 and count.run > 0
    # identical up to float rounding (the network sees batches of another size when windows are skipped)
    torch.testing.assert_close(ours[0, 0][candidates], reference[0, 0][candidates], rtol=0, atol=1e-6)


def test_voxels_in_a_skipped_window_have_zero_probability_and_the_rest_do_not(predictor):
    image = image_with_hot_spots()
    skip = WindowSkip(pet_floor=1.0)
    ours = sliding_window_lesion_probability(image, predictor, ROI, OVERLAP, skip=skip)[0, 0]
    interval = _get_scan_interval(SHAPE, ROI, 3, (OVERLAP,) * 3)
    in_skipped = torch.zeros(SHAPE, dtype=torch.bool)
    for window in dense_patch_slices(SHAPE, ROI, interval):
        if not skip.keep(image[(slice(None), slice(None), *window)]):
            in_skipped[window] = True
    assert 0 < in_skipped.float().mean() < 1
    assert torch.all(ours[in_skipped] == 0)
    assert torch.all(ours[~in_skipped] > 0)
    assert not torch.isnan(ours).any()


def test_a_window_below_the_floor_everywhere_is_skipped_and_one_at_the_floor_is_kept():
    windows = torch.zeros(3, 2, *ROI)
    windows[1, 0, 3, 3, 3] = 1.0  # at the floor
    windows[2, 0, 3, 3, 3] = 0.999
    assert WindowSkip(pet_floor=1.0).keep(windows).tolist() == [False, True, False]
    # the same hot voxel in air (CT below its floor) is no candidate
    windows[1, 1] = -1.0
    assert WindowSkip(pet_floor=1.0, ct_floor=-0.9, ct_channel=1).keep(windows).tolist() == [False] * 3


def test_skipping_everything_gives_zero_probability(predictor):
    image = torch.zeros(1, 2, *SHAPE)
    count = WindowCount()
    out = sliding_window_lesion_probability(
        image, predictor, ROI, OVERLAP, skip=WindowSkip(pet_floor=1.0), count=count
    )
    assert count.run == 0 and count.total > 1
    assert out.shape == (1, 1, *SHAPE) and torch.all(out == 0)


def test_an_image_smaller_than_the_window_is_padded_as_monai_pads_it(predictor):
    image = image_with_hot_spots()[..., :12]  # 12 slices, the window has 16
    skip = WindowSkip(pet_floor=1.0)
    ours = sliding_window_lesion_probability(image, predictor, ROI, OVERLAP, skip=skip)
    candidates = skip.candidates(image)[0]
    reference = plain(image, predictor)
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours[0, 0][candidates], reference[0, 0][candidates], rtol=0, atol=1e-6)
