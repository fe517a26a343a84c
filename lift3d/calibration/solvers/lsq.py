"""Least-squares pieces shared by the calibration solvers.

`lift3d.calibration.solvers.bundle` (cameras and board poses) and `lift3d.calibration.solvers.points_bundle`
(cameras and free 3D points) solve the same kind of problem: Levenberg-Marquardt on pixel errors with analytic
Jacobians (the float64 camera model of `lift3d.geometry.numpy_camera`), robust losses by iterative re-weighting,
rotations updated on the manifold (`R <- exp(w) R`). This module holds what they share: the robust weights, the
damped solve and the Levenberg-Marquardt loop (`levenberg_marquardt`: damping schedule, step acceptance, stop tests,
history). Plain numpy: on CPU and calibration-sized problems it beats jitted JAX, whose compile time dominated every
run.

Camera unknowns (`NUM_CAMERA_UNKNOWNS` = 15 per camera, the order of `bundle.free_mask`): rotation vector
(3, applied on the left), translation (3), fx, fy, cx, cy and the 5 distortion coefficients (OpenCV pinhole
k1, k2, p1, p2, k3 or fisheye k1..k4). The skew `K[0, 1]` is kept but never adjusted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import scipy.linalg

__all__ = [
    "LOSSES",
    "NUM_CAMERA_UNKNOWNS",
    "robust_weights",
    "marquardt_damping",
    "solve_normal_equations",
    "camera_step",
    "LMResult",
    "levenberg_marquardt",
]

LOSSES = ("linear", "soft_l1", "huber")
NUM_CAMERA_UNKNOWNS = 15


# ------------------------------------------------------------------------------------------- least squares


def robust_weights(err2: np.ndarray, loss: str, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """IRLS weights and robust costs of squared point errors.

    Args:
        err2: Squared pixel errors, shape (m,), px^2.
        loss: "linear", "soft_l1" or "huber" (of the point error, not per coordinate).
        scale: Error where the loss starts to flatten, px.

    Returns:
        (w, rho): the weights rho'(s) (m,) and the costs rho(s) * scale^2 (m,), px^2, with s = err2 / scale^2.
    """
    s = err2 / scale**2
    if loss == "linear":
        return np.ones_like(s), err2
    if loss == "soft_l1":
        root = np.sqrt(1.0 + s)
        return 1.0 / root, 2.0 * (root - 1.0) * scale**2
    e = np.sqrt(s)
    inside = e <= 1.0
    return np.where(inside, 1.0, 1.0 / np.maximum(e, 1e-300)), np.where(inside, err2, (2.0 * e - 1.0) * scale**2)


def marquardt_damping(H: np.ndarray, lam: float) -> np.ndarray:
    """Marquardt's damping `lam diag(H)` of blocks H (..., k, k), floored at 1e-9 of each block's largest
    diagonal entry (plus 1e-12): shape (..., k)."""
    diag = np.diagonal(H, axis1=-2, axis2=-1)
    return lam * np.maximum(diag, 1e-9 * diag.max(-1, keepdims=True) + 1e-12)


def solve_normal_equations(S: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve the reduced (camera) normal equations `S x = b`, S (k, k) symmetric positive definite; a
    least-squares solution if the Cholesky factorisation fails. SciPy's LAPACK: numpy's threaded OpenBLAS
    took 0.15 s for a 120 x 120 solve on a busy 2-core machine."""
    try:
        return scipy.linalg.solve(S, b, assume_a="pos")
    except np.linalg.LinAlgError:
        return scipy.linalg.lstsq(S, b)[0]


def camera_step(step_active: np.ndarray, active: np.ndarray) -> np.ndarray:
    """A camera step over the active unknowns, spread over all `NUM_CAMERA_UNKNOWNS` (zero elsewhere).

    Args:
        step_active: Step of the unknowns being adjusted, shape (v, a).
        active: Their indices among the 15 camera unknowns, shape (a,).

    Returns:
        The step of every camera unknown, shape (v, 15).
    """
    step = np.zeros((len(step_active), NUM_CAMERA_UNKNOWNS))
    step[:, active] = step_active
    return step


class LMResult(NamedTuple):
    """The outcome of `levenberg_marquardt`.

    Attributes:
        state: The last accepted state (the initial one if no step was accepted).
        cost: Robust cost of `state`, px^2.
        err2: Squared pixel errors of `state`'s observations, shape (m,), px^2 (as `evaluate` returns them).
        status: "converged", "max_iterations" or "diverged".
        reason: Why it stopped, in words (naming the iteration when it diverged).
        iterations: Linearisations done.
        history: Per accepted step (and the start, iteration 0): "iteration", "cost" (px^2), "rms_px" and
            "damping"; also "seconds" (wall time since `clock_start`) for the steps when `clock_start` is given.
    """

    state: Any
    cost: float
    err2: np.ndarray
    status: str
    reason: str
    iterations: int
    history: list[dict[str, Any]]


