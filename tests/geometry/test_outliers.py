"""Outlier rejection (`lift3d.geometry.outliers`) on synthetic bodies with known wrong joints."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lift3d.core.skeleton import BODY_25B, H36M_17
from lift3d.geometry.bones import bone_lengths
from lift3d.geometry.outliers import (
    BONE_LENGTH,
    BONE_TOLERANCE,
    KEPT,
    MAX_ADJUST_M,
    REPROJECTION,
    TEMPORAL,
    bone_outliers,
    fit_bones,
    noise_tolerance,
    reject_outliers,
    temporal_outliers,
    temporal_window,
)
from lift3d.geometry.temporal import fill_gaps, filter_trajectories

FPS = 60.0
HEAD, L_WRIST, R_WRIST, R_ELBOW, R_KNEE, R_ANKLE = (
    H36M_17.index(n) for n in ("head", "left_wrist", "right_wrist", "right_elbow", "right_knee", "right_ankle")
)


def _pose() -> np.ndarray:
    """A standing H36M-17 body, metres, z up: (17, 3)."""
    rng = np.random.default_rng(0)
    pose = np.zeros((17, 3))
    offsets = {  # child: offset from its parent
        1: (-0.12, 0, 0), 2: (0, 0, -0.42), 3: (0, 0, -0.40), 4: (0.12, 0, 0), 5: (0, 0, -0.42), 6: (0, 0, -0.40),
        7: (0, 0, 0.25), 8: (0, 0, 0.25), 9: (0, 0.05, 0.10), 10: (0, 0, 0.12), 11: (0.18, 0, 0), 12: (0.05, 0, -0.28),
        13: (0, 0.05, -0.25), 14: (-0.18, 0, 0), 15: (-0.05, 0, -0.28), 16: (0, 0.05, -0.25),
    }  # fmt: skip
    parents = H36M_17.parents
    for child in range(1, 17):
        pose[child] = pose[parents[child]] + np.asarray(offsets[child]) + rng.normal(0, 0.005, 3)
    return pose + [0, 0, 1.0]


def _motion(t: int = 120, fast: bool = False) -> np.ndarray:
    """(t, 17, 3): the body turning slowly and walking at 1 m/s, 2 mm of noise; `fast`: the right forearm
    swings about the elbow at 3 turns a second (the wrist at about 5 m/s)."""
    rng = np.random.default_rng(1)
    base, time = _pose(), np.arange(t) / FPS
    yaw = 0.5 * np.sin(2 * np.pi * 0.5 * time)
    rot = np.stack(
        [np.stack([np.cos(yaw), -np.sin(yaw), 0 * yaw], -1), np.stack([np.sin(yaw), np.cos(yaw), 0 * yaw], -1),
         np.broadcast_to([0.0, 0.0, 1.0], (t, 3))], 1
    )  # fmt: skip
    pts = np.einsum("tij,nj->tni", rot, base) + np.stack([time, 0 * time, 0 * time], -1)[:, None]
    if fast:
        forearm = np.linalg.norm(base[R_WRIST] - base[R_ELBOW])
        ang = 2 * np.pi * 3.0 * time
        swing = forearm * np.stack([np.sin(ang), 0 * ang, -np.cos(ang)], -1)
        pts[:, R_WRIST] = pts[:, R_ELBOW] + swing
    return pts + rng.normal(0, 0.002, pts.shape)


def test_a_joint_displaced_by_a_metre_in_one_frame_is_rejected_alone():
    pts = _motion()
    pts[40, L_WRIST] += [0.0, 1.0, 0.0]
    pts[70, HEAD] += [0.6, 0.0, 0.8]
    rejected = bone_outliers(pts, H36M_17)
    assert rejected.shape == (120, 17) and rejected.dtype == bool
    assert set(zip(*np.nonzero(rejected), strict=True)) == {(40, L_WRIST), (70, HEAD)}


def test_genuine_fast_movement_is_kept():
    pts = _motion(fast=True)  # the wrist circles at ~5 m/s, turning 3 times a second; the body walks
    nv = np.full(pts.shape[:-1], 2)  # all two-view points: the temporal rule applies everywhere
    reason = reject_outliers(pts, H36M_17, error_px=np.full(nv.shape, 3.0), num_views=nv,
                             window=temporal_window(FPS)).reason  # fmt: skip
    assert (reason == KEPT).all()
    fit = fit_bones(pts, H36M_17)  # nor moved or masked after filtering
    assert not (fit.moved | fit.masked).any() and np.array_equal(fit.points, pts)


def test_nan_stays_nan_and_is_never_rejected():
    pts = _motion()
    pts[10:14, L_WRIST] = np.nan  # a gap
    pts[:, 0] = np.where(np.arange(120)[:, None] % 7 == 0, np.nan, pts[:, 0])  # the pelvis, every 7th frame
    pts[50, R_WRIST] += [1.0, 0.0, 0.0]
    out, reason = reject_outliers(pts, H36M_17, error_px=np.ones(pts.shape[:-1]),
                                  num_views=np.full(pts.shape[:-1], 2))  # fmt: skip
    gaps = np.isnan(pts).any(-1)
    assert np.isnan(out[gaps]).all() and (reason[gaps] == KEPT).all()
    assert set(zip(*np.nonzero(reason), strict=True)) == {(50, R_WRIST)}
    np.testing.assert_array_equal(out[reason == KEPT], pts[reason == KEPT])


def test_two_view_points_with_a_high_error_or_off_their_track():
    pts = _motion()
    err, nv = np.full(pts.shape[:-1], 4.0), np.full(pts.shape[:-1], 3)
    err[20, HEAD], nv[20, HEAD] = 65.0, 2  # two views that do not meet: rejected
    err[21, HEAD], nv[21, HEAD] = 65.0, 3  # three views: the robust triangulation's business, kept
    # an ankle folded up about its knee for 3 frames: bone lengths intact, 0.8 m off its track
    knee, ankle = pts[:, R_KNEE], pts[:, R_ANKLE]
    pts[60:63, R_ANKLE] = 2 * knee[60:63] - ankle[60:63]
    nv[55:70, R_ANKLE] = 2
    out, reason = reject_outliers(pts, H36M_17, error_px=err, num_views=nv, max_error_px=20.0, window=15)
    assert reason[20, HEAD] == REPROJECTION and reason[21, HEAD] == KEPT
    assert (reason[60:63, R_ANKLE] == TEMPORAL).all()
    assert np.count_nonzero(reason) == 4 and np.isnan(out[reason > 0]).all()
    nv[55:70, R_ANKLE] = 3  # the same fold seen by three views: left to the robust triangulation
    assert not temporal_outliers(pts, window=15)[:, HEAD].any()
    assert (reject_outliers(pts, H36M_17, error_px=err, num_views=nv).reason[60:63, R_ANKLE] == KEPT).all()


def test_a_wrong_joint_in_most_frames_meets_the_absolute_bound():
    pts = _motion(t=5)
    pts[:, HEAD] += [0.0, 0.0, 1.5]  # the median head bone is itself wrong: only the 1 m bound sees it
    assert bone_outliers(pts, H36M_17)[:, HEAD].all()
    assert not bone_outliers(pts, H36M_17, max_length=2.0).any()
    assert bone_outliers(pts * 1000.0, H36M_17, max_length=1000.0)[:, HEAD].all()  # millimetres


def test_people_are_judged_on_their_own_medians():
    a = _motion()
    b = _motion() * 0.7  # a child: every bone 30 % shorter
    pts = np.stack([a, b], 1)  # (t, p, j, 3)
    assert not bone_outliers(pts, H36M_17).any()
    pts[30, 1, L_WRIST] += 0.5
    assert set(zip(*np.nonzero(bone_outliers(pts, H36M_17)), strict=True)) == {(30, 1, L_WRIST)}


def test_numpy_and_jax_agree_and_jit():
    pts = _motion()
    pts[40, L_WRIST] += 1.0
    pts[10:12, HEAD] = np.nan
    err, nv = np.full(pts.shape[:-1], 4.0), np.full(pts.shape[:-1], 2)
    err[80, R_WRIST] = 50.0
    ref = reject_outliers(pts, H36M_17, error_px=err, num_views=nv)
    jitted = jax.jit(functools.partial(reject_outliers, skeleton=H36M_17))  # jax.numpy inside, traced once
    got = jitted(jnp.asarray(pts), error_px=jnp.asarray(err), num_views=jnp.asarray(nv))
    assert isinstance(got.reason, jax.Array) and isinstance(got.points, jax.Array)
    np.testing.assert_array_equal(np.asarray(got.reason), ref.reason)
    np.testing.assert_allclose(np.asarray(got.points), ref.points, atol=1e-6, equal_nan=True)
    assert set(zip(*np.nonzero(ref.reason), strict=True)) == {(40, L_WRIST), (80, R_WRIST)}


def test_filling_and_filtering_after_rejection_do_not_spread_an_outlier():
    clean = _motion()
    pts = clean.copy()
    pts[40:43, L_WRIST] += [0.0, 1.0, 0.0]
    masked, reason = reject_outliers(pts, H36M_17)
    assert (reason[40:43, L_WRIST] == BONE_LENGTH).all()
    filled, was_filled = fill_gaps(masked)
    smooth = filter_trajectories(filled, "butterworth:6", fps=FPS)
    assert was_filled[40:43, L_WRIST].all()
    assert np.abs(smooth - clean).max() < 0.02  # the metre never reaches the output, nor its neighbours
    euro = filter_trajectories(masked, "one-euro:1.0:5.0", fps=FPS)  # causal, across the gap
    assert np.isnan(euro[40:43, L_WRIST]).all() and np.nanmax(np.abs(euro - clean)) < 0.1


def test_body_25b_nose_far_from_the_head_is_blamed_not_the_eyes():
    rng = np.random.default_rng(2)
    j = BODY_25B.num_joints
    pose = rng.normal(0, 0.15, (j, 3))  # bones of 0.1-0.7 m
    pts = pose + rng.normal(0, 0.0005, (50, j, 3))
    nose = BODY_25B.index("nose")
    pts[4:9, nose] += [1.5, 0.5, 0.2]
    rejected = bone_outliers(pts, BODY_25B)
    assert set(zip(*np.nonzero(rejected), strict=True)) == {(f, nose) for f in range(4, 9)}
    assert np.isfinite(bone_lengths(np.where(rejected[..., None], np.nan, pts), BODY_25B)).any()


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="shape"):
        bone_outliers(np.zeros((5, 3)), H36M_17)
    with pytest.raises(ValueError, match="do not fit"):
        bone_outliers(np.zeros((5, 4, 3)), H36M_17)
    with pytest.raises(ValueError, match="window"):
        temporal_outliers(np.zeros((5, 4, 3)), window=1)
    assert temporal_window(60) == 15 and temporal_window(30) == 9 and temporal_window(None) == 15
    assert temporal_window(4) == 3
    assert not bone_outliers(np.zeros((3, 4, 3)), []).any()  # no bones, nothing to break


def test_temporal_blocks_join_seamlessly(monkeypatch):
    import lift3d.geometry.outliers as outliers

    pts = _motion(fast=True)
    pts[[0, 29, 30, 31, 64, 119], R_WRIST] += [0.0, 0.9, 0.0]  # at the ends and across block boundaries
    whole = temporal_outliers(pts, window=15)
    monkeypatch.setattr(outliers, "_TEMPORAL_BLOCK", 31)
    np.testing.assert_array_equal(temporal_outliers(pts, window=15), whole)
    assert set(zip(*np.nonzero(whole), strict=True)) == {(f, R_WRIST) for f in (0, 29, 30, 31, 64, 119)}


def _with_toe(t: int = 120, noise: float = 0.015) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(t, 18, 3) and bones: the walking body and a toe 6 cm ahead of the right ankle, triangulated with
    `noise` metres per coordinate (as the balancing trial's toes and heels: their 6-7 cm bones spread by 30 %)."""
    pts = _motion(t)
    toe = pts[:, R_ANKLE] + [0.06, 0.0, 0.0] + np.random.default_rng(3).normal(0, noise, (t, 3))
    return np.concatenate([pts, toe[:, None]], 1), [*H36M_17.edges, (R_ANKLE, 17)]


