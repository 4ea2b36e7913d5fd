"""False-positive reduction: candidate features from the affine, the fitted classifier, and the checkpoint's
rescorer applied by the Predictor and infer.py."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch

from fapiseg.cli import main
from fapiseg.inference.batch import discover_cases, run_batch
from fapiseg.inference.postprocess import PostProcessing, post_process
from fapiseg.inference.predictor import Predictor, PredictorOptions
from fapiseg.inference.rescoring import (
    CHECKPOINT_KEY,
    FEATURE_NAMES,
    Rescorer,
    candidate_features,
    candidates,
    fit_rescorer,
    rescored_scores,
)
from tests.conftest import write_nifti
from tests.inference.checkpoints import threshold_checkpoint

COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


def ball(shape, centre, radius_mm, spacing):
    grid = np.indices(shape).transpose(1, 2, 3, 0)
    return (((grid - centre) * spacing) ** 2).sum(-1) <= radius_mm**2


def test_features_of_a_voxelised_sphere_on_a_flipped_anisotropic_grid(aniso_affine):
    shape, spacing = (40, 44, 30), np.array([2.5, 2.0, 3.0])
    inside = ball(shape, (20, 22, 15), 9.0, spacing)
    suv = np.where(inside, 8.0, 1.0).astype(np.float32)
    ct = np.where(inside, 300.0, 40.0).astype(np.float32)
    prob = np.where(inside, 0.9, 0.0).astype(np.float32)
    found = candidates(prob, aniso_affine, 0.05)
    (row,) = candidate_features(found, prob, suv, ct, aniso_affine)
    assert row[COLUMN["log10_volume_ml"]] == pytest.approx(np.log10(inside.sum() * 15.0 / 1000), abs=1e-6)
    assert row[COLUMN["suv_max"]] == 8.0 and row[COLUMN["suv_mean"]] == 8.0
    assert row[COLUMN["log_suv_max_to_surround"]] == pytest.approx(np.log(8.0))
    assert row[COLUMN["probability_max"]] == pytest.approx(0.9)
    assert row[COLUMN["ct_mean"]] == pytest.approx(3.0) and row[COLUMN["ct_std"]] == pytest.approx(0.0)
    assert row[COLUMN["ct_shell_mean"]] == pytest.approx(0.4) and row[
        COLUMN["ct_surround_mean"]
    ] == pytest.approx(0.4)
    assert row[COLUMN["ct_contrast"]] == pytest.approx(2.6)
    assert row[COLUMN["bone_fraction"]] == 1.0


def test_the_shell_is_measured_in_mm_not_voxels(aniso_affine):
    """One hot voxel; 3 mm steps along z: the voxel 6 mm away is in the 6 mm shell, 9 mm away is not."""
    shape = (20, 20, 20)
    prob = np.zeros(shape, np.float32)
    prob[10, 10, 10] = 0.9
    suv, base = np.ones(shape, np.float32), np.full(shape, 40.0, np.float32)
    near, far = base.copy(), base.copy()
    near[10, 10, 12] = 1040.0  # 6 mm
    far[10, 10, 13] = 1040.0  # 9 mm
    found = candidates(prob, aniso_affine, 0.05)
    shell = COLUMN["ct_shell_mean"]
    plain = candidate_features(found, prob, suv, base, aniso_affine)[0, shell]
    assert candidate_features(found, prob, suv, near, aniso_affine)[0, shell] > plain + 0.1
    assert candidate_features(found, prob, suv, far, aniso_affine)[0, shell] == pytest.approx(plain)


def separable(rng, n):
    """Lesion candidates change the CT; the others (joints) are as hot but leave it unchanged."""
    x = rng.normal(0.0, 1.0, (2 * n, len(FEATURE_NAMES)))
    y = np.arange(2 * n) < n
    x[:, COLUMN["ct_contrast"]] += np.where(y, 2.5, 0.0)
    return x, y


def test_fit_separates_lesions_from_false_candidates_at_the_operating_point():
    rng = np.random.default_rng(0)
    x, y = separable(rng, 200)
    rescorer = fit_rescorer(x, y, n_scans=100, candidate_threshold=0.05, target_fp_per_scan=0.5)
    kept = rescorer.scores(x) >= rescorer.threshold
    assert (kept & ~y).sum() <= 50  # at most 0.5 false positives per scan on what it was fitted on
    assert kept[y].mean() > 0.8
    x_new, y_new = separable(np.random.default_rng(1), 200)
    scores = rescorer.scores(x_new)
    assert scores[y_new].mean() > scores[~y_new].mean() + 0.4
    assert np.argmax(np.abs(rescorer.weights)) == COLUMN["ct_contrast"]


def test_fit_needs_both_kinds_of_candidate():
    x = np.zeros((4, len(FEATURE_NAMES)))
    with pytest.raises(ValueError, match="lesion and non-lesion"):
        fit_rescorer(x, np.ones(4, bool), 4, 0.05)


def test_a_rescorer_survives_a_weights_only_checkpoint(tmp_path):
    x, y = separable(np.random.default_rng(0), 50)
    rescorer = fit_rescorer(x, y, 50, 0.05)
    torch.save({CHECKPOINT_KEY: rescorer.to_dict()}, tmp_path / "r.ckpt")
    again = Rescorer.from_dict(torch.load(tmp_path / "r.ckpt", weights_only=True)[CHECKPOINT_KEY])
    assert again == rescorer
    np.testing.assert_allclose(again.scores(x), rescorer.scores(x))
    with pytest.raises(ValueError, match="not this version"):
        Rescorer.from_dict({**rescorer.to_dict(), "feature_names": ["volume"]})


def contrast_rescorer(threshold=0.5):
    """Scores by CT contrast alone: sigmoid(4 * (contrast - 1)) with contrast in hundreds of HU."""
    weights = np.zeros(len(FEATURE_NAMES))
    weights[COLUMN["ct_contrast"]] = 4.0
    n = len(FEATURE_NAMES)
    return Rescorer(FEATURE_NAMES, (0.0,) * n, (1.0,) * n, tuple(weights), -4.0, threshold, 0.05)


def two_candidates():
    """A faint lesion (peak probability 0.3, CT +300 HU) and a confident joint (0.95, CT unchanged)."""
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    shape, spacing = (30, 30, 30), np.array([4.0, 4.0, 4.0])
    lesion, joint = ball(shape, (8, 8, 8), 8.0, spacing), ball(shape, (20, 20, 20), 8.0, spacing)
    core = ball(shape, (8, 8, 8), 4.0, spacing)
    prob = np.where(joint, 0.95, 0.0) + np.where(core, 0.3, np.where(lesion, 0.1, 0.0))
    suv = np.where(lesion | joint, 6.0, 1.0)
    ct = np.where(lesion, 340.0, 40.0)
    return prob.astype(np.float32), suv.astype(np.float32), ct.astype(np.float32), affine, lesion, core, joint


def test_the_kept_candidates_make_the_mask_and_a_faint_one_is_cut_at_half_its_peak():
    prob, suv, ct, affine, _lesion, core, joint = two_candidates()
    rescorer = contrast_rescorer()
    score = rescored_scores(prob, suv, ct, affine, rescorer)
    assert score.dtype == np.float32
    assert not score[joint].any()  # dropped: hot, confident, but no CT change
    np.testing.assert_array_equal(score > 0, core)  # kept; its rim below 0.15 is not lesion
    found = candidates(prob, affine, rescorer.candidate_threshold)
    expected = rescorer.scores(candidate_features(found, prob, suv, ct, affine))
    (kept,) = [i for i, c in enumerate(found) if c.label == found.labels[core][0]]  # the lesion's candidate
    np.testing.assert_allclose(score[core], expected[kept], rtol=1e-6)  # its candidate's score everywhere


def test_post_processing_applies_the_rescorer_and_needs_the_ct():
    prob, suv, ct, affine, _lesion, core, joint = two_candidates()
    plain = post_process(prob, suv, affine, PostProcessing())
    assert plain.mask[joint].all() and not plain.mask[core].any() and plain.detection_score is None
    post = PostProcessing(rescorer=contrast_rescorer())
    rescored = post_process(prob, suv, affine, post, ct=ct)
    np.testing.assert_array_equal(rescored.mask > 0, core)
    np.testing.assert_array_equal(rescored.detection_score > 0, core)
    with pytest.raises(ValueError, match="needs the CT"):
        post_process(prob, suv, affine, post)


def test_a_lesion_dropped_after_rescoring_loses_its_score_too():
    prob, suv, ct, affine, *_ = two_candidates()
    post = PostProcessing(rescorer=contrast_rescorer(), min_volume_ml=10.0)  # larger than the lesion
    dropped = post_process(prob, suv, affine, post, ct=ct)
    assert not dropped.mask.any() and not dropped.detection_score.any()


def write_cohort(root: Path, patients: int, seed: int) -> Path:
    """Studies with two lesions (SUV 6, CT +300 HU, in SEG) and two joints (SUV 6, CT unchanged)."""
    rng = np.random.default_rng(seed)
    affine = np.diag([4.0, 4.0, 4.0, 1.0])
    shape, spacing = (36, 36, 36), np.array([4.0, 4.0, 4.0])
    for p in range(patients):
        suv = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        ct = rng.normal(40.0, 10.0, shape).astype(np.float32)
        seg = np.zeros(shape, np.uint8)
        centres = [(8, 8, 8), (8, 27, 27), (27, 8, 27), (27, 27, 8)]
        for k, c in enumerate(centres):
            inside = ball(shape, c, float(rng.uniform(6.0, 10.0)), spacing)
            suv[inside] = rng.uniform(5.0, 8.0)
            if k < 2:
                ct[inside] = rng.uniform(300.0, 600.0)
                seg[inside] = 1
        d = root / f"p{p:03d}" / "t0"
        write_nifti(d / "SUV.nii.gz", suv, affine)
        write_nifti(d / "CTres.nii.gz", ct, affine)
        write_nifti(d / "SEG.nii.gz", seg, affine)
    return root


def test_fapiseg_rescore_stores_a_reduction_the_predictor_applies(tmp_path, capsys):
    """End to end: a network that calls every hot spot; the rescorer fitted on training cases drops the joints."""
    train, test = write_cohort(tmp_path / "train", 6, 0), write_cohort(tmp_path / "test", 1, 1)
    ckpt = threshold_checkpoint(tmp_path / "model.ckpt", suv=3.0)
    out = tmp_path / "rescored.ckpt"
    assert (
        main(["rescore", "--checkpoint", str(ckpt), "--data", str(train), "--out", str(out), "--no-tta"]) == 0
    )
    assert "6 scans, 12 lesion and 12 false candidates" in capsys.readouterr().out
    stored = torch.load(out, weights_only=True)
    assert set(stored) >= {"state_dict", "hyper_parameters", CHECKPOINT_KEY}

    case = test / "p000" / "t0"
    reference = np.asarray(nib.load(case / "SEG.nii.gz").dataobj) > 0
    plain = Predictor.from_checkpoint(out, device="cpu")
    assert "false-positive reduction off" in plain.describe()
    every_hot_spot = np.asarray(plain.predict(case).dataobj) > 0
    assert (every_hot_spot & ~reference).sum() > 100  # the joints are called

    rescoring = Predictor.from_checkpoint(out, device="cpu", options=PredictorOptions(rescore=True))
    assert "false-positive reduction on" in rescoring.describe()
    mask = np.asarray(rescoring.predict(case).dataobj) > 0
    assert not (mask & ~reference).any()  # the joints are gone
    assert (mask & reference).sum() >= 0.9 * reference.sum()  # the lesions stay

    batch = run_batch(
        rescoring, discover_cases(test), tmp_path / "pred", progress=False, report=lambda line: None
    )
    assert batch.exit_code == 0
    table = pd.read_csv(tmp_path / "pred" / "p000" / "t0" / "lesions.csv")
    assert len(table) == 2 and (table["detection_score"] >= rescoring.options.post.rescorer.threshold).all()

    ensemble = Predictor.from_checkpoint([out, out], device="cpu", options=PredictorOptions(rescore=True))
    assert ensemble.options.post.rescorer is None  # fitted to one network, not to an average


def test_rescore_names_a_folder_without_reference_masks(tmp_path, capsys):
    data = write_cohort(tmp_path / "train", 1, 0)
    (data / "p000" / "t0" / "SEG.nii.gz").unlink()
    ckpt = threshold_checkpoint(tmp_path / "model.ckpt", suv=3.0)
    assert main(["rescore", "--checkpoint", str(ckpt), "--data", str(data)]) == 1
    assert "no cases with a reference mask" in capsys.readouterr().err


def test_the_command_defaults_are_the_library_defaults():
    from fapiseg.inference import rescoring
    from fapiseg.training import rescore_command

    assert rescore_command.CANDIDATE_THRESHOLD == rescoring.CANDIDATE_THRESHOLD
    assert rescore_command.TARGET_FP_PER_SCAN == rescoring.TARGET_FP_PER_SCAN


def test_a_passed_deadline_fits_on_the_minimum_of_scans_and_says_how_many_were_left(tmp_path):
    from fapiseg.training.rescoring import fit_checkpoint_rescorer

    train = write_cohort(tmp_path / "train", 6, 0)
    ckpt = threshold_checkpoint(tmp_path / "model.ckpt", suv=3.0)
    fit = fit_checkpoint_rescorer(
        ckpt, train, tmp_path / "out.ckpt", PredictorOptions(tta=False), deadline=0.0, min_cases=2
    )
    assert (fit.scans, fit.not_reached) == (2, 4)
    assert (fit.lesion_candidates, fit.false_candidates) == (4, 4)  # 2 lesions and 2 joints per scan
    assert fit.describe().endswith("; 4 more left for the time limit")
    assert CHECKPOINT_KEY in torch.load(tmp_path / "out.ckpt", weights_only=True)
