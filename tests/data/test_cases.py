"""Case discovery finds both layouts and names each case ``<patient>/<study>``."""

import json

import numpy as np
import pytest

from fapiseg.data.cases import case_dir, find_cases
from fapiseg.errors import FapisegError
from tests.conftest import write_nifti


def test_contract_layout_sorted_by_patient_then_study(make_study):
    root = make_study("p2", "t1")
    make_study("p2", "t0", root=root)
    make_study("p1", "t0", seg=False, root=root)
    cases = find_cases(root)
    assert [c.name for c in cases] == ["p1/t0", "p2/t0", "p2/t1"]
    assert cases[0].seg is None and cases[1].seg is not None
    assert case_dir("/out", cases[2]).as_posix() == "/out/p2/t1"


def test_study_with_only_ct_is_still_listed_for_validation(make_study):
    root = make_study()
    (root / "p1" / "t0" / "SUV.nii.gz").unlink()
    assert [c.name for c in find_cases(root)] == ["p1/t0"]


def test_nnunet_dataset_json_layout(tmp_path, aniso_affine):
    root = tmp_path / "Dataset221_autoPET"
    meta = {"channel_names": {"0": "CT", "1": "PET"}, "labels": {"background": 0, "tumor": 1}, "file_ending": ".nii.gz"}
    (root).mkdir()
    (root / "dataset.json").write_text(json.dumps(meta))
    for cid in ("PETCT_b", "PETCT_a"):
        write_nifti(root / "imagesTr" / f"{cid}_0000.nii.gz", np.zeros((4, 4, 4)), aniso_affine)
        write_nifti(root / "imagesTr" / f"{cid}_0001.nii.gz", np.ones((4, 4, 4)), aniso_affine)
    write_nifti(root / "labelsTr" / "PETCT_a.nii.gz", np.zeros((4, 4, 4), np.uint8), aniso_affine)
    cases = find_cases(root)
    assert [c.name for c in cases] == ["PETCT_a/scan", "PETCT_b/scan"]
    assert cases[0].pet.name == "PETCT_a_0001.nii.gz" and cases[0].ct.name == "PETCT_a_0000.nii.gz"
    assert cases[0].seg is not None and cases[1].seg is None


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(FapisegError, match="not a folder"):
        find_cases(tmp_path / "nowhere")
