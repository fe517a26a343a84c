"""Fast triangulation for a fixed rig: `make_triangulator` compiles the rig into structure-of-arrays kernels.

The estimator is the confidence-weighted linear triangulation of `lift3d.geometry.triangulation.linear` (rows
`x p3 - p1`, `y p3 - p2` on undistorted normalised coordinates, scaled by the confidence and by fx / fy so that
views weigh in pixels), written in one frame for the whole rig (centred on the camera centres, scaled by their
spread) and solved in inhomogeneous form: the point is the 3 unknowns of that frame, each view adds its two
rows to a 3x3 normal system (6 entries + 3 of the right-hand side) solved by Cramer's rule. That is the
least-squares solution of the same rows with the homogeneous coordinate fixed to 1, instead of the unit null
vector of `triangulate_dlt`; on consistent views the two differ by far less than the noise (micrometres at
1 px, human-scale rigs; see benchmarks/RESULTS.md) and the 3x3 solve costs a fraction of the 4x4 null vector,
but they are different estimators: where the views disagree (a real capture's outlying detections) the
points differ by up to 0.15 m, and RANSAC hypotheses solved this way keep other views near the threshold.
`refine_points` takes both starts to the same minimum.

Why it is fast on XLA:CPU (each step measured in benchmarks/triangulation.py and RESULTS.md):
- the cameras are compile-time constants (zero distortion terms vanish from the program), and the undistortion
  (`lift3d.geometry.distortion`'s one formula, called on the structure-of-arrays components with the
  coefficients as Python floats) uses as few Newton steps as the rig needs (`newton_steps_for`, usually 2 for
  float32 precision);
- the keypoints are first transposed to a structure of arrays (v, 2, ..., j) by one cheap copy, so the kernel
  reads contiguous x and y arrays instead of strided pairs (2x faster kernel);
- XLA:CPU fuses elementwise work into single-output loops and will not duplicate "expensive" ops (divides)
  into several loops: the kernel therefore divides with a bit-trick reciprocal refined by Newton steps (exact
  to float32 rounding), which lets the whole triangulation fuse into one loop per output, and X, Y come out
  as one complex64 array (real, imaginary) so that there are two loops rather than three;
- the (..., j, 3) stack is a separate small program: fused into the kernel, XLA evaluates the whole kernel
  per output element without vectorisation (100x slower).
Because of the last point the returned function must be called on concrete arrays (outside `jit`); under
`jit` it falls back to `triangulate_dlt` / `triangulate_ransac`.

Wide rigs and the robust mode (benchmarks/triangulation_cameras.py): one fused loop grows with the views and,
for the robust mode, with the pairs times the views (all pairs unrolled, each scored against every view:
O(v^3) operations in one loop); past a size XLA:CPU's code for it collapses (robust: 5.5 M points/s at 4
views, 64 k at 6, 33 k at 8, compile 10-30 s). So beyond 8 views (always in robust mode) the views are first
normalised in one vectorised pass (cameras as (v, 1) constants, a program independent of v), and the robust
mode runs one pass over the points per hypothesis pair, a program of O(v) operations called C(k, 2) times
(`_robust_programs`), keeping the best score in a complex array; compile time no longer depends on the pairs.
"""

from __future__ import annotations

import functools
import itertools
from typing import TYPE_CHECKING

import numpy as np

from lift3d.geometry.camera import Camera
from lift3d.geometry.distortion import distort_xy, undistort_xy
from lift3d.geometry.lazy_jax import jax, jit, jnp
from lift3d.geometry.triangulation.linear import TriangulationInfo, cramer3, dlt_row, triangulate_dlt
from lift3d.geometry.triangulation.robust import INLIER_THRESHOLD_PX, triangulate_ransac

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = ["make_triangulator", "newton_steps_for"]

_FUSED_VIEWS = 8  # up to this many views the linear kernel is one fused pass, beyond it two
_MAX_ROBUST_VIEWS = 16  # the robust kernel packs a view mask and a pair of slots into a float32 integer


# ------------------------------------------------------------------------------------------ elementwise helpers


