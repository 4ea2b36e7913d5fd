"""``python infer.py``: the contract's command, a broken batch, resuming, one-line errors."""

import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from fapiseg.inference.run import run_inference
from tests.conftest import REPO
from tests.inference.checkpoints import threshold_checkpoint
from tests.inference.test_predictor import write_case


def infer(*overrides):
    return subprocess.run(
        [sys.executable, str(REPO / "infer.py"), *map(str, overrides), "progress=false"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def run_in_process(*overrides) -> int:
    """What infer.py does, in this process (configs/infer.yaml through Hydra's compose API)."""
    with initialize_config_dir(str(REPO / "configs"), version_base="1.3"):
        cfg = compose("infer", overrides=[*map(str, overrides), "progress=false"])
    return run_inference(cfg)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer")
    data = root / "data"
    write_case(data, "p1/t0")
    write_case(data, "p2/t0", ornt=((0, -1), (1, -1), (2, 1)), seed=1)
    write_case(data, "p3/t0", seed=2)
    raw = (data / "p3/t0/SUV.nii.gz").read_bytes()
    (data / "p3/t0/SUV.nii.gz").write_bytes(raw[: len(raw) // 3])
    return data, threshold_checkpoint(root / "model.ckpt"), root / "pred"


def test_a_batch_with_a_bad_case_writes_the_others_and_exits_non_zero(cohort):
    data, ckpt, pred = cohort
    done = infer(f"input={data}", f"output={pred}", f"checkpoint={ckpt}")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors[0].startswith("p3/t0: error: SUV.nii.gz cannot be read")
    assert "1 of 3 case(s) failed" in done.stderr and "Traceback" not in done.stderr
    summary = pd.read_csv(pred / "summary.csv")
    assert summary["status"].tolist() == ["ok", "ok", "error"]
    assert summary["lesions"].tolist()[:2] == [1, 1]
    for case in ("p1/t0", "p2/t0"):
        assert {p.name for p in (pred / case).iterdir()} == {"PRED.nii.gz", "PROB.nii.gz", "lesions.csv"}
    assert not list(pred.rglob(".*"))  # no temporary file left behind
    assert not (REPO / "outputs" / "infer").exists()  # Hydra writes no run folder


def test_a_rerun_only_retries_what_is_not_done(cohort):
    data, ckpt, pred = cohort
    code = run_in_process(f"input={data}", f"output={pred}", f"checkpoint={ckpt}")
    assert pd.read_csv(pred / "summary.csv")["status"].tolist() == ["skipped", "skipped", "error"]
    assert code == 1


def test_missing_arguments_and_checkpoints_are_one_line_errors(cohort, tmp_path, capsys):
    data, _, _ = cohort
    assert run_in_process(f"input={data}") == 1
    assert "missing output=..., checkpoint=..." in capsys.readouterr().err
    assert run_in_process(f"input={data}", f"output={tmp_path}", f"checkpoint={tmp_path / 'none.ckpt'}") == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("checkpoint not found") and len(err.splitlines()) == 1
