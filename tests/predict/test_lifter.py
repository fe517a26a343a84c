"""The residual MLP lifter: model, input encoding, augmentation, and inference on real keypoints
(`lift3d lift`, the app, is tested in tests/apps/test_lift.py)."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lift3d.core.skeleton import H36M_17
from lift3d.errors import CheckpointError
from lift3d.geometry.rotation import rodrigues_to_matrix
from lift3d.io.keypoints_openpose import read_openpose
from lift3d.io.rigs import load_rig
from lift3d.models.lifter import Lifter, encode_inputs, max_norm_project, virtual_camera_rotation
from lift3d.predict.checkpoint import save_lifter
from lift3d.predict.lifter import LiftInputError, default_checkpoint, lift_keypoints, lift_rays, load_lifter
from lift3d.synthetic.twin import make_dataset
from lift3d.train.data_pipeline import augment, batch_indices, train_samples
from lift3d.train.data_pipeline import test_samples as make_test_samples

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "pose2sim_trials"
BALANCING = DATA / "single_BalancingTrial" / "pose"


@functools.cache
def _samples():
    ds = make_dataset(jax.random.key(0), subjects=["S9"], actions=["Walking"], trials=1, frames_per_sequence=12)
    return train_samples(ds).points_camera


def _pose_rays(key, b=6):
    """Plausible camera-frame poses (synthetic twin, 4 cameras) and their rays; `key` picks 6 of 48."""
    idx = np.asarray(jax.random.choice(key, 48, (b,), replace=False))
    pts = _samples()[idx]
    return pts, pts[..., :2] / pts[..., 2:]


@pytest.fixture(scope="module")
def tiny():
    model = Lifter(width=16, num_blocks=1, rngs=nnx.Rngs(0))
    return model


def test_model_shapes_root_and_aux(tiny):
    _, rays = _pose_rays(jax.random.key(0))
    pred, aux = tiny(rays, train=False)
    assert pred.shape == (6, 17, 3) and pred.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(pred[:, H36M_17.root]), 0.0)
    assert aux["features"].shape == (6, 51) and aux["rotation"].shape == (6, 3, 3)
    np.testing.assert_array_equal(np.asarray(aux["num_visible"]), 17)
    with pytest.raises(ValueError, match="root_index"):
        Lifter(num_joints=17, root_index=17, rngs=nnx.Rngs(0))


def test_virtual_camera_rotation_float64():
    with jax.enable_x64(True):
        d = jnp.array([[0.3, -0.2, 1.0], [0.0, 0.0, 2.0], [-0.6, 0.5, 0.7]], jnp.float64)
        R = virtual_camera_rotation(d)
        np.testing.assert_allclose(R @ jnp.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-14)
        np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-14)
        unit = d / jnp.linalg.norm(d, axis=-1, keepdims=True)
        np.testing.assert_allclose(jnp.einsum("bij,bj->bi", R, unit), [[0, 0, 1]] * 3, atol=1e-14)
        np.testing.assert_allclose(R[1], np.eye(3), atol=1e-15)


def test_encoding_scale_invariant_and_missing_joints_masked():
    pts, rays = _pose_rays(jax.random.key(1))
    f1, _, n1 = encode_inputs(rays)
    # a pose centred on the optical axis, seen twice as large (closer, or a longer lens): identical input
    centred = rays - rays.mean(1, keepdims=True)
    np.testing.assert_allclose(encode_inputs(centred)[0], encode_inputs(2.0 * centred)[0], atol=1e-5)
    np.testing.assert_allclose(encode_inputs(centred)[1], np.broadcast_to(np.eye(3), (6, 3, 3)), atol=1e-6)
    # a missing joint: zeros with a 0 flag, and its (garbage) value does not matter
    bad = rays.copy()
    bad[:, 13] = np.nan
    g1, _, n = encode_inputs(bad)
    garbage = rays.copy()
    garbage[:, 13] = 123.0
    g2, _, _ = encode_inputs(garbage, visible=np.arange(17) != 13)
    np.testing.assert_allclose(g1, g2, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(g1).reshape(-1, 17, 3)[:, 13], 0.0)
    np.testing.assert_array_equal(n, 16)
    # features of the others: centred and unit-RMS
    p = np.asarray(f1).reshape(-1, 17, 3)[..., :2]
    np.testing.assert_allclose(p.mean(1), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt((p**2).sum(-1).mean(1)), 1.0, atol=1e-5)


def test_camera_rotation_moves_prediction_with_the_camera(tiny):
    """Pan/tilt of the camera about its centre: the prediction turns with it (up to the virtual roll)."""
    pts, rays = _pose_rays(jax.random.key(2))
    Rc = np.asarray(rodrigues_to_matrix(jnp.array([0.05, 0.25, 0.0])))  # ~15 degrees of pan
    moved = np.einsum("ik,bjk->bji", Rc, pts)
    p0, _ = tiny(rays, train=False)
    p1, _ = tiny(moved[..., :2] / moved[..., 2:], train=False)
    expected = np.einsum("ik,bjk->bji", Rc, np.asarray(p0))
    scale = np.abs(np.asarray(p0)).max()
    assert np.abs(np.asarray(p1) - expected).max() < 0.1 * scale  # a few degrees of virtual roll at most


def test_gradients_and_jit_equals_eager(tiny):
    _, rays = _pose_rays(jax.random.key(3))
    graphdef, params, stats = nnx.split(tiny, nnx.Param, nnx.BatchStat)

    stats = nnx.to_pure_dict(stats)

    def loss(p, key):
        model = nnx.merge(graphdef, p, stats)
        pred, _ = model(rays, train=True, key=key)
        return jnp.mean(pred**2)

    grads = jax.grad(loss)(params, jax.random.key(0))
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert sum(float(jnp.abs(g).sum() > 0) for g in leaves) == len(leaves)
    eager, _ = tiny(rays, train=False)
    jitted = jax.jit(lambda p, s, r: nnx.merge(graphdef, p, s)(r, train=False)[0])(params, stats, rays)
    np.testing.assert_allclose(eager, jitted, rtol=1e-5, atol=1e-3)
    # dropout: deterministic given the key, different for another key
    a, b = loss(params, jax.random.key(5)), loss(params, jax.random.key(5))
    assert float(a) == float(b) and float(loss(params, jax.random.key(6))) != float(a)


def test_max_norm_project():
    params = {"a": {"kernel": jnp.full((4, 3), 2.0), "bias": jnp.full((3,), 5.0)}}
    out = max_norm_project(params, 1.0)
    np.testing.assert_allclose(np.linalg.norm(out["a"]["kernel"], axis=0), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(out["a"]["bias"], 5.0)
    small = {"kernel": jnp.full((4, 3), 0.1)}
    np.testing.assert_array_equal(max_norm_project(small, 1.0)["kernel"], small["kernel"])


def test_augment_identity_and_rigid():
    pts, rays = _pose_rays(jax.random.key(4))
    up = np.tile([0.0, -1.0, 0.0], (len(pts), 1))
    r, vis, target = augment(jax.random.key(0), pts, up)
    np.testing.assert_allclose(r, rays, rtol=1e-5, atol=1e-7)
    assert bool(vis.all())
    np.testing.assert_allclose(target, pts - pts[:, :1], atol=1e-3)
    r, vis, target = augment(jax.random.key(1), pts, up, turn_deg=180, elevation_deg=20, roll_deg=10,
                             distance_range=(0.6, 1.6), flip_prob=1.0,
                             noise_std=0.0, drop_prob=0.3)  # fmt: skip
    np.testing.assert_array_equal(np.asarray(target[:, 0]), 0.0)
    bones = lambda x: np.linalg.norm(x[:, 1:] - x[:, np.asarray(H36M_17.parents[1:])], axis=-1)  # noqa: E731
    flipped_bones = bones(pts[:, H36M_17.flip_permutation()])
    np.testing.assert_allclose(bones(np.asarray(target)), flipped_bones, rtol=1e-4)
    assert 0.5 < float(vis.mean()) < 0.9


def test_batches_are_a_function_of_the_step():
    key = jax.random.key(0)
    a = batch_indices(key, 7, 100, 8)
    np.testing.assert_array_equal(a, batch_indices(key, 7, 100, 8))
    epoch0 = np.concatenate([batch_indices(key, s, 100, 8) for s in range(12)])
    assert len(np.unique(epoch0)) == 96  # one epoch: no repeats
    assert not np.array_equal(batch_indices(key, 0, 100, 8), batch_indices(key, 12, 100, 8))
    with pytest.raises(ValueError, match="exceeds"):
        batch_indices(key, 0, 4, 8)


def test_test_samples_rays_match_the_projection():
    ds = make_dataset(jax.random.key(0), subjects=["S11"], actions=["Sitting"], trials=1, frames_per_sequence=5)
    ts = make_test_samples(ds)
    cam = train_samples(ds).points_camera
    np.testing.assert_allclose(ts.rays, cam[..., :2] / cam[..., 2:], atol=5e-4)  # OpenCV vs H36M tangential
    np.testing.assert_allclose(ts.target, cam - cam[:, :1], atol=1e-3)
    assert ts.camera[:4].tolist() == list(ds.camera_names) and set(ts.action) == {"Sitting"}


# ---------------------------------------------------------------------------------------- real use


@pytest.fixture(scope="module")
def shipped():
    return load_lifter()


def test_shipped_checkpoint_lifts_synthetic_poses(shipped):
    assert shipped.skeleton.name == "h36m" and shipped.path == default_checkpoint()
    ds = make_dataset(jax.random.key(7), subjects=["S9"], actions=["Directions"], trials=1, frames_per_sequence=8)
    ts = make_test_samples(ds)
    pred = lift_rays(shipped, ts.rays)
    err = np.linalg.norm(pred - ts.target, axis=-1).mean()
    assert err < 120.0, err  # trained model: far better than the ~400 mm of an untrained one


def test_missing_joints_masked_not_zeroed(shipped):
    ds = make_dataset(jax.random.key(8), subjects=["S9"], actions=["Walking"], trials=1, frames_per_sequence=4)
    ts = make_test_samples(ds)
    rays = ts.rays.copy()
    rays[:, H36M_17.index("left_wrist")] = np.nan
    pred = lift_rays(shipped, rays)
    assert np.isfinite(pred).all()  # the missing joint is still predicted
    full = lift_rays(shipped, ts.rays)
    wrist = H36M_17.index("left_wrist")
    assert np.linalg.norm(pred[:, wrist] - ts.target[:, wrist], axis=-1).mean() < 250
    assert np.abs(pred - full).max() > 0  # masked, not silently replaced by zeros at the same place
    zeroed = ts.rays.copy()
    zeroed[:, wrist] = 0.0  # what silent zeroing would feed: a joint at the image centre
    assert np.abs(lift_rays(shipped, zeroed) - pred).max() > 1.0
    few = ts.rays.copy()
    few[:, :10] = np.nan
    assert np.isnan(lift_rays(shipped, few)).all()  # 7 visible < min_visible = 8
    with pytest.raises(LiftInputError, match=r"\(\.\.\., 17, 2\)"):
        lift_rays(shipped, np.zeros((3, 25, 2)))


def test_lift_real_openpose_with_rig(shipped, tmp_path):
    src = tmp_path / "pose"
    for cam in ("cam01_json", "cam03_json"):
        (src / cam).mkdir(parents=True)
        for f in sorted((BALANCING / cam).glob("*.json"))[:6]:
            shutil.copy(f, src / cam / f.name)
    rig = load_rig(DATA / "Calib_qualisys_from_v0.4.15.toml")
    kp = read_openpose(src, skeleton="body_25b")
    res = lift_keypoints(kp, checkpoint=shipped, rig=rig)
    assert res.points_3d.shape == (6, 2, kp.num_people, 17, 3) and res.intrinsics == "rig"
    subject = res.points_3d[:, :, 0]
    assert np.isfinite(subject).all()
    height = np.nanmax(subject[..., 1], -1) - np.nanmin(subject[..., 1], -1)  # camera y ~ vertical
    # a person's height per view (median over frames: the lifter may tilt a body in depth in a few frames,
    # experiments/RESULTS.md), and every frame at least a body's half
    assert np.all((np.median(height, 0) > 1000) & (np.median(height, 0) < 2200)) and (height > 500).all(), height
    # both views see the same body: world-axes poses agree up to the lifter's error
    w = res.points_3d_world[:, :, 0]
    assert np.linalg.norm(w[:, 0] - w[:, 1], axis=-1).mean() < 200


def test_bad_inputs(shipped, tmp_path):
    src = tmp_path / "pose" / "cam01_json"
    src.mkdir(parents=True)
    for f in sorted((BALANCING / "cam01_json").glob("*.json"))[:2]:
        shutil.copy(f, src / f.name)
    kp = read_openpose(src.parent, skeleton="body_25b")
    # keypoints of a skeleton the checkpoint cannot take
    foreign = kp.remap("coco")
    object.__setattr__(foreign, "skeleton", __import__("dataclasses").replace(foreign.skeleton, name="mystery"))
    with pytest.raises(LiftInputError, match="mystery"):
        lift_keypoints(foreign, checkpoint=shipped)
    with pytest.raises(LiftInputError, match="do not match"):
        lift_keypoints(
            kp, checkpoint=shipped, rig=load_rig(DATA / "Calib_qualisys_from_v0.4.15.toml").subset(["cam_02"])
        )


def test_checkpoint_errors(tmp_path):
    model = Lifter(width=8, num_blocks=1, rngs=nnx.Rngs(0))
    _, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    kwargs = dict(num_joints=17, root_index=0, width=8, num_blocks=1, dropout=0.5)
    path = save_lifter(tmp_path / "ck", params=nnx.to_pure_dict(params), batch_stats=nnx.to_pure_dict(stats),
                       model_kwargs=kwargs, info={"skeleton": "h36m"}, weights_dtype="bfloat16")  # fmt: skip
    loaded = load_lifter(path)
    assert jax.tree_util.tree_leaves(loaded.params)[0].dtype == jnp.bfloat16
    assert np.isfinite(lift_rays(loaded, _pose_rays(jax.random.key(0))[1])).all()
    meta = json.loads((path / "lifter.json").read_text())
    meta["model"]["width"] = 16  # weights of another config
    (path / "lifter.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"has shape \(8,\).*expects \(16,\).*another config"):
        load_lifter(path)
    (path / "lifter.json").unlink()
    with pytest.raises(CheckpointError, match="no lifter.json"):
        load_lifter(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_lifter(tmp_path / "missing")


def test_folded_inference_equals_the_model():
    from lift3d.models.lifter import apply_folded, fold_batch_norm

    model = Lifter(width=32, num_blocks=2, rngs=nnx.Rngs(1))
    graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    params, stats = nnx.to_pure_dict(params), nnx.to_pure_dict(stats)
    stats = jax.tree.map(lambda a: a + jax.random.uniform(jax.random.key(2), a.shape), stats)  # non-trivial BN
    _, rays = _pose_rays(jax.random.key(9))
    visible = np.arange(17) != 5
    ref, _ = nnx.merge(graphdef, params, stats)(rays, visible, train=False)
    out = apply_folded(fold_batch_norm(params, stats), rays, visible)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=0.05)
    half = [(w.astype(jnp.bfloat16), b) for w, b in fold_batch_norm(params, stats)]
    assert np.abs(np.asarray(apply_folded(half, rays, visible)) - np.asarray(ref)).max() < 0.02 * np.abs(ref).max()


def test_byte_dropout():
    from lift3d.models.lifter import byte_dropout

    x = jnp.ones((64, 1022))  # width not a multiple of 4
    y = byte_dropout(x, 0.5, jax.random.key(0), train=True)
    assert y.shape == x.shape and set(np.unique(np.asarray(y)).tolist()) == {0.0, 2.0}
    assert abs(float((y > 0).mean()) - 0.5) < 0.01
    assert abs(float((byte_dropout(x, 0.1, jax.random.key(1), train=True) > 0).mean()) - 0.9) < 0.01
    np.testing.assert_array_equal(byte_dropout(x, 0.5, jax.random.key(0), train=True), y)
    np.testing.assert_array_equal(byte_dropout(x, 0.5, None, train=False), x)
    with pytest.raises(ValueError, match="needs a key"):
        byte_dropout(x, 0.5, None, train=True)


def test_augment_detector_patterns():
    pts, rays = _pose_rays(jax.random.key(4))
    pts = np.tile(pts, (200, 1, 1))[:2000]
    up = np.tile([0.0, -1.0, 0.0], (len(pts), 1))
    base = augment(jax.random.key(7), pts, up, noise_std=0.01, drop_prob=0.05)
    # options off: the same random streams as before they existed
    same = augment(jax.random.key(7), pts, up, noise_std=0.01, drop_prob=0.05, limb_drop_prob=0.0, swap_prob=0.0)
    for a, b in zip(base, same, strict=True):
        np.testing.assert_array_equal(a, b)
    # occluded limbs: hidden joints come in distal runs of one limb; the target is untouched
    _, vis, target = augment(jax.random.key(7), pts, up, limb_drop_prob=1.0)
    np.testing.assert_allclose(target, base[2], atol=1e-6)
    hidden = ~np.asarray(vis)
    assert (hidden.sum(1) >= 1).all() and (hidden.sum(1) <= 3).all()
    assert not hidden[:, [0, 7, 8, 9, 10]].any()
    j = H36M_17.index
    for side in ("left", "right"):
        wrist, elbow = hidden[:, j(f"{side}_wrist")], hidden[:, j(f"{side}_elbow")]
        assert not (elbow & ~wrist).any()  # never an elbow without its wrist
    # swaps: with probability 1 every sample has one left/right pair exchanged, the target stays
    r, _, t = augment(jax.random.key(8), pts, up, swap_prob=1.0)
    clean, _, t0 = augment(jax.random.key(8), pts, up)
    np.testing.assert_array_equal(t, t0)
    moved = np.any(np.asarray(r) != np.asarray(clean), axis=-1)
    assert moved.any(1).all() and not moved[:, [0, 7, 8, 9, 10]].any()
    # extremity noise: wrists get about (1 + k) times the noise of the shoulders
    rn, _, _ = augment(jax.random.key(9), pts, up, noise_std=0.02, extremity_noise=2.0)
    rc, _, _ = augment(jax.random.key(9), pts, up)
    err = np.linalg.norm(np.asarray(rn) - np.asarray(rc), axis=-1).mean(0)
    assert 2.4 < err[j("left_wrist")] / err[j("left_shoulder")] < 3.6