def _rcp(x):
    """1 / x from cheap ops only (float32: bit-trick seed + 3 Newton steps, ~1 ulp); a plain divide otherwise."""
    if x.dtype != jnp.float32:
        return 1.0 / x
    bits = jax.lax.bitcast_convert_type(x, jnp.int32)
    seed = (jnp.int32(0x7EF311C3) - (bits & 0x7FFFFFFF)) | (bits & jnp.int32(-0x80000000))
    y = jax.lax.bitcast_convert_type(seed, jnp.float32)
    for _ in range(3):
        y = y * (2.0 - x * y)
    return y


def _rsqrt(x):
    """1 / sqrt(x) from cheap ops for float32 (bit-trick seed + 3 Newton steps), `lax.rsqrt` otherwise."""
    if x.dtype != jnp.float32:
        return jax.lax.rsqrt(x)
    seed = jnp.int32(0x5F375A86) - (jax.lax.bitcast_convert_type(x, jnp.int32) >> 1)
    y = jax.lax.bitcast_convert_type(seed, jnp.float32)
    for _ in range(3):
        y = y * (1.5 - 0.5 * x * y * y)
    return y


def _undistort(x, y, d, num_iters: int, xp):
    """`lift3d.geometry.distortion.undistort_xy` with the kernels' reciprocal (`d`: five Python floats, whose
    zero terms drop out of the program)."""
    return undistort_xy(x, y, d, num_iters=num_iters, xp=xp, reciprocal=_rcp)


def newton_steps_for(cameras: Camera, *, tol_px: float = 1e-4, max_steps: int = 8) -> int:
    """Fewest Newton steps that undistort every pixel of every image of a rig to within `tol_px`.

    Evaluated in float64 on a 65 x 65 grid over each image (`image_size`, or twice the principal point when
    it is 0), against 30 steps. Typical lenses (|k1| <= 0.1) need 2 steps, strong ones (k1 = -0.25) 3.

    Args:
        cameras: Pinhole cameras, batch shape (v,).
        tol_px: Largest tolerated error, px.
        max_steps: Upper bound (returned when the grid does not converge, e.g. beyond the lens model's range).

    Returns:
        The number of steps (0 without distortion).
    """
    K, dist = np.asarray(cameras.K, np.float64), np.asarray(cameras.dist, np.float64)
    size = np.asarray(cameras.image_size, np.float64)
    need = 0
    for i in range(K.shape[0]):
        d = tuple(float(e) for e in dist[i])
        if not any(d):
            continue
        w, h = size[i] if np.all(size[i] > 0) else 2 * K[i, :2, 2]
        u, v = np.meshgrid(np.linspace(0, w - 1, 65), np.linspace(0, h - 1, 65))
        y = (v.ravel() - K[i, 1, 2]) / K[i, 1, 1]
        x = (u.ravel() - K[i, 0, 2] - K[i, 0, 1] * y) / K[i, 0, 0]
        ref = _undistort(x, y, d, 30, np)
        scale = max(K[i, 0, 0], K[i, 1, 1])
        ok = np.isfinite(ref[0]) & np.isfinite(ref[1])
        for k in range(need, max_steps + 1):
            xk, yk = _undistort(x, y, d, k, np)
            with np.errstate(invalid="ignore"):
                err = scale * np.hypot(xk - ref[0], yk - ref[1])[ok]
            if np.all(err <= tol_px):
                break
        need = max(need, k)
    return need


# ------------------------------------------------------------------------------------------ the rig as constants


