"""Linear triangulation: the confidence-weighted DLT, written once over an array module, and the reprojection error.

Shapes: cameras of batch shape (v,) (or broadcastable (..., v)), 2D keypoints (..., v, j, 2) in distorted
pixels, confidences (..., v, j), 3D points (..., j, 3) in world units. Missing observations are NaN
coordinates or confidence 0: they are masked (weight 0), never dropped, so every function keeps static shapes
under `jit`. A joint seen by fewer than two valid views comes out as NaN.

How the DLT is solved: each valid view adds two rows `x p3 - p1`, `y p3 - p2` (normalised, undistorted
coordinates, `p` the rows of `[R | t]`), scaled by `fx` / `fy` (so that views weigh in pixels, as in a
pixel-space DLT) and by the confidence. The rows of a joint are written in a frame centred on its cameras and
scaled by their spread (Hartley's normalisation), which keeps the 4x4 normal matrix `A^T A` well conditioned
in float32 (agreement with a float64 SVD: micrometres on a 4 m rig). Its null vector comes from the adjugate
(every column of `adj(M)` is parallel to the eigenvector of the smallest eigenvalue) plus power steps:
elementwise arithmetic that makes the whole DLT about 3x faster on CPU than a batched `jnp.linalg.eigh`
(`solver="eigh"` is kept for comparison). Per-view normal matrices add up, so triangulating under many view
subsets (RANSAC pairs, Pose2Sim's camera removal, swap hypotheses) costs one small sum per subset.

One code path, two array modules (`xp`): `jax.numpy` under `jit` (`triangulate_dlt`) and float64 `numpy`
with nothing to compile (`lift3d.geometry.numpy_camera.triangulate_weighted`, for the calibration solvers and
short one-off work). Where
the two modules differ only in how a contraction is best written (`numpy.einsum` vs broadcast-and-sum, which
XLA fuses), the helpers `_contract_*` pick per module; the formulas are shared.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from lift3d.geometry.camera import Camera, project_points
from lift3d.geometry.distortion import coefficients, undistort_xy
from lift3d.geometry.lazy_jax import jit, jnp

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = [
    "Solver",
    "TriangulationInfo",
    "DLTSystem",
    "observation_weights",
    "dlt_row",
    "dlt_system",
    "normal_matrices",
    "null_vector",
    "solve_points",
    "triangulate_dlt",
    "pixel_errors",
    "reprojection_error",
    "mean_over_views",
    "cramer3",
    "dlt_rows",
]

Solver = Literal["adjugate", "eigh"]


class TriangulationInfo(NamedTuple):
    """What a triangulation used.

    Attributes:
        views_used: Which views entered the final solve, shape (..., v, j), bool; all False where the point
            is NaN.
        num_views: How many, shape (..., j), int32 (0 where the point is NaN).
        mean_error_px: Mean reprojection error over the used views, shape (..., j), px; None for plain DLT.
    """

    views_used: Array
    num_views: Array
    mean_error_px: Array | None = None


class DLTSystem(NamedTuple):
    """The weighted DLT rows of every observation in the joints' frames (`dlt_system`).

    Attributes:
        cameras: The cameras as arrays of `xp` in the points' dtype.
        uv: Distorted pixels, NaN replaced by 0, shape (..., v, j, 2).
        w: Weights, shape (..., v, j), 0 where masked.
        rows: Weighted rows, shape (..., v, j, 2, 4), acting on frame coordinates `(Y, 1)` with
            `X = c + s Y`.
        c: Frame centres, shape (..., j, 3), world units.
        s: Frame scales, shape (..., j), world units.
    """

    cameras: Camera
    uv: Any
    w: Any
    rows: Any
    c: Any
    s: Any


def observation_weights(points_2d: Any, confidence: Any | None, xp: Any = jnp) -> tuple[Any, Any]:
    """Valid-observation weights (..., v, j) (0 where masked) and the 2D points with NaN replaced by 0.

    Args:
        points_2d: Keypoints, shape (..., v, j, 2) (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 or NaN = missing), or None for 1.
        xp: Array module.

    Returns:
        (w, uv): weights (..., v, j) in the points' dtype and the points (..., v, j, 2).
    """
    uv = xp.asarray(points_2d)
    conf = xp.ones(uv.shape[:-1], uv.dtype) if confidence is None else xp.asarray(confidence, uv.dtype)
    valid = xp.all(xp.isfinite(uv), -1) & xp.isfinite(conf) & (conf > 0)
    return xp.where(valid, conf, 0.0), xp.where(valid[..., None], uv, 0.0)


def _contract_centres(xp, share, centers):
    """Weighted centres (..., j, 3) of camera centres (..., v, 3) under shares (..., v, j)."""
    if xp is np:
        return np.einsum("...vj,vx->...jx", share, centers)
    return jnp.sum(share[..., None] * centers[..., None, :], -3)


def _contract_rotate(xp, R, c):
    """R (..., v, 3, 3) applied to frame centres c (..., j, 3): (..., v, j, 3)."""
    if xp is np:
        return np.einsum("vxy,...jy->...vjx", R, c)
    return jnp.sum(R[..., None, :, :] * c[..., None, :, None, :], -1)


def _normalise(xp, cam: Camera, uv, undistort: bool, num_iters: int = 8):
    """Undistorted normalised coordinates (..., v, j, 2) of pixels (..., v, j, 2) (`undistort_points`)."""
    K = xp.asarray(cam.K)[..., None, :, :]
    y = (uv[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (uv[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    if undistort:
        x, y = undistort_xy(x, y, coefficients(xp.asarray(cam.dist), 1), model=cam.model, num_iters=num_iters,
                            xp=xp)
    return xp.stack([x, y], -1)


def dlt_rows(xy: Any, scale: Any, R: Any, t: Any, xp: Any = jnp) -> Any:
    """The weighted DLT rows `x p3 - p1`, `y p3 - p2` of observations, `p` the rows of `[R | t]`.

    The one formula of the rows: `dlt_system` uses it, and so do callers that normalise the points and choose
    the frame themselves (`lift3d.geometry.candidates`: one rig frame for every detection).

    Args:
        xy: Normalised undistorted coordinates, shape (..., 2).
        scale: Row weights (`w fx`, `w fy`), shape (..., 2).
        R: Rotations, shape broadcastable to (..., 3, 3).
        t: Translations acting on points of the chosen frame, shape broadcastable to (..., 3).
        xp: Array module.

    Returns:
        Weighted rows, shape (..., 2, 4), acting on frame coordinates `(Y, 1)`.
    """
    R_c = [[R[..., i, k] for k in range(3)] for i in range(3)]
    t_c = [t[..., i] for i in range(3)]
    rows = [xp.stack(dlt_row(xy[..., r], r, R_c, t_c), -1) for r in (0, 1)]
    return scale[..., None] * xp.stack(rows, -2)


def dlt_row(c: Any, r: int, R: Any, t: Any) -> list:
    """One unweighted DLT row, `c p3 - p_r`, component by component: the formula `dlt_rows` stacks.

    Written on components so that it serves arrays (`dlt_rows`) and the fixed-rig kernels, whose camera
    entries are Python floats folded into the compiled program.

    Args:
        c: The observation's x (r = 0) or y (r = 1) normalised undistorted coordinate, any shape.
        r: 0 for the x row, 1 for the y row.
        R: Rotation entries, `R[i][k]` (floats or arrays broadcastable with c).
        t: Translation entries, `t[i]`, acting on points of the chosen frame.

    Returns:
        The 4 entries of the row (3 on the point, 1 on the homogeneous coordinate).
    """
    return [c * R[2][k] - R[r][k] for k in range(3)] + [c * t[2] - t[r]]


def dlt_system(cameras: Camera, points_2d: Any, confidence: Any | None, undistort: bool = True,
               frame_views: Any | None = None, xp: Any = jnp) -> DLTSystem:
    """Weighted DLT rows of every observation, each joint in its own well-conditioned frame.

    The rows of joint j are written in a frame centred on the joint's valid cameras (or `frame_views`) and
    scaled by their spread: a view with weight 0 leaves the result exactly as if it were absent, and the
    unknowns stay O(1) (float32-safe). Undistortion takes 8 Newton steps (float64 precision in the image even
    for k1 = -0.45).

    Args:
        cameras: Cameras, batch shape (v,) (numpy: exactly (v,)) or broadcastable (..., v).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 = missing), or None for 1.
        undistort: Remove lens distortion first; False treats `points_2d` as undistorted pixels.
        frame_views: Views that define each joint's frame, shape (..., v, j) bool; None: the valid views.
        xp: Array module (jax.numpy: dtype at least float32; numpy: pass float64 points).

    Returns:
        A `DLTSystem`.
    """
    uv = xp.asarray(points_2d)
    if xp is not np:
        uv = uv.astype(jnp.result_type(uv.dtype, jnp.float32))
    w, uv = observation_weights(uv, confidence, xp)
    cam = cameras.map(lambda a: xp.asarray(a, uv.dtype))
    xy = _normalise(xp, cam, uv, undistort)
    frame_views = w > 0 if frame_views is None else frame_views
    share = frame_views / xp.maximum(xp.sum(frame_views, -2, keepdims=True), 1)  # (..., v, j)
    R, t = xp.asarray(cam.R), xp.asarray(cam.t)
    centers = -xp.einsum("...ji,...j->...i", R, t)  # (..., v, 3)
    c = _contract_centres(xp, share, centers)  # (..., j, 3)
    s = xp.sqrt(xp.sum(share * xp.sum((centers[..., None, :] - c[..., None, :, :]) ** 2, -1), -2))
    s = xp.where(s > 0, s, 1.0)
    t_frame = (_contract_rotate(xp, R, c) + t[..., None, :]) / s[..., None, :, None]  # (..., v, j, 3)
    K = xp.asarray(cam.K)
    scale = (w[..., None] * K[..., None, [0, 1], [0, 1]])[..., None]  # (..., v, j, 2, 1): w fx, w fy
    return DLTSystem(cam, uv, w, dlt_rows(xy, scale[..., 0], R[..., None, :, :], t_frame, xp), c, s)


def normal_matrices(rows: Any, sum_views: bool = False, xp: Any = jnp) -> Any:
    """Normal matrices `A^T A` of DLT rows.

    Args:
        rows: Weighted rows (`DLTSystem.rows`), shape (..., v, j, 2, 4).
        sum_views: Sum over the views too.
        xp: Array module.

    Returns:
        Per-view matrices (..., v, j, 4, 4), or with `sum_views` (..., j, 4, 4).
    """
    if xp is np:
        M = np.einsum("...ka,...kb->...ab", rows, rows)
        return M.sum(-4) if sum_views else M
    return jnp.sum(rows[..., :, None] * rows[..., None, :], (-5, -3) if sum_views else (-3,))


def _adjugate4(M: Any, xp: Any) -> Any:
    """Adjugate (transposed cofactor matrix) of 4x4 matrices (..., 4, 4), elementwise."""
    a = [[M[..., i, j] for j in range(4)] for i in range(4)]
    rest = [[k for k in range(4) if k != i] for i in range(4)]

    def minor(i, j):
        (r0, r1, r2), (c0, c1, c2) = rest[i], rest[j]
        return (a[r0][c0] * (a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1])
                - a[r0][c1] * (a[r1][c0] * a[r2][c2] - a[r1][c2] * a[r2][c0])
                + a[r0][c2] * (a[r1][c0] * a[r2][c1] - a[r1][c1] * a[r2][c0]))

    return xp.stack([xp.stack([(-1) ** (i + j) * minor(j, i) for j in range(4)], -1) for i in range(4)], -2)


def null_vector(M: Any, solver: Solver = "adjugate", power_steps: int = 2, xp: Any = jnp) -> Any:
    """Unit eigenvector of the smallest eigenvalue of symmetric PSD 4x4 matrices (..., 4, 4).

    "adjugate": the best-conditioned column of the adjugate (parallel to that eigenvector when it is exact)
    and `power_steps` power steps on the adjugate, whose other directions shrink by lambda_4 / lambda_3 per
    step; "eigh": `xp.linalg.eigh`.

    Args:
        M: Matrices, shape (..., 4, 4).
        solver: "adjugate" or "eigh".
        power_steps: Power steps of the adjugate solver.
        xp: Array module.

    Returns:
        Unit vectors, shape (..., 4).
    """
    trace = xp.trace(M, axis1=-2, axis2=-1)[..., None, None]
    M = M / xp.where(trace > 0, trace, 1.0)
    if solver == "eigh":
        return xp.linalg.eigh(M)[1][..., 0]
    if solver != "adjugate":
        raise ValueError(f"solver must be 'adjugate' or 'eigh', got {solver!r}")
    B = _adjugate4(M, xp)
    pick = xp.argmax(xp.abs(xp.diagonal(B, axis1=-2, axis2=-1)), -1)  # the best-conditioned column
    if xp is np:
        h = np.take_along_axis(B, pick[..., None, None], -1)[..., 0]
    else:
        h = jnp.sum(jnp.where((jnp.arange(4) == pick[..., None])[..., None, :], B, 0.0), -1)
    for _ in range(power_steps):
        h = h / xp.linalg.norm(h, axis=-1, keepdims=True)
        h = np.einsum("...ij,...j->...i", B, h) if xp is np else jnp.sum(B * h[..., None, :], -1)
    return h / xp.linalg.norm(h, axis=-1, keepdims=True)


def solve_points(M: Any, c: Any, s: Any, ok: Any, solver: Solver = "adjugate", power_steps: int = 2,
                 xp: Any = jnp) -> Any:
    """World points (..., j, 3) from normal matrices (..., j, 4, 4) in the joint frames; NaN where not `ok`.

    Args:
        M: Normal matrices in the frames of `dlt_system`, shape (..., j, 4, 4).
        c: Frame centres, shape (..., j, 3), world units.
        s: Frame scales, shape (..., j), world units.
        ok: Where a point is determined, shape (..., j), bool.
        solver: Null-vector solver, see `null_vector`.
        power_steps: Power steps of the adjugate solver.
        xp: Array module.

    Returns:
        Points, shape (..., j, 3), world units.
    """
    safe = xp.asarray(np.diag([1.0, 1.0, 1.0, 0.0]), M.dtype)  # null vector (0, 0, 0, 1): NaN-free gradients
    h = null_vector(xp.where(ok[..., None, None], M, safe), solver, power_steps, xp)
    with np.errstate(divide="ignore", invalid="ignore"):
        X = c + s[..., None] * h[..., :3] / h[..., 3:]
    return xp.where(ok[..., None], X, xp.nan)


def cramer3(a: Any, g: Any) -> tuple[list, Any]:
    """Cramer's rule for 3x3 systems `a y = g` written on components (the inhomogeneous DLT's and the
    per-point refinement's normal systems; elementwise, so XLA fuses it and numpy needs no batched solve).

    Args:
        a: The matrix as nested 3 x 3 components `a[i][k]` (arrays of one shape, or Python floats).
        g: The right-hand side, 3 components.

    Returns:
        (numerators, det): `y_i = numerators[i] / det` (the caller guards or inverts `det`).
    """
    cof = [[a[(i + 1) % 3][(k + 1) % 3] * a[(i + 2) % 3][(k + 2) % 3]
            - a[(i + 1) % 3][(k + 2) % 3] * a[(i + 2) % 3][(k + 1) % 3] for k in range(3)] for i in range(3)]
    det = a[0][0] * cof[0][0] + a[0][1] * cof[0][1] + a[0][2] * cof[0][2]
    return [cof[0][i] * g[0] + cof[1][i] * g[1] + cof[2][i] * g[2] for i in range(3)], det


def mean_over_views(err: Any, used: Any, xp: Any = jnp) -> Any:
    """Mean of per-view errors over the used views.

    Args:
        err: Errors, shape (..., v, j), px.
        used: Views to average, shape (..., v, j), bool.
        xp: Array module.

    Returns:
        Means, shape (..., j), px; NaN where no view is used.
    """
    n = xp.sum(used, -2)
    total = xp.sum(xp.where(used, err, 0.0), -2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(n > 0, total / xp.maximum(n, 1), xp.nan)


def pixel_errors(cameras: Camera, points_3d: Array, points_2d: Array) -> Array:
    """Reprojection errors, traced inside the callers' programs (`reprojection_error` is the jitted form).

    Args:
        cameras: Cameras, batch shape (v,) or broadcastable (..., v), arrays in the points' dtype.
        points_3d: Points, shape (..., j, 3), world units.
        points_2d: Observations, shape (..., v, j, 2), distorted px.

    Returns:
        Distances between the projections (with distortion) and the observations, shape (..., v, j), px.
    """
    return jnp.linalg.norm(project_points(cameras, points_3d[..., None, :, :]) - points_2d, axis=-1)


@functools.partial(jit, static_argnames=("undistort", "solver"))
def triangulate_dlt(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike | None = None, *, undistort: bool = True,
    solver: Solver = "adjugate",
) -> tuple[Array, TriangulationInfo]:
    """Confidence-weighted linear triangulation (DLT) of every joint from all valid views (jitted JAX).

    Each valid view contributes two rows scaled by its confidence (Iskakov et al. 2019); a view with
    confidence 0 or NaN coordinates contributes nothing, exactly as if it were absent.

    Args:
        cameras: Cameras, batch shape (v,) or broadcastable (..., v).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels; NaN marks a missing observation.
        confidence: Weights, shape (..., v, j); 0 marks a missing observation. None weighs all views 1.
        undistort: Remove lens distortion first; False treats `points_2d` as already undistorted pixels.
        solver: "adjugate" (closed form, fast) or "eigh" (`jnp.linalg.eigh`).

    Returns:
        points_3d of shape (..., j, 3), world units (NaN with fewer than 2 valid views), and a
        `TriangulationInfo` (views_used, num_views; mean_error_px None).
    """
    sys_ = dlt_system(cameras, points_2d, confidence, undistort)
    ok = jnp.sum(sys_.w > 0, -2) >= 2
    used = (sys_.w > 0) & ok[..., None, :]
    X = solve_points(normal_matrices(sys_.rows, True), sys_.c, sys_.s, ok, solver)
    return X, TriangulationInfo(views_used=used, num_views=jnp.sum(used, -2).astype(jnp.int32))


@jit
def reprojection_error(cameras: Camera, points_3d: ArrayLike, points_2d: ArrayLike) -> Array:
    """Distance between projected 3D points (with distortion) and observed 2D points.

    Args:
        cameras: Cameras, batch shape (v,) or broadcastable (..., v).
        points_3d: Points, shape (..., j, 3), world units.
        points_2d: Observations, shape (..., v, j, 2), distorted pixels (NaN = missing).

    Returns:
        Errors, shape (..., v, j), px; NaN where the observation or the point is missing.
    """
    uv = jnp.asarray(points_2d)
    X = jnp.asarray(points_3d, jnp.result_type(uv.dtype, jnp.float32))
    return pixel_errors(cameras.map(lambda a: jnp.asarray(a, X.dtype)), X, uv)
