"""Bundle adjustment of cameras and free 3D points (float64, numpy): the solver of `lift3d calibrate refine`.

Observations are pixels of 3D points (e.g. a person's joints over many frames) seen by several cameras.
`adjust_cameras_and_points` jointly moves the camera poses (optionally intrinsics) and the points by
Levenberg-Marquardt: analytic Jacobians (the lens model of `lift3d.geometry.numpy_camera`, shared
with `lift3d.calibration.solvers.bundle`), the points eliminated by the Schur complement (3x3 blocks; the reduced system
has 6-15 unknowns per camera and is built from the pairs of cameras that see a common point), rotations
updated on the manifold, robust losses by iterative re-weighting. Its starting points come from
`numpy_camera.triangulate_weighted` / `numpy_camera.triangulate_inliers`.

The gauge: free points fix a rig only up to a similarity (7 degrees of freedom: the world frame and the
scale). `gauge_free_mask` holds a reference camera's pose and one translation coordinate of the farthest
camera during the adjustment; `similarity_transform` and `transform_cameras` move a rig into another gauge
(e.g. back onto the initial rig's camera centres); `rig_shape_errors` compares two rigs up to the gauge and
`perturb_cameras` makes the perturbed starts the refinement is tested from.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from lift3d.calibration.solvers import lsq
from lift3d.calibration.solvers.bundle import free_mask
from lift3d.errors import CalibrationError
from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera
from lift3d.geometry.distortion import coefficients, distort_xy
from lift3d.geometry.transforms import align_similarity, transform_cameras

__all__ = [
    "AdjustResult",
    "adjust_cameras_and_points",
    "gauge_free_mask",
    "similarity_transform",
    "transform_cameras",
    "rig_shape_errors",
    "perturb_cameras",
]


@dataclasses.dataclass(frozen=True)
class AdjustResult:
    """The outcome of `adjust_cameras_and_points`.

    Attributes:
        cameras: Adjusted cameras, batch shape (v,) (the last good state if the optimisation diverged).
        points_3d: Adjusted points, shape (n, 3), world units.
        errors_px: Final pixel error of each observation, shape (m,).
        initial_errors_px: The same before adjustment, shape (m,).
        iterations: Linearisations done.
        status: "converged", "max_iterations" or "diverged".
        reason: Why it stopped, in words.
        history: Per accepted step: iteration, robust cost, RMS (px), damping.
    """

    cameras: Camera
    points_3d: np.ndarray
    errors_px: np.ndarray
    initial_errors_px: np.ndarray
    iterations: int
    status: str
    reason: str
    history: list[dict[str, Any]]


def gauge_free_mask(cameras: Camera, reference: int = 0, refine_intrinsics: str = "none") -> np.ndarray:
    """Free unknowns (v, 15) for cameras and free points: the `reference` camera's pose and one translation
    coordinate of the camera farthest from it are held (6 + 1 gauge degrees of freedom).

    Args:
        cameras: The rig, batch shape (v,), v >= 2.
        reference: Index of the camera whose pose is held.
        refine_intrinsics: See `bundle.free_mask`.

    Returns:
        The mask, float64 0/1 (see `bundle.free_mask`).
    """
    v = cameras.batch_shape[0]
    free = free_mask(v, fixed_cameras=(reference,), refine_intrinsics=refine_intrinsics)
    C = numpy_camera.camera_centres(cameras)
    far = int(np.argmax(np.linalg.norm(C - C[reference], axis=-1)))
    # scaling the world about the reference centre moves t_far along R_far (C_ref - C_far)
    direction = np.asarray(cameras.R)[far] @ (C[reference] - C[far])
    free[far, 3 + int(np.argmax(np.abs(direction)))] = 0.0
    return free


# ------------------------------------------------------------------------------------------- the gauge


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity `dst ~ s Q src + d` (`lift3d.geometry.transforms.align_similarity`, float64).

    Args:
        src: Points, shape (n, 3), n >= 3 not collinear.
        dst: Matching points, shape (n, 3).

    Returns:
        (s, Q, d): scale, rotation (3, 3) and translation (3,).
    """
    fit = align_similarity(np.asarray(src, np.float64), np.asarray(dst, np.float64), xp=np)
    return float(fit.scale), fit.rotation, fit.translation


