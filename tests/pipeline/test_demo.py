"""The demo's stages: the SUV floor from the training cohort, and a failing stage as one line."""

import json

import numpy as np
import pytest

from fapiseg.pipeline import demo
from fapiseg.pipeline.demo import DemoError, DemoPlan, run_demo
from tests.conftest import write_nifti


def fake_cohort(out_dir, n_patients, n_studies=1, seed=0, family="fapi", workers=1):
    """Stands in for the phantom: tiny cases with one lesion of SUVmax 1.6 + seed."""
    for p in range(n_patients):
        suv = np.full((16, 16, 16), 0.5, np.float32)
        seg = np.zeros(suv.shape, np.uint8)
        seg[4:7, 4:7, 4:7] = 1
        suv[seg > 0] = 1.6 + seed
        study = out_dir / f"p{p:03d}" / "t0"
        for name, array in (("SUV", suv), ("CTres", np.zeros_like(suv)), ("SEG", seg)):
            write_nifti(study / f"{name}.nii.gz", array, np.eye(4))
    (out_dir / "truth.json").write_text(json.dumps({"organ_labels": {}}))
    return {}


def test_the_suv_floor_is_three_quarters_of_the_faintest_training_lesion(tmp_path):
    fake_cohort(tmp_path / "train", 2, seed=0)  # every lesion SUVmax 1.6
    floor, faintest = demo._reporting_floor(tmp_path / "train")
    assert faintest == pytest.approx(1.6) and floor == pytest.approx(1.2)
    fake_cohort(tmp_path / "bright", 2, seed=5)  # SUVmax 6.6
    assert demo._reporting_floor(tmp_path / "bright")[0] == pytest.approx(4.9)  # 4.95, rounded down


def test_without_training_lesions_there_is_no_floor(tmp_path):
    for p in range(2):
        study = tmp_path / "train" / f"p{p:03d}" / "t0"
        for name in ("SUV", "CTres", "SEG"):
            write_nifti(study / f"{name}.nii.gz", np.zeros((8, 8, 8), np.float32), np.eye(4))
    assert demo._reporting_floor(tmp_path / "train")[0] is None


def test_a_failing_stage_stops_the_demo_with_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr("fapiseg.phantom.generate_cohort", fake_cohort)
    lines = []
    plan = DemoPlan(1, 1, 1, train_overrides=["trainer.no_such_option=1"])
    with pytest.raises(DemoError) as failure:
        run_demo(tmp_path / "demo", plan, log=lines.append)
    message = str(failure.value)
    assert message.startswith(
        "stage 2 (training (train.py experiment=demo)) failed: training failed (train.py exit 1)"
    )
    assert "no_such_option" in message and "\n" not in message
    assert lines[0] == "[1/7] phantom cohorts ..." and lines[1].startswith("[1/7] phantom cohorts: done in")


@pytest.mark.parametrize("overrides, tta", [((), True), (("tta=false",), False)])
def test_demo_inference_mirrors_unless_the_plan_says_not_to(tmp_path, monkeypatch, overrides, tta):
    seen = {}

    def fake_infer(cfg):
        seen.update(tta=cfg.tta, skip_suv=cfg.skip_suv, min_suv_max=cfg.min_suv_max)
        return type("Batch", (), {"failed": []})()

    monkeypatch.setattr("fapiseg.inference.run.infer", fake_infer)
    demo._infer(tmp_path / "data", tmp_path / "pred", tmp_path / "best.ckpt", 2.1, overrides)
    assert seen == {"tta": tta, "skip_suv": 2.1, "min_suv_max": 2.1}


def test_training_gets_what_the_budget_leaves_after_the_stages_that_follow_it(tmp_path, monkeypatch):
    monkeypatch.setattr("fapiseg.phantom.generate_cohort", fake_cohort)
    commands = []

    def fake_run(command, cwd):
        commands.append(command)
        return demo._Finished(1, "stopped here")

    monkeypatch.setattr(demo, "_run_streaming", fake_run)
    plan = DemoPlan(1, 1, 1, minutes=14.0, started=1_000_000.0)
    with pytest.raises(DemoError, match="stopped here"):
        run_demo(tmp_path / "demo", plan, log=lambda line: None)
    deadline = 1_000_000 + 14 * 60 - demo.AFTER_TRAINING_S
    assert f"callbacks.time_budget.deadline={deadline:.0f}" in commands[0]


def test_the_demo_experiment_takes_the_deadline_into_its_time_budget():
    from hydra.utils import instantiate

    from tests.training.runs import compose_cfg

    cfg = compose_cfg(["experiment=demo", "data.root=.", "callbacks.time_budget.deadline=1234"])
    budget = instantiate(cfg.callbacks.time_budget)
    assert budget.deadline == 1234.0 and budget.seconds == 8.5 * 60
