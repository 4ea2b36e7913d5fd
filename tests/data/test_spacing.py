"""nnU-Net's target spacing, read from headers along the RAS axes."""

from __future__ import annotations

import numpy as np
import pytest

from fapiseg.data.spacing import ras_spacing_mm, target_spacing_mm
from tests.conftest import write_nifti


def test_spacing_follows_the_world_axes_when_array_axes_are_permuted():
    # array axis 0 runs along world z (3 mm), axis 1 along x (2 mm), axis 2 along y (4 mm, flipped)
    affine = np.array([[0, 2.0, 0, 0], [0, 0, -4.0, 0], [3.0, 0, 0, 0], [0, 0, 0, 1]])
    assert ras_spacing_mm(affine) == pytest.approx([2.0, 4.0, 3.0])


def _images(tmp_path, spacings):
    return [
        write_nifti(tmp_path / f"{i}.nii.gz", np.zeros((4, 4, 4), np.float32), np.diag([*s, 1.0]))
        for i, s in enumerate(spacings)
    ]


def test_target_spacing_is_the_median_per_axis(tmp_path):
    paths = _images(tmp_path, [(2, 2, 3), (4, 4, 3), (4, 4, 5)])
    assert target_spacing_mm(paths) == (4.0, 4.0, 3.0)


def test_a_strongly_anisotropic_axis_takes_the_tenth_percentile(tmp_path):
    paths = _images(tmp_path, [(1, 1, 4), (1, 1, 5), (1, 1, 6), (1, 1, 8)])
    assert target_spacing_mm(paths) == pytest.approx(
        (1.0, 1.0, float(np.percentile([4, 5, 6, 8], 10))), abs=0.01
    )