def rig_shape_errors(cameras: Camera, reference: Camera) -> dict[str, np.ndarray | float]:
    """Per-camera differences between two rigs after the best similarity alignment of their centres.

    Args:
        cameras: A rig's cameras, batch shape (v,), v >= 3.
        reference: The reference rig's cameras, batch shape (v,).

    Returns:
        Dict: "rotation_deg" (v,) angle between the aligned and the reference orientations, "centre" (v,)
        distance between aligned and reference centres (reference units), "scale" of the alignment.
    """
    s, Q, d = similarity_transform(numpy_camera.camera_centres(cameras), numpy_camera.camera_centres(reference))
    aligned = transform_cameras(cameras, s, Q, d)
    dR = np.asarray(aligned.R) @ np.swapaxes(np.asarray(reference.R), -1, -2)
    return {
        "rotation_deg": np.rad2deg(Rotation.from_matrix(dR).magnitude()),
        "centre": np.linalg.norm(
            numpy_camera.camera_centres(aligned) - numpy_camera.camera_centres(reference), axis=-1
        ),
        "scale": s,
    }


def perturb_cameras(key, cameras: Camera, rotation_deg: float, translation: float) -> Camera:
    """Turn every camera by `rotation_deg` about a random axis (through its centre) and move its centre by
    `translation` in a random direction (the perturbation of the refinement benchmarks).

    Args:
        key: `jax.random` key.
        cameras: Cameras, batch shape (v,).
        rotation_deg: Rotation angle of each camera, degrees.
        translation: Centre displacement of each camera, world units.

    Returns:
        The perturbed cameras.
    """
    import jax

    v = cameras.batch_shape[0]
    k1, k2 = jax.random.split(key)
    axes = np.asarray(jax.random.normal(k1, (v, 3)), np.float64)
    shifts = np.asarray(jax.random.normal(k2, (v, 3)), np.float64)
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    shifts *= translation / np.linalg.norm(shifts, axis=-1, keepdims=True)
    R = Rotation.from_rotvec(axes * np.deg2rad(rotation_deg)).as_matrix() @ np.asarray(cameras.R, np.float64)
    C = numpy_camera.camera_centres(cameras) + shifts
    return cameras.replace(R=R, t=-np.einsum("vij,vj->vi", R, C))


# ------------------------------------------------------------------------------------------- the solver


def _inverse3(H: np.ndarray) -> np.ndarray:
    """Inverses of 3x3 matrices (..., 3, 3) by the adjugate (several times faster than a batched LAPACK call)."""
    a = H
    cof = np.stack(
        [
            np.stack([a[..., (i + 1) % 3, (j + 1) % 3] * a[..., (i + 2) % 3, (j + 2) % 3]
                      - a[..., (i + 1) % 3, (j + 2) % 3] * a[..., (i + 2) % 3, (j + 1) % 3] for j in range(3)], -1)
            for i in range(3)
        ],
        -2,
    )  # fmt: skip
    det = np.sum(a[..., 0, :] * cof[..., 0, :], -1)
    return np.swapaxes(cof, -1, -2) / det[..., None, None]


def _scatter_sum(values: np.ndarray, index: np.ndarray, size: int) -> np.ndarray:
    """Sums of rows `values` (m, k) by `index` (m,) into (size, k) (a `np.bincount`, no BLAS)."""
    k = values.shape[1]
    flat = (index[:, None] * k + np.arange(k)).reshape(-1)
    return np.bincount(flat, values.reshape(-1), minlength=size * k).reshape(size, k)


