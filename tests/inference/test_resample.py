"""A map on the model grid lands on the right world voxels of any input grid (spacing, flips, axis order)."""

import numpy as np
import pytest

from fapiseg.inference.resample import to_input_grid
from fapiseg.io.geometry import voxel_to_world

# Model grid: RAS, 2 mm isotropic, 40^3 voxels from (-40, -40, -40) mm.
MODEL_AFFINE = np.array([[2.0, 0, 0, -40], [0, 2.0, 0, -40], [0, 0, 2.0, -40], [0, 0, 0, 1]])
MODEL_SHAPE = (40, 40, 40)

INPUT_GRIDS = {
    "anisotropic_lps": (
        np.array([[-2.5, 0, 0, 30.0], [0, -3.0, 0, 30.0], [0, 0, 4.0, -30.0], [0, 0, 0, 1]]),
        (25, 20, 16),
    ),
    "permuted_flipped": (
        np.array([[0, 0, -1.5, 30.0], [3.0, 0, 0, -30.0], [0, -2.0, 0, 30.0], [0, 0, 0, 1]]),
        (20, 30, 40),
    ),
    "fine": (
        np.diag([0.8, 0.8, 0.8, 1.0]) + np.array([[0, 0, 0, -20], [0, 0, 0, -20], [0, 0, 0, -20], [0] * 4]),
        (50, 50, 50),
    ),
}


def world_of(shape, affine):
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return voxel_to_world(affine, ijk)


@pytest.mark.parametrize("grid", INPUT_GRIDS)
def test_a_linear_field_is_reproduced_exactly(grid):
    """Trilinear interpolation of a linear function of world position is exact: analytic truth."""
    affine, shape = INPUT_GRIDS[grid]
    model_world = world_of(MODEL_SHAPE, MODEL_AFFINE)
    field = lambda w: 0.3 * w[..., 0] - 0.2 * w[..., 1] + 0.1 * w[..., 2] + 5.0
    out = to_input_grid(field(model_world), MODEL_AFFINE, shape, affine)
    assert out.shape == shape and out.dtype == np.float32
    np.testing.assert_allclose(out, field(world_of(shape, affine)), atol=1e-4)


@pytest.mark.parametrize("grid", INPUT_GRIDS)
def test_a_box_predicted_at_model_spacing_covers_the_same_world_box(grid):
    affine, shape = INPUT_GRIDS[grid]
    box_lo, box_hi = np.array([-11.0, 3.0, -7.0]), np.array([9.0, 21.0, 15.0])  # on model voxel edges
    inside = lambda w: np.all((w > box_lo) & (w < box_hi), axis=-1)
    mask = inside(world_of(MODEL_SHAPE, MODEL_AFFINE)).astype(np.float32)
    out = to_input_grid(mask, MODEL_AFFINE, shape, affine) > 0.5
    world = world_of(shape, affine)
    clear_inside = np.all((world > box_lo + 2) & (world < box_hi - 2), axis=-1)
    clear_outside = ~np.all((world > box_lo - 2) & (world < box_hi + 2), axis=-1)
    assert clear_inside.any() and clear_outside.any()
    assert out[clear_inside].all() and not out[clear_outside].any()
    # and the volume in mL agrees with the world box to within one input voxel layer
    voxel_ml = abs(np.linalg.det(affine[:3, :3])) / 1000
    assert out.sum() * voxel_ml == pytest.approx(np.prod(box_hi - box_lo) / 1000, rel=0.25)


def test_nearest_keeps_labels_integral():
    labels = np.zeros(MODEL_SHAPE, np.float32)
    labels[10:20, 10:20, 10:20] = 3
    affine, shape = INPUT_GRIDS["permuted_flipped"]
    out = to_input_grid(labels, MODEL_AFFINE, shape, affine, order=0)
    assert set(np.unique(out)) <= {0.0, 3.0}


@pytest.mark.parametrize("grid", INPUT_GRIDS)
def test_axis_aligned_grids_take_the_separable_path_with_scipys_values(grid, monkeypatch):
    from scipy import ndimage

    import fapiseg.inference.resample as resample

    affine, shape = INPUT_GRIDS[grid]
    values = np.random.default_rng(1).random(MODEL_SHAPE).astype(np.float32)
    to_model = np.linalg.inv(MODEL_AFFINE) @ affine
    expected = ndimage.affine_transform(
        values, to_model[:3, :3], offset=to_model[:3, 3], output_shape=shape, order=1, mode="nearest",
        prefilter=False,
    )
    monkeypatch.setattr(resample.ndimage, "affine_transform", None)  # must not be needed
    out = to_input_grid(values, MODEL_AFFINE, shape, affine)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-6)


def test_an_oblique_grid_is_resampled_by_scipy():
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = 2.0 * rotation
    affine[:3, 3] = -30.0
    values = np.random.default_rng(2).random(MODEL_SHAPE).astype(np.float32)
    to_model = np.linalg.inv(MODEL_AFFINE) @ affine
    from scipy import ndimage

    expected = ndimage.affine_transform(
        values, to_model[:3, :3], offset=to_model[:3, 3], output_shape=(30, 30, 30), order=1,
        mode="nearest", prefilter=False,
    )
    np.testing.assert_array_equal(to_input_grid(values, MODEL_AFFINE, (30, 30, 30), affine), expected)
