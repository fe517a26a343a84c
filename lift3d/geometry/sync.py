"""Time offsets between cameras from keypoint motion (the method of Pose2Sim's synchronization).

Each camera sees the same body move; how fast it moves is a signal every view shares, though 2D speeds differ
in size and direction between views. So, per camera:

1. `main_person`: the detection with the largest summed confidence in each frame, (t, p, j, 2) -> (t, j, 2).
2. `motion_signal`: the frame-to-frame speed (px/s) of each reliable joint where both frames are confident,
   averaged over the joints -> one magnitude per frame, low-pass smoothed (masked Gaussian, `cutoff_hz`) and
   normalised (zero mean, unit variance over the valid samples): a view-independent signal.
3. `resample`: onto a common time base when cameras run at different frame rates (linear interpolation).
4. `masked_correlation`: the normalised (Pearson) correlation of a camera's signal with the reference's at
   each lag in [-max_lag, max_lag], over the valid samples the two share (FFT, no loop over lags or frames).
5. `find_offset`: the lag of the highest correlation, refined to sub-frame precision by a parabola through the
   peak and its two neighbours; the peak is flagged weak or ambiguous when it is low or another peak comes close.

Convention: a camera's offset ``d`` (frames) means its frame ``f + d`` shows the moment of the reference's frame
``f``: drop ``d`` frames at its start (or subtract ``d`` from its frame numbers) to align it (`shift_frames`).
Everything here is numpy, vectorised over frames; errors are `lift3d.errors.SyncError`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lift3d.errors import SyncError

__all__ = [
    "MIN_CONFIDENCE", "CUTOFF_HZ", "WEAK_PEAK", "AMBIGUOUS_MARGIN", "SyncResult", "main_person", "reliable_joints",
    "motion_signal", "resample", "masked_correlation", "find_offset", "synchronize", "shift_frames",
]  # fmt: skip

MIN_CONFIDENCE = 0.3  # detections below this are ignored
CUTOFF_HZ = 6.0  # low-pass cut-off of the speed signal (Pose2Sim's default filter)
WEAK_PEAK = 0.5  # a correlation peak below this is flagged weak
AMBIGUOUS_MARGIN = 0.1  # another peak within this of the best (and away from it) flags it ambiguous


@dataclasses.dataclass(frozen=True)
class SyncResult:
    """The offset of one camera relative to the reference.

    Attributes:
        offset_frames: Offset in the camera's own frames (sub-frame; its frame ``f + offset`` shows the
            reference's frame ``f``).
        offset_s: The same in seconds.
        peak: Normalised correlation at the peak, in [-1, 1].
        second_peak: Highest other local maximum of the correlation away from the peak (NaN if none).
        weak: The peak is below `WEAK_PEAK`.
        ambiguous: Another peak is within `AMBIGUOUS_MARGIN` of the best, or the best is at the lag range's edge.
        lags_s: (n,) lags searched, s (on the common time base).
        correlation: (n,) correlation at each lag (NaN where the overlap was too short).
    """

    offset_frames: float
    offset_s: float
    peak: float
    second_peak: float
    weak: bool
    ambiguous: bool
    lags_s: np.ndarray
    correlation: np.ndarray

    @property
    def confident(self) -> bool:
        """Neither weak nor ambiguous."""
        return not (self.weak or self.ambiguous)


def main_person(points: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The most confident detection of each frame.

    Args:
        points: (t, p, j, 2) px, NaN where missing.
        confidence: (t, p, j) detector confidences, 0 where missing.

    Returns:
        (t, j, 2) points and (t, j) confidences of the detection with the largest summed confidence per frame.
    """
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64))
    best = np.argmax(conf.sum(axis=-1), axis=1)  # (t,)
    rows = np.arange(conf.shape[0])
    return np.asarray(points, dtype=np.float64)[rows, best], conf[rows, best]


