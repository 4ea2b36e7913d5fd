"""Folds are by patient, deterministic by seed, and cover every patient once."""

from pathlib import Path

import pytest

from fapiseg.data.cases import Case
from fapiseg.data.splits import patient_folds, split_cases


def _cases(n_patients: int, n_studies: int) -> list[Case]:
    return [Case(f"p{p:02d}", f"t{s}", Path("x"), Path("y")) for p in range(n_patients) for s in range(n_studies)]


def test_folds_partition_patients_and_are_seeded():
    patients = [f"p{i}" for i in range(11)]
    folds = patient_folds(patients, 5, seed=3)
    assert sorted(sum(folds, [])) == sorted(patients)
    assert sorted(len(f) for f in folds) == [2, 2, 2, 2, 3]
    assert folds == patient_folds(list(reversed(patients)), 5, seed=3)
    assert folds != patient_folds(patients, 5, seed=4)


def test_a_patient_never_sits_in_two_sides():
    cases = _cases(8, 3)
    for fold in range(4):
        train, val = split_cases(cases, fold, 4, seed=0)
        assert {c.patient for c in train}.isdisjoint({c.patient for c in val})
        assert len(train) + len(val) == len(cases)
        assert all(sum(c.patient == v.patient for c in val) == 3 for v in val)


def test_too_few_patients_is_refused():
    with pytest.raises(ValueError, match="cannot fill"):
        patient_folds(["a", "b"], 3)
