"""Digital Butterworth low-pass design and zero-phase filtering in numpy: `scipy.signal`'s, without its import.

`import scipy.signal` costs 1-1.5 s on a 2-core CPU, more than a whole short `lift3d triangulate`; these are the two
pieces `lift3d.geometry.temporal.butterworth` needs, held to scipy's to 1e-9 (`tests/geometry/test_temporal.py`).
Long signals still go through scipy's compiled loop, where its import is small beside the work.
"""

from __future__ import annotations

import numpy as np

__all__ = ["butter_lowpass_sos", "sosfiltfilt"]


def butter_lowpass_sos(order: int, cutoff_hz: float, fps: float) -> np.ndarray:
    """Second-order sections of a digital Butterworth low-pass: `scipy.signal.butter(order, cutoff_hz,
    output="sos", fs=fps)` (the same filter to rounding; for odd orders its sections are arranged differently)
    without importing `scipy.signal` (1-1.5 s, more than a whole short capture).

    The analog prototype's poles, pre-warped to the cutoff, mapped by the bilinear transform; conjugate poles
    paired into sections with zeros at -1, a real pole (odd order) in a first-order section; the gain in the
    first section (`tests/geometry/test_temporal.py` holds it to scipy).

    Args:
        order: Filter order (per pass), >= 1.
        cutoff_hz: Cutoff frequency (-3 dB), Hz, below fps / 2.
        fps: Sampling rate, Hz.

    Returns:
        (ceil(order / 2), 6) sections [b0, b1, b2, 1, a1, a2].
    """
    warped = 4.0 * np.tan(np.pi * cutoff_hz / fps)  # scipy's normalised frequency: fs = 2
    analog = warped * -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))
    poles = (4.0 + analog) / (4.0 - analog)
    gain = np.real(warped**order / np.prod(4.0 - analog))
    sections = []
    for pole in sorted(poles[poles.imag >= 0], key=lambda z: abs(z)):  # each conjugate pair once
        if abs(pole.imag) > 1e-12:
            sections.append([1.0, 2.0, 1.0, 1.0, -2 * pole.real, abs(pole) ** 2])
        else:
            sections.append([1.0, 1.0, 0.0, 1.0, -pole.real, 0.0])
    sos = np.array(sections)
    sos[0, :3] *= gain
    return sos


def _sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """`scipy.signal.sosfilt(sos, x, zi=zi)` along the last axis (direct form II transposed); zi (s, ..., 2).

    A loop over frames in numpy for short signals; long ones (where scipy's import is small beside the work)
    go to scipy's compiled loop.
    """
    if x.shape[-1] * len(sos) > 20_000:
        from scipy import signal

        return signal.sosfilt(sos, x, axis=-1, zi=zi)[0]
    y = np.empty_like(x)
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        z0, z1 = zi[s, ..., 0].copy(), zi[s, ..., 1].copy()
        for n in range(x.shape[-1]):
            xn = x[..., n]
            yn = b0 * xn + z0
            z0 = b1 * xn - a1 * yn + z1
            z1 = b2 * xn - a2 * yn
            y[..., n] = yn
        x = y.copy() if s + 1 < len(sos) else y
    return y


def sosfiltfilt(sos: np.ndarray, x: np.ndarray, padlen: int) -> np.ndarray:
    """Zero-phase filtering along the last axis (`scipy.signal.sosfiltfilt(sos, x, padlen=padlen)`: odd
    extension, steady-state initial conditions, forward then backward).

    Args:
        sos: (s, 6) second-order sections (`butter_lowpass_sos`).
        x: Signals, shape (..., n), n > padlen.
        padlen: Frames of odd extension at each end.

    Returns:
        Filtered signals, shape (..., n).
    """
    zi = np.empty((len(sos), 2))
    scale = 1.0
    for s, (b0, b1, b2, _, a1, a2) in enumerate(sos):  # `scipy.signal.sosfilt_zi`: steady state per section
        zi[s] = scale * np.linalg.solve([[1 + a1, -1.0], [a2, 1.0]], [b1 - a1 * b0, b2 - a2 * b0])
        scale *= (b0 + b1 + b2) / (1 + a1 + a2)
    ext = np.concatenate([2 * x[..., :1] - x[..., padlen:0:-1], x,
                          2 * x[..., -1:] - x[..., -2 : -padlen - 2 : -1]], -1)  # fmt: skip
    zi = zi.reshape(len(sos), *(1,) * (x.ndim - 1), 2)
    y = _sosfilt(sos, ext, zi * ext[None, ..., 0, None])
    y = _sosfilt(sos, y[..., ::-1], zi * y[None, ..., -1, None])[..., ::-1]
    return y[..., padlen:-padlen] if padlen else y
