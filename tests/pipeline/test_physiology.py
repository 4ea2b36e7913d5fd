"""Predicted lesions on physiological FAPI uptake, counted against the phantom's organ labels."""

import json

import numpy as np

from fapiseg.pipeline.physiology import case_calls, count_physiological_calls
from tests.conftest import write_nifti

LEGEND = {"4": "muscle", "11": "kidney", "13": "bladder"}
WANTED = {11: "kidney", 13: "bladder"}


def scene():
    organs = np.full((30, 30, 30), 4, np.int16)
    organs[2:10, 2:10, 2:10] = 13  # bladder
    organs[15:25, 2:10, 2:10] = 11  # kidney
    ref = np.zeros(organs.shape, bool)
    ref[18:20, 4:6, 4:6] = True  # a true lesion inside the kidney
    pred = np.zeros(organs.shape, bool)
    pred[4:6, 4:6, 4:6] = True  # on the bladder: a call on physiological uptake
    pred[18:21, 4:6, 4:6] = True  # on the true kidney lesion: not counted
    pred[15:17, 10:12, 4:6] = True  # one voxel off the kidney's edge: counted (PET blurs past the organ)
    pred[22:24, 22:24, 22:24] = True  # in muscle: an ordinary false positive, not counted
    return organs, pred, ref


def test_calls_on_hot_organs_and_on_no_true_lesion_are_counted():
    organs, pred, ref = scene()
    assert sorted(case_calls(organs, pred, ref, WANTED)) == ["bladder", "kidney"]


def test_a_cohort_is_counted_from_its_files(tmp_path):
    organs, pred, ref = scene()
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    study = tmp_path / "data" / "p000" / "t0"
    write_nifti(study / "SUV.nii.gz", np.ones(organs.shape, np.float32), affine)
    write_nifti(study / "CTres.nii.gz", np.zeros(organs.shape, np.float32), affine)
    write_nifti(study / "SEG.nii.gz", ref.astype(np.uint8), affine)
    write_nifti(study / "ORGANS.nii.gz", organs.astype(np.uint8), affine)
    write_nifti(tmp_path / "pred" / "p000" / "t0" / "PRED.nii.gz", pred.astype(np.uint8), affine)
    (tmp_path / "data" / "truth.json").write_text(json.dumps({"organ_labels": LEGEND}))
    calls = count_physiological_calls(tmp_path / "data", tmp_path / "pred")
    assert calls.total == 2 and calls.n_scans == 1
    assert calls.describe() == "2 in 1 scans (bladder 1, kidney 1)"
