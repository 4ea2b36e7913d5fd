"""`fapiseg lesions` end to end: the CSV, its TBR reference options, one-line errors."""

import numpy as np
import pandas as pd
import pytest

from fapiseg.cli import main
from fapiseg.metrics import LESION_COLUMNS
from tests.conftest import write_nifti
from tests.metrics.synthetic import thorax_phantom


def _lesions(folder, mask="MASK.nii.gz", out="lesions.csv", *options) -> int:
    """Run ``fapiseg lesions`` on ``folder/SUV.nii.gz`` and a mask in ``folder``."""
    paths = ["--pet", folder / "SUV.nii.gz", "--mask", folder / mask, "--out", folder / out]
    return main(["lesions", *map(str, paths), *map(str, options)])


def _two_boxes(folder, affine, ct=True):
    """The contract's case: a 4x4x4 box at SUV 6 and a 2x2x2 box at SUV 9 on background 1."""
    suv = np.full((40, 36, 30), 1.0, np.float32)
    mask = np.zeros(suv.shape, np.uint8)
    mask[5:9, 5:9, 5:9] = 1
    suv[5:9, 5:9, 5:9] = 6.0
    mask[25:27, 20:22, 20:22] = 1
    suv[25:27, 20:22, 20:22] = 9.0
    write_nifti(folder / "SUV.nii.gz", suv, affine)
    write_nifti(folder / "MASK.nii.gz", mask, affine)
    if ct:
        write_nifti(folder / "CTres.nii.gz", np.full(suv.shape, 40.0, np.float32), affine)


def test_lesions_csv_has_the_contract_columns_in_volume_order(tmp_path, aniso_affine, capsys):
    _two_boxes(tmp_path, aniso_affine)
    assert _lesions(tmp_path, "MASK.nii.gz", "out/lesions.csv") == 0
    table = pd.read_csv(tmp_path / "out/lesions.csv")
    assert list(table.columns[: len(LESION_COLUMNS)]) == LESION_COLUMNS
    assert table["lesion_id"].tolist() == [1, 2]
    assert table["volume_ml"].tolist() == [64 * 0.015, 8 * 0.015]
    assert table["tbr"].isna().all()  # a uniform CT has no aorta or liver
    assert "2 lesions" in capsys.readouterr().out
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["lesions.csv"]  # no temporary file left


def test_reference_suv_and_mask_options(tmp_path, aniso_affine):
    _two_boxes(tmp_path, aniso_affine, ct=False)
    assert _lesions(tmp_path, "MASK.nii.gz", "lesions.csv", "--reference-suv", 2) == 0
    assert pd.read_csv(tmp_path / "lesions.csv")["tbr"].tolist() == [3.0, 4.5]
    reference = np.zeros((40, 36, 30), np.uint8)
    reference[30:35, 2:6, 2:6] = 1
    write_nifti(tmp_path / "REF.nii.gz", reference, aniso_affine)
    assert _lesions(tmp_path, "MASK.nii.gz", "lesions.csv", "--reference-mask", tmp_path / "REF.nii.gz") == 0
    table = pd.read_csv(tmp_path / "lesions.csv")
    assert table["tbr"].tolist() == [6.0, 9.0] and table["tbr_reference"].tolist() == ["mask", "mask"]


def test_mask_on_another_grid_is_a_one_line_error(tmp_path, aniso_affine, capsys):
    _two_boxes(tmp_path, aniso_affine)
    write_nifti(tmp_path / "SMALL.nii.gz", np.zeros((10, 10, 10), np.uint8), aniso_affine)
    assert _lesions(tmp_path, "SMALL.nii.gz", "x.csv") == 1
    err = capsys.readouterr().err.strip()
    assert "not on the PET grid" in err and "\n" not in err
    assert not (tmp_path / "x.csv").exists()


def test_ct_beside_the_pet_gives_the_automatic_aorta_reference(tmp_path, capsys):
    ct, pet, affine, truth = thorax_phantom()
    mask = np.zeros(pet.shape, np.uint8)
    mask[60:63, 40:43, 50:53] = 1
    pet[mask > 0] = 7.2
    write_nifti(tmp_path / "SUV.nii.gz", pet, affine)
    write_nifti(tmp_path / "CTres.nii.gz", ct, affine)
    write_nifti(tmp_path / "MASK.nii.gz", mask, affine)
    assert _lesions(tmp_path) == 0
    row = pd.read_csv(tmp_path / "lesions.csv").iloc[0]
    assert row["tbr_reference"] == "aorta" and row["tbr"] == pytest.approx(7.2 / truth["aorta_suv"], rel=1e-6)
    assert "TBR against aorta" in capsys.readouterr().out
