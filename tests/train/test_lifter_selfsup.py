"""Self-supervised fine-tuning of the lifter from 2D alone (`lift3d.train.lifter_selfsup`): losses, a tiny run
on the twin's 2D, bad input."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

from lift3d.errors import CaptureInputError, ConfigError, Lift3DError, TrainingDataError
from lift3d.geometry.camera import project_points
from lift3d.synthetic import twin
from lift3d.train.lifter_selfsup import (
    SelfSupConfig,
    capture_from_arrays,
    load_capture,
    load_config,
    selfsup_terms,
    train_and_evaluate,
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data" / "pose2sim_trials"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


@pytest.fixture(scope="module")
def walk():
    """10 frames of the twin's S9 walking: world truth (t, 17, 3) mm and the subject's 4 cameras."""
    ds = twin.make_dataset(jax.random.key(0), subjects=("S9",), actions=("Walking",), trials=1,
                           frames_per_sequence=10)  # fmt: skip
    return ds.sequences[0].points_3d.astype(np.float32), ds.rigs["S9"].cameras


def _inputs(points_world, cameras):
    """The loss's arguments for poses lifted perfectly from every view."""
    R, t = np.asarray(cameras.R), np.asarray(cameras.t)
    cam = np.einsum("vik,njk->nvji", R, points_world) + t[None, :, None]
    pred = cam - cam[:, :, :1]
    n, v = pred.shape[:2]
    px = np.asarray(project_points(cameras, points_world[:, None]))  # (n, v, 17, 2)
    return dict(pred_cam=pred, pose_ok=np.ones((n, v), bool), root_world=points_world[:, 0],
                root_ok=np.ones(n, bool), points_px=px, confidence=np.ones(px.shape[:-1], np.float32),
                next_ok=np.ones(n, bool), cameras=cameras)  # fmt: skip


def test_loss_is_minimal_for_consistent_poses_and_rises_otherwise(walk):
    points, cameras = walk
    args = _inputs(points, cameras)
    good = selfsup_terms(**args)
    assert float(good["reprojection_px"]) < 0.05
    assert float(good["reprojection"]) < 1e-5 and float(good["view_consistency"]) < 1e-8
    # one view lifts a pose turned 20 degrees about the vertical and 20 % too large: every term that sees it rises
    c, s = np.cos(np.radians(20)), np.sin(np.radians(20))
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)
    bad = dict(args, pred_cam=args["pred_cam"].copy())
    bad["pred_cam"][:, 2] = 1.2 * bad["pred_cam"][:, 2] @ turn.T
    worse = selfsup_terms(**bad)
    assert float(worse["reprojection_px"]) > 2.0  # a quarter of the (lifted, observing) pairs: ~20 px each
    assert float(worse["reprojection"]) > 100 * float(good["reprojection"]) + 1e-3
    assert float(worse["view_consistency"]) > 1e-4
    # a pose that shakes from frame to frame is rougher; a lopsided one is less symmetric
    shaky = dict(args, pred_cam=args["pred_cam"] + np.random.default_rng(0).normal(0, 30, args["pred_cam"].shape))
    assert float(selfsup_terms(**shaky)["smoothness"]) > 10 * float(good["smoothness"]) + 1e-4
    lopsided = dict(args, pred_cam=args["pred_cam"].copy())
    lopsided["pred_cam"][..., 2:4, :] *= 1.3  # right knee, ankle (further from the pelvis)
    assert float(selfsup_terms(**lopsided)["symmetry"]) > float(good["symmetry"]) + 1e-3


def test_loss_is_invariant_to_the_view_order(walk):
    points, cameras = walk
    args = _inputs(points, cameras)
    args["pred_cam"] = args["pred_cam"] + np.random.default_rng(1).normal(0, 40, args["pred_cam"].shape)
    args["confidence"] = np.random.default_rng(2).uniform(0.2, 1, args["confidence"].shape).astype(np.float32)
    perm = np.array([2, 0, 3, 1])
    permuted = dict(args, cameras=jax.tree.map(lambda a: np.asarray(a)[perm], cameras),
                    **{k: args[k][:, perm] for k in ("pred_cam", "pose_ok", "points_px", "confidence")})  # fmt: skip
    a, b = selfsup_terms(**args), selfsup_terms(**permuted)
    for name in a:
        np.testing.assert_allclose(float(a[name]), float(b[name]), rtol=2e-5, err_msg=name)


def test_tiny_finetuning_on_the_twins_2d_lowers_its_3d_error(tmp_path):
    config = load_config(ROOT / "experiments" / "lifter_selfsup.py:smoke")
    out = train_and_evaluate(config, tmp_path / "run")
    assert out["reference"] == "truth" and out["train_frames"] > 0 and out["held_out_frames"] > 0
    for split in ("train", "held_out"):
        assert out["after"][split]["p1_mm"] < 0.7 * out["before"][split]["p1_mm"], split
        assert out["after"][split]["p2_mm"] < out["before"][split]["p2_mm"], split
    from lift3d.predict.lifter import load_lifter

    loaded = load_lifter(tmp_path / "run" / "lifter")  # what `lift3d lift --checkpoint` reads
    assert loaded.meta["model"]["width"] == config.width
    assert (tmp_path / "run" / "metrics.jsonl").read_text().count('"split": "test"') == 1


def test_a_single_view_is_refused(walk):
    points, cameras = walk
    px = np.asarray(project_points(cameras, points[:, None]))
    one = jax.tree.map(lambda a: np.asarray(a)[:1], cameras)
    with pytest.raises(TrainingDataError, match="at least two calibrated views.*'cam_a'"):
        capture_from_arrays(px[:, :1], np.ones(px[:, :1].shape[:-1]), one, ["cam_a"])


@needs_shared
def test_bad_captures_are_refused_naming_what_is_wrong(tmp_path):
    from lift3d.io.rig_toml import save_rig
    from lift3d.io.rigs import load_rig

    pose = SHARED / "single_BalancingTrial" / "pose"
    rig_file = SHARED / "Calib_qualisys_from_v0.4.15.toml"
    base = SelfSupConfig(source="keypoints", skeleton="body_25b", rig=str(rig_file))
    with pytest.raises(TrainingDataError, match="at least two cameras.*cam01"):
        load_capture(dataclasses.replace(base, keypoints=(str(pose / "cam01_json"),)))
    two = tmp_path / "two.toml"
    save_rig(load_rig(rig_file).subset(["cam_01", "cam_02"]), two)
    with pytest.raises(CaptureInputError, match="cam03.*not in the rig"):
        load_capture(dataclasses.replace(base, keypoints=(str(pose),), rig=str(two)))
    with pytest.raises(TrainingDataError, match="keypoints and its rig"):
        load_capture(dataclasses.replace(base, rig=None, keypoints=(str(pose),)))
    with pytest.raises(TrainingDataError, match="train_frames"):
        load_capture(dataclasses.replace(base, keypoints=(str(pose),), train_frames=(50, 500)))
    assert issubclass(CaptureInputError, Lift3DError) and issubclass(TrainingDataError, Lift3DError)


def test_the_command_refuses_a_capture_with_a_twin_variant(tmp_path):
    from lift3d.apps.train import TrainLifterSelfSupConfig, run

    cfg = TrainLifterSelfSupConfig(config=str(ROOT / "experiments" / "lifter_selfsup.py:twin"), workdir=tmp_path,
                                   rig=Path("rig.toml"))  # fmt: skip
    with pytest.raises(ConfigError, match="synthetic twin.*--rig"):
        run(cfg)
