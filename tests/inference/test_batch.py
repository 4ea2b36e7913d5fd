"""The batch runner: bad cases are named and skipped, finished cases are not redone, nothing half-written."""

import gzip

import numpy as np
import pandas as pd
import pytest

from fapiseg.data.validation import load_case
from fapiseg.inference.batch import (
    SUMMARY_COLUMNS,
    CasePrediction,
    discover_cases,
    run_batch,
    save_probability,
)
from fapiseg.io.nifti import Volume, load_volume
from tests.conftest import write_nifti


class ThresholdPredictor:
    """Stands in for the network: lesion probability rises with SUV (4 -> 0.5); counts its calls."""

    def __init__(self):
        self.calls = []

    def predict_case(self, case):
        self.calls.append(case.name)
        images = load_case(case)
        prob = np.clip((images.pet.array - 2.0) / 4.0, 0.0, 1.0).astype(np.float32)
        return CasePrediction(
            images, Volume((prob > 0.5).astype(np.uint8), images.affine), Volume(prob, images.affine)
        )


def no_temporary_files(root):
    return [p for p in root.rglob(".*") if p.is_file()]


@pytest.fixture
def broken_cohort(make_study, tmp_path, aniso_affine):
    """Two good cases and one of each kind of bad case."""
    root = tmp_path / "data"
    for patient in ("good1", "good2", "unreadable", "truncated", "flat", "noct", "empty", "nans"):
        make_study(patient, "t0", root=root)
    (root / "unreadable/t0/SUV.nii.gz").write_bytes(b"this is not an image")
    raw = (root / "truncated/t0/SUV.nii.gz").read_bytes()
    (root / "truncated/t0/SUV.nii.gz").write_bytes(raw[: len(raw) // 2])
    write_nifti(root / "flat/t0/SUV.nii.gz", np.ones((20, 18), np.float32), aniso_affine)
    (root / "noct/t0/CTres.nii.gz").unlink()
    (root / "empty/t0/CTres.nii.gz").write_bytes(b"")
    suv = np.ones((20, 18, 16), np.float32)
    suv[3, 3, 3] = np.nan
    write_nifti(root / "nans/t0/SUV.nii.gz", suv, aniso_affine)
    return root


def test_a_broken_batch_names_each_bad_case_and_goes_on(broken_cohort, tmp_path):
    out, lines = tmp_path / "pred", []
    result = run_batch(
        ThresholdPredictor(), discover_cases(broken_cohort), out, progress=False, report=lines.append
    )
    assert result.exit_code == 1
    summary = pd.read_csv(out / "summary.csv").set_index("case")
    assert list(summary.reset_index().columns) == SUMMARY_COLUMNS
    assert summary.loc["good1/t0", "status"] == "ok" and summary.loc["good2/t0", "status"] == "ok"
    reasons = {
        "unreadable/t0": "cannot be read",
        "truncated/t0": "cannot be read",
        "flat/t0": "3-D volume is required",
        "noct/t0": "CTres.nii.gz is missing",
        "empty/t0": "empty file",
        "nans/t0": "NaN",
    }
    for case, reason in reasons.items():
        assert summary.loc[case, "status"] == "error"
        assert reason in summary.loc[case, "error"]
        assert any(line.startswith(f"{case}: error: ") and reason in line for line in lines)
        assert not (out / case / "PRED.nii.gz").exists()
    assert all("\n" not in line and "Traceback" not in line for line in lines)
    for case in ("good1/t0", "good2/t0"):
        assert summary.loc[case, "lesions"] == 1
        assert summary.loc[case, "total_volume_ml"] == pytest.approx(27 * 2.5 * 2.0 * 3.0 / 1000)
        assert summary.loc[case, "total_tl_fap"] == pytest.approx(27 * 15 / 1000 * 8.0)
        lesions = pd.read_csv(out / case / "lesions.csv")
        assert lesions.loc[0, "suv_max"] == 8.0
    assert no_temporary_files(out) == []


def test_predictions_are_on_the_input_grid_with_its_affine(make_study, tmp_path, aniso_affine):
    root = make_study()
    out = tmp_path / "pred"
    run_batch(ThresholdPredictor(), discover_cases(root), out, progress=False, report=lambda _: None)
    pred = load_volume(out / "p1/t0/PRED.nii.gz")
    np.testing.assert_array_equal(pred.affine, aniso_affine)
    np.testing.assert_array_equal(pred.array, load_volume(root / "p1/t0/SEG.nii.gz").array)
    prob = load_volume(out / "p1/t0/PROB.nii.gz")
    expected = np.clip((load_volume(root / "p1/t0/SUV.nii.gz").array - 2) / 4, 0, 1)
    assert np.abs(prob.array - expected).max() <= 0.5 / 255 + 1e-6


def test_a_rerun_skips_finished_cases_unless_overwrite(make_study, tmp_path):
    root = make_study("p1")
    make_study("p2", root=root)
    out, predictor = tmp_path / "pred", ThresholdPredictor()
    run_batch(predictor, discover_cases(root), out, progress=False, report=lambda _: None)
    first = (out / "p1/t0/PRED.nii.gz").stat().st_mtime_ns
    (out / "p2/t0/lesions.csv").unlink()  # as if the first run was stopped while writing p2
    lines = []
    again = run_batch(predictor, discover_cases(root), out, progress=False, report=lines.append)
    assert predictor.calls == ["p1/t0", "p2/t0", "p2/t0"]
    assert [r.status for r in again.results] == ["skipped", "ok"] and again.exit_code == 0
    assert again.results[0].lesions == 1  # the summary row of a skipped case comes from its lesions.csv
    assert "skipped" in lines[0]
    assert (out / "p1/t0/PRED.nii.gz").stat().st_mtime_ns == first
    run_batch(predictor, discover_cases(root), out, overwrite=True, progress=False, report=lambda _: None)
    assert predictor.calls[3:] == ["p1/t0", "p2/t0"]


def test_asking_for_probabilities_later_redoes_the_cases_without_them(make_study, tmp_path):
    root = make_study()
    out, predictor = tmp_path / "pred", ThresholdPredictor()
    run_batch(
        predictor, discover_cases(root), out, save_probabilities=False, progress=False, report=lambda _: None
    )
    assert not (out / "p1/t0/PROB.nii.gz").exists()
    run_batch(
        predictor, discover_cases(root), out, save_probabilities=True, progress=False, report=lambda _: None
    )
    assert len(predictor.calls) == 2 and (out / "p1/t0/PROB.nii.gz").exists()


def test_an_unexpected_failure_is_one_line_and_the_batch_goes_on(make_study, tmp_path):
    root = make_study("p1")
    make_study("p2", root=root)

    class Flaky(ThresholdPredictor):
        def predict_case(self, case):
            if case.patient == "p1":
                raise RuntimeError("out of memory\nsecond line")
            return super().predict_case(case)

    out, lines = tmp_path / "pred", []
    result = run_batch(Flaky(), discover_cases(root), out, progress=False, report=lines.append)
    assert [r.status for r in result.results] == ["error", "ok"]
    assert lines[0] == "p1/t0: error: unexpected RuntimeError: out of memory (see errors.log)"
    assert "Traceback" in (out / "errors.log").read_text()


def test_a_failed_write_leaves_no_partial_file(make_study, tmp_path, monkeypatch):
    root = make_study()
    out = tmp_path / "pred"

    def broken_csv(path, table):
        raise OSError("disk full")

    monkeypatch.setattr("fapiseg.inference.batch.write_lesion_csv", broken_csv)
    result = run_batch(ThresholdPredictor(), discover_cases(root), out, progress=False, report=lambda _: None)
    assert result.exit_code == 1 and "disk full" in result.results[0].error
    assert not (out / "p1/t0/lesions.csv").exists() and no_temporary_files(out) == []


def test_a_study_folder_is_a_single_case(make_study):
    root = make_study("p7", "2024-01-02")
    (case,) = discover_cases(root / "p7" / "2024-01-02")
    assert case.name == "p7/2024-01-02" and case.seg is not None


def test_probability_file_is_compact_and_exact_to_half_a_step(tmp_path, aniso_affine):
    prob = np.random.default_rng(0).random((30, 30, 30)).astype(np.float32)
    path = save_probability(tmp_path / "PROB.nii.gz", Volume(prob, aniso_affine))
    back = load_volume(path)
    assert np.abs(back.array - prob).max() <= 0.5 / 255 + 1e-6
    np.testing.assert_array_equal(back.affine, aniso_affine)
    with gzip.open(path) as f:
        assert len(f.read()) < prob.nbytes / 3  # one byte per voxel


def test_with_the_pet_dicom_series_a_dicom_seg_of_the_prediction_is_written(tmp_path):
    from fapiseg.io.dicom.seg import seg_mask
    from fapiseg.io.dicom.series import read_series
    from tests.io.dicom_builders import random_spec, write_series

    series_dir = write_series(random_spec(shape=(16, 12, 10)), tmp_path / "dicom" / "p1" / "t0")
    series = read_series(series_dir, ("PT",))
    suv = np.ones(series.shape, np.float32)
    suv[3:7, 2:5, 2:4] = 9.0
    study = tmp_path / "data" / "p1" / "t0"
    write_nifti(study / "SUV.nii.gz", suv, series.affine)
    write_nifti(study / "CTres.nii.gz", np.zeros(series.shape, np.float32), series.affine)
    out = tmp_path / "pred"
    for dicom_pet in (tmp_path / "dicom", series_dir):  # per-case layout, and one series for one case
        result = run_batch(
            ThresholdPredictor(),
            discover_cases(tmp_path / "data"),
            out,
            dicom_pet=dicom_pet,
            overwrite=True,
            progress=False,
            report=lambda _: None,
        )
        assert result.exit_code == 0
        back = seg_mask(out / "p1/t0/PRED_SEG.dcm", series.shape, series.affine)
        np.testing.assert_array_equal(back, suv > 4)


def test_a_case_without_its_dicom_series_fails_alone(make_study, tmp_path):
    root = make_study("p1")
    make_study("p2", root=root)
    (tmp_path / "dicom").mkdir()
    result = run_batch(
        ThresholdPredictor(),
        discover_cases(root),
        tmp_path / "pred",
        dicom_pet=tmp_path / "dicom",
        progress=False,
        report=lambda _: None,
    )
    assert [r.status for r in result.results] == ["error", "error"]
    assert "no PET DICOM series at" in result.results[0].error