def reliable_joints(mean_confidence: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """Indices of the most reliable joints: the `fraction` of joints with the highest mean confidence.

    Args:
        mean_confidence: (j,) mean confidence of each joint (e.g. over frames and cameras).
        fraction: Share of the joints kept, in (0, 1].

    Returns:
        (k,) joint indices, k >= 1, most confident first.
    """
    mean_confidence = np.nan_to_num(np.asarray(mean_confidence, dtype=np.float64))
    k = max(1, int(round(fraction * mean_confidence.shape[0])))
    return np.argsort(-mean_confidence, kind="stable")[:k]


def _smooth(values: np.ndarray, mask: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Masked Gaussian smoothing (normalised convolution) of a (t,) signal; sigma in samples."""
    if sigma <= 0:
        return values, mask
    half = int(np.ceil(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    weight = np.convolve(mask.astype(np.float64), kernel, mode="same")
    total = np.convolve(np.where(mask, values, 0.0), kernel, mode="same")
    smooth_mask = weight > 0.5 * kernel.sum() * 0.5  # at least a quarter of the kernel's weight is data
    return np.where(smooth_mask, total / np.maximum(weight, 1e-12), 0.0), smooth_mask


def motion_signal(
    points: np.ndarray,
    confidence: np.ndarray,
    fps: float,
    *,
    joints: np.ndarray | None = None,
    min_confidence: float = MIN_CONFIDENCE,
    cutoff_hz: float | None = CUTOFF_HZ,
) -> tuple[np.ndarray, np.ndarray]:
    """The normalised keypoint speed of one camera's main person.

    Args:
        points: (t, j, 2) px of one person (`main_person`), NaN where missing.
        confidence: (t, j) confidences.
        fps: The camera's frame rate, Hz.
        joints: Joint indices to use (`reliable_joints`); None: all.
        min_confidence: A joint's displacement counts where it is at least this confident in both frames.
        cutoff_hz: Low-pass cut-off, Hz (a Gaussian whose -3 dB frequency is this); None: no smoothing.

    Returns:
        (t - 1,) signal (zero mean, unit variance over the valid samples; sample i is the speed between frames
        i and i + 1, at time (i + 0.5) / fps) and its (t - 1,) bool mask. Raises `SyncError` when fewer than
        3 samples are valid or the signal is constant.
    """
    points, conf = np.asarray(points, dtype=np.float64), np.asarray(confidence, dtype=np.float64)
    if joints is not None:
        points, conf = points[:, joints], conf[:, joints]
    ok = (conf >= min_confidence) & np.isfinite(points).all(axis=-1)  # (t, j)
    both = ok[1:] & ok[:-1]  # (t - 1, j)
    step = np.linalg.norm(np.diff(points, axis=0), axis=-1)  # (t - 1, j) px / frame
    count = both.sum(axis=1)
    speed = np.where(both, step, 0.0).sum(axis=1) / np.maximum(count, 1) * fps  # px / s
    mask = count > 0
    if cutoff_hz is not None:
        speed, mask = _smooth(speed, mask, 0.1325 * fps / cutoff_hz)  # Gaussian: f_-3dB = 0.1325 / sigma_s
    return _normalise(speed, mask)


def _normalise(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if mask.sum() < 3:
        raise SyncError("too few frames with a confident person to measure motion (need 3 or more)")
    mean = values[mask].mean()
    std = values[mask].std()
    if not std > 1e-12:
        raise SyncError("the person does not move: the keypoint speed is constant")
    return np.where(mask, (values - mean) / std, 0.0), mask


def resample(values: np.ndarray, mask: np.ndarray, fps: float, fps_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear resampling of a masked signal (sample i at time (i + 0.5) / fps) onto a grid at `fps_out`.

    Args:
        values: (t,) signal.
        mask: (t,) bool, valid samples.
        fps: Its sampling rate, Hz.
        fps_out: The new rate, Hz.

    Returns:
        (n,) values and mask at times (k + 0.5) / fps_out within the signal's span; a new sample is valid where
        both samples around it are.
    """
    if fps == fps_out:
        return values, mask
    n = int(np.floor(len(values) * fps_out / fps))
    pos = (np.arange(n) + 0.5) * fps / fps_out - 0.5  # position in input samples
    lo = np.clip(np.floor(pos).astype(int), 0, len(values) - 1)
    hi = np.clip(lo + 1, 0, len(values) - 1)
    w = np.clip(pos - lo, 0.0, 1.0)
    out = (1 - w) * values[lo] + w * values[hi]
    return out, mask[lo] & (mask[hi] | (w == 0))


def _xcorr(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    """c[k] = sum_i x[i] y[i + lag_k] for lag_k = -max_lag..max_lag (FFT)."""
    size = len(x) + len(y)
    spectrum = np.conj(np.fft.rfft(x, size)) * np.fft.rfft(y, size)
    full = np.fft.irfft(spectrum, size)  # full[lag mod size]
    return full[np.arange(-max_lag, max_lag + 1) % size]


def masked_correlation(
    ref: np.ndarray, ref_mask: np.ndarray, sig: np.ndarray, sig_mask: np.ndarray, max_lag: int, min_overlap: int
) -> np.ndarray:
    """Pearson correlation of ``ref[i]`` with ``sig[i + lag]`` over the samples valid in both, at each lag.

    Args:
        ref: (n,) reference signal.
        ref_mask: (n,) bool.
        sig: (m,) signal of the other camera (same sampling rate).
        sig_mask: (m,) bool.
        max_lag: Largest |lag|, samples.
        min_overlap: Lags sharing fewer valid samples get NaN.

    Returns:
        (2 max_lag + 1,) correlation for lags -max_lag..max_lag.
    """
    a, ma = np.where(ref_mask, ref, 0.0), ref_mask.astype(np.float64)
    b, mb = np.where(sig_mask, sig, 0.0), sig_mask.astype(np.float64)
    n = _xcorr(ma, mb, max_lag)
    sa, sb = _xcorr(a, mb, max_lag), _xcorr(ma, b, max_lag)
    saa, sbb, sab = _xcorr(a * a, mb, max_lag), _xcorr(ma, b * b, max_lag), _xcorr(a, b, max_lag)
    n = np.round(n)
    cov = n * sab - sa * sb
    var = (n * saa - sa**2) * (n * sbb - sb**2)
    good = (n >= min_overlap) & (var > 1e-12 * np.maximum(n, 1) ** 4)
    return np.where(good, cov / np.sqrt(np.where(good, var, 1.0)), np.nan)


def find_offset(correlation: np.ndarray, max_lag: int, *, separation: int = 3) -> tuple[float, float, float]:
    """The sub-sample lag of the correlation's peak.

    Args:
        correlation: (2 max_lag + 1,) for lags -max_lag..max_lag, NaN where not measured.
        max_lag: Largest |lag|, samples.
        separation: Local maxima closer than this to the peak are part of it (not a second peak).

    Returns:
        (lag, peak, second_peak): the lag (samples, refined by a parabola through the peak and its neighbours),
        the correlation at the best integer lag, and the highest other local maximum (NaN if none).
    """
    if not np.isfinite(correlation).any():
        raise SyncError("no lag leaves enough overlapping frames to correlate: the captures are too short")
    c = np.where(np.isfinite(correlation), correlation, -np.inf)
    k = int(np.argmax(c))
    delta = 0.0
    if 0 < k < len(c) - 1 and np.isfinite(c[k - 1]) and np.isfinite(c[k + 1]):
        denom = c[k - 1] - 2 * c[k] + c[k + 1]
        if denom < 0:
            delta = float(np.clip(0.5 * (c[k - 1] - c[k + 1]) / denom, -0.5, 0.5))
    inner = c[1:-1]
    local = np.zeros(len(c), bool)
    local[1:-1] = (inner >= c[:-2]) & (inner >= c[2:]) & np.isfinite(inner)
    local &= np.abs(np.arange(len(c)) - k) >= separation
    second = float(c[local].max()) if local.any() else float("nan")
    return k - max_lag + delta, float(c[k]), second


def synchronize(
    signals: list[tuple[np.ndarray, np.ndarray, float]],
    *,
    reference: int = 0,
    max_lag_s: float | None = None,
    min_overlap_s: float | None = None,
) -> list[SyncResult]:
    """Offsets of every camera relative to the reference camera from their motion signals.

    Args:
        signals: Per camera, (values, mask, fps) from `motion_signal`.
        reference: Index of the reference camera (its offset is 0).
        max_lag_s: Largest |offset| searched, s; None: a third of the shortest signal.
        min_overlap_s: Lags sharing fewer valid seconds are not considered; None: half the shortest signal.

    Returns:
        One `SyncResult` per camera, in order.

    Raises:
        SyncError: Fewer than 2 cameras, a reference out of range, or a lag range beyond the data.
    """
    if len(signals) < 2:
        raise SyncError(f"synchronising needs 2 or more cameras, got {len(signals)}")
    if not 0 <= reference < len(signals):
        raise SyncError(f"reference camera index {reference} out of range for {len(signals)} cameras")
    rate = max(fps for _, _, fps in signals)
    common = [resample(v, m, fps, rate) for v, m, fps in signals]
    shortest = min(len(v) for v, _ in common)
    max_lag = int(round(max_lag_s * rate)) if max_lag_s is not None else shortest // 3
    min_overlap = int(round(min_overlap_s * rate)) if min_overlap_s is not None else shortest // 2
    if max_lag < 1 or max_lag + min_overlap > shortest:
        raise SyncError(
            f"a lag range of {max_lag / rate:g} s ({max_lag} frames at {rate:g} fps) is beyond the data: the "
            f"shortest capture has {shortest} frames and {min_overlap} must overlap; lower --max-lag-s "
            f"(at most {(shortest - min_overlap) / rate:.3g} s)"
        )
    ref, ref_mask = common[reference]
    lags_s = np.arange(-max_lag, max_lag + 1) / rate
    results = []
    for (values, mask), (_, _, fps) in zip(common, signals, strict=True):
        corr = masked_correlation(ref, ref_mask, values, mask, max_lag, min_overlap)
        lag, peak, second = find_offset(corr, max_lag)
        edge = abs(lag) >= max_lag - 0.5
        ambiguous = bool(edge or (np.isfinite(second) and second > peak - AMBIGUOUS_MARGIN))
        results.append(SyncResult(offset_frames=lag / rate * fps, offset_s=lag / rate, peak=peak,
                                  second_peak=second, weak=peak < WEAK_PEAK, ambiguous=ambiguous,
                                  lags_s=lags_s, correlation=corr))  # fmt: skip
    return results


def shift_frames(values: np.ndarray, offset: int, fill: float = np.nan) -> np.ndarray:
    """Align one camera's frames on the reference: ``out[f] = values[f + offset]`` (`fill` outside).

    Args:
        values: (t, ...) per-frame data of one camera.
        offset: Integer offset, frames (`SyncResult.offset_frames`, rounded).
        fill: Value of frames with no data (NaN for points, 0 for confidences).

    Returns:
        (t, ...) array of the same shape and dtype.
    """
    values = np.asarray(values)
    out = np.full_like(values, fill)
    t = values.shape[0]
    src = np.arange(t) + offset
    keep = (src >= 0) & (src < t)
    out[keep] = values[src[keep]]
    return out
