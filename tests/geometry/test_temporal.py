"""Gap filling, Butterworth (against scipy / Pose2Sim's filtfilt), One-Euro (against a plain loop), bones."""

import jax
import numpy as np
import pytest
from scipy import signal

from lift3d.core.skeleton import BODY_25B, COCO_17, H36M_17
from lift3d.geometry.bones import bone_lengths, enforce_bone_lengths, tree_edges
from lift3d.geometry.iir import butter_lowpass_sos, sosfiltfilt
from lift3d.geometry.temporal import (
    OneEuroFilter,
    butterworth,
    butterworth_padlen,
    fill_gaps,
    filter_trajectories,
    one_euro,
    one_euro_init,
    one_euro_update,
    parse_filter_spec,
)

FPS = 60.0


# ---------------------------------------------------------------------------------------------
# fill_gaps


def line(t, j=2):
    """(t, j, 3) points moving on straight lines, different per joint and coordinate."""
    rng = np.random.default_rng(0)
    return rng.normal(size=(1, j, 3)) + np.arange(t)[:, None, None] * rng.normal(size=(1, j, 3))


def test_linear_fill_is_exact_on_a_line():
    truth = line(60)
    pts = truth.copy()
    pts[5:8, 0] = np.nan  # 3 frames
    pts[20, 1] = np.nan  # 1 frame
    pts[30:40, 1, 2] = np.nan  # 10 frames, one coordinate only: the whole point counts as missing
    filled, was_filled = fill_gaps(pts, max_gap=10)
    np.testing.assert_allclose(filled, truth, rtol=0, atol=1e-12)
    expected = np.zeros((60, 2), bool)
    expected[5:8, 0] = expected[20, 1] = expected[30:40, 1] = True
    np.testing.assert_array_equal(was_filled, expected)


def test_linear_fill_matches_np_interp_per_track():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(200, 2, 4, 3))
    pts[rng.random((200, 2, 4)) < 0.3] = np.nan
    filled, was_filled = fill_gaps(pts, max_gap=200)
    for p in range(2):
        for j in range(4):
            ok = ~np.isnan(pts[:, p, j, 0])
            idx = np.flatnonzero(ok)
            inside = (np.arange(200) > idx[0]) & (np.arange(200) < idx[-1])
            for c in range(3):
                ref = np.interp(np.arange(200), idx, pts[idx, p, j, c])
                np.testing.assert_allclose(filled[inside, p, j, c], ref[inside], atol=1e-12)
            np.testing.assert_array_equal(was_filled[:, p, j], inside & ~ok)


def test_long_gaps_and_ends_stay_missing():
    truth = line(50, j=1)
    pts = truth.copy()
    pts[:3] = np.nan  # start: nothing before, not extrapolated
    pts[10:14] = np.nan  # 4 frames = max_gap: filled
    pts[20:25] = np.nan  # 5 frames > max_gap: untouched
    pts[-2:] = np.nan  # end
    for method in ("linear", "cubic"):
        filled, was_filled = fill_gaps(pts, max_gap=4, method=method)
        assert np.isnan(filled[:3]).all() and np.isnan(filled[20:25]).all() and np.isnan(filled[-2:]).all()
        np.testing.assert_allclose(filled[10:14], truth[10:14], atol=1e-9)
        np.testing.assert_array_equal(np.flatnonzero(was_filled[:, 0]), np.arange(10, 14))
        valid = ~np.isnan(pts[..., 0])
        np.testing.assert_array_equal(filled[valid], pts[valid])  # data never touched
    assert not fill_gaps(pts, max_gap=0)[1].any()


def test_cubic_fill_reproduces_a_cubic():
    t = np.arange(80.0)
    truth = np.stack([0.002 * t**3 - 0.2 * t**2 + t, -0.001 * t**3 + 3.0, 0.5 * t**2], -1)[:, None]
    pts = truth.copy()
    pts[10:20] = np.nan  # nodes 8, 9 | 20, 21
    pts[22] = np.nan  # its left outer node (20) sits before a 1-frame gap: nodes 20, 21 | 23, 24
    pts[40:43] = pts[44] = pts[46:50] = np.nan  # alternating gaps: outer nodes skip over other gaps
    filled, was_filled = fill_gaps(pts, max_gap=10, method="cubic")
    np.testing.assert_allclose(filled, truth, rtol=1e-12, atol=1e-9)
    linear = fill_gaps(pts, max_gap=10, method="linear")[0]
    assert np.abs(linear - truth).max() > 1.0  # the data really needs the cubic
    assert was_filled.sum() == 10 + 1 + 3 + 1 + 4