def test_noise_aware_tolerance_keeps_a_noisy_short_bone_and_rejects_a_metre():
    pts, bones = _with_toe()
    tol = noise_tolerance(pts, bones)
    assert tol.shape == (len(bones),) and (tol[:-1] == BONE_TOLERANCE).all()  # quiet bones: 30 %
    assert 0.6 < tol[-1] <= 1.0  # the toe's: three times its spread (about 30 %), at most 100 %
    assert bone_outliers(pts, bones)[:, 17].sum() > 20  # a fixed 30 % takes out good frames of the toe
    pts[40, 17] += [0.0, 1.0, 0.0]
    pts[70, L_WRIST] += [0.0, 0.0, 1.0]
    reason = reject_outliers(pts, bones).reason
    assert set(zip(*np.nonzero(reason), strict=True)) == {(40, 17), (70, L_WRIST)}  # the noise is kept
    assert (reject_outliers(pts, bones, spreads=0.0).reason[:, 17] == BONE_LENGTH).sum() > 20
    assert (noise_tolerance(pts, bones, cap=0.5)[-1] == 0.5) and (noise_tolerance(pts, bones, spreads=0.0) == 0.3).all()


def test_fit_bones_moves_what_noise_left_and_masks_what_is_broken():
    pts, bones = _with_toe(noise=0.002)
    pts[30:50, 17] = pts[30:50, R_ANKLE] + [0.015, 0.0, 0.0]  # the toe detected 1.5 cm ahead for 20 frames
    pts[80, L_WRIST] += [0.0, 0.3, 0.0]  # 30 cm off: masked, not moved
    fit = fit_bones(pts, bones)
    assert fit.moved[30:50, 17].all() and not fit.masked[30:50].any()
    assert set(zip(*np.nonzero(fit.masked), strict=True)) == {(80, L_WRIST)}
    assert set(zip(*np.nonzero(fit.moved), strict=True)) == {(f, 17) for f in range(30, 50)}
    assert np.isnan(fit.points[80, L_WRIST]).all()
    length = bone_lengths(fit.points, bones)
    assert np.nanmax(np.abs(length / np.nanmedian(length, 0) - 1.0)) <= BONE_TOLERANCE
    move = np.linalg.norm(fit.points - pts, axis=-1)
    assert 0.02 < move[30:50, 17].min() and move[30:50, 17].max() <= MAX_ADJUST_M
    kept = ~fit.moved & ~fit.masked
    np.testing.assert_array_equal(fit.points[kept], pts[kept])  # nothing else moves
    # max_move 0: mask, never move
    strict = fit_bones(pts, bones, max_move=0.0)
    assert not strict.moved.any() and strict.masked[30:50, 17].all()
    jitted = jax.jit(functools.partial(fit_bones, skeleton=bones))(jnp.asarray(pts))
    np.testing.assert_array_equal(np.asarray(jitted.masked), fit.masked)
    np.testing.assert_array_equal(np.asarray(jitted.moved), fit.moved)
    np.testing.assert_allclose(np.asarray(jitted.points), fit.points, atol=1e-5, equal_nan=True)