class _Problem:
    """Observations (m,) of n points by v cameras, sorted by camera (then point). Per camera the work is one
    contiguous slice; sums over the observations of a point are `np.bincount`s. Products are elementwise or
    `np.einsum` (no threaded BLAS: on a busy machine OpenBLAS' threads turned a 24 x 7500 x 24 product into
    0.1-0.4 s)."""

    def __init__(self, cameras: Camera, uv, cam, point, weight, n: int, loss: str, scale: float):
        v = cameras.batch_shape[0]
        self.order = np.lexsort((point, cam))  # by camera, then point
        self.cam, self.point = np.asarray(cam)[self.order], np.asarray(point)[self.order]
        self.uv, self.weight = np.asarray(uv, np.float64)[self.order], np.asarray(weight, np.float64)[self.order]
        bounds = np.searchsorted(self.cam, np.arange(v + 1))
        self.slices = [slice(bounds[c], bounds[c + 1]) for c in range(v)]
        self.model, self.loss, self.scale = cameras.model, loss, float(scale)
        self.v, self.n = v, n
        # the Schur complement couples cameras a <= b through the points both see: their observations
        slot = -np.ones((n, v), np.int64)
        slot[self.point, self.cam] = np.arange(len(self.cam))
        self.pairs = []
        for a in range(v):
            for b in range(a, v):
                both = (slot[:, a] >= 0) & (slot[:, b] >= 0)
                if both.any():
                    self.pairs.append((a, b, slot[both, a], slot[both, b]))

    @staticmethod
    def state(cameras: Camera, points: np.ndarray) -> dict:
        return {**numpy_camera.camera_params(cameras), "X": np.asarray(points, np.float64)}

    @staticmethod
    def cameras(state: dict, template: Camera) -> Camera:
        K = numpy_camera.intrinsic_matrices(state["intr"], state["skew"])
        return template.replace(K=K, R=state["R"], t=state["t"], dist=state["intr"][:, 4:])

    @staticmethod
    def apply(state: dict, dc: np.ndarray, dp: np.ndarray) -> dict:
        return {
            "R": numpy_camera.rotvec_to_matrix(dc[:, :3]) @ state["R"],
            "t": state["t"] + dc[:, 3:6],
            "intr": state["intr"] + dc[:, 6:],
            "skew": state["skew"],
            "X": state["X"] + dp,
        }

    def camera(self, state: dict, c: int, act: np.ndarray | None):
        """Camera c's observations: pixels (m_c, 2), depths (m_c,); with `act`, the Jacobians wrt its active
        unknowns (m_c, 2, len(act)) and wrt the points (m_c, 2, 3)."""
        sl = self.slices[c]
        R, k = state["R"][c], state["intr"][c]
        p = state["X"][self.point[sl]] @ R.T  # the point rotated into the camera's axes
        xc = p + state["t"][c]
        z = xc[:, 2]
        x, y = xc[:, 0] / z, xc[:, 1] / z
        xd, yd, Jxy, Jdist = distort_xy(x, y, coefficients(k[4:]), model=self.model, jacobian=act is not None)
        fx, fy, s = k[0], k[1], state["skew"][c]
        uv = np.stack([fx * xd + s * yd + k[2], fy * yd + k[3]], -1)
        if act is None:
            return uv, z, None, None
        A = np.array([[fx, s], [0.0, fy]])
        M = A @ Jxy  # d uv / d (x, y), (m_c, 2, 2)
        iz = 1.0 / z
        G = np.stack(
            [
                M[..., 0] * iz[:, None],
                M[..., 1] * iz[:, None],
                -(M[..., 0] * x[:, None] + M[..., 1] * y[:, None]) * iz[:, None],
            ],
            -1,
        )  # d uv / d xc
        cols = [np.cross(p[:, None, :], G), G]  # R <- exp(w) R moves xc by w x p
        if act.max() >= 6:
            zero = np.zeros_like(z)
            cols += [
                np.stack([np.stack([xd, zero], -1), np.stack([zero, yd], -1)], -1),
                np.broadcast_to(np.eye(2), (len(z), 2, 2)),
                A @ Jdist,
            ]
        Jc = np.concatenate(cols, -1)[..., act]
        return uv, z, Jc, G @ R

    def evaluate(self, state: dict) -> tuple[float, np.ndarray, float]:
        """Robust cost, squared errors (m,) and the smallest depth."""
        err2, zmin = np.empty(len(self.cam)), np.inf
        for c, sl in enumerate(self.slices):
            uv, z, _, _ = self.camera(state, c, None)
            err2[sl] = np.sum((uv - self.uv[sl]) ** 2, -1)
            zmin = min(zmin, float(z.min(initial=np.inf)))
        _, rho = lsq.robust_weights(err2, self.loss, self.scale)
        return float(np.sum(self.weight * rho)), err2, zmin

    def linearize(self, state: dict, free: np.ndarray, act: np.ndarray):
        """IRLS-weighted normal-equation blocks: Hcc (v, c, c), Hpp (n, 3, 3), Hcp (m, c, 3), gc (v, c),
        gp (n, 3), over the active camera unknowns `act` (c of the 15); `free` (v, c) masks them."""
        nc, m, n = len(act), len(self.cam), self.n
        Hcc, gc = np.zeros((self.v, nc, nc)), np.zeros((self.v, nc))
        Hcp, hpp, hgp = np.empty((m, nc, 3)), np.empty((m, 3, 3)), np.empty((m, 3))
        for c, sl in enumerate(self.slices):
            uv, _, Jc, Jp = self.camera(state, c, act)
            r = uv - self.uv[sl]
            w, _ = lsq.robust_weights(np.sum(r * r, -1), self.loss, self.scale)
            w = (w * self.weight[sl])[:, None, None]
            Jc = Jc * free[c]
            wJc, wJp = w * Jc, w * Jp
            Hcc[c] = np.einsum("mki,mkj->ij", wJc, Jc)
            gc[c] = np.einsum("mki,mk->i", wJc, r)
            Hcp[sl] = wJc[:, 0, :, None] * Jp[:, 0, None, :] + wJc[:, 1, :, None] * Jp[:, 1, None, :]
            hpp[sl] = wJp[:, 0, :, None] * Jp[:, 0, None, :] + wJp[:, 1, :, None] * Jp[:, 1, None, :]
            hgp[sl] = wJp[:, 0] * r[:, :1] + wJp[:, 1] * r[:, 1:]
        Hpp = _scatter_sum(hpp.reshape(m, 9), self.point, n).reshape(n, 3, 3)
        return Hcc, Hpp, Hcp, gc, _scatter_sum(hgp, self.point, n)

    def solve(self, blocks, free: np.ndarray, lam: float):
        """Damped Gauss-Newton step, the points eliminated by the Schur complement; returns the camera steps
        (v, c), the point steps (n, 3) and the predicted cost decrease."""
        Hcc, Hpp, Hcp, gc, gp = blocks
        v, nc = gc.shape
        Dc, Dp = lsq.marquardt_damping(Hcc, lam), lsq.marquardt_damping(Hpp, lam)
        Hpp_inv = _inverse3(Hpp + Dp[..., None] * np.eye(3))
        Y = np.matmul(Hcp, Hpp_inv[self.point])  # (m, c, 3)
        Yt, Ht = np.swapaxes(Y, 1, 2), np.swapaxes(Hcp, 1, 2)  # (m, 3, c)
        S = np.zeros((v, v, nc, nc))
        S[np.arange(v), np.arange(v)] = Hcc + Dc[..., None] * np.eye(nc)
        for a, b, obs_a, obs_b in self.pairs:  # S[a, b] -= sum over common points of Y_a Hcp_b^T
            block = np.einsum("ki,kj->ij", Yt[obs_a].reshape(-1, nc), Ht[obs_b].reshape(-1, nc))
            S[a, b] -= block
            if b != a:
                S[b, a] -= block.T
        S = S.transpose(0, 2, 1, 3).reshape(v * nc, v * nc)
        rhs = (_scatter_sum(np.einsum("mix,mx->mi", Y, gp[self.point]), self.cam, v) - gc).reshape(-1)
        idx = np.flatnonzero(free.reshape(-1) > 0)
        dc = np.zeros(v * nc)
        dc[idx] = lsq.solve_normal_equations(S[np.ix_(idx, idx)], rhs[idx])
        dc = dc.reshape(v, nc)
        q = gp + _scatter_sum(np.einsum("mix,mi->mx", Hcp, dc[self.cam]), self.point, self.n)
        dp = -np.einsum("nxy,ny->nx", Hpp_inv, q)
        pred = float(np.sum(dc * (Dc * dc - gc)) + np.sum(dp * (Dp * dp - gp)))
        return dc, dp, pred