def test_cubic_fill_near_the_start_uses_fewer_nodes():
    """One valid frame before the gap: the polynomial through 3 nodes, exact on a parabola."""
    t = np.arange(30.0)
    truth = (0.3 * t**2 - 2 * t + 1)[:, None, None] * np.ones((1, 1, 3))
    pts = truth.copy()
    pts[1:6] = np.nan
    filled, _ = fill_gaps(pts, max_gap=10, method="cubic")
    np.testing.assert_allclose(filled, truth, atol=1e-9)
    # an outer node beyond a gap longer than max_gap is not used: frames 0-3 belong to another motion
    pts = truth.copy()
    pts[:4] += 100.0
    pts[4:16] = np.nan  # 12 frames > max_gap
    pts[17:19] = np.nan  # nodes 16 | 19, 20 (frame 3 is too far): exact on the parabola
    filled, was_filled = fill_gaps(pts, max_gap=10, method="cubic")
    np.testing.assert_allclose(filled[17:19], truth[17:19], atol=1e-9)
    assert not was_filled[4:16].any()


def test_fill_gaps_keeps_float32_and_rejects_bad_arguments():
    pts = line(20).astype(np.float32)
    pts[4] = np.nan
    filled, _ = fill_gaps(pts)
    assert filled.dtype == np.float32 and not np.isnan(filled).any()
    with pytest.raises(ValueError, match="max_gap"):
        fill_gaps(pts, max_gap=-1)
    with pytest.raises(ValueError, match="method"):
        fill_gaps(pts, method="spline")
    with pytest.raises(ValueError, match="time first"):
        fill_gaps(np.zeros(5))


# ---------------------------------------------------------------------------------------------
# Butterworth


def pose2sim_butterworth(col, fps, cutoff, order):
    """Pose2Sim's butterworth_filter_1d on one numpy column (zeros are data here)."""
    b, a = signal.butter(order // 2, cutoff / (fps / 2), "low")
    padlen = 3 * max(len(a), len(b))
    out = col.copy()
    idx = np.flatnonzero(~np.isnan(col))
    for seq in np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1):
        if len(seq) > padlen:
            out[seq] = signal.filtfilt(b, a, col[seq])
    return out


def amplitude(x, f_hz):
    t = np.arange(len(x)) / FPS
    basis = np.stack([np.sin(2 * np.pi * f_hz * t), np.cos(2 * np.pi * f_hz * t), np.ones_like(t)], 1)
    coef = np.linalg.lstsq(basis, x, rcond=None)[0]
    return np.hypot(coef[0], coef[1])


def test_butterworth_removes_20hz_keeps_1hz_without_lag():
    t = np.arange(600) / FPS  # 10 s
    slow = np.sin(2 * np.pi * t)
    x = slow + 0.5 * np.sin(2 * np.pi * 20 * t + 0.3)
    y = butterworth(np.stack([x, 2 * x, -x], -1)[:, None], fps=FPS, cutoff_hz=6, order=4)[:, 0, 0]
    assert amplitude(y, 20.0) < 0.05 * 0.5
    assert abs(amplitude(y, 1.0) - 1.0) < 0.02
    # zero phase: same peaks as the clean 1 Hz sine, no lag in the cross-correlation
    mid = slice(60, 540)
    peaks = signal.find_peaks(y[mid])[0]
    np.testing.assert_array_equal(peaks, signal.find_peaks(slow[mid])[0])
    lags = signal.correlation_lags(480, 480)
    assert lags[np.argmax(signal.correlate(y[mid], slow[mid]))] == 0


