"""Bundle adjustment of a camera rig and the board poses it saw (robust, float64, numpy).

Unknowns: per camera a pose (world->camera R, t) and optionally intrinsics (fx, fy, cx, cy and distortion
coefficients); per frame the board pose (board->world). The board's corner positions are known (metres), so
the scale is fixed by the board; the gauge is fixed by holding the poses of `fixed_cameras` (default: the
first camera) constant.

Two solvers of the same objective (a robust function of each observed corner's pixel error):
- "schur" (default): Levenberg-Marquardt with analytic Jacobians over the list of observations; the normal
  equations are reduced to the cameras with the Schur complement (a dense system of 6-15 unknowns per camera)
  and the board poses are then solved frame by frame. Rotations are updated on the manifold, `R <- exp(w) R`.
  The loop (damping, step acceptance, stop tests) is `lsq.levenberg_marquardt`, shared with `points_bundle`.
- "scipy": `scipy.optimize.least_squares` (trust region reflective, LSMR) with the same Jacobian as a sparse
  matrix (the robust loss is then applied per coordinate, as scipy does); for cross-checks.
The Jacobians are vectorised numpy over observations: measured faster end to end than a JAX version here,
whose compile time (seconds per problem shape on CPU) dominated every calibration-sized problem. The lens
model is `lift3d.geometry.numpy_camera`'s, the robust weights and damped solve `lift3d.calibration.solvers.lsq`'s
(shared with `points_bundle`, the adjustment of cameras and free 3D points).

Robust loss: "linear" (plain least squares), "soft_l1" or "huber" with scale `loss_scale_px`, solved by
iteratively re-weighted least squares.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from lift3d.calibration.solvers import lsq
from lift3d.errors import CalibrationError
from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera
from lift3d.geometry.distortion import coefficients, distort_xy

__all__ = ["BundleResult", "bundle_adjust", "free_mask", "reprojection_residuals", "INTRINSIC_NAMES"]

INTRINSIC_NAMES = ("fx", "fy", "cx", "cy", "d0", "d1", "d2", "d3", "d4")
_NC, _NB = lsq.NUM_CAMERA_UNKNOWNS, 6  # unknowns per camera (rotation, translation, 9 intrinsics), board pose
_CHUNK = 65536  # observations per block when accumulating the normal equations


@dataclasses.dataclass(frozen=True)
class BundleResult:
    """The outcome of `bundle_adjust`.

    Attributes:
        cameras: The adjusted cameras, batch shape (v,); the last good state if the optimisation diverged.
        board_R: Board->world rotations, shape (f, 3, 3).
        board_t: Board->world translations, shape (f, 3), units of the board points (metres).
        rms_px: RMS reprojection error over all observations, pixels (final).
        initial_rms_px: The same before adjustment.
        camera_rms_px: RMS per camera, shape (v,), pixels (NaN for a camera without observations).
        view_rms_px: RMS per (camera, frame), shape (v, f), pixels (NaN where not observed).
        iterations: Linearisations done.
        status: "converged", "max_iterations" or "diverged".
        reason: Why it stopped, in words.
        history: Per accepted step: iteration, robust cost, RMS (px), damping.
        seconds: Wall time of the optimisation.
    """

    cameras: Camera
    board_R: np.ndarray
    board_t: np.ndarray
    rms_px: float
    initial_rms_px: float
    camera_rms_px: np.ndarray
    view_rms_px: np.ndarray
    iterations: int
    status: str
    reason: str
    history: list[dict[str, Any]]
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------- the model


@dataclasses.dataclass(frozen=True)
class _Obs:
    """Observed corners as a list sorted by (camera, frame): indices, pixels and segment starts."""

    vi: np.ndarray  # (m,) camera of each observation
    fi: np.ndarray  # (m,) frame
    ni: np.ndarray  # (m,) corner
    uv: np.ndarray  # (m, 2) pixels
    pair_start: np.ndarray  # (p,) first observation of each (camera, frame) pair
    pair_v: np.ndarray  # (p,)
    pair_f: np.ndarray  # (p,)
    shape: tuple[int, int]  # (v, f)


def _observations(corners: np.ndarray) -> _Obs:
    mask = np.isfinite(corners).all(-1)
    vi, fi, ni = np.nonzero(mask)  # row-major: sorted by camera, then frame
    pair = vi * corners.shape[1] + fi
    start = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]]) if pair.size else np.zeros(0, np.int64)
    return _Obs(vi, fi, ni, corners[vi, fi, ni], start, vi[start], fi[start], corners.shape[:2])


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros((*v.shape[:-1], 3, 3))
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    return out - np.swapaxes(out, -1, -2)


def _forward(state: dict, obs: _Obs, sl: slice, fisheye: bool, jacobian: bool, intrinsics: bool = True):
    """Pixels (m, 2) and depths (m,) of observations `sl`; with `jacobian`, the Jacobians wrt the local
    camera unknowns (m, 2, 15) and board unknowns (m, 2, 6) (intrinsic columns zero unless `intrinsics`)."""
    vi, fi, ni = obs.vi[sl], obs.fi[sl], obs.ni[sl]
    R = state["R"][vi]
    k = state["intr"][vi]
    q = np.einsum("mij,mj->mi", state["Rb"][fi], state["X"][ni])  # board point rotated into the world
    p = np.einsum("mij,mj->mi", R, q + state["tb"][fi])
    xc = p + state["t"][vi]
    z = xc[:, 2]
    x, y = xc[:, 0] / z, xc[:, 1] / z
    xd, yd, Jxy, Jdist = distort_xy(x, y, coefficients(k[:, 4:9]), model="fisheye" if fisheye else "pinhole",
                                     jacobian=jacobian)
    fx, fy, s = k[:, 0], k[:, 1], state["skew"][vi]
    uv = np.stack([fx * xd + s * yd + k[:, 2], fy * yd + k[:, 3]], -1)
    if not jacobian:
        return uv, z, None, None
    zero, one = np.zeros_like(z), np.ones_like(z)
    A = np.stack([np.stack([fx, s], -1), np.stack([zero, fy], -1)], -2)  # d uv / d (xd, yd)
    P = np.stack([np.stack([one, zero, -x], -1), np.stack([zero, one, -y], -1)], -2) / z[:, None, None]
    G = A @ Jxy @ P  # d uv / d xc
    if intrinsics:
        Gk = np.concatenate(
            [
                np.stack([np.stack([xd, zero], -1), np.stack([zero, yd], -1)], -1),
                np.broadcast_to(np.eye(2), (len(z), 2, 2)),
                A @ Jdist,
            ],
            -1,
        )  # d uv / d (fx, fy, cx, cy, d0..d4)
    else:
        Gk = np.zeros((len(z), 2, 9))
    GR = G @ R
    # R <- exp(w) R moves xc by w x p, so d uv / d w = -G [p]x, whose rows are p x (rows of G)
    Jc = np.concatenate([np.cross(p[:, None, :], G), G, Gk], -1)
    Jb = np.concatenate([np.cross(q[:, None, :], GR), GR], -1)
    return uv, z, Jc, Jb


def _evaluate(state: dict, obs: _Obs, kw: dict) -> tuple[float, np.ndarray, float]:
    """Robust cost, squared errors (m,) and the smallest depth of an observed corner."""
    uv, z, _, _ = _forward(state, obs, slice(None), kw["fisheye"], False)
    err2 = np.sum((uv - obs.uv) ** 2, -1)
    _, rho = lsq.robust_weights(err2, kw["loss"], kw["scale"])
    return float(np.sum(rho)), err2, float(z.min(initial=np.inf))


def _linearize(state: dict, obs: _Obs, free: np.ndarray, act: np.ndarray, kw: dict):
    """IRLS-weighted normal-equation blocks over the active camera unknowns `act` (c of the 15):
    Hcc (v, c, c), Hbb (f, 6, 6), Hcb (p, c, 6) per observed (camera, frame) pair, gc (v, c), gb (f, 6)."""
    v, f = obs.shape
    nc = len(act)
    Hcc, Hbb, gc, gb = np.zeros((v, nc, nc)), np.zeros((f, _NB, _NB)), np.zeros((v, nc)), np.zeros((f, _NB))
    Hcb, gbp = np.zeros((len(obs.pair_start), nc, _NB)), np.zeros((len(obs.pair_start), _NB))
    pair_of = np.repeat(np.arange(len(obs.pair_start)), np.diff(np.r_[obs.pair_start, len(obs.vi)]))
    intrinsics = bool(act.max() >= 6)
    for start in range(0, len(obs.vi), _CHUNK):
        sl = slice(start, start + _CHUNK)
        uv, _, Jc, Jb = _forward(state, obs, sl, kw["fisheye"], True, intrinsics)
        r = uv - obs.uv[sl]
        w, _ = lsq.robust_weights(np.sum(r * r, -1), kw["loss"], kw["scale"])
        vi, pairs = obs.vi[sl], pair_of[sl]
        Jc = Jc[..., act] * free[vi][:, None, :]
        wJc, wJb = Jc * w[:, None, None], Jb * w[:, None, None]
        first = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]])
        cams = vi[first]
        Hcb_part = np.add.reduceat(np.matmul(np.swapaxes(wJc, 1, 2), Jb), first, axis=0)
        Hcb[pairs[first]] += Hcb_part
        Hbb_part = np.add.reduceat(np.matmul(np.swapaxes(wJb, 1, 2), Jb), first, axis=0)
        np.add.at(Hbb, obs.pair_f[pairs[first]], Hbb_part)
        gc_part = np.add.reduceat(np.einsum("mki,mk->mi", wJc, r), first, axis=0)
        np.add.at(gc, cams, gc_part)
        gbp[pairs[first]] += np.add.reduceat(np.einsum("mki,mk->mi", wJb, r), first, axis=0)
        for c in np.unique(vi):
            m = slice(np.searchsorted(vi, c), np.searchsorted(vi, c, side="right"))
            Hcc[c] += np.einsum("mki,mkj->ij", wJc[m], Jc[m], optimize=True)
    np.add.at(gb, obs.pair_f, gbp)
    return Hcc, Hbb, Hcb, gc, gb


def _solve(blocks, obs: _Obs, free: np.ndarray, lam: float):
    """Damped (Marquardt) Gauss-Newton step by the Schur complement on the board poses.

    `free` (v, c) masks the active camera unknowns; returns the steps (v, c), (f, 6) and the predicted
    decrease of the cost.
    """
    Hcc, Hbb, Hcb, gc, gb = blocks
    v, nc = gc.shape
    Dc, Db = lsq.marquardt_damping(Hcc, lam), lsq.marquardt_damping(Hbb, lam)
    # frames without observations stay where they are
    unseen = (np.diagonal(Hbb, axis1=-2, axis2=-1).sum(-1) == 0)[:, None, None]
    Abb_inv = np.linalg.inv(Hbb + Db[..., None] * np.eye(_NB) + unseen * np.eye(_NB))
    pv, pf = obs.pair_v, obs.pair_f
    HcbBinv = np.matmul(Hcb, Abb_inv[pf])  # (p, c, 6)
    S = np.zeros((v, v, nc, nc))
    # S[a, b] -= sum over the frames seen by both a and b of HcbBinv[a, f] Hcb[b, f]^T
    pair_index = -np.ones((v, obs.shape[1]), np.int64)
    pair_index[pv, pf] = np.arange(len(pv))
    for a in range(v):
        for b in range(a, v):
            both = np.flatnonzero((pair_index[a] >= 0) & (pair_index[b] >= 0))
            if both.size:
                block = np.einsum("fik,fjk->ij", HcbBinv[pair_index[a, both]], Hcb[pair_index[b, both]])
                S[a, b] -= block
                if b != a:
                    S[b, a] -= block.T
    S[np.arange(v), np.arange(v)] += Hcc + Dc[..., None] * np.eye(nc)
    rhs = -gc.copy()
    np.add.at(rhs, pv, np.einsum("pik,pk->pi", HcbBinv, gb[pf]))
    S = S.transpose(0, 2, 1, 3).reshape(v * nc, v * nc)
    idx = np.flatnonzero(free.reshape(-1) > 0)  # fixed unknowns do not move: solve for the others
    S, b = S[np.ix_(idx, idx)], rhs.reshape(-1)[idx]
    dc = np.zeros(v * nc)
    dc[idx] = lsq.solve_normal_equations(S, b)
    dc = dc.reshape(v, nc)
    t = gb.copy()
    np.add.at(t, pf, np.einsum("pji,pj->pi", Hcb, dc[pv]))
    db = -np.einsum("fij,fj->fi", Abb_inv, t)
    # predicted decrease of the cost sum(rho) by its Gauss-Newton model: d^T (D d - g), D the damping
    pred = float(np.sum(dc * (Dc * dc - gc)) + np.sum(db * (Db * db - gb)))
    return dc, db, pred


def _apply(state: dict, dc: np.ndarray, db: np.ndarray) -> dict:
    out = dict(state)
    out["R"] = numpy_camera.rotvec_to_matrix(dc[:, :3]) @ state["R"]
    out["t"] = state["t"] + dc[:, 3:6]
    out["intr"] = state["intr"] + dc[:, 6:]
    out["Rb"] = numpy_camera.rotvec_to_matrix(db[:, :3]) @ state["Rb"]
    out["tb"] = state["tb"] + db[:, 3:6]
    return out


def _pack(cameras: Camera, board_R, board_t, object_points) -> dict:
    return {
        **numpy_camera.camera_params(cameras),
        "Rb": np.asarray(board_R, np.float64),
        "tb": np.asarray(board_t, np.float64),
        "X": np.asarray(object_points, np.float64),
    }


def _unpack(state: dict, template: Camera) -> Camera:
    intr = state["intr"]
    return Camera.create(
        numpy_camera.intrinsic_matrices(intr, state["skew"]),
        R=state["R"],
        t=state["t"],
        dist=intr[:, 4:],
        image_size=np.asarray(template.image_size, np.float64),
        model=template.model,
    )


def reprojection_residuals(
    cameras: Camera, board_R: np.ndarray, board_t: np.ndarray, object_points: np.ndarray, corners: np.ndarray
) -> np.ndarray:
    """Pixel errors of observed corners under a rig and board poses.

    Args:
        cameras: Cameras, batch shape (v,).
        board_R: Board->world rotations, shape (f, 3, 3).
        board_t: Board->world translations, shape (f, 3), units of `object_points`.
        object_points: Board corners, shape (n, 3).
        corners: Observed corners, shape (v, f, n, 2), pixels, NaN where not seen.

    Returns:
        Point errors, shape (v, f, n), pixels (NaN where not seen).
    """
    corners = np.asarray(corners, np.float64)
    obs = _observations(corners)
    state = _pack(cameras, board_R, board_t, object_points)
    _, err2, _ = _evaluate(state, obs, {"fisheye": cameras.model == "fisheye", "loss": "linear", "scale": 1.0})
    out = np.full(corners.shape[:3], np.nan)
    out[obs.vi, obs.fi, obs.ni] = np.sqrt(err2)
    return out


def free_mask(
    num_cameras: int,
    *,
    fixed_cameras: Sequence[int] = (0,),
    refine_intrinsics: str = "none",
    free_distortion: Sequence[bool] = (True, True, False, False, False),
) -> np.ndarray:
    """Which unknowns move: shape (v, 15) of 0/1 (rotation 3, translation 3, fx fy cx cy, 5 distortion).

    Args:
        num_cameras: v.
        fixed_cameras: Cameras whose pose is held (the gauge).
        refine_intrinsics: "none", "focal" (fx, fy), "focal_center" (fx, fy, cx, cy), or "all" (those and
            the distortion coefficients marked in `free_distortion`).
        free_distortion: Which of the 5 coefficients "all" refines.

    Returns:
        The mask, float64 0/1.
    """
    if refine_intrinsics not in ("none", "focal", "focal_center", "all"):
        raise ValueError(f"refine_intrinsics must be none, focal, focal_center or all, got {refine_intrinsics!r}")
    m = np.zeros((num_cameras, _NC))
    m[:, :6] = 1.0
    m[list(fixed_cameras), :6] = 0.0
    if refine_intrinsics != "none":
        m[:, 6:8] = 1.0
    if refine_intrinsics in ("focal_center", "all"):
        m[:, 8:10] = 1.0
    if refine_intrinsics == "all":
        m[:, 10:] = np.asarray(free_distortion, np.float64)
    return m


def bundle_adjust(
    cameras: Camera,
    board_R: np.ndarray,
    board_t: np.ndarray,
    object_points: np.ndarray,
    corners: np.ndarray,
    *,
    fixed_cameras: Sequence[int] = (0,),
    refine_intrinsics: str = "none",
    free_distortion: Sequence[bool] = (True, True, False, False, False),
    loss: str = "soft_l1",
    loss_scale_px: float = 1.0,
    max_iterations: int = 100,
    ftol: float = 1e-10,
    method: str = "schur",
) -> BundleResult:
    """Jointly refine camera poses (and optionally intrinsics) and board poses.

    Args:
        cameras: Initial cameras, batch shape (v,); world->camera poses in the board's length units.
        board_R: Initial board->world rotations, shape (f, 3, 3).
        board_t: Initial board->world translations, shape (f, 3).
        object_points: Board corners in the board frame, shape (n, 3) (e.g. metres).
        corners: Detected corners, shape (v, f, n, 2), pixels, NaN where not seen.
        fixed_cameras: Cameras whose pose is held constant (fixes the world frame).
        refine_intrinsics: See `free_mask`.
        free_distortion: See `free_mask`.
        loss: "linear", "soft_l1" or "huber", on each corner's pixel error.
        loss_scale_px: Error (px) where the robust loss starts to flatten.
        max_iterations: Most linearisations (function evaluations for "scipy").
        ftol: Stop when an accepted step lowers the cost by less than this fraction.
        method: "schur" (Levenberg-Marquardt, Schur complement) or "scipy" (`scipy.optimize.least_squares`).

    Returns:
        The adjusted rig and board poses with error statistics. If every damped step gives non-finite
        values or puts an observed corner behind a camera, the optimisation stops with status "diverged", the
        reason, and the last good state.

    Raises:
        CalibrationError: Inputs of inconsistent shapes, no observation, or an initial state with observed
            corners behind a camera.
    """
    if loss not in lsq.LOSSES:
        raise ValueError(f"loss must be one of {lsq.LOSSES}, got {loss!r}")
    if method not in ("schur", "scipy"):
        raise ValueError(f"method must be 'schur' or 'scipy', got {method!r}")
    corners = np.asarray(corners, np.float64)
    v, f = cameras.batch_shape[0], np.shape(board_R)[0]
    if corners.shape[:2] != (v, f) or corners.shape[2:] != (np.shape(object_points)[0], 2):
        raise CalibrationError(
            f"corners of shape {corners.shape} do not match {v} cameras, {f} board poses and "
            f"{np.shape(object_points)[0]} board corners (expected (v, f, n, 2))"
        )
    kw = {"fisheye": cameras.model == "fisheye", "loss": loss, "scale": float(loss_scale_px)}
    free = free_mask(
        v, fixed_cameras=fixed_cameras, refine_intrinsics=refine_intrinsics, free_distortion=free_distortion
    )
    t0 = time.perf_counter()
    obs = _observations(corners)
    if obs.vi.size == 0:
        raise CalibrationError("bundle adjustment: no observed corner")
    state = _pack(cameras, board_R, board_t, object_points)
    cost, err2, min_depth = _evaluate(state, obs, kw)
    if not min_depth > 0:
        raise CalibrationError(
            "bundle adjustment: the initial rig puts observed board corners behind a camera (wrong initial "
            "poses or intrinsics)"
        )
    initial_rms = float(np.sqrt(err2.mean()))
    run = _run_scipy if method == "scipy" else _run_lm
    state, status, reason, iters, history = run(state, obs, free, kw, max_iterations, ftol, cost, err2)
    _, err2, _ = _evaluate(state, obs, kw)
    seconds = time.perf_counter() - t0
    sq = np.zeros((v, f))
    cnt = np.zeros((v, f))
    np.add.at(sq, (obs.vi, obs.fi), err2)
    np.add.at(cnt, (obs.vi, obs.fi), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cam_rms = np.sqrt(sq.sum(1) / cnt.sum(1))
        view_rms = np.sqrt(sq / cnt)
    return BundleResult(
        cameras=_unpack(state, cameras),
        board_R=state["Rb"],
        board_t=state["tb"],
        rms_px=float(np.sqrt(err2.mean())),
        initial_rms_px=initial_rms,
        camera_rms_px=cam_rms,
        view_rms_px=view_rms,
        iterations=iters,
        status=status,
        reason=reason,
        history=history,
        seconds=seconds,
    )


def _run_lm(state, obs, free, kw, max_iterations, ftol, cost, err2):
    act = np.flatnonzero(free.any(0))
    free_act = free[:, act]

    def solve(blocks, lam: float):
        dc_act, db, pred = _solve(blocks, obs, free_act, lam)
        return (lsq.camera_step(dc_act, act), db), pred

    fit = lsq.levenberg_marquardt(
        state,
        cost,
        err2,
        linearize=lambda s: _linearize(s, obs, free_act, act, kw),
        solve=solve,
        apply=lambda s, step: _apply(s, *step),
        evaluate=lambda s: _evaluate(s, obs, kw),
        max_iterations=max_iterations,
        ftol=ftol,
        what_behind="board corners",
    )
    return fit.state, fit.status, fit.reason, fit.iterations, fit.history


def _left_jacobian(w: np.ndarray) -> np.ndarray:
    """SO(3) left Jacobians (.., 3, 3): exp(w + dw) = exp(J_l(w) dw) exp(w) to first order."""
    th = np.linalg.norm(w, axis=-1)[..., None, None]
    K = _skew(w)
    small = th < 1e-6
    ths = np.where(small, 1.0, th)
    a = np.where(small, 0.5, (1 - np.cos(ths)) / ths**2)
    b = np.where(small, 1.0 / 6.0, (ths - np.sin(ths)) / ths**3)
    return np.eye(3) + a * K + b * (K @ K)


def _run_scipy(state, obs, free, kw, max_iterations, ftol, cost, err2):
    import scipy.optimize
    import scipy.sparse

    v, f = obs.shape
    cam_cols = np.flatnonzero(free.reshape(-1))
    ncam = cam_cols.size
    col_of = -np.ones(v * _NC, np.int64)
    col_of[cam_cols] = np.arange(ncam)
    rows = np.arange(2 * obs.vi.size)
    cc = col_of[np.repeat(obs.vi, 2)[:, None] * _NC + np.arange(_NC)]
    keep = cc >= 0
    cb = ncam + np.repeat(obs.fi, 2)[:, None] * _NB + np.arange(_NB)
    ri = np.concatenate([np.broadcast_to(rows[:, None], cc.shape)[keep], np.repeat(rows, _NB)])
    ci = np.concatenate([cc[keep], cb.reshape(-1)])

    def at(x):
        dc = np.zeros(v * _NC)
        dc[cam_cols] = x[:ncam]
        dc, db = dc.reshape(v, _NC), x[ncam:].reshape(f, _NB)
        return _apply(state, dc, db), dc, db

    def residuals(x):
        uv, _, _, _ = _forward(at(x)[0], obs, slice(None), kw["fisheye"], False)
        return (uv - obs.uv).reshape(-1)

    def jacobian(x):
        st, dc, db = at(x)
        _, _, Jc, Jb = _forward(st, obs, slice(None), kw["fisheye"], True)
        Jc[..., :3] = Jc[..., :3] @ _left_jacobian(dc[:, :3])[obs.vi]
        Jb[..., :3] = Jb[..., :3] @ _left_jacobian(db[:, :3])[obs.fi]
        data = np.concatenate([Jc.reshape(-1, _NC)[keep], Jb.reshape(-1)])
        return scipy.sparse.csr_matrix((data, (ri, ci)), shape=(rows.size, ncam + f * _NB))

    res = scipy.optimize.least_squares(
        residuals,
        np.zeros(ncam + f * _NB),
        jac=jacobian,
        method="trf",
        loss=kw["loss"],
        f_scale=kw["scale"],
        x_scale="jac",
        tr_solver="lsmr",
        ftol=ftol,
        xtol=1e-12,
        gtol=1e-12,
        max_nfev=max_iterations,
    )
    status = "converged" if res.status > 0 else "max_iterations"
    history = [
        {"iteration": 0, "cost": cost, "rms_px": float(np.sqrt(err2.mean()))},
        {"iteration": int(res.nfev), "cost": float(res.cost)},
    ]
    return at(res.x)[0], status, str(res.message), int(res.njev or res.nfev), history