class _Rig:
    """Per-view constants as Python floats (folded into the compiled programs)."""

    def __init__(self, cameras: Camera, undistort: bool, num_iters: int | None):
        K, R, t = (np.asarray(a, np.float64) for a in (cameras.K, cameras.R, cameras.t))
        dist = np.asarray(cameras.dist, np.float64)
        self.v = K.shape[0]
        centers = -np.einsum("vki,vk->vi", R, t)
        c0 = centers.mean(0)
        self.s0 = float(np.sqrt(np.mean(np.sum((centers - c0) ** 2, -1)))) or 1.0
        t_frame = (np.einsum("vik,k->vi", R, c0) + t) / self.s0  # translation in the rig frame
        f_mean = float(np.mean(K[:, [0, 1], [0, 1]]))
        self.c0 = c0.tolist()
        self.K, self.R, self.t = K.tolist(), R.tolist(), t_frame.tolist()
        self.weight = (K[:, [0, 1], [0, 1]] / f_mean).tolist()  # rows in pixels, up to one common factor
        self.dist = [tuple(float(e) for e in dist[i]) if np.any(dist[i]) else None for i in range(self.v)]
        self.undistort = undistort
        self.iters = newton_steps_for(cameras) if num_iters is None else int(num_iters)

    def normalise(self, i, u, w, ok):
        """Undistorted normalised coordinates of view i (0 where not ok)."""
        K = self.K[i]
        y = (jnp.where(ok, w, K[1][2]) - K[1][2]) * (1.0 / K[1][1])
        x = (jnp.where(ok, u, K[0][2]) - K[0][2] - K[0][1] * y) * (1.0 / K[0][0])
        if self.undistort and self.dist[i] is not None and self.iters:
            x, y = _undistort(x, y, self.dist[i], self.iters, jnp)
        return x, y

    def terms(self, i, x, y, conf):
        """The 9 normal-system terms of view i: upper 3x3 (00 01 02 11 12 22) and right-hand side (3)."""
        return self.terms_of(self.R[i], self.t[i], self.weight[i], x, y, conf)

    @staticmethod
    def terms_of(R, t, wgt, x, y, conf):
        """`terms` for given camera entries (floats, or arrays: all views at once)."""
        out = None
        for xy, r in ((x, 0), (y, 1)):
            sc = conf * wgt[r]
            a0, a1, a2, b = (sc * e for e in dlt_row(xy, r, R, t))
            a = [a0, a1, a2]
            new = [a[0] * a[0], a[0] * a[1], a[0] * a[2], a[1] * a[1], a[1] * a[2], a[2] * a[2],
                   -a[0] * b, -a[1] * b, -a[2] * b]
            out = new if out is None else [p + q for p, q in zip(out, new, strict=True)]
        return out

    def solve(self, m):
        """Rig-frame solution (3 arrays) of the normal system by Cramer's rule; inf / NaN if singular."""
        m00, m01, m02, m11, m12, m22, g0, g1, g2 = m
        num, det = cramer3([[m00, m01, m02], [m01, m11, m12], [m02, m12, m22]], [g0, g1, g2])
        inv = _rcp(det)
        return [n * inv for n in num]

    def error2(self, i, Y, u, w):
        """Squared pixel distance between rig-frame points Y projected (with distortion) into view i and (u, w)."""
        R, t, K = self.R[i], self.t[i], self.K[i]
        p = [R[r][0] * Y[0] + R[r][1] * Y[1] + R[r][2] * Y[2] + t[r] for r in range(3)]
        inv_z = _rcp(p[2])
        x, y = p[0] * inv_z, p[1] * inv_z
        if self.undistort and self.dist[i] is not None:
            x, y = distort_xy(x, y, self.dist[i], xp=jnp)[:2]
        du = K[0][0] * x + K[0][1] * y + K[0][2] - u
        dw = K[1][1] * y + K[1][2] - w
        return du * du + dw * dw

    def world(self, Y, good):
        return [jnp.where(good, self.c0[k] + self.s0 * Y[k], jnp.nan) for k in range(3)]


# ------------------------------------------------------------------------------------------ programs