@pytest.mark.parametrize("order", [2, 4, 8])
def test_butterworth_equals_scipy_filtfilt_on_clean_signal(order):
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(300, 3, 3)).cumsum(0)
    out = butterworth(pts, fps=FPS, cutoff_hz=6, order=order)
    b, a = signal.butter(order // 2, 6 / (FPS / 2))  # Pose2Sim: butter(order/2, ...) then filtfilt
    np.testing.assert_allclose(out, signal.filtfilt(b, a, pts, axis=0), atol=1e-9)
    assert butterworth_padlen(order) == 3 * max(len(a), len(b))


@pytest.mark.parametrize("n", [60, 12_000])
def test_own_butterworth_design_and_filtfilt_equal_scipys(n):
    """`butter_lowpass_sos` + `sosfiltfilt` (no `scipy.signal` import for short captures) give scipy's filter,
    per-pass orders 1-5 (odd ones end in a first-order section), on short signals (the numpy loop) and long
    ones (scipy's compiled loop)."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, n)).cumsum(-1)
    for order in range(1, 6):
        for cutoff, fps in ((6.0, 60.0), (1.0, 30.0), (20.0, 50.0)):
            ours, theirs = butter_lowpass_sos(order, cutoff, fps), signal.butter(order, cutoff, output="sos", fs=fps)
            assert ours.shape == theirs.shape
            padlen = 3 * (order + 1)
            np.testing.assert_allclose(sosfiltfilt(ours, x, padlen),
                                       signal.sosfiltfilt(theirs, x, axis=-1, padlen=padlen), atol=1e-9, rtol=0)


def test_butterworth_nan_runs_match_pose2sim_and_do_not_spread():
    rng = np.random.default_rng(3)
    t, j = 400, 6
    pts = rng.normal(size=(t, j, 3)).cumsum(0)
    pts[100:120, 0] = np.nan  # runs of 100 and 280 frames
    pts[100:120, 1] = np.nan  # the same runs on another joint (aligned)
    pts[50:70, 2] = np.nan  # runs of 50 and 330: the 50 and the 100 ... are grouped by length
    pts[150:170, 3] = np.nan  # runs 150 and 230
    pts[[5, 15, 25, 26], 4] = np.nan  # runs of 5 (too short, kept), 9 (= padlen, kept), 9, 373
    pts[rng.random(t) < 0.2, 5] = np.nan  # ragged
    pts[200, 5, 1] = np.nan  # one coordinate: the point is missing as a whole
    out = butterworth(pts, fps=FPS, cutoff_hz=6, order=4)
    missing = np.isnan(pts).any(-1)
    np.testing.assert_array_equal(np.isnan(out).any(-1), missing)
    for jj in range(j):
        for c in range(3):
            col = np.where(missing[:, jj], np.nan, pts[:, jj, c])
            ref = pose2sim_butterworth(col, FPS, 6, 4)
            np.testing.assert_allclose(out[~missing[:, jj], jj, c], ref[~missing[:, jj]], atol=1e-9)
    np.testing.assert_array_equal(out[:5, 4], pts[:5, 4])  # 5 frames <= padlen: unfiltered
    np.testing.assert_array_equal(out[6:15, 4], pts[6:15, 4])  # 9 frames = padlen: unfiltered
    assert np.abs(out[27:, 4] - pts[27:, 4]).max() > 0.1


def test_butterworth_rejects_bad_parameters():
    pts = np.zeros((50, 2, 3))
    with pytest.raises(ValueError, match="Nyquist"):
        butterworth(pts, fps=FPS, cutoff_hz=30)
    with pytest.raises(ValueError, match="even"):
        butterworth(pts, fps=FPS, order=3)
    with pytest.raises(ValueError, match="fps"):
        butterworth(pts, fps=0)


# ---------------------------------------------------------------------------------------------
# One-Euro


def one_euro_reference(x, fps, min_cutoff, beta, d_cutoff):
    """Casiez et al.'s algorithm, one scalar at a time, skipping NaN samples; x (t, n)."""

    def alpha(te, cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return 1.0 / (1.0 + tau / te)

    out = np.full_like(x, np.nan)
    for k in range(x.shape[1]):
        x_hat = dx_hat = t_prev = None
        for i in range(x.shape[0]):
            if np.isnan(x[i, k]):
                continue
            if x_hat is None:
                x_hat, dx_hat = x[i, k], 0.0
            else:
                te = i / fps - t_prev
                a_d = alpha(te, d_cutoff)
                dx_hat = a_d * (x[i, k] - x_hat) / te + (1 - a_d) * dx_hat
                a = alpha(te, min_cutoff + beta * abs(dx_hat))
                x_hat = a * x[i, k] + (1 - a) * x_hat
            t_prev = i / fps
            out[i, k] = x_hat
    return out


@pytest.fixture(scope="module")
def noisy_walk():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(120, 2, 3)).cumsum(0) * 0.05 + rng.normal(size=(120, 2, 3)) * 0.01
    x[:7, 0, 1] = np.nan  # starts late
    x[30:34, 1] = np.nan  # a gap: the next sample uses the whole elapsed time
    x[50, 0, 2] = np.nan
    return x


def test_one_euro_matches_plain_loop(noisy_walk):
    with jax.enable_x64(True):
        out = np.asarray(one_euro(noisy_walk, fps=FPS, min_cutoff=1.5, beta=0.3, d_cutoff=2.0))
    ref = one_euro_reference(noisy_walk.reshape(120, -1), FPS, 1.5, 0.3, 2.0).reshape(out.shape)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(noisy_walk))
    np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-12, equal_nan=True)
    assert np.nanmax(np.abs(out - noisy_walk)) > 1e-3  # it does filter


