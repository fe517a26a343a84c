"""Learnable-triangulation models: heatmap readouts, the weighted DLT, voxel volumes, the two networks.

Sizes are tiny (32 x 32 crops, width 8, an 8^3 grid) and the whole-model checks use the smoke configs of
`experiments/lt_synthetic.py` with the batch shapes of `tests/test_lt_train.py`, so the jitted programs
are compiled once for both files.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax.test_util import check_grads

from lift3d.geometry.volume import (
    aggregate,
    bilinear_sample,
    cuboid_grid,
    grid_indices,
    rescale_projection,
    rotation_about_axis,
    unproject,
)
from lift3d.models.algebraic import mse_smooth_loss, normalize_confidences, triangulate_proj
from lift3d.models.backbone import PoseResNet, heatmap_size
from lift3d.models.heatmaps import argmax_2d, heatmap_to_image, soft_argmax_2d, soft_argmax_3d
from lift3d.models.v2v import V2V
from lift3d.models.volumetric import volumetric_ce_loss
from lift3d.train import sharding
from lift3d.train.lt_eval import predict, predict_keypoints_2d
from lift3d.train.lt_trainer import compiled_train_step, init_state, load_config

CONFIG = Path(__file__).resolve().parents[2] / "experiments" / "lt_synthetic.py"


def look_at(center, eye, f: float = 60.0, size: int = 32) -> np.ndarray:
    z = np.asarray(center, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    K = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
    return K @ np.c_[R, -R @ eye]


def rig(v: int, center=(0.0, 0.0, 1000.0), f: float = 60.0, size: int = 32) -> np.ndarray:
    eyes = [np.array([4000 * np.cos(a), 4000 * np.sin(a), 1600.0]) for a in 2 * np.pi * np.arange(v) / v + 0.3]
    return np.stack([look_at(center, e, f, size) for e in eyes])


def project(P: np.ndarray, X: np.ndarray) -> np.ndarray:
    h = np.einsum("...vik,...jk->...vji", P[..., :3], X) + P[..., None, :, 3]
    return h[..., :2] / h[..., 2:]


# ------------------------------------------------------------------------------------------ heatmaps


def test_soft_argmax_2d_peak_nan_and_jit_equals_eager():
    h, w = 12, 16
    yy, xx = np.mgrid[:h, :w]
    target = np.array([[5.3, 7.6], [11.0, 3.25]])  # (x, y) per joint
    # log of a Gaussian of std 1 px over the multiplier: softmax(100 hm) is that Gaussian, its mean the target
    hm = np.stack([-((xx - x) ** 2 + (yy - y) ** 2) / 200.0 for x, y in target], -1)[None]  # (1, h, w, 2)
    xy, ok = soft_argmax_2d(hm, 100.0)
    np.testing.assert_allclose(xy[0], target, atol=1e-3)
    assert ok.all()
    with jax.disable_jit():
        np.testing.assert_allclose(soft_argmax_2d(hm, 100.0)[0], xy, rtol=1e-5)
    peak, value = argmax_2d(hm)
    np.testing.assert_array_equal(peak[0], np.round(target))
    # NaN pixels are left out; an all-NaN map gives NaN and valid False, with finite gradients
    bad = hm.copy()
    bad[0, 0, 0, 0] = np.nan
    bad[0, :, :, 1] = np.nan
    xy2, ok2 = soft_argmax_2d(bad, 100.0)
    np.testing.assert_allclose(xy2[0, 0], xy[0, 0], atol=1e-4)
    assert ok2.tolist() == [[True, False]] and np.isnan(xy2[0, 1]).all()
    assert np.isnan(argmax_2d(bad)[0][0, 1]).all() and np.isnan(argmax_2d(bad)[1][0, 1])
    grad = jax.grad(lambda m: jnp.nansum(soft_argmax_2d(m, 100.0)[0]))(jnp.asarray(bad))
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_soft_argmax_3d_and_coordinate_maps():
    grid = cuboid_grid(jnp.array([100.0, -50.0, 900.0]), side_mm=2000.0, size=5)
    vol = np.full((5, 5, 5, 2), -50.0)
    vol[1, 2, 3, 0] = 50.0
    vol[4, 0, 0, 1] = 50.0
    pts, probs = soft_argmax_3d(vol, grid)
    np.testing.assert_allclose(pts, np.asarray(grid)[[1, 4], [2, 0], [3, 0]], atol=1e-3)
    np.testing.assert_allclose(np.sum(probs, (0, 1, 2)), 1.0, rtol=1e-6)
    # heatmap px -> image px is the inverse of rescaling the cameras to the heatmap
    P = rig(2)
    X = np.array([[120.0, -80.0, 1300.0]])
    uv = project(P, X)
    uv_hm = project(np.asarray(rescale_projection(P, (32, 32), (8, 8))), X)
    np.testing.assert_allclose(heatmap_to_image(uv_hm, (8, 8), (32, 32)), uv, atol=1e-6)


# ------------------------------------------------------------------------------------------ DLT


def test_dlt_exact_masked_and_jit_equals_eager():
    rng = np.random.default_rng(0)
    P = rig(4).astype(np.float32)
    X = rng.normal(0, 300, (6, 3)) + [0, 0, 1000]
    uv = project(P, X).astype(np.float32)
    for solver in ("svd", "eigh"):
        est, n = triangulate_proj(P, uv, np.ones((4, 6), np.float32), solver=solver)
        np.testing.assert_allclose(est, X, atol=0.05)  # float32, ~4 m from the cameras
        assert np.asarray(n).tolist() == [4] * 6
    w = rng.uniform(0.1, 1.0, (4, 6)).astype(np.float32)
    noisy = (uv + rng.normal(0, 0.3, uv.shape)).astype(np.float32)
    ref, _ = triangulate_proj(P[[0, 2, 3]], noisy[[0, 2, 3]], w[[0, 2, 3]])
    P_bad, uv_bad, w0 = P.copy(), noisy.copy(), w.copy()
    P_bad[1], uv_bad[1], w0[1] = np.nan, np.nan, 0.0
    for weights, P_, uv_ in ((w0, P, noisy), (w, P_bad, noisy), (w, P, uv_bad), (w0, P_bad, uv_bad)):
        est, n = triangulate_proj(P_, uv_, weights)
        np.testing.assert_allclose(est, ref, atol=1e-3)
        assert np.asarray(n).tolist() == [3] * 6
    with jax.disable_jit():
        np.testing.assert_allclose(triangulate_proj(P, noisy, w0)[0], ref, atol=1e-3)
    # a joint seen by one view: NaN, and zero gradients rather than NaN ones
    one = np.zeros((4, 6), np.float32)
    one[2, 0] = 1.0
    one[:, 1:] = 1.0
    est, n = triangulate_proj(P, noisy, one)
    assert np.isnan(est[0]).all() and n[0] == 0 and np.isfinite(est[1:]).all()
    g = jax.grad(lambda u: jnp.nansum(triangulate_proj(P, u, one)[0]))(jnp.asarray(noisy, jnp.float32))
    assert np.isfinite(g).all() and not g[:, 0].any()


def test_dlt_gradients_float64():
    rng = np.random.default_rng(1)
    P = rig(3)
    X = rng.normal(0, 300, (2, 3)) + [0, 0, 1000]
    uv = project(P, X) + rng.normal(0, 0.5, (3, 2, 2))
    w = rng.uniform(0.2, 1.0, (3, 2))
    with jax.enable_x64(True):
        Pj, uvj, wj = jnp.asarray(P), jnp.asarray(uv), jnp.asarray(w)
        check_grads(lambda u, c: triangulate_proj(Pj, u, c, solver="svd")[0], (uvj, wj), order=1, modes=["rev"],
                    eps=1e-3)  # fmt: skip
        g_svd = jax.grad(lambda u: jnp.sum(triangulate_proj(Pj, u, wj, solver="svd")[0]))(uvj)
        g_eigh = jax.grad(lambda u: jnp.sum(triangulate_proj(Pj, u, wj, solver="eigh")[0]))(uvj)
        np.testing.assert_allclose(g_eigh, g_svd, rtol=1e-6, atol=1e-9)


def test_confidences_and_mse_smooth():
    conf = jnp.array([[2.0, 1.0], [6.0, 1.0], [5.0, 3.0]])
    valid = jnp.array([[True, True], [True, False], [False, True]])
    w = normalize_confidences(conf, valid)
    np.testing.assert_allclose(w, [[0.25 + 1e-5, 0.25 + 1e-5], [0.75 + 1e-5, 0], [0, 0.75 + 1e-5]], rtol=1e-6)
    pred = jnp.array([[[0.0, 0.0, 0.0], [30.0, 0.0, 0.0]]])
    gt = jnp.zeros((1, 2, 3))
    loss = mse_smooth_loss(pred, gt, jnp.array([[True, True]]), threshold=400.0)
    np.testing.assert_allclose(loss, (900.0**0.1 * 400.0**0.9) / 6, rtol=1e-5)
    assert mse_smooth_loss(pred, gt, jnp.array([[True, False]])) == 0.0


# ------------------------------------------------------------------------------------------ volumes


def _bilinear_ref(f: np.ndarray, x: float, y: float) -> np.ndarray:
    h, w = f.shape[:2]
    out = np.zeros(f.shape[-1])
    x0, y0 = int(np.floor(x)), int(np.floor(y))
    for xi in (x0, x0 + 1):
        for yi in (y0, y0 + 1):
            if 0 <= xi < w and 0 <= yi < h:
                out += (1 - abs(x - xi)) * (1 - abs(y - yi)) * f[yi, xi]
    return out


def test_unproject_against_brute_force():
    rng = np.random.default_rng(2)
    b, v, h, w, c, d = 2, 3, 6, 5, 3, 4
    feats = rng.normal(size=(b, v, h, w, c)).astype(np.float32)
    center = np.array([[0.0, 0.0, 1000.0], [200.0, -100.0, 900.0]])
    P = np.stack([rig(v, center=cc, f=3.0, size=6) for cc in center])  # the cube overflows some maps
    P[1, 2] = look_at(center[1], center[1] + [0.0, 900.0, 300.0], 3.0, 6)  # a camera inside the cube
    R = np.asarray(rotation_about_axis(np.array([0.4, -1.1])))
    grid = np.asarray(cuboid_grid(center, side_mm=2500.0, size=d, rotation=R))
    vol, valid = unproject(feats, P, grid, np.ones((b, v), bool))
    ref = np.zeros((b, v, d, d, d, c))
    behind = 0
    for i in range(b):
        for k in range(v):
            for idx in np.ndindex(d, d, d):
                hom = P[i, k] @ np.append(grid[i][idx], 1.0)
                if hom[2] <= 0:
                    behind += 1
                    continue
                ref[i, k][idx] = _bilinear_ref(feats[i, k], hom[0] / hom[2], hom[1] / hom[2])
    assert behind > 0 and (ref == 0).all(-1).sum() > behind  # both kinds of zeros occur
    np.testing.assert_allclose(vol, ref, atol=1e-5)
    assert valid.all()
    with jax.disable_jit():
        np.testing.assert_allclose(bilinear_sample(feats[0], jnp.zeros((v, 1, 2)) + 2.5)[:, 0],
                                   [_bilinear_ref(feats[0, k], 2.5, 2.5) for k in range(v)], atol=1e-6)  # fmt: skip
    # nearest voxel: the per-axis rounding equals a search over all voxels, inside and outside the cube
    pts = center[:, None] + rng.normal(0, 1200, (b, 20, 3))
    idx = np.asarray(grid_indices(pts, center, side_mm=2500.0, size=d, rotation=R))
    for i in range(b):
        dist = np.linalg.norm(grid[i].reshape(-1, 1, 3) - pts[i], axis=-1)
        np.testing.assert_array_equal(np.ravel_multi_index(idx[i].T, (d, d, d)), dist.argmin(0))


@pytest.mark.parametrize("method", ["sum", "conf", "softmax"])
def test_missing_view_takes_no_part(method):
    rng = np.random.default_rng(3)
    b, v, h, w, c, d = 2, 3, 6, 6, 2, 4
    feats = rng.normal(size=(b, v, h, w, c)).astype(np.float32)
    P = np.stack([rig(v, f=3.0, size=6)] * b)
    conf = rng.uniform(0.1, 1.0, (b, v, c)).astype(np.float32)
    grid = cuboid_grid(np.array([[0.0, 0.0, 1000.0]] * b), side_mm=2500.0, size=d)
    keep = [0, 2]
    vol_ref, _ = unproject(feats[:, keep], P[:, keep], grid, np.ones((b, 2), bool))
    ref = aggregate(vol_ref, np.ones((b, 2), bool), method, conf[:, keep])
    mask = np.ones((b, v), bool)
    mask[:, 1] = False
    bad_f, bad_P = feats.copy(), P.copy()
    bad_f[:, 1], bad_P[:, 1] = np.nan, np.nan
    for f_, P_, m_ in ((feats, P, mask), (bad_f, P, mask), (bad_f, bad_P, mask), (bad_f, P, np.ones((b, v), bool))):
        vol, valid = unproject(f_, P_, grid, m_)
        assert valid[:, 1].sum() == 0 and valid[:, keep].all()  # NaN features make a view invalid, too
        out = aggregate(vol, valid, method, conf)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    with jax.disable_jit():
        np.testing.assert_allclose(aggregate(vol, valid, method, conf), ref, rtol=1e-5, atol=1e-6)
    if method == "sum":
        np.testing.assert_allclose(ref, np.asarray(vol_ref).sum(1), rtol=1e-6)


def test_volumetric_cross_entropy():
    d, j = 4, 2
    center, R = jnp.zeros((1, 3)), rotation_about_axis(jnp.array([0.3]))
    grid = np.asarray(cuboid_grid(center, side_mm=900.0, size=d, rotation=R))
    target = jnp.asarray(grid[:, [1, 3], [2, 0], [0, 3]] + 40.0)  # near voxels (1, 2, 0) and (3, 0, 3)
    onehot = np.zeros((1, d, d, d, j))
    onehot[0, 1, 2, 0, 0] = onehot[0, 3, 0, 3, 1] = 1.0
    valid = jnp.ones((1, j), bool)
    kw = dict(center=center, rotation=R, side_mm=900.0)
    assert volumetric_ce_loss(jnp.asarray(onehot), target, valid, **kw) < 1e-5
    uniform = jnp.full((1, d, d, d, j), 1.0 / d**3)
    np.testing.assert_allclose(volumetric_ce_loss(uniform, target, valid, **kw), np.log(d**3), rtol=1e-4)


# ------------------------------------------------------------------------------------------ networks


def test_network_shapes_paper_sizes():
    """Parameter counts (Xiao et al.'s pose_resnet_50: 34.0 M) and output shapes, without compiling."""
    m = nnx.eval_shape(lambda: PoseResNet(num_joints=17, depth=50, rngs=nnx.Rngs(0)))
    assert sum(x.size for x in jax.tree.leaves(nnx.state(m, nnx.Param))) == 33_999_697
    graphdef, params = nnx.split(nnx.eval_shape(lambda: PoseResNet(num_joints=17, depth=18, rngs=nnx.Rngs(0))))
    x = jax.ShapeDtypeStruct((2, 384, 384, 3), jnp.float32)
    hm, aux = jax.eval_shape(lambda p, x: nnx.merge(graphdef, p)(x), params, x)
    assert hm.shape == (2, 96, 96, 17) and aux["features"].shape == (2, 96, 96, 256)
    assert heatmap_size((384, 384), 4, 3) == (96, 96)
    graphdef, params = nnx.split(nnx.eval_shape(lambda: V2V(32, 17, rngs=nnx.Rngs(0))))
    vol = jax.ShapeDtypeStruct((1, 64, 64, 64, 32), jnp.float32)
    assert jax.eval_shape(lambda p, x: nnx.merge(graphdef, p)(x), params, vol).shape == (1, 64, 64, 64, 17)
    with pytest.raises(ValueError, match="divisible"):
        heatmap_size((100, 100), 4, 3)


def _batch(views: int = 4):
    rng = np.random.default_rng(4)
    pelvis = np.array([[0.0, 0.0, 1000.0], [150.0, 100.0, 950.0]])
    joints = pelvis[:, None] + rng.normal(0, 300, (2, 17, 3))
    proj = np.stack([rig(views, center=p) for p in pelvis])
    return {
        "images": rng.normal(size=(2, views, 32, 32, 3)).astype(np.float32), "proj": proj.astype(np.float32),
        "view_mask": np.ones((2, views), bool), "joints_3d": joints.astype(np.float32),
        "joints_valid": np.ones((2, 17), bool), "joints_2d": project(proj, joints).astype(np.float32),
        "pelvis": pelvis.astype(np.float32),
    }  # fmt: skip


@pytest.mark.parametrize("variant", ["smoke", "smoke_volumetric"])
def test_model_forward_masking_gradients(variant):
    config = load_config(f"{CONFIG}:{variant}")
    graphdef, state = init_state(config, 17)
    batch = _batch()
    out = predict(graphdef, state["params"], state["batch_stats"], batch)
    assert out.shape == (2, 17, 3) and np.isfinite(out).all()
    model = nnx.merge(graphdef, state["params"], state["batch_stats"])
    inputs = [jnp.asarray(batch[k]) for k in ("images", "proj", "view_mask", "pelvis")]
    if variant == "smoke":  # the pieces of the volumetric model are compared with eager runs one by one above
        eager, aux = model(*inputs, train=False)
        np.testing.assert_allclose(eager, out, rtol=1e-4, atol=1e-2)  # jit == eager
        assert aux["keypoints_2d"].shape == (2, 4, 17, 2) and aux["weights"].shape == (2, 4, 17)
        kp, peak = predict_keypoints_2d(graphdef, state["params"], state["batch_stats"],
                                        dict(batch, view_mask=np.array([[True, False, True, True]] * 2)))  # fmt: skip
        assert kp.shape == (2, 4, 17, 2) and np.isnan(kp[:, 1]).all() and not peak[:, 1].any()
        seen = kp[:, [0, 2, 3]]
        assert np.isfinite(seen).all() and (seen >= -0.5).all() and (seen <= 31.5).all()
    else:
        aux = nnx.eval_shape(lambda m, *x: m(*x, train=False)[1], model, *inputs)
        assert aux["probabilities"].shape == (2, 8, 8, 8, 17) and aux["grid"].shape == (2, 8, 8, 8, 3)
    assert aux["heatmaps"].shape == (2, 4, 8, 8, 17)
    # a missing view: its content (NaN or anything) does not matter, and the output stays finite
    masked = dict(batch, view_mask=np.array([[True, True, False, True]] * 2))
    a = predict(graphdef, state["params"], state["batch_stats"], masked)
    garbage = dict(masked, images=masked["images"].copy(), proj=masked["proj"].copy())
    garbage["images"][:, 2], garbage["proj"][:, 2] = np.nan, np.nan
    np.testing.assert_array_equal(predict(graphdef, state["params"], state["batch_stats"], garbage), a)
    assert np.isfinite(a).all() and np.abs(a - out).max() > 0
    # gradients (the trainer's compiled step): finite with a NaN view, NaN 2D labels and an invalid joint
    garbage["joints_2d"] = garbage["joints_2d"].copy()
    garbage["joints_2d"][0, 0] = np.nan
    garbage["joints_valid"] = garbage["joints_valid"].copy()
    garbage["joints_valid"][1, 3] = False
    mesh = sharding.make_mesh(None)
    step = compiled_train_step(dataclasses.replace(config, max_steps=40), graphdef, mesh)
    new, metrics = step(sharding.replicate(mesh, state), sharding.shard_batch(mesh, garbage))
    assert np.isfinite(float(metrics["grad_norm"])) and float(metrics["grad_norm"]) > 0
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(new["params"]))
