"""Rig calibration: spanning-tree start, world frames, the OpenCV stereo pair, a rendered rig, bad input."""

from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lift3d.calibration.extrinsics import (
    camera_groups_message,
    initial_rig,
    pairwise_poses,
    view_poses,
    world_from_board,
    world_from_camera,
)
from lift3d.errors import CalibrationError
from lift3d.io.boards import Board
from lift3d.synthetic import boards as sb

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OPENCV = SHARED / "opencv_stereo_chessboard"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
OPENCV_BOARD = ROOT / "calib" / "boards" / "opencv_chessboard_9x6_25mm.toml"
BOARD = Board("checkerboard", (8, 5), 70.0, name="synthetic_8x5_70mm")




def projected(num_cameras=4, frames=30, noise_px=0.0, seed=0):
    rig = sb.ring_rig(jax.random.key(seed), num_cameras)
    R, t = sb.board_trajectory(jax.random.key(seed + 7), frames, BOARD)
    uv = sb.project_capture(jax.random.key(seed + 9), rig, BOARD, R, t, noise_px=noise_px)
    return rig, R, t, uv


def test_initial_rig_from_exact_views_is_exact():
    rig, R, t, uv = projected()
    Rv, tv, rms = view_poses(rig.cameras, uv, BOARD.object_points())
    seen = np.isfinite(uv).all((-1, -2))
    np.testing.assert_array_equal(np.isfinite(rms), seen)
    assert np.nanmax(rms) < 1e-3
    cams, bR, bt, info = initial_rig(rig.cameras, Rv, tv, rms, rig.names)
    truth, tR, tt = world_from_camera(rig.cameras, R, t, 0)
    np.testing.assert_allclose(np.asarray(cams.R), np.asarray(truth.R), atol=1e-6)
    np.testing.assert_allclose(np.asarray(cams.t), np.asarray(truth.t), atol=1e-5)
    ok = seen.any(0)
    np.testing.assert_allclose(bt[ok], tt[ok], atol=1e-5)
    assert np.isnan(bt[~ok]).all()
    assert len(info["tree"]) == 3 and info["shared"].shape == (4, 4)
    pairs = pairwise_poses(Rv, tv)
    assert all(p.inliers == p.shared and p.rotation_spread_deg < 1e-3 for p in pairs.values())


def test_pairwise_average_ignores_a_flipped_view():
    rig, R, t, uv = projected(frames=80)
    Rv, tv, _ = view_poses(rig.cameras, uv, BOARD.object_points())
    good = pairwise_poses(Rv, tv)[(0, 1)]
    shared = np.flatnonzero(np.isfinite(tv[:2]).all(-1).all(0))
    assert len(shared) >= 5
    Rv[1, shared[0]] = Rv[1, shared[0]] @ Rotation.from_euler("z", 180, degrees=True).as_matrix()
    pp = pairwise_poses(Rv, tv)[(0, 1)]
    assert pp.inliers == pp.shared - 1
    assert np.rad2deg(Rotation.from_matrix(pp.R @ good.R.T).magnitude()) < 1e-6


def test_groups_message():
    shared = np.array([[0, 3, 0, 0], [3, 0, 0, 0], [0, 0, 0, 2], [0, 0, 2, 0]])
    names = ["cam1", "cam2", "cam3", "cam4"]
    assert (
        camera_groups_message(names, shared) == "cameras {cam1, cam2} share no board views with {cam3, cam4}"
    )
    shared[2, 3] = shared[3, 2] = 0
    assert "3 groups" in camera_groups_message(names, shared)
    shared[1, 2] = shared[2, 1] = shared[2, 3] = shared[3, 2] = 1
    assert camera_groups_message(names, shared) is None


def test_world_from_board_points_z_out_of_the_board():
    rig, R, t, uv = projected()
    f = int(np.argmax(np.isfinite(uv).all((-1, -2)).sum(0)))
    cams, bR, bt = world_from_board(rig.cameras, R, t, f)
    # the cameras that see the board's face are on its +z side; the board of frame f is the identity (flipped)
    C = -np.einsum("vji,vj->vi", np.asarray(cams.R), np.asarray(cams.t))
    seers = np.isfinite(uv[:, f]).all((-1, -2))
    assert (C[seers, 2] > 0).all()
    np.testing.assert_allclose(bR[f], np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    np.testing.assert_allclose(bt[f], 0, atol=1e-12)
    # distances are unchanged
    C0 = rig.centers
    np.testing.assert_allclose(
        np.linalg.norm(C[:, None] - C[None], axis=-1), np.linalg.norm(C0[:, None] - C0[None], axis=-1)
    )
    with pytest.raises(CalibrationError, match="no board pose"):
        world_from_board(rig.cameras, R, t * np.nan, 0)