def _programs(rig: _Rig):
    """The jitted stages: layout, the fused solve (up to 8 views), vectorised normalisation and the solve from it
    (wider rigs, robust mode), info, stack."""
    v = rig.v

    def views(s, c):  # ok, u, w, conf per view; c in its natural layout (..., v, j) (reading it costs nothing)
        for i in range(v):
            u, w, conf = s[i, 0], s[i, 1], c[..., i, :]
            yield (u == u) & (w == w) & (conf > 0), u, w, conf

    @jax.jit
    def to_soa(points_2d):
        uv = jnp.asarray(points_2d)
        uv = uv.astype(jnp.result_type(uv.dtype, jnp.float32))
        nd = uv.ndim
        return jnp.transpose(uv, (nd - 3, nd - 1, *range(nd - 3), nd - 2))  # (v, 2, ..., j)

    @functools.partial(jit, static_argnames=("shape",))
    def conform(confidence, like, shape):  # None: ones (one compiled kernel serves both cases)
        conf = jnp.ones((), like.dtype) if confidence is None else jnp.asarray(confidence, like.dtype)
        return jnp.broadcast_to(conf, shape)

    @jax.jit
    def solve_masked(s, c):
        """Weighted linear triangulation from all valid views, one fused pass (up to 8 views): X + iY, Z."""
        m, count = None, 0
        for i, (ok, u, w, conf) in enumerate(views(s, c)):
            x, y = rig.normalise(i, u, w, ok)
            t = rig.terms(i, x, y, jnp.where(ok, conf, 0.0))
            m = t if m is None else [p + q for p, q in zip(m, t, strict=True)]
            count = count + ok.astype(jnp.int32)
        X = rig.world(rig.solve(m), count >= 2)
        return jax.lax.complex(X[0], X[1]), X[2]

    @jax.jit
    def flat_conf(c):
        """The confidences as (v, n), points flattened (one transposing copy)."""
        return jnp.moveaxis(c, -2, 0).reshape(v, -1)

    @jax.jit
    def normalised(s, cv):
        """x + iy, confidences (0 where not valid), u and w (NaN where not valid), each (v, n), points flattened:
        one vectorised pass over all views (cameras as (v, 1) constants), a program that does not grow with v."""
        u, w = s[:, 0].reshape(v, -1), s[:, 1].reshape(v, -1)
        ok = (u == u) & (w == w) & (cv > 0)
        col = lambda vals: jnp.asarray(np.reshape(vals, (v, 1)), u.dtype)  # noqa: E731
        K = np.asarray(rig.K)
        y = (jnp.where(ok, w, col(K[:, 1, 2])) - col(K[:, 1, 2])) * col(1.0 / K[:, 1, 1])
        x = (jnp.where(ok, u, col(K[:, 0, 2])) - col(K[:, 0, 2]) - col(K[:, 0, 1]) * y) * col(1.0 / K[:, 0, 0])
        if rig.undistort and rig.iters and any(d is not None for d in rig.dist):
            d = np.array([d or (0.0,) * 5 for d in rig.dist])
            x, y = _undistort(x, y, [col(d[:, e]) for e in range(5)], rig.iters, jnp)
        nan = jnp.nan
        return jax.lax.complex(x, y), jnp.where(ok, cv, 0.0), jnp.where(ok, u, nan), jnp.where(ok, w, nan)

    @functools.partial(jit, static_argnames=("shape",))
    def solve_views(xy, cw, bits, shape):
        """Weighted linear triangulation from `normalised`'s views in `bits` (None: all valid), points reshaped
        to `shape`: X + iY complex, Z."""
        m, count = None, 0
        for i in range(v):
            ok = cw[i] > 0 if bits is None else (cw[i] > 0) & ((bits.reshape(-1) >> i) & 1 == 1)
            t = rig.terms(i, jnp.real(xy[i]), jnp.imag(xy[i]), jnp.where(ok, cw[i], 0.0))
            m = t if m is None else [p + q for p, q in zip(m, t, strict=True)]
            count = count + ok.astype(jnp.int32)
        X = [e.reshape(shape) for e in rig.world(rig.solve(m), count >= 2)]
        return jax.lax.complex(X[0], X[1]), X[2]

    @jax.jit
    def valid_bits(s, c):
        return sum(jnp.where(ok, 1 << i, 0) for i, (ok, _, _, _) in enumerate(views(s, c))).astype(jnp.int32)

    @functools.partial(jit, static_argnames=("with_error",))
    def info(s, c, bits, xy, z, with_error):
        finite = jnp.isfinite(z)
        used = jnp.stack([((bits >> i) & 1 == 1) & finite for i in range(v)], -2)  # (..., v, j)
        num = jnp.sum(used, -2, dtype=jnp.int32)
        if not with_error:
            return used, num, None
        Y = [(jnp.real(xy) - rig.c0[0]) / rig.s0, (jnp.imag(xy) - rig.c0[1]) / rig.s0, (z - rig.c0[2]) / rig.s0]
        total = sum(jnp.where(used[..., i, :], jnp.sqrt(rig.error2(i, Y, u, w)), 0.0)
                    for i, (_, u, w, _) in enumerate(views(s, c)))
        return used, num, jnp.where(num > 0, total / jnp.maximum(num, 1), jnp.nan)

    @jax.jit
    def stack(xy, z):
        return jnp.stack([jnp.real(xy), jnp.imag(xy), z], -1)

    return to_soa, conform, solve_masked, valid_bits, info, stack, flat_conf, normalised, solve_views