def levenberg_marquardt(
    state: Any,
    cost: float,
    err2: np.ndarray,
    *,
    linearize: Callable[[Any], Sequence[np.ndarray]],
    solve: Callable[[Sequence[np.ndarray], float], tuple[Any, float]],
    apply: Callable[[Any, Any], Any],
    evaluate: Callable[[Any], tuple[float, np.ndarray, float]],
    max_iterations: int,
    ftol: float,
    what_behind: str = "points",
    clock_start: float | None = None,
    initial_damping: float = 1e-3,
    max_damping: float = 1e16,
) -> LMResult:
    """The Levenberg-Marquardt loop shared by `bundle.bundle_adjust` and `points_bundle.adjust_cameras_and_points`.

    Each iteration linearises at the current state, then tries damped steps: a step is accepted when the
    state it gives has a finite cost, every observed point in front of its camera (smallest depth > 0) and a
    gain ratio `rho = actual / predicted cost decrease > 0`. A rejected step multiplies the damping by `nu`
    (2, doubling after each rejection); an accepted one scales it by Nielsen's `max(1/3, 1 - (2 rho - 1)^3)`
    and resets `nu` to 2. The loop stops when an accepted step lowers the cost by at most `ftol * cost`
    ("converged"), when the damping passes `max_damping` without an accepted step ("converged" if the steps
    were valid but did not lower the cost, else "diverged"), on a non-finite Jacobian ("diverged") or after
    `max_iterations` linearisations ("max_iterations").

    Args:
        state: Initial state (any value `linearize`, `apply` and `evaluate` understand).
        cost: Robust cost of `state` (`evaluate(state)[0]`), px^2.
        err2: Squared pixel errors of `state` (`evaluate(state)[1]`), shape (m,), px^2.
        linearize: `state -> blocks`, the normal-equation blocks (arrays, checked finite) at a state.
        solve: `(blocks, damping) -> (step, predicted)`, the damped step and the cost decrease its
            Gauss-Newton model predicts (px^2).
        apply: `(state, step) -> state`, the state moved by a step.
        evaluate: `state -> (cost, err2, min_depth)`: robust cost (px^2), squared errors (m,) (px^2) and the
            smallest depth of an observed point (world units).
        max_iterations: Most linearisations.
        ftol: Stop when an accepted step lowers the cost by at most this fraction of the new cost.
        what_behind: What a step can put behind a camera, for the "diverged" reason (e.g. "points",
            "board corners").
        clock_start: A `time.perf_counter()` value: each accepted step's history entry then records
            "seconds" since it. None records no time.
        initial_damping: Starting damping (multiplies the diagonal of the blocks, `marquardt_damping`).
        max_damping: Give up an iteration once the damping passes this.

    Returns:
        `LMResult`: the last accepted state, its cost and errors, status, reason, iterations and history.
    """
    lam, nu = initial_damping, 2.0
    history = [{"iteration": 0, "cost": cost, "rms_px": float(np.sqrt(err2.mean())), "damping": lam}]

    def stop(status: str, reason: str, it: int) -> LMResult:  # with the loop's current state, cost and err2
        return LMResult(state, cost, err2, status, reason, it, history)

    for it in range(1, max_iterations + 1):
        blocks = linearize(state)
        if not all(np.isfinite(b).all() for b in blocks):
            return stop("diverged", f"non-finite Jacobian at iteration {it}; kept iteration {it - 1}", it)
        while True:
            step, pred = solve(blocks, lam)
            new = apply(state, step)
            new_cost, new_err2, depth = evaluate(new)
            valid = bool(np.isfinite(new_cost)) and depth > 0
            rho = (cost - new_cost) / pred if valid and pred > 0 else -1.0
            if rho > 0:
                break
            lam *= nu
            nu *= 2.0
            if lam > max_damping:
                if valid:
                    return stop("converged", "no step lowers the cost further", it)
                why = "a non-finite cost" if not np.isfinite(new_cost) else f"{what_behind} behind a camera"
                return stop("diverged", f"every step gives {why} at iteration {it}; kept iteration {it - 1}", it)
        decrease = cost - new_cost
        state, cost, err2 = new, new_cost, new_err2
        lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
        nu = 2.0
        entry = {"iteration": it, "cost": cost, "rms_px": float(np.sqrt(err2.mean())), "damping": lam}
        if clock_start is not None:
            entry["seconds"] = time.perf_counter() - clock_start
        history.append(entry)
        if decrease <= ftol * cost:
            return stop("converged", f"relative cost decrease below {ftol:g}", it)
    return stop("max_iterations", f"stopped after {max_iterations} iterations", max_iterations)
