"""NIfTI I/O keeps the affine, reports unreadable files in one line, and never leaves partial files."""

import gzip
import os
import stat

import numpy as np
import pytest

from fapiseg.errors import CaseError
from fapiseg.io.nifti import atomic_path, load_volume, save_volume


def test_round_trip_keeps_array_and_affine(tmp_path, aniso_affine):
    arr = np.random.default_rng(1).normal(size=(7, 6, 5)).astype(np.float32)
    save_volume(tmp_path / "x.nii.gz", arr, aniso_affine)
    vol = load_volume(tmp_path / "x.nii.gz")
    assert np.array_equal(vol.array, arr)
    assert np.allclose(vol.affine, aniso_affine, atol=1e-5)
    assert np.allclose(vol.spacing_mm, [2.5, 2.0, 3.0])


def test_missing_empty_and_truncated_files_name_the_case(tmp_path, aniso_affine):
    with pytest.raises(CaseError, match=r"p1/t0: SUV.nii.gz is missing"):
        load_volume(tmp_path / "SUV.nii.gz", "p1/t0")
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    with pytest.raises(CaseError, match="empty file"):
        load_volume(tmp_path / "empty.nii.gz", "p1/t0")
    save_volume(tmp_path / "full.nii.gz", np.ones((30, 30, 30), np.float32), aniso_affine)
    data = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CaseError, match=r"p1/t0: cut.nii.gz cannot be read .*truncated") as err:
        load_volume(tmp_path / "cut.nii.gz", "p1/t0")
    assert "\n" not in str(err.value)


def test_not_gzip_is_reported(tmp_path):
    (tmp_path / "bad.nii.gz").write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    with pytest.raises(CaseError, match="cannot be read"):
        load_volume(tmp_path / "bad.nii.gz", "p/s")


def test_two_dimensional_image_is_refused(tmp_path, aniso_affine):
    save_volume(tmp_path / "flat.nii.gz", np.ones((10, 10), np.float32), aniso_affine)
    with pytest.raises(CaseError, match=r"shape \(10, 10\); a 3-D volume is required"):
        load_volume(tmp_path / "flat.nii.gz", "p/s")


def test_single_slice_volume_is_refused(tmp_path, aniso_affine):
    save_volume(tmp_path / "slice.nii.gz", np.ones((10, 10, 1), np.float32), aniso_affine)
    with pytest.raises(CaseError, match="at least 2 voxels"):
        load_volume(tmp_path / "slice.nii.gz", "p/s")


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with atomic_path(target) as tmp:
        tmp.write_text("first")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash while writing")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["table.csv"]


def test_atomic_write_gives_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o644