def adjust_cameras_and_points(
    cameras: Camera,
    points_3d: np.ndarray,
    points_2d: np.ndarray,
    camera_index: np.ndarray,
    point_index: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    free: np.ndarray | None = None,
    loss: str = "huber",
    loss_scale_px: float = 5.0,
    max_iterations: int = 50,
    ftol: float = 1e-8,
) -> AdjustResult:
    """Bundle adjustment of camera poses (optionally intrinsics) and free 3D points (float64, numpy).

    Minimises `sum_i w_i rho(|project(camera_i, X_point_i) - x_i|^2)` by Levenberg-Marquardt
    (`lsq.levenberg_marquardt`): analytic Jacobians, the 3D points eliminated by the Schur complement (a
    dense system in the free camera unknowns), rotations updated on the manifold, robust loss by iterative
    re-weighting.

    Args:
        cameras: Initial cameras, batch shape (v,).
        points_3d: Initial points, shape (n, 3), world units.
        points_2d: Observations, shape (m, 2), distorted pixels.
        camera_index: Camera of each observation, shape (m,); at most one observation per (camera, point).
        point_index: Point of each observation, shape (m,).
        weights: Weight of each observation, shape (m,) (e.g. detector confidences); None for 1.
        free: Which camera unknowns move, shape (v, 15) of 0/1 (see `bundle.free_mask`); default: all poses
            but the first camera's, no intrinsics. The gauge (7 degrees of freedom for free points) must be
            held by `free`, e.g. by `gauge_free_mask`.
        loss: "linear", "soft_l1" or "huber", on each observation's pixel error.
        loss_scale_px: Error (px) where the robust loss starts to flatten.
        max_iterations: Most linearisations.
        ftol: Stop when an accepted step lowers the cost by less than this fraction.

    Returns:
        `AdjustResult`. If every damped step gives non-finite values or puts a point behind a camera that
        sees it, the status is "diverged" with the reason and the last good state.

    Raises:
        CalibrationError: Mismatched shapes, no observation, or an initial point behind a camera that sees it.
    """
    if loss not in lsq.LOSSES:
        raise ValueError(f"loss must be one of {lsq.LOSSES}, got {loss!r}")
    v = cameras.batch_shape[0]
    pts = np.asarray(points_3d, np.float64)
    uv = np.asarray(points_2d, np.float64)
    cam, pt = np.asarray(camera_index, np.int64), np.asarray(point_index, np.int64)
    m = len(uv)
    w = np.ones(m) if weights is None else np.asarray(weights, np.float64)
    if m == 0:
        raise CalibrationError("bundle adjustment: no observation")
    if uv.shape != (m, 2) or cam.shape != (m,) or pt.shape != (m,) or w.shape != (m,) or pts.ndim != 2:
        raise CalibrationError(
            f"observations of shapes {uv.shape}, {cam.shape}, {pt.shape}, {w.shape} and points {pts.shape} "
            "do not match (expected (m, 2), (m,), (m,), (m,) and (n, 3))"
        )
    if cam.min() < 0 or cam.max() >= v or pt.min() < 0 or pt.max() >= len(pts):
        raise CalibrationError(f"observation indices out of range ({v} cameras, {len(pts)} points)")
    if len(np.unique(cam * len(pts) + pt)) != m:
        raise CalibrationError("two observations of the same point by the same camera")
    if np.bincount(pt, minlength=len(pts)).min() < 1:
        raise CalibrationError("a point without observations: leave it out")
    free = free_mask(v) if free is None else np.asarray(free, np.float64)
    t0 = time.perf_counter()
    prob = _Problem(cameras, uv, cam, pt, w, len(pts), loss, loss_scale_px)
    state = prob.state(cameras, pts)
    cost, err2, min_depth = prob.evaluate(state)
    if not min_depth > 0:
        raise CalibrationError("bundle adjustment: an initial point lies behind a camera that sees it")
    act = np.flatnonzero(free.any(0))
    free_act = free[:, act]

    def solve(blocks, lam: float):
        dc_act, dp, pred = prob.solve(blocks, free_act, lam)
        return (lsq.camera_step(dc_act, act), dp), pred

    fit = lsq.levenberg_marquardt(
        state,
        cost,
        err2,
        linearize=lambda s: prob.linearize(s, free_act, act),
        solve=solve,
        apply=lambda s, step: prob.apply(s, *step),
        evaluate=prob.evaluate,
        max_iterations=max_iterations,
        ftol=ftol,
        what_behind="points",
        clock_start=t0,
    )
    back = np.empty(m, np.int64)
    back[prob.order] = np.arange(m)
    return AdjustResult(
        cameras=prob.cameras(fit.state, cameras),
        points_3d=fit.state["X"],
        errors_px=np.sqrt(fit.err2)[back],
        initial_errors_px=np.sqrt(err2)[back],
        iterations=fit.iterations,
        status=fit.status,
        reason=fit.reason,
        history=fit.history,
    )
