"""MIPs in world orientation: head up, patient's right on the image's left, anterior left, true aspect."""

import numpy as np
import pytest
from nibabel.orientations import apply_orientation, inv_ornt_aff

from fapiseg.reports import Outline, figure_to_base64_png, figure_to_png, mip_figure, mip_image

# RAS+ storage: array axes 0, 1, 2 grow towards the patient's right, anterior and superior (NIfTI world).
RAS_AFFINE = np.diag([2.0, 3.0, 4.0, 1.0])
SHAPE = (30, 20, 40)


def ras_volume() -> np.ndarray:
    """A bright block near the patient's right (+x), anterior (+y), superior (+z) corner."""
    vol = np.zeros(SHAPE, np.float32)
    vol[24:28, 14:18, 32:36] = 5.0
    return vol


def stored(volume: np.ndarray, affine: np.ndarray, ornt) -> tuple[np.ndarray, np.ndarray]:
    """The same world image stored with axes permuted/flipped by ``ornt`` (nibabel orientation)."""
    ornt = np.asarray(ornt, float)
    return apply_orientation(volume, ornt), affine @ inv_ornt_aff(ornt, volume.shape)


STORAGES = {
    "ras": [[0, 1], [1, 1], [2, 1]],
    "lps": [[0, -1], [1, -1], [2, 1]],
    "permuted_flipped": [[2, -1], [0, 1], [1, -1]],
    "slices_first": [[1, 1], [2, -1], [0, 1]],
}


@pytest.mark.parametrize("storage", STORAGES)
def test_coronal_shows_head_up_and_patient_right_on_image_left(storage):
    pet, affine = stored(ras_volume(), RAS_AFFINE, STORAGES[storage])
    image = mip_image(pet, affine, "coronal")
    rows, cols = np.nonzero(image.pixels)
    assert image.pixels.shape == (SHAPE[2], SHAPE[0])  # z rows, x columns
    assert rows.max() < SHAPE[2] / 4  # superior block near the top
    assert cols.max() < SHAPE[0] / 4  # patient's right (+x) on the image's left


@pytest.mark.parametrize("storage", STORAGES)
def test_sagittal_shows_anterior_on_image_left(storage):
    pet, affine = stored(ras_volume(), RAS_AFFINE, STORAGES[storage])
    image = mip_image(pet, affine, "sagittal")
    rows, cols = np.nonzero(image.pixels)
    assert image.pixels.shape == (SHAPE[2], SHAPE[1])
    assert rows.max() < SHAPE[2] / 4 and cols.max() < SHAPE[1] / 3


@pytest.mark.parametrize("storage", STORAGES)
def test_storage_order_does_not_change_the_picture_or_its_size_in_mm(storage):
    reference = {v: mip_image(ras_volume(), RAS_AFFINE, v) for v in ("coronal", "sagittal")}
    pet, affine = stored(ras_volume(), RAS_AFFINE, STORAGES[storage])
    for view, ref in reference.items():
        image = mip_image(pet, affine, view)
        np.testing.assert_array_equal(image.pixels, ref.pixels)
        assert image.extent == ref.extent
    # width in mm: x is 30 voxels of 2 mm; height: z is 40 of 4 mm; sagittal width: y is 20 of 3 mm
    assert reference["coronal"].extent == (0.0, 60.0, 160.0, 0.0)
    assert reference["sagittal"].extent == (0.0, 60.0, 160.0, 0.0)


def test_a_mip_is_the_maximum_along_the_projection():
    rng = np.random.default_rng(1)
    vol = rng.random(SHAPE).astype(np.float32)
    image = mip_image(vol, RAS_AFFINE, "coronal")
    np.testing.assert_array_equal(image.pixels, vol.max(axis=1)[::-1, ::-1].T)


def test_figure_has_one_outline_per_mask_and_panels_in_true_proportion():
    pet = ras_volume() + 0.5
    reference = pet > 1
    prediction = np.roll(reference, 2, axis=2)
    empty = np.zeros_like(reference)
    fig = mip_figure(
        pet,
        RAS_AFFINE,
        [
            Outline(reference, "reference", "tab:green"),
            Outline(prediction, "prediction", "tab:red"),
            Outline(empty, "nothing", "tab:blue"),
        ],
        title="p1/t0",
    )
    coronal, sagittal = fig.axes[:2]
    # two drawn masks on each of the two views; the empty mask draws nothing
    contour_sets = [c for ax in (coronal, sagittal) for c in ax.collections]
    assert len(contour_sets) == 4
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:3] == ["reference", "prediction", "nothing"]
    png = figure_to_png(fig)
    assert png[:4] == b"\x89PNG"
    assert figure_to_base64_png(fig).startswith("data:image/png;base64,iVBOR")


def test_outline_on_another_grid_is_refused():
    with pytest.raises(ValueError, match="shape"):
        mip_figure(ras_volume(), RAS_AFFINE, [Outline(np.zeros((3, 3, 3), bool), "bad")])


@pytest.mark.parametrize("storage", STORAGES)
def test_a_world_point_is_marked_where_its_voxel_is_drawn(storage):
    from fapiseg.io.geometry import voxel_to_world
    from fapiseg.reports import display_position

    pet, affine = stored(ras_volume(), RAS_AFFINE, STORAGES[storage])
    centre = voxel_to_world(RAS_AFFINE, np.array([25.5, 15.5, 33.5]))  # the block's centre, RAS storage
    for view in ("coronal", "sagittal"):
        image = mip_image(pet, affine, view)
        rows, cols = np.nonzero(image.pixels)
        h, v = display_position(affine, pet.shape, view, centre)
        assert h == pytest.approx((cols.mean() + 0.5) * image.col_mm)
        assert v == pytest.approx((rows.mean() + 0.5) * image.row_mm)
