"""`lift3d.geometry.sync` on the real balancing trial's keypoints (OpenPose BODY_25B, 100 frames, 60 fps).

The trial's own cameras are (close to) synchronised but its true offsets are not known to a frame, so known
offsets are made by shifting one real view: the reference is the view as recorded, the other "cameras" are the
same view shifted by whole frames (frames dropped / padded) or by half a frame (linear interpolation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lift3d.errors import Lift3DError, SyncError
from lift3d.geometry import sync
from lift3d.synthetic.delays import delayed_track

TRIAL = Path(__file__).resolve().parents[2].parent / "shared/data/pose2sim_trials/single_BalancingTrial/pose"
FPS = 60.0
pytestmark = pytest.mark.skipif(not TRIAL.is_dir(), reason="the Pose2Sim balancing trial is not available")


@pytest.fixture(scope="module")
def trial():
    from lift3d.io.keypoints import read_keypoints

    kp = read_keypoints([TRIAL / f"cam0{i}_json" for i in range(1, 5)], format="openpose", skeleton="body_25b")
    joints = sync.reliable_joints(np.nan_to_num(kp.confidence).max(axis=2).mean(axis=(0, 1)))
    return kp, joints




def offsets(trial, view, shifts, **kwargs):
    kp, joints = trial
    points, conf = sync.main_person(kp.points[:, view], kp.confidence[:, view])
    signals = [(*sync.motion_signal(*delayed_track(points, conf, d), FPS, joints=joints), FPS) for d in shifts]
    return sync.synchronize(signals, **kwargs)


@pytest.mark.parametrize("view", [0, 1, 2, 3])
def test_known_shifts_of_a_real_view_are_recovered(trial, view):
    shifts = [0, 7, -12, 30, 4.5]
    results = offsets(trial, view, shifts)
    got = np.array([r.offset_frames for r in results])
    assert np.array_equal(np.round(got[:4]), shifts[:4])  # whole frames: exact
    assert abs(got[4] - 4.5) < 0.25  # half a frame by interpolation: sub-frame
    assert np.allclose([r.offset_s for r in results], got / FPS)
    assert all(r.peak > 0.8 and r.confident for r in results)


def test_frame_rates_are_resampled_onto_a_common_time_base(trial):
    kp, joints = trial
    points, conf = sync.main_person(kp.points[:, 1], kp.confidence[:, 1])
    ref = (*sync.motion_signal(points, conf, FPS, joints=joints), FPS)
    p, c = delayed_track(points, conf, 8)  # 8 frames at 60 fps = 4 frames at 30 fps
    half = (*sync.motion_signal(p[::2], c[::2], FPS / 2, joints=joints), FPS / 2)
    result = sync.synchronize([ref, half])[1]
    assert abs(result.offset_s - 8 / FPS) < 1.0 / FPS
    assert abs(result.offset_frames - 4) < 0.5


def test_masked_correlation_is_pearson_over_the_overlap():
    rng = np.random.default_rng(0)
    a = rng.normal(size=50)
    b = np.roll(a, 3) + 0.1 * rng.normal(size=50)
    mask = np.ones(50, bool)
    corr = sync.masked_correlation(a, mask, b, mask, 5, 10)
    for k, lag in enumerate(range(-5, 6)):
        i = np.arange(50)
        keep = (i + lag >= 0) & (i + lag < 50)
        assert np.isclose(corr[k], np.corrcoef(a[keep], b[i[keep] + lag])[0, 1])
    assert np.argmax(corr) - 5 == 3


def test_shift_frames_drops_and_pads():
    x = np.arange(6.0)
    assert np.array_equal(sync.shift_frames(x, 2), [2, 3, 4, 5, np.nan, np.nan], equal_nan=True)
    assert np.array_equal(sync.shift_frames(x, -1, 0.0), [0, 0, 1, 2, 3, 4])


def test_bad_input_is_a_sync_error(trial):
    kp, joints = trial
    points, conf = sync.main_person(kp.points[:, 0], kp.confidence[:, 0])
    signal = (*sync.motion_signal(points, conf, FPS, joints=joints), FPS)
    with pytest.raises(SyncError, match="2 or more cameras"):
        sync.synchronize([signal])
    with pytest.raises(SyncError, match="beyond the data"):
        sync.synchronize([signal, signal], max_lag_s=2.0)
    with pytest.raises(Lift3DError, match="too few frames"):
        sync.motion_signal(points, np.zeros_like(conf), FPS)
    still = np.broadcast_to(points[:1], points.shape)
    with pytest.raises(SyncError, match="does not move"):
        sync.motion_signal(still, conf, FPS)
