"""Fast weighted DLT for a fixed rig: `make_triangulator` compiles the rig into a structure-of-arrays kernel.

The same estimator as `lift3d.geometry.triangulate.triangulate_dlt` (confidence- and focal-weighted rows on
undistorted normalised coordinates, closed-form null vector), specialised for throughput: the cameras are
compile-time constants, zero distortion terms vanish, x / y and the 10 entries of each 4x4 normal matrix are
separate (..., j) arrays, and the output is stacked outside the kernel (a trailing-axis stack fused into it was
~15x slower). Measured in `benchmarks/triangulate.py`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from lift3d.geometry.camera import Camera
from lift3d.geometry.triangulate import triangulate_dlt

__all__ = ["make_triangulator"]

@jax.jit
def _stack3(xyz):
    return jnp.stack(xyz, -1)


def _undistort_soa(x, y, d, num_iters: int):
    """Newton inverse of OpenCV's pinhole distortion on separate x, y arrays; `d` five Python floats.

    Terms whose coefficient is 0 are left out of the traced program (the rig is known when tracing).
    """
    k1, k2, p1, p2, k3 = d
    tx, ty = x, y
    for _ in range(num_iters):
        r2 = x * x + y * y
        radial, dradial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)), k1 + r2 * (2 * k2 + 3 * k3 * r2)
        xy = x * y
        rx, ry = x * radial - tx, y * radial - ty
        j00, j11, j01 = radial + 2 * x * x * dradial, radial + 2 * y * y * dradial, 2 * xy * dradial
        if p1 or p2:
            rx = rx + 2 * p1 * xy + p2 * (r2 + 2 * x * x)
            ry = ry + p1 * (r2 + 2 * y * y) + 2 * p2 * xy
            j00, j11 = j00 + 2 * p1 * y + 6 * p2 * x, j11 + 6 * p1 * y + 2 * p2 * x
            j01 = j01 + 2 * p1 * x + 2 * p2 * y
        inv_det = 1.0 / (j00 * j11 - j01 * j01)
        x, y = x - (j11 * rx - j01 * ry) * inv_det, y - (j00 * ry - j01 * rx) * inv_det
    return x, y


def _null_vector_soa(m: dict) -> list:
    """Null direction (unnormalised) of symmetric PSD 4x4 matrices given as 10 arrays m[(i, k)], i <= k."""
    tr = m[0, 0] + m[1, 1] + m[2, 2] + m[3, 3]
    inv = 1.0 / jnp.where(tr > 0, tr, 1.0)
    a = [[m[min(i, k), max(i, k)] * inv for k in range(4)] for i in range(4)]
    rest = [[k for k in range(4) if k != i] for i in range(4)]

    def cof(i, k):  # cofactor (i, k) = adj[k][i]; symmetric here
        (r0, r1, r2), (c0, c1, c2) = rest[i], rest[k]
        det = (a[r0][c0] * (a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1])
               - a[r0][c1] * (a[r1][c0] * a[r2][c2] - a[r1][c2] * a[r2][c0])
               + a[r0][c2] * (a[r1][c0] * a[r2][c1] - a[r1][c1] * a[r2][c0]))
        return det if (i + k) % 2 == 0 else -det

    upper = {(i, k): cof(i, k) for i in range(4) for k in range(i, 4)}
    B = [[upper[min(i, k), max(i, k)] for k in range(4)] for i in range(4)]
    h, best = list(B[0]), jnp.abs(B[0][0])
    for i in range(1, 4):  # the best-conditioned column of adj(M)
        take = jnp.abs(B[i][i]) > best
        h, best = [jnp.where(take, B[i][k], h[k]) for k in range(4)], jnp.maximum(best, jnp.abs(B[i][i]))
    for _ in range(2):  # power steps on adj(M), as `_null_vector`
        r = jax.lax.rsqrt(h[0] * h[0] + h[1] * h[1] + h[2] * h[2] + h[3] * h[3])
        h = [r * sum(B[i][k] * h[k] for k in range(4)) for i in range(4)]
    return h


def make_triangulator(cameras: Camera, *, undistort: bool = True, num_undistort_iters: int = 4):
    """A fast jitted weighted DLT for one fixed rig: `triangulate(points_2d, confidence=None) -> points_3d`.

    Same estimator as `triangulate_dlt` (confidence- and focal-weighted DLT rows on undistorted normalised
    coordinates, adjugate null vector), except that the rows are written in one frame for the whole rig
    (centred on the camera centres and scaled by their spread) instead of one per joint; on human-scale rigs
    the two agree to micrometres in float32. The cameras are constants of the compiled program (per-view
    numbers are folded in, zero distortion terms are skipped), and the kernel works on separate (..., j)
    arrays per coordinate and per entry of the normal matrix (structure of arrays, views unrolled, no
    (..., v, j, 2, 4) rows); about 5x faster than `triangulate_dlt` on CPU. XLA still splits the kernel into
    ~50 loops, as it will not duplicate shared intermediates (see benchmarks/RESULTS.md). Fisheye rigs fall
    back to `triangulate_dlt`.

    Args:
        cameras: Cameras, batch shape (v,), concrete (not traced).
        undistort: Remove lens distortion first; False treats the keypoints as undistorted pixels.
        num_undistort_iters: Newton steps of the undistortion (4 reach float32 precision for usual lenses;
            `triangulate_dlt` uses 8).

    Returns:
        A function `(points_2d (..., v, j, 2) distorted px, confidence (..., v, j) or None) -> points_3d
        (..., j, 3)` world units, NaN where fewer than two views are valid (NaN coordinates or confidence
        <= 0 mask a view); float32 in, float32 out (float64 with float64 input under `jax.enable_x64`).
    """
    K, R, t = (np.asarray(a, np.float64) for a in (cameras.K, cameras.R, cameras.t))
    dist = np.asarray(cameras.dist, np.float64)
    if K.ndim != 3:
        raise ValueError(f"make_triangulator needs cameras of batch shape (v,), got {K.shape[:-2]}")
    if cameras.model == "fisheye":
        return lambda points_2d, confidence=None: triangulate_dlt(cameras, points_2d, confidence,
                                                                  undistort=undistort)[0]
    v = K.shape[0]
    centers = -np.einsum("vki,vk->vi", R, t)
    c0 = centers.mean(0)
    s0 = float(np.sqrt(np.mean(np.sum((centers - c0) ** 2, -1)))) or 1.0
    t_frame = (np.einsum("vik,k->vi", R, c0) + t) / s0  # translation in the rig frame
    d = [tuple(float(e) for e in dist[i]) if undistort and np.any(dist[i]) else None for i in range(v)]
    K, R, t_frame, c0 = K.tolist(), R.tolist(), t_frame.tolist(), c0.tolist()  # weak-typed constants

    def block(args):  # u, y, conf (..., v, j) -> X: 3 x (..., j); views unrolled, all elementwise
        uu, yy, cc = args
        m = {(i, k): 0.0 for i in range(4) for k in range(i, 4)}
        count = 0
        for i in range(v):
            u, w_, conf = uu[..., i, :], yy[..., i, :], cc[..., i, :]
            ok = jnp.isfinite(u) & jnp.isfinite(w_) & (conf > 0)  # NaN confidence fails `> 0`
            count = count + ok.astype(jnp.int32)
            y = (w_ - K[i][1][2]) * (1.0 / K[i][1][1])
            x = (u - K[i][0][2] - K[i][0][1] * y) * (1.0 / K[i][0][0])
            if d[i] is not None:
                x, y = _undistort_soa(x, y, d[i], num_undistort_iters)
            for xy, f, r in ((x, K[i][0][0], 0), (y, K[i][1][1], 1)):
                sc = jnp.where(ok, conf * f, 0.0)
                xy = jnp.where(ok, xy, 0.0)
                row = [sc * (xy * R[i][2][k] - R[i][r][k]) for k in range(3)]
                row.append(sc * (xy * t_frame[i][2] - t_frame[i][r]))
                for a, b in m:
                    m[a, b] = m[a, b] + row[a] * row[b]
        h = _null_vector_soa(m)
        inv = 1.0 / h[3]
        # a tuple, not a stack: a stack fused into this kernel makes it many times slower
        return tuple(jnp.where(count >= 2, c0[k] + s0 * h[k] * inv, jnp.nan) for k in range(3))

    @jax.jit
    def kernel(points_2d, confidence):
        uv = jnp.asarray(points_2d)
        uv = uv.astype(jnp.result_type(uv.dtype, jnp.float32))
        if uv.ndim < 3 or uv.shape[-3] != v or uv.shape[-1] != 2:
            raise ValueError(f"points_2d must have shape (..., {v}, j, 2) for this {v}-view rig, got {uv.shape}")
        conf = jnp.ones(uv.shape[:-1], uv.dtype) if confidence is None else jnp.asarray(confidence, uv.dtype)
        conf = jnp.broadcast_to(conf, uv.shape[:-1])
        return block((uv[..., 0], uv[..., 1], conf))

    def triangulate(points_2d: ArrayLike, confidence: ArrayLike | None = None) -> Array:
        # the (..., j, 3) layout is made by a separate program: fused into the kernel, it slows it down
        return _stack3(kernel(points_2d, confidence))

    return triangulate