def test_one_euro_streaming_equals_batch(noisy_walk):
    kw = dict(min_cutoff=1.5, beta=0.3, d_cutoff=2.0)
    with jax.enable_x64(True):
        batch = np.asarray(one_euro(noisy_walk, fps=FPS, **kw))
    f = OneEuroFilter(**kw)
    stream = np.stack([f(sample, 1000.0 + i / FPS) for i, sample in enumerate(noisy_walk)])
    np.testing.assert_allclose(stream, batch, rtol=1e-9, atol=1e-12, equal_nan=True)
    state, pure = one_euro_init(noisy_walk.shape[1:]), []  # the pure jax pair, float32
    for sample in noisy_walk:
        state, out = one_euro_update(state, sample, 1 / FPS, **kw)
        pure.append(out)
    np.testing.assert_allclose(np.stack(pure), batch, rtol=1e-5, atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError, match="timestamps must increase"):
        f(noisy_walk[0], 1000.0)
    with pytest.raises(ValueError, match="shape"):
        f(noisy_walk[0, :1], 2000.0)
    f.reset()
    assert f(noisy_walk[0, :1], 0.0).shape == (1, 3)


def test_one_euro_constant_stays_constant_and_keeps_state_over_nan():
    x = np.full((40, 3), 1.25)
    x[10:15] = np.nan
    out = np.asarray(one_euro(x, fps=FPS, beta=0.5))
    np.testing.assert_array_equal(out, x)


def test_one_euro_lag_on_a_ramp_shrinks_with_beta():
    ramp = (np.arange(240) / FPS * 0.8)[:, None]  # 0.8 units per second
    lags = [float(ramp[-1, 0] - one_euro(ramp, fps=FPS, min_cutoff=1.0, beta=b)[-1, 0]) for b in (0, 0.5, 5)]
    assert lags[0] > lags[1] > lags[2] > 0
    assert lags[0] == pytest.approx(0.8 / (2 * np.pi * 1.0), rel=0.1)  # first-order low-pass: v * tau


# ---------------------------------------------------------------------------------------------
# Bone lengths


def h36m_motion(t=30, p=None):
    """Plausible-ish H36M-17 motion with bone lengths jittering by a few cm."""
    rng = np.random.default_rng(5)
    shape = (t,) if p is None else (t, p)
    parents = H36M_17.parents
    pts = np.zeros((*shape, 17, 3))
    pts[..., 0, :] = rng.normal(size=(*shape, 3)).cumsum(0) * 0.01
    for c, par in enumerate(parents):
        if par >= 0:
            d = rng.normal(size=(*shape, 3)) * 0.1 + rng.normal(size=3)
            d /= np.linalg.norm(d, axis=-1, keepdims=True)
            pts[..., c, :] = pts[..., par, :] + d * (0.3 + rng.normal(scale=0.03, size=(*shape, 1)))
    return pts


def test_enforce_gives_median_lengths_and_keeps_directions():
    pts = h36m_motion()
    edges = tree_edges(H36M_17)
    before = bone_lengths(pts, edges)
    out = enforce_bone_lengths(pts, H36M_17)
    after = bone_lengths(out, edges)
    np.testing.assert_allclose(after, np.broadcast_to(np.median(before, 0), after.shape), atol=1e-12)
    assert before.std(0).min() > 0.01  # they did vary
    e = np.asarray(edges)
    unit = lambda q: (q[..., e[:, 1], :] - q[..., e[:, 0], :]) / bone_lengths(q, edges)[..., None]  # noqa: E731
    np.testing.assert_allclose(unit(out), unit(pts), atol=1e-12)
    np.testing.assert_array_equal(out[:, 0], pts[:, 0])  # root stays