def _robust_programs(rig: _Rig, threshold_px: float, max_views: int):
    """The robust stages: normalised views, hypothesis slots, one pass per hypothesis, the final selection.

    Hypotheses are the pairs of k = min(v, max_views) slots: the views themselves (k = v), or per point the k
    most confident valid views (ties: lower view index first). A slot is its normalised coordinates x + iy,
    its confidence (0: not valid) and its camera (14 entries: R, t in the rig frame, row weights; runtime
    scalars for a view; for ranked slots the view id per point, the entries then selected from the constants
    in the pass, cheaper than reading 14 per-point arrays). Each pass (`search`, one compiled program for all
    pairs) takes its two slots as arguments, so that it reads them at static offsets (a dynamic index into a
    stacked array, e.g. `lax.fori_loop` over the pairs, keeps the loop scalar: 7x slower; unrolling 3 pairs
    per pass was 2x slower per pair), forms the pair's normal system, scores it against all views and keeps
    the best score in one complex array: (score, inlier bits + 2^16 (16 a + b)), an integer below 2^24 (exact
    in float32 for v <= 16). `finish` takes the winner's inliers (its pair where fewer than two),
    re-triangulates from them, re-selects once, and returns the final views as bits. The programs
    have O(v) operations whatever the number of pairs, so compile time stays flat. Points are flattened to
    one axis (contiguous inner loops: 2x).

    Returns:
        `select(xy, cw, u, w, shape) -> bits (shape)` on `normalised`'s views.
    """
    v, thr2 = rig.v, threshold_px**2
    k = min(v, max_views)
    pairs = list(itertools.combinations(range(k), 2))
    inv_scale = 1.0 / (threshold_px * (v + 1))
    cams = np.concatenate([np.reshape(rig.R, (v, 9)), np.reshape(rig.t, (v, 3)), np.reshape(rig.weight, (v, 2))], 1)

    def inliers(Y, u, w):  # bits, count, summed error of the valid views (u, w: NaN where not) within the threshold
        bits, n, total = 0, 0, 0.0
        for i in range(v):
            e2 = rig.error2(i, Y, u[i], w[i])
            inl = e2 < thr2
            bits = bits + jnp.where(inl, 1 << i, 0)
            n = n + inl.astype(jnp.int32)
            total = total + jnp.where(inl, e2 * _rsqrt(e2), 0.0)
        return bits, n, total

    def slot_terms(xy, conf, cam):  # the 9 terms of a slot; cam: its 14 entries, or per point its view (int)
        if jnp.issubdtype(cam.dtype, jnp.integer):  # selected from the constants (cheaper than reading them)
            cam = [sum(jnp.where(cam == i, float(cams[i, e]), 0.0) for i in range(v)) for e in range(14)]
        R = [[cam[3 * r + q] for q in range(3)] for r in range(3)]
        return rig.terms_of(R, [cam[9], cam[10], cam[11]], [cam[12], cam[13]], jnp.real(xy), jnp.imag(xy), conf)

    def pair_solve(ta, tb):  # rig-frame point of two slots' terms
        return rig.solve([p + q for p, q in zip(ta, tb, strict=True)])

    @jax.jit
    def ranks(cw):
        """Per point, each view's rank by confidence (v, n) int32 (valid views first, ties: lower index).
        (Unrolled: the vectorised form, (v, v, n) compared and reduced, ran 4-10x slower on XLA:CPU.)"""
        key = [jnp.where(cw[i] > 0, cw[i], -1.0) for i in range(v)]
        return jnp.stack([sum(((key[m] > key[i]) | ((key[m] == key[i]) & (m < i))).astype(jnp.int32)
                              for m in range(v) if m != i) for i in range(v)])

    @jax.jit
    def slots(rank, xy, cw):
        """The k most confident valid views per point: ids (k, n) int32 (-1: none), x + iy and confidences
        (tuples of k rows)."""
        pick = lambda arrays, r: sum(jnp.where(rank[i] == r, arrays[i], 0) for i in range(v))  # noqa: E731
        c = [pick(cw, r) for r in range(k)]
        ids = jnp.stack([jnp.where(c[r] > 0, pick(np.arange(v, dtype=np.int32), r), -1) for r in range(k)])
        return ids, tuple(pick(xy, r) for r in range(k)), tuple(c)

    @jax.jit
    def search(best, code, xa, ca, cam_a, xb, cb, cam_b, u, w):
        """`best` updated with the pair of slots a, b (code 2^16 (16 a + b))."""
        Y = pair_solve(slot_terms(xa, ca, cam_a), slot_terms(xb, cb, cam_b))
        bits, n, total = inliers(Y, u, w)
        good = (ca > 0) & (cb > 0) & (Y[0] == Y[0]) & (jnp.abs(Y[0] + Y[1] + Y[2]) < jnp.inf)
        score = jnp.where(good, n - total * inv_scale, -jnp.inf)
        new = jax.lax.complex(score, (bits + code).astype(score.dtype))  # exact: < 2^24
        return jnp.where(score > jnp.real(best), new, best)

    @functools.partial(jit, static_argnames=("shape",))
    def finish(best, u, w, xy, cw, ids, shape):
        """The final views as bits (shape): the winner's inliers, re-triangulated, re-selected once."""
        found = jnp.real(best) > -jnp.inf
        code = jnp.where(found, jnp.imag(best), 0.0).astype(jnp.int32)
        a, b = (code >> 20) & 15, (code >> 16) & 15
        pick = lambda x, r: sum(jnp.where(r == q, x[q], 0) for q in range(k))  # noqa: E731
        va, vb = (a, b) if ids is None else (pick(ids, a), pick(ids, b))
        pair_bits = jnp.where(found, jnp.left_shift(1, va) | jnp.left_shift(1, vb), 0)
        best_bits = jnp.where(found, code & 0xFFFF, 0)
        mask = jnp.where(jax.lax.population_count(best_bits) >= 2, best_bits, pair_bits)
        m = None
        for i in range(v):
            t = rig.terms(i, jnp.real(xy[i]), jnp.imag(xy[i]), jnp.where(((mask >> i) & 1) == 1, cw[i], 0.0))
            m = t if m is None else [p + q for p, q in zip(m, t, strict=True)]
        new, n, _ = inliers(rig.solve(m), u, w)
        return jnp.where(n >= 2, new, mask).astype(jnp.int32).reshape(shape)

    codes = [np.int32((16 * a + b) << 16) for a, b in pairs]

    @jax.jit
    def split(a, b):  # two (m, n) arrays as tuples of rows (arguments of `search`)
        return tuple(a[i] for i in range(a.shape[0])), tuple(b[i] for i in range(b.shape[0]))

    def select(xy, cw, u, w, shape):
        if k == v:
            ids, (sxy, scw), scam = None, split(xy, cw), [cams[i].astype(cw.dtype) for i in range(v)]
        else:
            ids, sxy, scw = slots(ranks(cw), xy, cw)
            scam = split(ids, ids)[0]
        best = jax.lax.complex(jnp.full(cw.shape[1:], -jnp.inf, cw.dtype), jnp.zeros(cw.shape[1:], cw.dtype))
        for (a, b), code in zip(pairs, codes, strict=True):
            best = search(best, code, sxy[a], scw[a], scam[a], sxy[b], scw[b], scam[b], u, w)
        return finish(best, u, w, xy, cw, ids, shape)

    return select


