"""`fapiseg longitudinal` end to end: the contract's files and columns, --pred masks, exit status."""

import shutil

import pandas as pd

from fapiseg.cli import main
from fapiseg.longitudinal.response import RESPONSE_COLUMNS
from fapiseg.metrics.table import LESION_COLUMNS
from tests.longitudinal.test_course import COURSES, write_course


def _longitudinal(data, out, *options) -> int:
    return main(
        ["longitudinal", "--data", str(data), "--patient", "p1", "--out", str(out), *map(str, options)]
    )


def test_writes_tracks_and_response_with_the_contract_columns(tmp_path, capsys):
    write_course(tmp_path / "data", "p1", [COURSES["PD_new"]], "moved")
    out = tmp_path / "out"
    assert _longitudinal(tmp_path / "data", out) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "changes.csv",
        "mips.png",
        "response.csv",
        "studies.csv",
        "tracks.csv",
        "trajectories.png",
    ]
    tracks = pd.read_csv(out / "tracks.csv")
    assert set(LESION_COLUMNS + ["study", "track_id"]) <= set(tracks.columns)
    assert len(tracks) == 3 + 4
    response = pd.read_csv(out / "response.csv")
    assert list(response.columns[: len(RESPONSE_COLUMNS)]) == RESPONSE_COLUMNS
    assert response[["study", "baseline", "recist", "percist", "new_lesions"]].values.tolist() == [
        ["t1", "t0", "PD", "PMD", 1]
    ]
    printed = capsys.readouterr().out
    assert "PMD" in printed and "written to" in printed


def test_predicted_masks_replace_the_reference(tmp_path):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_course(data, "p1", [COURSES["CR"]], "still")
    for study, source in (("t0", "t0"), ("t1", "t0")):  # at t1 the prediction outlines the baseline lesions
        (pred / "p1" / study).mkdir(parents=True)
        shutil.copy(data / "p1" / source / "SEG.nii.gz", pred / "p1" / study / "PRED.nii.gz")
    for seg in data.glob("p1/*/SEG.nii.gz"):
        seg.unlink()  # predictions need no reference
    assert _longitudinal(data, tmp_path / "out", "--pred", pred, "--no-figures") == 0
    response = pd.read_csv(tmp_path / "out" / "response.csv")
    # same outlines: RECIST sees stable disease; the uptake inside them is at background: PERCIST CMR
    assert response[["recist", "percist"]].values.tolist() == [["SD", "CMR"]]


def test_a_missing_prediction_is_named_and_the_exit_status_is_one(tmp_path, capsys):
    data, pred = tmp_path / "data", tmp_path / "pred"
    write_course(data, "p1", [COURSES["SD"]], "still")
    (pred / "p1" / "t0").mkdir(parents=True)
    shutil.copy(data / "p1" / "t0" / "SEG.nii.gz", pred / "p1" / "t0" / "PRED.nii.gz")
    assert _longitudinal(data, tmp_path / "out", "--pred", pred, "--no-figures") == 1
    assert "fapiseg longitudinal: p1/t1: PRED.nii.gz is missing" in capsys.readouterr().err
    assert pd.read_csv(tmp_path / "out" / "tracks.csv")["study"].unique().tolist() == ["t0"]


def test_an_unknown_patient_is_one_line_on_stderr(tmp_path, capsys):
    write_course(tmp_path / "data", "p1", [], "still")
    assert (
        main(["longitudinal", "--data", str(tmp_path / "data"), "--patient", "p2", "--out", str(tmp_path)])
        == 1
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no studies of patient 'p2'" in err
