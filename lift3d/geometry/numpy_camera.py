"""The camera model and linear / robust triangulation in float64 numpy: nothing to compile.

The JAX functions of `lift3d.geometry.camera` and `lift3d.geometry.triangulate` are the batched, jittable,
differentiable ones; on a CPU their compile time (3-10 s per function and shape on a 2-core machine) dominates
small, one-off work. This module computes the same things in numpy for the calibration solvers
(`lift3d.calibration`) and `lift3d.geometry.association`'s numpy backend: the camera unknowns as arrays
(`camera_params`), the lens model with its Jacobians, projection and its inverse, reprojection errors, and the
triangulations that start a points adjustment (`triangulate_weighted`, `triangulate_inliers`: float64 twins of
`triangulate_dlt` and of `triangulate_ransac` with all view pairs). Tests hold each to its JAX counterpart.
Products are elementwise or `np.einsum`: OpenBLAS' threads made a 24 x 7500 x 24 matrix product take
0.1-0.4 s on a busy 2-core machine.

`camera_params` layout: rotation "R" (v, 3, 3) and translation "t" (v, 3) world -> camera; "intr" (v, 9): fx,
fy, cx, cy (px) and 5 distortion coefficients (OpenCV pinhole k1, k2, p1, p2, k3 or fisheye k1..k4); "skew"
(v,) `K[0, 1]` (px).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.spatial.transform import Rotation

from lift3d.geometry.camera import Camera

__all__ = [
    "camera_params",
    "intrinsic_matrices",
    "camera_centres",
    "rotvec_to_matrix",
    "distort_jacobian",
    "project",
    "undistort",
    "reprojection_errors",
    "triangulate_weighted",
    "triangulate_inliers",
]


def camera_params(cameras: Camera) -> dict[str, np.ndarray]:
    """Cameras as float64 arrays: the solvers' state.

    Args:
        cameras: Cameras, batch shape (v,).

    Returns:
        Dict: "R" (v, 3, 3) and "t" (v, 3) world->camera; "intr" (v, 9) fx, fy, cx, cy (px) and the 5
        distortion coefficients; "skew" (v,) `K[0, 1]` (px).
    """
    K = np.asarray(cameras.K, np.float64)
    return {
        "R": np.asarray(cameras.R, np.float64),
        "t": np.asarray(cameras.t, np.float64),
        "intr": np.concatenate([K[:, [0, 1, 0, 1], [0, 1, 2, 2]], np.asarray(cameras.dist, np.float64)], 1),
        "skew": K[:, 0, 1].copy(),
    }


def intrinsic_matrices(intr: np.ndarray, skew: np.ndarray) -> np.ndarray:
    """Intrinsic matrices (v, 3, 3) from `camera_params`' "intr" (v, 9) and "skew" (v,)."""
    K = np.zeros((len(intr), 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2] = intr[:, 0], intr[:, 1], intr[:, 2], intr[:, 3]
    K[:, 0, 1], K[:, 2, 2] = skew, 1.0
    return K


def camera_centres(cameras: Camera) -> np.ndarray:
    """Camera centres `-R^T t`, shape (*b, 3), world units (float64)."""
    return -np.einsum("...ji,...j->...i", np.asarray(cameras.R, np.float64), np.asarray(cameras.t, np.float64))


def rotvec_to_matrix(w: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (radians)."""
    w = np.asarray(w, np.float64)
    return Rotation.from_rotvec(w.reshape(-1, 3)).as_matrix().reshape(*w.shape[:-1], 3, 3)


def distort_jacobian(x: np.ndarray, y: np.ndarray, d: np.ndarray, fisheye: bool, jacobian: bool):
    """OpenCV's lens distortion of normalised points, optionally with its Jacobians.

    Args:
        x, y: Undistorted normalised coordinates, shape (...).
        d: Distortion coefficients, shape (..., 5) broadcastable against `x` (k1, k2, p1, p2, k3; fisheye
            k1..k4 and an unused fifth).
        fisheye: The fisheye (equidistant) model instead of the pinhole one.
        jacobian: Also return the Jacobians.

    Returns:
        (xd, yd, J, Jd): distorted coordinates (...); with `jacobian`, d(xd, yd)/d(x, y) (..., 2, 2) and
        d(xd, yd)/d(coefficients) (..., 2, 5), else None and None.
    """
    r2 = x * x + y * y
    if fisheye:
        small = r2 < 1e-24
        r = np.sqrt(np.where(small, 1.0, r2))
        th = np.arctan(r)
        t2 = th * th
        k1, k2, k3, k4 = d[..., 0], d[..., 1], d[..., 2], d[..., 3]
        thd = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        scale = np.where(small, 1.0, thd / r)
        xd, yd = x * scale, y * scale
        if not jacobian:
            return xd, yd, None, None
        dthd = 1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * t2 * k4)))
        ds = np.where(small, 0.0, (dthd / (1 + r * r) * r - thd) / (r * r)) / r  # d scale / d r, over r
        J = np.stack(
            [np.stack([scale + x * x * ds, x * y * ds], -1), np.stack([x * y * ds, scale + y * y * ds], -1)],
            -2,
        )
        powers = np.stack([th**3, th**5, th**7, th**9, np.zeros_like(th)], -1) / r[..., None]
        powers = np.where(small[..., None], 0.0, powers)
        return xd, yd, J, np.stack([x[..., None] * powers, y[..., None] * powers], -2)
    k1, k2, p1, p2, k3 = d[..., 0], d[..., 1], d[..., 2], d[..., 3], d[..., 4]
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    if not jacobian:
        return xd, yd, None, None
    dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)
    j01 = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
    J = np.stack(
        [
            np.stack([radial + 2 * x * x * dradial + 2 * p1 * y + 6 * p2 * x, j01], -1),
            np.stack([j01, radial + 2 * y * y * dradial + 6 * p1 * y + 2 * p2 * x], -1),
        ],
        -2,
    )
    r4 = r2 * r2
    Jd = np.stack(
        [
            np.stack([x * r2, x * r4, 2 * x * y, r2 + 2 * x * x, x * r4 * r2], -1),
            np.stack([y * r2, y * r4, r2 + 2 * y * y, 2 * x * y, y * r4 * r2], -1),
        ],
        -2,
    )
    return xd, yd, J, Jd


def project(params: dict[str, np.ndarray], points: np.ndarray, fisheye: bool) -> tuple[np.ndarray, np.ndarray]:
    """Project world points into every camera (with distortion; equals `geometry.camera.project_points`).

    Args:
        params: `camera_params` of v cameras.
        points: World points, shape (..., v, n, 3) (the camera axis may be 1 to project into all), world units.
        fisheye: The cameras' lens model is fisheye.

    Returns:
        Pixels (..., v, n, 2) and depths (..., v, n) (world units; points behind a camera are projected by
        the same formula).
    """
    R, t, k = params["R"][:, None], params["t"][:, None], params["intr"][:, None]  # (v, 1, ...)
    xc = np.sum(R * points[..., None, :], -1) + t
    z = xc[..., 2]
    xd, yd, _, _ = distort_jacobian(xc[..., 0] / z, xc[..., 1] / z, k[..., 4:], fisheye, False)
    uv = np.stack([k[..., 0] * xd + params["skew"][:, None] * yd + k[..., 2], k[..., 1] * yd + k[..., 3]], -1)
    return uv, z


def undistort(params: dict[str, np.ndarray], uv: np.ndarray, fisheye: bool, num_iters: int = 8) -> np.ndarray:
    """Normalised undistorted coordinates of pixels (`geometry.camera.undistort_points(normalized=True)`).

    Newton's method from the distorted point: on (x, y) for the pinhole model, on the angle for the fisheye
    one; 8 steps reach float64 precision inside the image even for k1 = -0.45.

    Args:
        params: `camera_params` of v cameras.
        uv: Distorted pixels, shape (..., v, n, 2) (finite).
        fisheye: The cameras' lens model is fisheye.
        num_iters: Newton steps.

    Returns:
        `(X / Z, Y / Z)`, shape (..., v, n, 2).
    """
    k = params["intr"][:, None]  # (v, 1, 9)
    ty = (uv[..., 1] - k[..., 3]) / k[..., 1]
    tx = (uv[..., 0] - k[..., 2] - params["skew"][:, None] * ty) / k[..., 0]
    if fisheye:
        k1, k2, k3, k4 = k[..., 4], k[..., 5], k[..., 6], k[..., 7]
        theta_d = np.sqrt(tx * tx + ty * ty)
        th = theta_d
        for _ in range(num_iters):
            t2 = th * th
            f = th * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            th = th - f / (1 + t2 * (3 * k1 + t2 * (5 * k2 + t2 * (7 * k3 + 9 * t2 * k4))))
        small = theta_d < 1e-12
        scale = np.where(small, 1.0, np.tan(th) / np.where(small, 1.0, theta_d))
        return np.stack([tx * scale, ty * scale], -1)
    k1, k2, p1, p2, k3 = k[..., 4], k[..., 5], k[..., 6], k[..., 7], k[..., 8]
    x, y = tx, ty
    for _ in range(num_iters):  # the pinhole terms of `distort_jacobian`, without building the arrays
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        dradial = k1 + r2 * (2 * k2 + 3 * k3 * r2)
        rx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x) - tx
        ry = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y - ty
        a = radial + 2 * x * x * dradial + 2 * p1 * y + 6 * p2 * x
        b = 2 * x * y * dradial + 2 * p1 * x + 2 * p2 * y
        e = radial + 2 * y * y * dradial + 6 * p1 * y + 2 * p2 * x
        det = a * e - b * b
        det = np.where(np.abs(det) < 1e-12, 1e-12, det)
        x, y = x - (e * rx - b * ry) / det, y - (a * ry - b * rx) / det
    return np.stack([x, y], -1)


# ------------------------------------------------------------------------------------------- triangulation


def _view_normals(params: dict, uv: np.ndarray, conf: np.ndarray | None, fisheye: bool):
    """Weights w (..., v, j) (0 where masked), per-view DLT normal matrices (..., v, j, 4, 4) and each joint's
    frame: centre c (..., j, 3) and spread s (..., j) of its valid cameras (as `geometry.triangulate`)."""
    uv = np.asarray(uv, np.float64)
    conf = np.ones(uv.shape[:-1]) if conf is None else np.asarray(conf, np.float64)
    valid = np.isfinite(uv).all(-1) & np.isfinite(conf) & (conf > 0)
    w = np.where(valid, conf, 0.0)
    xy = undistort(params, np.where(valid[..., None], uv, 0.0), fisheye)  # (..., v, j, 2)
    share = valid / np.maximum(valid.sum(-2, keepdims=True), 1)
    C = -np.einsum("vji,vj->vi", params["R"], params["t"])
    c = np.einsum("...vj,vx->...jx", share, C)
    s = np.sqrt(np.sum(share * np.sum((C[:, None] - c[..., None, :, :]) ** 2, -1), -2))
    s = np.where(s > 0, s, 1.0)
    R = params["R"][:, None]  # (v, 1, 3, 3)
    t_frame = (np.einsum("vxy,...jy->...vjx", params["R"], c) + params["t"][:, None]) / s[..., None, :, None]
    rot = xy[..., None] * R[..., 2:3, :] - R[..., :2, :]  # (..., v, j, 2, 3)
    trans = xy * t_frame[..., 2:3] - t_frame[..., :2]
    rows = (w[..., None] * params["intr"][:, None, :2])[..., None] * np.concatenate([rot, trans[..., None]], -1)
    return w, np.einsum("...ka,...kb->...ab", rows, rows), c, s


def _adjugate4(M: np.ndarray) -> np.ndarray:
    """Adjugates (transposed cofactor matrices) of 4x4 matrices (..., 4, 4), elementwise."""
    rest = [[k for k in range(4) if k != i] for i in range(4)]

    def minor(i, j):
        (r0, r1, r2), (c0, c1, c2) = rest[i], rest[j]
        a = lambda r, c: M[..., r, c]  # noqa: E731
        return (a(r0, c0) * (a(r1, c1) * a(r2, c2) - a(r1, c2) * a(r2, c1))
                - a(r0, c1) * (a(r1, c0) * a(r2, c2) - a(r1, c2) * a(r2, c0))
                + a(r0, c2) * (a(r1, c0) * a(r2, c1) - a(r1, c1) * a(r2, c0)))  # fmt: skip

    return np.stack([np.stack([(-1) ** (i + j) * minor(j, i) for j in range(4)], -1) for i in range(4)], -2)


def _null_vectors(M: np.ndarray, power_steps: int = 4) -> np.ndarray:
    """Unit eigenvectors of the smallest eigenvalue of symmetric PSD 4x4 matrices (..., 4, 4).

    The best-conditioned column of the adjugate (parallel to that eigenvector when it is exact) and power
    steps on the adjugate, whose other directions shrink by lambda_4 / lambda_3 per step: on the balancing
    trial within 4e-11 m of `np.linalg.eigh`'s points, 4x faster (a batched LAPACK call per 4x4 matrix).
    """
    trace = np.trace(M, axis1=-2, axis2=-1)[..., None, None]
    B = _adjugate4(M / np.where(trace > 0, trace, 1.0))
    pick = np.argmax(np.abs(np.diagonal(B, axis1=-2, axis2=-1)), -1)
    h = np.take_along_axis(B, pick[..., None, None], -1)[..., 0]
    for _ in range(power_steps):
        h = h / np.linalg.norm(h, axis=-1, keepdims=True)
        h = np.einsum("...ij,...j->...i", B, h)
    return h / np.linalg.norm(h, axis=-1, keepdims=True)


def _solve_dlt(M: np.ndarray, c: np.ndarray, s: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """World points (..., 3) from normal matrices (..., 4, 4) in the joints' frames; NaN where not `ok`."""
    h = _null_vectors(np.where(ok[..., None, None], M, np.diag([1.0, 1.0, 1.0, 0.0])))
    with np.errstate(divide="ignore", invalid="ignore"):
        X = c + s[..., None] * h[..., :3] / h[..., 3:]
    return np.where(ok[..., None], X, np.nan)


def _errors(params: dict, X: np.ndarray, uv: np.ndarray, fisheye: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.linalg.norm(project(params, X[..., None, :, :], fisheye)[0] - uv, axis=-1)


def reprojection_errors(cameras: Camera, points_3d: np.ndarray, points_2d: np.ndarray) -> np.ndarray:
    """Distances between projected points and observations (`geometry.triangulate.reprojection_error` in numpy).

    Args:
        cameras: Cameras, batch shape (v,).
        points_3d: Points, shape (..., j, 3), world units.
        points_2d: Observations, shape (..., v, j, 2), distorted pixels (NaN = missing).

    Returns:
        Errors, shape (..., v, j), px (float64); NaN where the observation or the point is missing.
    """
    params = camera_params(cameras)
    return _errors(params, np.asarray(points_3d, np.float64), np.asarray(points_2d, np.float64),
                   cameras.model == "fisheye")  # fmt: skip


def triangulate_weighted(cameras: Camera, points_2d: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    """Confidence-weighted DLT of every joint from all its valid views (`geometry.triangulate.triangulate_dlt`
    in float64 numpy: no compilation).

    Args:
        cameras: Cameras, batch shape (v,).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 = missing); None weighs all views 1.

    Returns:
        Points, shape (..., j, 3), world units; NaN with fewer than two valid views.
    """
    params = camera_params(cameras)
    w, Mv, c, s = _view_normals(params, points_2d, confidence, cameras.model == "fisheye")
    return _solve_dlt(Mv.sum(-4), c, s, (w > 0).sum(-2) >= 2)


def triangulate_inliers(
    cameras: Camera, points_2d: np.ndarray, confidence: np.ndarray | None = None, *, threshold_px: float = 20.0
) -> tuple[np.ndarray, np.ndarray]:
    """Robust triangulation: best view pair by inlier count, then a weighted DLT of its inliers
    (`geometry.triangulate.triangulate_ransac` with all pairs, in float64 numpy).

    Every pair of valid views is a hypothesis; a view is its inlier when its reprojection error is below
    `threshold_px`. The pair with most inliers wins (ties: smaller truncated error); the point is
    re-triangulated from the winner's inliers (confidence-weighted), the inliers recomputed once from that
    point and the point re-triangulated again.

    Args:
        cameras: Cameras, batch shape (v,), v >= 2.
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 = missing), or None.
        threshold_px: Inlier threshold, px.

    Returns:
        Points (..., j, 3), world units (NaN where fewer than two views agree), and the inlier views that
        made them, shape (..., v, j), bool.
    """
    params, fisheye = camera_params(cameras), cameras.model == "fisheye"
    uv = np.asarray(points_2d, np.float64)
    w, Mv, c, s = _view_normals(params, uv, confidence, fisheye)
    valid, v = w > 0, uv.shape[-3]
    if v < 2:
        raise ValueError(f"triangulate_inliers needs at least 2 views, got {v}")
    masks = np.eye(v, dtype=bool)[list(itertools.combinations(range(v), 2))].any(1)  # (h, v)
    hyp = masks[(slice(None),) + (None,) * (valid.ndim - 2) + (slice(None), None)] & valid  # (h, ..., v, j)
    X_h = _solve_dlt(np.einsum("hv,...vjab->h...jab", masks.astype(np.float64), Mv), c, s, hyp.sum(-2) >= 2)
    err = _errors(params, X_h, uv, fisheye)
    inl = valid & (err < threshold_px)
    trunc = np.sum(np.where(inl, err, 0.0), -2) / (threshold_px * (v + 1))
    score = np.where(np.isfinite(X_h[..., 0]), inl.sum(-2) - trunc, -np.inf)
    best = np.argmax(score, 0)[None, ..., None, :]
    best_inl, best_hyp = np.take_along_axis(inl, best, 0)[0], np.take_along_axis(hyp, best, 0)[0]
    mask = np.where(best_inl.sum(-2, keepdims=True) >= 2, best_inl, best_hyp)
    X = _solve_dlt(np.sum(mask[..., None, None] * Mv, -4), c, s, mask.sum(-2) >= 2)
    new = valid & (_errors(params, X, uv, fisheye) < threshold_px)
    mask = np.where(new.sum(-2, keepdims=True) >= 2, new, mask)
    X = _solve_dlt(np.sum(mask[..., None, None] * Mv, -4), c, s, mask.sum(-2) >= 2)
    return X, mask & np.isfinite(X[..., None, :, 0])