def test_enforce_with_missing_joints_and_given_targets():
    pts = h36m_motion(p=2)
    knee, ankle, hip = H36M_17.index("left_knee"), H36M_17.index("left_ankle"), H36M_17.index("left_hip")
    pts[3, 0, knee] = np.nan
    targets = np.full((2, 17), 0.25)
    targets[1] = 0.4
    out = enforce_bone_lengths(pts, H36M_17, target_lengths=targets)
    assert np.isnan(out[3, 0, knee]).all()
    np.testing.assert_array_equal(out[3, 0, ankle], pts[3, 0, ankle])  # cut off from the root: anchors itself
    lengths = bone_lengths(out, tree_edges(H36M_17))
    ok = ~np.isnan(lengths)
    expected = np.broadcast_to(np.array([0.25, 0.4])[:, None], lengths.shape)
    np.testing.assert_allclose(lengths[ok], expected[ok], atol=1e-12)
    assert (~ok).sum() == 2  # only hip-knee and knee-ankle of that frame
    assert np.isfinite(out[3, 0, hip]).all()
    with pytest.raises(ValueError, match="broadcast"):
        enforce_bone_lengths(pts, H36M_17, target_lengths=np.ones(5))


def test_trees_roots_and_bone_lengths():
    with pytest.raises(ValueError, match="no root"):
        enforce_bone_lengths(np.zeros((2, 25, 3)), BODY_25B)
    edges = tree_edges(BODY_25B, root="left_hip")
    assert len(edges) == 24 and edges[0][0] == BODY_25B.index("left_hip")
    assert len(tree_edges(COCO_17, root=0)) == 16  # a spanning tree of COCO's cyclic graph
    with pytest.raises(ValueError, match="cycle"):
        tree_edges([-1, 2, 1])
    pts = h36m_motion()
    lengths = bone_lengths(pts, H36M_17)
    assert lengths.shape == (30, 16)
    np.testing.assert_allclose(np.asarray(bone_lengths(jax.numpy.asarray(pts), H36M_17)), lengths, rtol=1e-5)
    with pytest.raises(ValueError, match="do not fit"):
        bone_lengths(pts, [(0, 17)])


# ---------------------------------------------------------------------------------------------
# Filter specs


def test_parse_filter_spec():
    assert parse_filter_spec("none") == ("none", {})
    assert parse_filter_spec("butterworth") == ("butterworth", {})
    assert parse_filter_spec("Butterworth:6") == ("butterworth", {"cutoff_hz": 6.0})
    assert parse_filter_spec("butterworth:6:4") == ("butterworth", {"cutoff_hz": 6.0, "order": 4})
    assert parse_filter_spec("one-euro:1.0:0.007") == ("one-euro", {"min_cutoff": 1.0, "beta": 0.007})
    assert parse_filter_spec("one_euro:1:0:2") == (
        "one-euro",
        {"min_cutoff": 1.0, "beta": 0.0, "d_cutoff": 2.0},
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("kalman", "unknown filter"),
        ("butterworth:six", "cutoff_hz must be a number"),
        ("butterworth:6:4.5", "order must be an integer"),
        ("butterworth:6:3", "even"),
        ("butterworth:6:4:1", "too many fields"),
        ("none:1", "too many fields"),
        ("one-euro:0", "min_cutoff must be > 0"),
        ("one-euro:1:-0.1", "beta must be >= 0"),
        ("one-euro:1:nan", "beta"),
        ("", "unknown filter"),
    ],
)
def test_parse_filter_spec_errors(spec, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_filter_spec(spec)
    assert repr(spec) in str(info.value)


def test_filter_trajectories_dispatches():
    rng = np.random.default_rng(6)
    pts = rng.normal(size=(80, 2, 3))
    np.testing.assert_array_equal(filter_trajectories(pts, "none", fps=FPS), pts)
    np.testing.assert_array_equal(
        filter_trajectories(pts, "butterworth:8:2", fps=FPS), butterworth(pts, fps=FPS, cutoff_hz=8, order=2)
    )
    np.testing.assert_array_equal(
        filter_trajectories(pts, "one-euro:1.0:0.5", fps=FPS), np.asarray(one_euro(pts, fps=FPS, beta=0.5))
    )
    with pytest.raises(ValueError, match="'butterworth:40' at 60.0 fps.*Nyquist"):
        filter_trajectories(pts, "butterworth:40", fps=FPS)
