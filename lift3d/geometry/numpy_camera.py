"""The camera model and linear / robust triangulation in float64 numpy: nothing to compile.

The JAX functions of `lift3d.geometry.camera` and `lift3d.geometry.triangulation` are the batched, jittable,
differentiable ones; on a CPU their compile time (3-10 s per function and shape on a 2-core machine) dominates
small, one-off work. This module computes the same things in numpy for the calibration solvers
(`lift3d.calibration`) and `lift3d.geometry.association`'s numpy backend: the camera unknowns as arrays
(`camera_params`), projection and its inverse, reprojection errors, and the triangulations that start a points
adjustment (`triangulate_weighted`, `triangulate_inliers`: `triangulate_dlt` and `triangulate_ransac` with all
view pairs, run with `xp=numpy`). The formulas are not repeated here: the lens model (with its Jacobians) is
`lift3d.geometry.distortion`'s, the DLT `lift3d.geometry.triangulation.linear`'s, the inlier rule
`lift3d.geometry.triangulation.robust`'s. Tests hold each to its JAX counterpart.
Products are elementwise or `np.einsum`: OpenBLAS' threads made a 24 x 7500 x 24 matrix product take
0.1-0.4 s on a busy 2-core machine.

`camera_params` layout: rotation "R" (v, 3, 3) and translation "t" (v, 3) world -> camera; "intr" (v, 9): fx,
fy, cx, cy (px) and 5 distortion coefficients (OpenCV pinhole k1, k2, p1, p2, k3 or fisheye k1..k4); "skew"
(v,) `K[0, 1]` (px).
"""

from __future__ import annotations

import numpy as np

from lift3d.geometry.camera import Camera
from lift3d.geometry.distortion import coefficients, distort_xy, undistort_xy
from lift3d.geometry.triangulation.linear import dlt_system, normal_matrices, solve_points
from lift3d.geometry.triangulation.robust import INLIER_THRESHOLD_PX, pair_masks, select_inliers

__all__ = [
    "camera_params",
    "intrinsic_matrices",
    "camera_centres",
    "rotvec_to_matrix",
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
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (radians; Rodrigues' formula in float64, the
    convention of `cv2.Rodrigues` and `scipy.spatial.transform.Rotation.from_rotvec`, whose import costs a short
    command 0.3-0.5 s; series terms near 0)."""
    w = np.asarray(w, np.float64)
    theta2 = np.sum(w * w, -1)[..., None, None]
    theta = np.sqrt(theta2)
    small = theta2 < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(small, 1 - theta2 / 6, np.sin(theta) / theta)
        b = np.where(small, 0.5 - theta2 / 24, (1 - np.cos(theta)) / theta2)
    zero = np.zeros(w.shape[:-1])
    K = np.stack([np.stack([zero, -w[..., 2], w[..., 1]], -1), np.stack([w[..., 2], zero, -w[..., 0]], -1),
                  np.stack([-w[..., 1], w[..., 0], zero], -1)], -2)  # fmt: skip
    return np.eye(3) + a * K + b * (K @ K)


def _model(fisheye: bool) -> str:
    return "fisheye" if fisheye else "pinhole"


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
    P = [points[..., b] for b in range(3)]  # on components: no (..., 3, 3) temporary
    x, y, z = (R[..., a, 0] * P[0] + R[..., a, 1] * P[1] + R[..., a, 2] * P[2] + t[..., a] for a in range(3))
    xd, yd, _, _ = distort_xy(x / z, y / z, coefficients(k[..., 4:]), model=_model(fisheye))
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
    x, y = undistort_xy(tx, ty, coefficients(k[..., 4:]), model=_model(fisheye), num_iters=num_iters, xp=np)
    return np.stack([x, y], -1)


# ------------------------------------------------------------------------------------------- triangulation


def _errors(params: dict, X: np.ndarray, uv: np.ndarray, fisheye: bool) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.linalg.norm(project(params, X[..., None, :, :], fisheye)[0] - uv, axis=-1)


def reprojection_errors(cameras: Camera, points_3d: np.ndarray, points_2d: np.ndarray) -> np.ndarray:
    """Distances between projected points and observations (`geometry.triangulation.reprojection_error` in numpy).

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
    """Confidence-weighted DLT of every joint from all its valid views (`geometry.triangulation.triangulate_dlt`
    in float64 numpy: no compilation).

    Args:
        cameras: Cameras, batch shape (v,).
        points_2d: Keypoints, shape (..., v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (..., v, j) (0 = missing); None weighs all views 1.

    Returns:
        Points, shape (..., j, 3), world units; NaN with fewer than two valid views.
    """
    sys_ = dlt_system(cameras, np.asarray(points_2d, np.float64), confidence, xp=np)
    return solve_points(normal_matrices(sys_.rows, True, np), sys_.c, sys_.s, (sys_.w > 0).sum(-2) >= 2,
                        power_steps=4, xp=np)


def triangulate_inliers(
    cameras: Camera,
    points_2d: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    threshold_px: float = INLIER_THRESHOLD_PX,
) -> tuple[np.ndarray, np.ndarray]:
    """Robust triangulation: best view pair by inlier count, then a weighted DLT of its inliers
    (`geometry.triangulation.triangulate_ransac` with all pairs, in float64 numpy).

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
    sys_ = dlt_system(cameras, uv, confidence, xp=np)
    Mv, valid, v = normal_matrices(sys_.rows, xp=np), sys_.w > 0, uv.shape[-3]
    if v < 2:
        raise ValueError(f"triangulate_inliers needs at least 2 views, got {v}")
    masks = pair_masks(v)
    hyp = masks[(slice(None),) + (None,) * (valid.ndim - 2) + (slice(None), None)] & valid  # (h, ..., v, j)
    X_h = solve_points(np.einsum("hv,...vjab->h...jab", masks.astype(np.float64), Mv), sys_.c, sys_.s,
                       hyp.sum(-2) >= 2, power_steps=4, xp=np)
    X, mask = select_inliers(Mv, valid, sys_.c, sys_.s, hyp, X_h, lambda X: _errors(params, X, uv, fisheye),
                             threshold_px, "adjugate", power_steps=4, xp=np)
    return X, mask & np.isfinite(X[..., None, :, 0])
