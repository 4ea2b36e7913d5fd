"""`fapiseg phantom` and the shifted family."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np

from fapiseg.cli import main
from fapiseg.phantom.cohort import generate_patient, generate_study
from fapiseg.phantom.family import FAPI, SHIFTED


def test_phantom_command_writes_a_cohort(tmp_path, capsys):
    out = tmp_path / "cohort"
    assert (
        main(["phantom", "--out", str(out), "--patients", "1", "--seed", "5", "--course", "SD", "--quiet"])
        == 0
    )
    truth = json.loads((out / "truth.json").read_text())
    assert truth["seed"] == 5 and truth["patients"][0]["course"] == "SD"
    for name in ("SUV", "CTres", "SEG", "ORGANS"):
        assert (out / "p000" / "t0" / f"{name}.nii.gz").exists()
    assert "wrote 1 scans of 1 patients" in capsys.readouterr().out


def test_phantom_command_refuses_an_empty_cohort(tmp_path, capsys):
    assert main(["phantom", "--out", str(tmp_path), "--patients", "0"]) == 1
    assert "at least 1" in capsys.readouterr().err


def test_shifted_family_is_built_differently():
    patient = generate_patient(0, seed=2, family="shifted", course="SD")
    study = generate_study(patient, 0)
    axcodes = nib.aff2axcodes(study.affine)
    assert "".join(axcodes) in SHIFTED.orientations and "".join(axcodes) not in FAPI.orientations
    assert axcodes[0] not in "LR" or axcodes[2] not in "SI"  # axes permuted or flipped away from x y z
    assert tuple(patient.voxel_mm) in {v for v, _ in SHIFTED.scanners}
    assert not {tuple(patient.voxel_mm)} & {v for v, _ in FAPI.scanners}
    assert patient.anatomy.arms in SHIFTED.arm_poses
    for lesion in study.truth.lesions:
        assert 4.0 <= lesion.suv_max <= 6.5
    assert all(les.spikes is not None for les in patient.lesions)
    assert SHIFTED.uptake["bladder"][0] >= FAPI.uptake["bladder"][1]
    assert study.suv.max() > 0 and np.isfinite(study.suv).all()
