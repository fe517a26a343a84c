"""Cameras out of sync by a known delay: a keypoint track as a camera `d` frames late would have recorded it.

A world with a known answer for `lift3d.geometry.sync`: the tests and `benchmarks/sync.py` delay real tracks by
known whole or fractional frame counts and check that the synchronisation recovers them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["delayed_track"]


def delayed_track(points: np.ndarray, confidence: np.ndarray, delay_frames: float) -> tuple[np.ndarray, np.ndarray]:
    """A track as seen by a camera whose frame `f + delay_frames` shows frame `f` (linear interpolation).

    Args:
        points: One person's keypoints, shape (t, j, 2), px (NaN = missing).
        confidence: Their confidences, shape (t, j).
        delay_frames: The delay, frames (may be fractional or negative).

    Returns:
        Points (t, j, 2), NaN where the delayed time falls outside the track, and confidences (t, j), 0 there;
        an interpolated sample keeps the smaller confidence of its two neighbours.
    """
    t = len(points)
    src = np.arange(t) - delay_frames
    lo = np.floor(src).astype(int)
    w = src - lo
    ok = (lo >= 0) & (lo < t) & ((w == 0) | (lo + 1 < t))
    lo_c, hi_c = np.clip(lo, 0, t - 1), np.clip(lo + 1, 0, t - 1)
    p = (1 - w)[:, None, None] * points[lo_c] + w[:, None, None] * points[hi_c]
    c = np.where(w[:, None] > 0, np.minimum(confidence[lo_c], confidence[hi_c]), confidence[lo_c])
    return np.where(ok[:, None, None], p, np.nan), np.where(ok[:, None], c, 0.0)
