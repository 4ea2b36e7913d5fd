"""The DataModule: patient-level folds, derived spacing, skipped bad cases, cached datasets."""

from __future__ import annotations

import logging

import pytest
from hydra.utils import instantiate

from tests.cohort import write_cohort
from tests.training.runs import compose_cfg


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = write_cohort(tmp_path_factory.mktemp("cohort"), patients=5, spacing=(4.0, 3.0, 5.0))
    # a second study of p00 that must follow its patient into the same fold
    (root / "p00" / "t1").mkdir()
    for name in ("SUV", "CTres", "SEG"):
        (root / "p00" / "t1" / f"{name}.nii.gz").write_bytes(
            (root / "p00" / "t0" / f"{name}.nii.gz").read_bytes()
        )
    return root


def _datamodule(root, *overrides):
    cfg = compose_cfg([f"data.root={root}", "data.patch_size=[16,16,16]", "data.num_workers=0", *overrides])
    return instantiate(cfg.data)


def test_folds_are_patient_level_and_the_spacing_is_derived_from_the_training_cases(cohort):
    dm = _datamodule(cohort)
    train, val = {c.patient for c in dm.train_cases}, {c.patient for c in dm.val_cases}
    assert not train & val and len(train | val) == 5
    assert len([c for c in dm.train_cases + dm.val_cases if c.patient == "p00"]) == 2
    assert dm.spacing_mm == (4.0, 3.0, 5.0)
    assert dm.counts()["n_train_patients"] == 4


def test_an_invalid_case_is_skipped_by_name(cohort, tmp_path, caplog):
    root = write_cohort(tmp_path, patients=5)
    (root / "p03" / "t0" / "CTres.nii.gz").write_bytes(b"")  # truncated CT
    dm = _datamodule(root, "data.n_folds=2", "data.spacing_mm=[4,4,4]")
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert dm.skipped == ["p03/t0"] and "p03/t0" in caplog.text
    assert len(dm.train_ds) + len(dm.val_ds) == 4


def test_cases_checked_on_two_threads_keep_their_order_and_skip_the_bad_ones(tmp_path, caplog):
    root = write_cohort(tmp_path, patients=6)
    for bad in ("p01", "p04"):
        (root / bad / "t0" / "SUV.nii.gz").write_bytes(b"\x1f\x8b")  # a gzip header and nothing else
    dm = _datamodule(root, "data.n_folds=2", "data.spacing_mm=[4,4,4]", "data.num_workers=2")
    with caplog.at_level(logging.WARNING):
        items = dm._usable(dm.train_cases + dm.val_cases)
    names = [c.name for c in dm.train_cases + dm.val_cases if c.patient not in ("p01", "p04")]
    assert [item["pet"].split("/")[-3] + "/t0" for item in items] == names
    assert sorted(dm.skipped) == ["p01/t0", "p04/t0"]
    assert "p01/t0" in caplog.text and "p04/t0" in caplog.text


def test_training_batches_are_patches_and_validation_batches_whole_volumes(cohort):
    dm = _datamodule(
        cohort, "data.iterations_per_epoch=3", "data.samples_per_case=2", "data.spacing_mm=[4,4,4]"
    )
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert len(loader) == 3
    batch = next(iter(loader))
    assert tuple(batch["image"].shape) == (2, 2, 16, 16, 16)
    val = next(iter(dm.val_dataloader()))
    assert val["image"].shape[0] == 1 and val["image"].shape[2:] == val["label"].shape[2:]
    assert val["image"].shape[2] > 16
