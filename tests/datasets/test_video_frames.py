"""Real-video crops for learnable triangulation (`lift3d.datasets.video_frames`, dataset ``"real_videos"``,
`lift3d.predict.lt_videos`) on a tiny fake capture: 3 distorted cameras, 8 frames of 320 x 480 noise images in
image folders, a pose whose pelvis x (mm) is 10 x the frame number.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest
from rigs import look_at

from lift3d.core.rig import Rig
from lift3d.datasets.video_frames import (
    MixedDataset,
    VideoFramesDataset,
    build_video_frames,
    person_box,
    read_video_labels,
    undistorted_crop,
    write_video_labels,
)
from lift3d.errors import Lift3DError, TrainingDataError
from lift3d.geometry.camera import Camera, project_points
from lift3d.io.rig_toml import save_rig

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("cam1", "cam2", "cam3")
N_FRAMES = 8


def make_rig(names=VIEWS) -> Rig:
    cams = []
    for i, _ in enumerate(names):
        a = 2 * np.pi * i / len(names) + 0.3
        R, t = look_at(np.array([4 * np.cos(a), 4 * np.sin(a), 1.2]), np.array([0.0, 0.0, 0.9]))
        K = np.array([[400.0, 0, 160], [0, 400, 240], [0, 0, 1]])
        cams.append(Camera.create(K, R=R, t=t, dist=[-0.08, 0.03, 1e-3, 0, 0], image_size=[320, 480]))
    return Rig.from_cameras(names, cams, units="m")


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:
    """labels.npz + one image folder per camera; returns the labels path."""
    root = tmp_path_factory.mktemp("capture")
    rng = np.random.default_rng(0)
    rig = make_rig()
    base = np.c_[rng.uniform(-250, 250, (17, 2)), rng.uniform(100, 1700, 17)]
    joints = np.stack([base + [10.0 * f, 0, 0] for f in range(N_FRAMES)])  # mm; pelvis x encodes the frame
    joints[:, 0] = [[10.0 * f, 0, 900] for f in range(N_FRAMES)]
    det = np.stack([np.asarray(project_points(rig.cameras[v], joints / 1000.0)) for v in range(3)], 1)
    videos = {}
    for name in VIEWS:
        folder = root / name
        folder.mkdir()
        for f in range(N_FRAMES):
            cv2.imwrite(str(folder / f"img_{f:04d}.png"), rng.integers(0, 255, (480, 320, 3), np.uint8))
        videos[name] = str(folder)
    rig_file = save_rig(rig, root / "rig.toml")
    return write_video_labels(root / "labels.npz", joints_3d_mm=joints, frames=np.arange(N_FRAMES), views=VIEWS,
                              detections_2d=det, detections_conf=np.ones(det.shape[:-1]), rig=str(rig_file),
                              videos=videos)  # fmt: skip


@pytest.mark.parametrize("angle", [0.0, 25.0])
def test_crop_camera_round_trip(angle):
    """A blob drawn at a 3D point's distorted projection lands, in the undistorted crop, where the crop's K puts it."""
    cam = make_rig().cameras[0]
    X = np.array([0.1, -0.05, 1.1])
    uv = np.asarray(project_points(cam, X[None]))[0]
    image = np.zeros((480, 320, 3), np.uint8)
    cv2.circle(image, (int(round(uv[0] * 16)), int(round(uv[1] * 16))), 12 * 16, (255, 255, 255), -1, cv2.LINE_AA,
               shift=4)  # fmt: skip
    box = np.r_[uv - [70.3, 90.1], uv + [129.7, 109.9]]  # 200 px square, off-centre
    crop, K = undistorted_crop(image, cam, box, 64, angle)
    x = K @ (np.asarray(cam.R) @ X + np.asarray(cam.t))
    want = x[:2] / x[2]
    w = crop[..., 0].astype(np.float64)
    yy, xx = np.mgrid[:64, :64]
    got = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    np.testing.assert_allclose(got, want, atol=0.15)


def test_labels_round_trip_and_held_out(capture):
    ds = build_video_frames(capture, make_rig(), image_size=32, test_frames=(5, 8), augment=3)
    assert ds.split_frames(train=True).tolist() == [0, 1, 2, 3, 4]
    assert ds.split_frames(train=False).tolist() == [5, 6, 7]
    seen = set()
    for i, batch in zip(range(12), ds.iterate(jax.random.key(1), 4, train=True), strict=False):
        # stored 2D labels are the 3D labels through the crop cameras
        h = np.einsum("bvik,bjk->bvji", batch["proj"].astype(np.float64),
                      np.concatenate([batch["joints_3d"], np.ones((4, 17, 1))], -1))  # fmt: skip
        np.testing.assert_allclose(batch["joints_2d"], h[..., :2] / h[..., 2:], atol=1e-3)
        seen |= set(np.rint(batch["pelvis"][:, 0] / 10).astype(int).tolist())
        assert i < 12
    assert seen <= {0, 1, 2, 3, 4}, f"held-out frames in training batches: {seen - {0, 1, 2, 3, 4}}"
    test = next(ds.iterate(None, 8, train=False))
    assert np.rint(test["pelvis"][test["sample_mask"], 0] / 10).astype(int).tolist() == [5, 6, 7]
    assert test["view_mask"][test["sample_mask"]].all()
    both = VideoFramesDataset.concat([ds, build_video_frames(capture, make_rig(), image_size=32, test_frames=(0, 0),
                                                             augment=3, name="other")])  # fmt: skip
    assert len(both.keys(train=True)) == 5 + N_FRAMES and both.test_keys == ds.test_keys
    mixed = MixedDataset(ds, ds, first_fraction=0.5)
    assert set(next(mixed.iterate(jax.random.key(0), 2, train=True))) >= {"images", "sample_mask"}


def test_person_box_square():
    box = person_box(np.array([[[0.0, 0], [10, 40], [np.nan, np.nan]]]), scale=1.5)
    np.testing.assert_allclose(box[0], [-25.0, -10, 35, 50])
    assert np.isnan(person_box(np.array([[1.0, 1], [np.nan, 0]]))).all()


def test_bad_inputs_name_the_camera(capture, tmp_path):
    from lift3d.train.lt_trainer import load_config
    from lift3d.train.lt_video_data import real_videos_dataset

    config = load_config(ROOT / "experiments" / "lt_real_videos.py:smoke")
    with pytest.raises(Lift3DError, match="needs dataset_options"):
        real_videos_dataset(dataclasses.replace(config, dataset_options=()))
    with pytest.raises(Lift3DError, match=r"unknown option\(s\) \['colour'\]"):
        real_videos_dataset(dataclasses.replace(config, dataset_options=(("labels", str(capture)), ("colour", 1))))
    with pytest.raises(TrainingDataError, match=r"cam3.*rig lacks"):
        build_video_frames(capture, make_rig(("cam1", "cam2", "camX")))
    with pytest.raises(Lift3DError, match=r"no video for rig camera\(s\) \['cam4'\]"):
        build_video_frames(capture, make_rig((*VIEWS, "cam4")))
    folders = [str(Path(capture).parent / v) for v in VIEWS]
    with pytest.raises(TrainingDataError, match=r"video missing for rig camera\(s\) cam2"):
        build_video_frames(capture, make_rig(), videos=[folders[0], str(tmp_path / "nothing"), folders[2]])


def test_smoke_config_trains_and_predicts(capture, tmp_path):
    """The experiment's smoke variant trains a few steps on the real-frames dataset; the model then runs on the
    capture through `triangulate_videos`."""
    from lift3d.predict.lt_videos import triangulate_videos
    from lift3d.train.lt_eval import load_model
    from lift3d.train.lt_trainer import load_config, train_and_evaluate

    config = load_config(ROOT / "experiments" / "lt_real_videos.py:smoke")
    opts = dict(config.dataset_options) | {"labels": str(capture), "test_frames": (5, 8)}
    config = dataclasses.replace(config, dataset_options=tuple(opts.items()), progress=False)
    res = train_and_evaluate(config, tmp_path / "run")
    assert res["step"] == config.max_steps and res["num_samples"] == 3
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in rows if r.get("split") == "train"]
    assert losses and np.isfinite(losses).all()
    model, _ = load_model(tmp_path / "run" / "model")
    lab = read_video_labels(capture)
    out = triangulate_videos(model, make_rig(), lab["videos"], [5, 6, 7], lab["detections_2d"][5:], image_size=32,
                             batch_size=2)  # fmt: skip
    assert out.points_3d.shape == (3, 17, 3) and np.isfinite(out.points_3d).all()
    assert out.keypoints_2d.shape == (3, 3, 17, 2) and np.isfinite(out.keypoints_2d).all()
    np.testing.assert_allclose(out.weights.sum(1), 1.0, atol=1e-3)

    # the same through `lift3d triangulate --model RUN --videos ...`: the detections (as keypoints) place the crops
    from lift3d.cli import main
    from lift3d.core.keypoints import Keypoints2D
    from lift3d.core.skeleton import H36M_17
    from lift3d.io.keypoints_npz import write_keypoints_npz
    from lift3d.io.motion import read_motion

    det = lab["detections_2d"][5:, :, None].astype(np.float32)
    keypoints = write_keypoints_npz(tmp_path / "det.npz", Keypoints2D(
        points=det, confidence=np.ones(det.shape[:-1], np.float32), views=VIEWS, skeleton=H36M_17,
        frame_ids=np.array([5, 6, 7])))  # fmt: skip
    argv = ["triangulate", "--rig", str(capture.parent / "rig.toml"), "--keypoints", str(keypoints), "--format",
            "npz", "--model", str(tmp_path / "run"), "--fps", "30", "-o", str(tmp_path / "model.npz")]  # fmt: skip
    assert main([*argv, "--videos", *lab["videos"][:2]]) == 2  # one video per camera
    assert main([*argv[:7], "--videos", *lab["videos"]]) == 2  # videos without a model
    assert main([*argv, "--videos", *lab["videos"]]) == 0
    np.testing.assert_allclose(read_motion(tmp_path / "model.npz").points, out.points_3d, atol=1e-4)
