"""One small cohort, written once per test session, that the phantom tests read."""

from __future__ import annotations

import json

import pytest

from fapiseg.phantom.cohort import generate_cohort

#: Three patients, two studies each, one course each: what the tests of the courses need.
COURSES = ["PR", "PD_new", "CR"]
SEED = 7


@pytest.fixture(scope="session")
def cohort_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom")
    generate_cohort(out, n_patients=3, n_studies=2, seed=SEED, courses=COURSES)
    return out


@pytest.fixture(scope="session")
def truth(cohort_dir) -> dict:
    return json.loads((cohort_dir / "truth.json").read_text())


def scans(truth: dict):
    """(patient record, study record) for every scan."""
    return [(p, s) for p in truth["patients"] for s in p["studies"]]
