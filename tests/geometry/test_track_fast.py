"""`track`'s single-person runs and sort-based median give the ids of the frame-by-frame rule it replaced."""

import time
import warnings

import numpy as np
import pytest

from lift3d.geometry.association import _median_distance, track


def _reference_track(points_3d, *, max_distance=0.5, max_gap=10):
    """`track` as it was before the fast paths: every frame matched alone, `np.nanmedian` over joints."""
    from scipy.optimize import linear_sum_assignment

    def pose_distance(a, b):
        d = np.linalg.norm(a[:, None] - b[None], axis=-1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(d, -1) if d.shape[-1] else d.sum(-1)
        return np.where(np.isfinite(med), med, np.inf)

    X = np.asarray(points_3d, np.float64)
    t, P = X.shape[:2]
    present = np.isfinite(X).all(-1).any(-1)
    ids = np.full((t, P), -1, np.int32)
    poses, last_seen = [], []
    for f in range(t):
        people = np.flatnonzero(present[f])
        alive = [k for k in range(len(poses)) if f - last_seen[k] <= max_gap]
        if people.size and alive:
            D = pose_distance(np.stack([poses[k] for k in alive]), X[f, people])
            rows, cols = linear_sum_assignment(np.where(D <= max_distance, D, 1e6 + D.clip(max=1e6)))
            for r, c in zip(rows, cols, strict=True):
                if D[r, c] <= max_distance:
                    ids[f, people[c]] = alive[r]
        for c in people:
            if ids[f, c] < 0:
                ids[f, c] = len(poses)
                poses.append(np.full(X.shape[2:], np.nan))
                last_seen.append(f)
            k = ids[f, c]
            poses[k] = np.where(np.isfinite(X[f, c]), X[f, c], poses[k])
            last_seen[k] = f
    return ids


def _people(rng, t, slots, joints, people, step):
    """(t, slots, joints, 3): random walkers that start and end anywhere, skip frames, lose joints (and single
    coordinates), jump past the gate now and then, in random free slots."""
    X = np.full((t, slots, joints, 3), np.nan)
    for _ in range(people):
        start = rng.integers(0, t)
        pos = rng.normal(0, 2, (1, 3)) + rng.normal(0, 0.3, (joints, 3))
        for f in range(start, min(t, start + rng.integers(1, t + 1))):
            pos = pos + rng.normal(0, step, (1, 3)) + rng.normal(0, step / 5, (joints, 3))
            free = np.flatnonzero(~np.isfinite(X[f]).all(-1).any(-1))
            if rng.random() < 0.02 or not free.size:
                continue
            pose = pos.copy()
            pose[rng.random(joints) < 0.05] = np.nan
            if rng.random() < 0.01:
                pose[rng.random(joints) < 0.5, rng.integers(3)] = np.nan
            if rng.random() < 0.02:
                pose += rng.normal(0, 0.6, 3)
            X[f, rng.choice(free)] = pose
    return X


@pytest.mark.parametrize("seed", range(4))
def test_track_matches_the_frame_by_frame_rule(seed):
    rng = np.random.default_rng(seed)
    for trial in range(20):
        t, slots = int(rng.integers(2, 200)), int(rng.integers(1, 5))
        joints = int(rng.integers(0 if trial == 0 else 1, 8))
        X = _people(rng, t, slots, joints, int(rng.integers(0, 5)), float(rng.choice([0.02, 0.1, 0.3])))
        for max_gap in (0, 1, 5, 30):
            for max_distance in (0.3, 0.5):
                expected = _reference_track(X, max_distance=max_distance, max_gap=max_gap)
                np.testing.assert_array_equal(
                    track(X, max_distance=max_distance, max_gap=max_gap),
                    expected,
                    err_msg=f"trial {trial}, max_gap {max_gap}, max_distance {max_distance}",
                )


def test_track_long_single_person_run_matches_and_is_fast():
    rng = np.random.default_rng(5)
    t, j = 6000, 25
    X = np.cumsum(rng.normal(0, 0.01, (t, 1, 1, 3)), 0) + rng.normal(0, 0.3, (1, 1, j, 3))
    X = X + rng.normal(0, 0.005, (t, 1, j, 3))
    X[rng.random((t, 1, j)) < 0.02] = np.nan
    X[rng.random(t) < 0.01] = np.nan  # whole frames missing
    X[3000:3020] = np.nan  # a gap longer than max_gap: a new track
    X[4000] += 1.0  # a jump past the gate: a new track, then back
    X = np.concatenate([X, np.full_like(X, np.nan)], 1)
    X[5000:5100, 1] = X[5000:5100, 0] + 2.0  # a second person for a while
    start = time.perf_counter()
    ids = track(X, max_gap=10)
    elapsed = time.perf_counter() - start
    np.testing.assert_array_equal(ids, _reference_track(X, max_gap=10))
    assert ids.max() >= 3
    assert elapsed < 1.0, f"{elapsed:.2f} s for {t} frames"


def test_median_distance_is_nanmedian():
    rng = np.random.default_rng(0)
    for _ in range(300):
        d = rng.random((int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 30))))
        d[rng.random(d.shape) < rng.random()] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanmedian(d, -1)
        np.testing.assert_array_equal(_median_distance(d), np.where(np.isfinite(expected), expected, np.inf))
    assert _median_distance(np.zeros((2, 3, 0))).shape == (2, 3)
