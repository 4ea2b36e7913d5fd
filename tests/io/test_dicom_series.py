"""Series discovery, geometric slice sorting and the RAS affine, checked against SimpleITK's own reading."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from fapiseg.errors import FapisegError
from fapiseg.io.dicom.series import read_series, scan_folder
from tests.io.dicom_builders import build_slices, random_spec, write_series


def sitk_read(folder) -> tuple[np.ndarray, np.ndarray]:
    """SimpleITK's array (x, y, z) and its LPS geometry turned into a RAS affine here, independently."""
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    direction = np.array(image.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.array(image.GetSpacing())[None, :]
    lps[:3, 3] = image.GetOrigin()
    return sitk.GetArrayFromImage(image).transpose(2, 1, 0), np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def assert_same_voxels(array, affine, other_array, other_affine, tol_voxel=0.01):
    """Every voxel centre of ours falls on a voxel centre of the other image (to ``tol_voxel``) with the same value.

    Our voxel indices map to theirs through ``inv(other_affine) @ affine``; that map must be a signed axis
    permutation plus a shift. Its departure from integers is affine in the index, so the eight corners bound it.
    """
    to_other = np.linalg.inv(other_affine) @ affine
    corners = np.array(np.meshgrid(*[[0, n - 1] for n in array.shape], indexing="ij")).reshape(3, -1).T
    theirs = corners @ to_other[:3, :3].T + to_other[:3, 3]
    assert np.abs(theirs - np.rint(theirs)).max() < tol_voxel
    step = np.rint(to_other[:3, :3]).astype(int)
    assert sorted(np.abs(step).sum(axis=0)) == [1, 1, 1] and sorted(np.abs(step).sum(axis=1)) == [1, 1, 1]
    axis_of = np.abs(step).argmax(axis=0)  # their axis along which our axis a runs
    index = [
        step[axis_of[a], a] * np.arange(n) + int(np.rint(to_other[axis_of[a], 3]))
        for a, n in enumerate(array.shape)
    ]
    assert all(((i >= 0) & (i < other_array.shape[axis_of[a]])).all() for a, i in enumerate(index))
    aligned = np.transpose(other_array, axis_of)[np.ix_(*index)]
    np.testing.assert_allclose(array, aligned, rtol=1e-5, atol=1e-3)


ROTATION = np.array(
    [
        [np.cos(0.4), -np.sin(0.4), 0],
        [np.sin(0.4) * np.cos(0.3), np.cos(0.4) * np.cos(0.3), -np.sin(0.3)],
        [np.sin(0.4) * np.sin(0.3), np.cos(0.4) * np.sin(0.3), np.cos(0.3)],
    ]
)


@pytest.mark.parametrize(
    "geometry",
    [
        {},
        {"reverse_instance_numbers": True},
        {"row_cosine": (-1.0, 0.0, 0.0), "column_cosine": (0.0, 1.0, 0.0)},  # normal points feet-ward
        {"row_cosine": tuple(ROTATION[:, 0]), "column_cosine": tuple(ROTATION[:, 1])},  # oblique
    ],
    ids=["axial", "reversed-instance-numbers", "flipped-axes", "oblique"],
)
def test_geometry_matches_simpleitk(tmp_path, geometry):
    """Affine and voxel values agree with SimpleITK's reading of the same files within 0.01 voxel."""
    spec = random_spec(**geometry)
    write_series(spec, tmp_path / "pet")
    series = read_series(tmp_path / "pet", ("PT",))
    np.testing.assert_allclose(series.affine, spec.ras_affine(), atol=1e-4)
    theirs, their_affine = sitk_read(tmp_path / "pet")
    assert_same_voxels(series.rescaled(), series.affine, theirs.astype(np.float64), their_affine)


def test_array_axes_are_column_row_slice(tmp_path):
    """array[i, j, k] is column i, row j of the k-th slice along the normal, whatever InstanceNumber says."""
    spec = random_spec(reverse_instance_numbers=True)
    write_series(spec, tmp_path / "pet")
    series = read_series(tmp_path / "pet", ("PT",))
    top = max(series.datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))
    assert top is series.datasets[-1] and int(top.InstanceNumber) == 1
    assert series.rescaled()[5, 2, -1] == pytest.approx(
        float(top.pixel_array[2, 5]) * float(top.RescaleSlope)
    )


def test_non_dicom_files_and_subfolders(tmp_path):
    """The scan is recursive and skips files that are not DICOM."""
    spec = random_spec()
    write_series(spec, tmp_path / "pet" / "deep" / "er")
    (tmp_path / "pet" / "README.txt").write_text("not dicom")
    (tmp_path / "pet" / "blob.bin").write_bytes(bytes(range(256)) * 4)
    assert read_series(tmp_path / "pet", ("PT",)).shape == (16, 12, 10)


def test_several_series_need_a_choice(tmp_path):
    """Two PET series in one folder: a one-line error listing both; --series-uid picks one."""
    a, b = random_spec(seed=1), random_spec(seed=2, shape=(16, 12, 7))
    write_series(a, tmp_path / "mixed" / "a")
    write_series(b, tmp_path / "mixed" / "b")
    with pytest.raises(FapisegError) as e:
        read_series(tmp_path / "mixed", ("PT",))
    message = str(e.value)
    assert "\n" not in message and a.series_uid in message and b.series_uid in message
    assert "10 files" in message and "7 files" in message and "--series-uid" in message
    assert read_series(tmp_path / "mixed", ("PT",), series_uid=b.series_uid).shape == (16, 12, 7)
    assert {s.modality for s in scan_folder(tmp_path / "mixed")} == {"PT"}


def test_missing_slice_is_refused(tmp_path):
    """A gap in the stack is named, not silently stretched over."""
    spec = random_spec()
    folder = tmp_path / "pet"
    folder.mkdir()
    for k, ds in enumerate(build_slices(spec)):
        if k != 4:
            ds.save_as(folder / f"{k}.dcm", enforce_file_format=True)
    with pytest.raises(FapisegError, match="slice spacing is not uniform"):
        read_series(folder, ("PT",))


def test_duplicate_slice_is_refused(tmp_path):
    """Two slices at one position (a copied file under a new UID) are named."""
    spec = random_spec()
    folder = write_series(spec, tmp_path / "pet")
    copy = pydicom.dcmread(next(folder.glob("*.dcm")))
    copy.SOPInstanceUID = pydicom.uid.generate_uid()
    copy.save_as(folder / "copy.dcm")
    with pytest.raises(FapisegError, match="duplicate slice position"):
        read_series(folder, ("PT",))


def test_no_pet_series(tmp_path):
    """A folder without PET says what it found instead."""
    with pytest.raises(FapisegError, match="no PT series"):
        read_series(tmp_path, ("PT",))