def make_triangulator(
    cameras: Camera, *, undistort: bool = True, num_undistort_iters: int | None = None, robust: bool = False,
    threshold_px: float = INLIER_THRESHOLD_PX, max_exhaustive_views: int = 8,
):
    """A fast triangulation function for one fixed rig: `triangulate(points_2d, confidence=None) -> points_3d`.

    Plain mode: the confidence-weighted linear triangulation of every joint from all its valid views (the
    inhomogeneous least-squares form of `triangulate_dlt`'s rows, see the module notes), 10-20x faster than
    `triangulate_dlt` on CPU (benchmarks/RESULTS.md). Robust mode: the rule of `triangulate_ransac` with all
    view pairs as hypotheses (deterministic): the pair with most views within `threshold_px` wins (ties:
    smaller summed error), the point is re-triangulated from its inliers, the inliers recomputed once from
    that point, and the point triangulated from them. Rigs with more than `max_exhaustive_views` views take
    as hypotheses, per point, the pairs among its `max_exhaustive_views` most confident valid views (ties:
    lower view index; deterministic, unlike `triangulate_ransac`'s random pairs, and every view still counts
    as an inlier or not). One pass over the points per pair, each a program of O(v) operations (compile time
    does not grow with the pairs; see `_robust_programs`). Rigs of more than 16 views (robust mode) call
    `triangulate_ransac` (random pairs drawn with the `key` argument); fisheye rigs call
    `triangulate_ransac` / `triangulate_dlt`.

    The kernels hold the cameras as constants and run on concrete arrays (call the function outside `jit`;
    traced inputs fall back to `triangulate_dlt` / `triangulate_ransac`).

    Args:
        cameras: Cameras, batch shape (v,), concrete (not traced).
        undistort: Remove lens distortion first; False treats the keypoints as undistorted pixels.
        num_undistort_iters: Newton steps of the undistortion; None picks the fewest that reach 1e-4 px over
            the images (`newton_steps_for`).
        robust: Robust view selection instead of all valid views.
        threshold_px: Inlier threshold of the robust mode, px (reprojection with distortion).
        max_exhaustive_views: Robust mode: up to this many views, the kernel enumerates all pairs; with more,
            the pairs among each point's `max_exhaustive_views` most confident views (C(k, 2) passes).

    Returns:
        A function `(points_2d (..., v, j, 2) distorted px, confidence (..., v, j) or None, *, key=None,
        return_info=False) -> points_3d (..., j, 3)` world units, NaN where fewer than two views are valid (NaN
        coordinates or confidence <= 0 or NaN mask a view); with `return_info`, also a `TriangulationInfo`
        (views used, their count, and in robust mode their mean reprojection error in px). float32 in,
        float32 out (float64 with float64 input under `jax.enable_x64`).
    """
    K = np.asarray(cameras.K)
    if K.ndim != 3:
        raise ValueError(f"make_triangulator needs cameras of batch shape (v,), got {K.shape[:-2]}")
    v = K.shape[0]
    programs, select = None, None
    if cameras.model != "fisheye" and not (robust and v > _MAX_ROBUST_VIEWS):
        rig = _Rig(cameras, undistort, num_undistort_iters)
        programs = _programs(rig)
        select = _robust_programs(rig, threshold_px, max_exhaustive_views) if robust else None

    def slow(points_2d, confidence, key):
        if robust:
            key = jax.random.key(0) if key is None else key
            return triangulate_ransac(key, cameras, points_2d, confidence, threshold_px=threshold_px,
                                      max_exhaustive_views=max_exhaustive_views, undistort=undistort)
        return triangulate_dlt(cameras, points_2d, confidence, undistort=undistort)

    def triangulate(points_2d: ArrayLike, confidence: ArrayLike | None = None, *, key: Array | None = None,
                    return_info: bool = False):
        shape = np.shape(points_2d)
        if len(shape) < 3 or shape[-3] != v or shape[-1] != 2:
            raise ValueError(f"points_2d must have shape (..., {v}, j, 2) for this {v}-view rig, got {shape}")
        if confidence is not None and np.shape(confidence) != shape[:-1]:
            try:
                np.broadcast_shapes(np.shape(confidence), shape[:-1])
            except ValueError:
                raise ValueError(f"confidence of shape {np.shape(confidence)} does not match points_2d "
                                 f"{shape} (expected {shape[:-1]})") from None
        traced = isinstance(points_2d, jax.core.Tracer) or isinstance(confidence, jax.core.Tracer)
        if programs is None or traced:
            X, info = slow(points_2d, confidence, key)
            return (X, info) if return_info else X
        to_soa, conform, solve_masked, valid_bits, info_fn, stack, flat_conf, normalised, solve_views = programs
        s = to_soa(points_2d)
        c = confidence
        if c is None or np.shape(c) != shape[:-1] or getattr(c, "dtype", None) != s.dtype:
            c = conform(c, s[0, 0, ..., :0], shape[:-1])  # dtype of the kernel, shape (..., v, j)
        bits = None
        if robust or v > _FUSED_VIEWS:
            views = normalised(s, flat_conf(c))
            bits = select(*views, s.shape[2:]) if robust else None
            xy, z = solve_views(views[0], views[1], bits, s.shape[2:])
        else:
            xy, z = solve_masked(s, c)
        X = stack(xy, z)
        if not return_info:
            return X
        used, num, err = info_fn(s, c, valid_bits(s, c) if bits is None else bits, xy, z, robust)
        return X, TriangulationInfo(views_used=used, num_views=num, mean_error_px=err)

    return triangulate
