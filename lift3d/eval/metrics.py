"""3D pose metrics: MPJPE (P1), P-MPJPE (P2), N-MPJPE, absolute MPJPE, PCK3D and AUC, plus group tables.

All array metrics are jit-compiled JAX functions over poses of shape (..., j, 3) with any leading axes
(frames, batch, ...). Units are those of the input; the Human3.6M / MPI-INF-3DHP conventions (and the
default PCK thresholds) assume millimetres.

Alignments (the ``align`` option of `joint_errors`, `pck3d` and `auc`):

- ``"root"``: subtract the root joint (index ``root``, default 0 = H36M pelvis) from prediction and
  ground truth (Protocol #1, MPJPE).
- ``"procrustes"``: similarity transform (scale, rotation, translation; no reflection) fitted to the
  valid joints, as in the numpy ``p_mpjpe`` of 3d-pose-baseline / VideoPose3D (Protocol #2, P-MPJPE).
- ``"scale"``: root alignment, then the least-squares scale s = <pred, gt> / <pred, pred> over the valid
  joints (N-MPJPE, Rhodin et al. 2018).
- ``"none"``: no alignment (absolute MPJPE).

Masking: a joint is valid where ``mask`` is true (default all) and both ``pred`` and ``gt`` are finite.
For the root and scale alignments a sample whose root joint is invalid has no valid joint at all (it
cannot be root-aligned). Invalid joints take no part in the alignment fits and in the means; NaNs
never reach a valid result. Per-joint outputs (``reduce=False``) are NaN at invalid joints. A mean
over no valid joint at all is NaN.

Reductions: ``reduce=True`` gives the mean over all valid joints of all samples (joint-weighted; with
no missing joints this equals the mean of per-frame means). Per-action / per-subject / per-joint tables
come from `group_mean` and `summarize` (numpy) applied to the per-joint errors. Note the usual H36M
table reports the *average of the per-action means*, which `summarize` gives as well.

PCK3D / AUC follow the MPI-INF-3DHP evaluation code (``mpii_compute_3d_pck.m``): a joint is correct
when its error is strictly below the threshold, and AUC is the mean PCK at thresholds
``linspace(0, 150, 31)`` mm. With the strict comparison the threshold 0 never counts, so a perfect
prediction has AUC = 30/31, not 1, exactly as in the published protocol.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from lift3d.geometry.transforms import align_similarity, apply_similarity

__all__ = [
    "PCK_THRESHOLD_MM",
    "AUC_THRESHOLDS_MM",
    "procrustes_align",
    "joint_errors",
    "mpjpe",
    "p_mpjpe",
    "n_mpjpe",
    "absolute_mpjpe",
    "pck3d",
    "auc",
    "group_mean",
    "summarize",
]

Alignment = Literal["root", "procrustes", "scale", "none"]
_ALIGNMENTS = ("root", "procrustes", "scale", "none")

PCK_THRESHOLD_MM = 150.0
"""The PCK3D threshold of MPI-INF-3DHP, millimetres."""

AUC_THRESHOLDS_MM = tuple(float(x) for x in np.linspace(0.0, 150.0, 31))
"""The 31 thresholds (0, 5, ..., 150 mm) whose mean PCK is the MPI-INF-3DHP AUC."""


# ---------------------------------------------------------------------------------------------
# Helpers


def _check(pred: Array, gt: Array, mask: Array | None, root: int | None) -> None:
    """Raise ValueError on shapes that do not fit (shapes are static, so this runs at trace time)."""
    if pred.shape != gt.shape:
        raise ValueError(f"metrics: pred has shape {pred.shape} but gt has shape {gt.shape}; they must match")
    if pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"metrics: poses must have shape (..., j, 3), got {pred.shape}")
    if mask is not None and mask.shape != pred.shape[:-1]:
        raise ValueError(
            f"metrics: mask has shape {mask.shape}, expected {pred.shape[:-1]} (pred without xyz)"
        )
    if root is not None and not -pred.shape[-2] <= root < pred.shape[-2]:
        raise ValueError(f"metrics: root={root} is out of range for {pred.shape[-2]} joints")


def _valid(pred: Array, gt: Array, mask: ArrayLike | None) -> Array:
    """(..., j) bool: mask & finite(pred) & finite(gt)."""
    valid = jnp.all(jnp.isfinite(pred), axis=-1) & jnp.all(jnp.isfinite(gt), axis=-1)
    if mask is not None:
        valid = valid & jnp.asarray(mask, dtype=bool)
    return valid


def _safe_norm(x: Array, axis: int = -1, keepdims: bool = False) -> Array:
    """Euclidean norm whose gradient is finite (zero) at the origin."""
    sq = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


def _masked_mean(values: Array, valid: Array) -> Array:
    """Mean of `values` over the entries where `valid`; NaN if there is none."""
    count = jnp.sum(valid)
    total = jnp.sum(jnp.where(valid, values, 0.0))
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def _align(pred: Array, gt: Array, valid: Array, align: str, root: int) -> tuple[Array, Array, Array]:
    """Align finite `pred` to finite `gt`; returns (pred', gt', valid') where valid' may lose samples."""
    if align == "none":
        return pred, gt, valid
    if align == "procrustes":
        return apply_similarity(align_similarity(pred, gt, valid), pred), gt, valid
    # root and scale
    valid = valid & valid[..., root : root + 1]
    pred = pred - pred[..., root : root + 1, :]
    gt = gt - gt[..., root : root + 1, :]
    if align == "scale":
        w = valid[..., None]
        num = jnp.sum(jnp.where(w, pred * gt, 0.0), axis=(-2, -1))
        den = jnp.sum(jnp.where(w, pred * pred, 0.0), axis=(-2, -1))
        s = jnp.where(den > 0, num / jnp.where(den > 0, den, 1.0), 1.0)
        pred = s[..., None, None] * pred
    return pred, gt, valid


def _errors(
    pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None, align: str, root: int
) -> tuple[Array, Array]:
    """Per-joint errors (..., j) (0 at invalid joints) and the validity mask (..., j)."""
    if align not in _ALIGNMENTS:
        raise ValueError(f"metrics: align must be one of {_ALIGNMENTS}, got {align!r}")
    pred, gt = jnp.asarray(pred), jnp.asarray(gt)
    if not jnp.issubdtype(pred.dtype, jnp.floating):
        pred = pred.astype(jnp.result_type(float))
    gt = gt.astype(pred.dtype)
    mask = None if mask is None else jnp.asarray(mask)
    _check(pred, gt, mask, root)
    root = root % pred.shape[-2]  # a negative index would make the root slice below empty
    valid = _valid(pred, gt, mask)
    # Zero-fill invalid joints before any arithmetic, so NaNs (and their gradients) stay out.
    pred = jnp.where(valid[..., None], pred, 0.0)
    gt = jnp.where(valid[..., None], gt, 0.0)
    pred, gt, valid = _align(pred, gt, valid, align, root)
    err = _safe_norm(jnp.where(valid[..., None], pred - gt, 0.0))
    return err, valid


def _finish(values: Array, valid: Array, reduce: bool) -> Array:
    return _masked_mean(values, valid) if reduce else jnp.where(valid, values, jnp.nan)


# ---------------------------------------------------------------------------------------------
# Public array metrics


@jax.jit
def procrustes_align(pred: ArrayLike, gt: ArrayLike, *, mask: ArrayLike | None = None) -> Array:
    """Align predictions to ground truth with the best similarity transform (no reflection).

    The fit (`lift3d.geometry.transforms.align_similarity`, the VideoPose3D / 3d-pose-baseline ``p_mpjpe``
    form: centre, normalise, SVD of H = X0^T Y0, flip the last singular vector when det < 0, scale =
    trace * |X0| / |Y0|) uses only the valid joints; the transform is then applied to every finite predicted
    joint.

    Args:
        pred: Predicted joints, shape (..., j, 3).
        gt: Ground-truth joints, shape (..., j, 3), same units.
        mask: Optional (..., j) bool; false (or non-finite pred/gt) joints are left out of the fit.

    Returns:
        Aligned predictions, shape (..., j, 3); NaN where ``pred`` is not finite. A sample with fewer
        than 3 non-collinear valid joints gets a degenerate (but finite) transform.
    """
    pred, gt = jnp.asarray(pred), jnp.asarray(gt)
    if not jnp.issubdtype(pred.dtype, jnp.floating):
        pred = pred.astype(jnp.result_type(float))
    gt = gt.astype(pred.dtype)
    mask = None if mask is None else jnp.asarray(mask)
    _check(pred, gt, mask, None)
    valid = _valid(pred, gt, mask)
    finite = jnp.all(jnp.isfinite(pred), axis=-1, keepdims=True)
    pred0 = jnp.where(finite, pred, 0.0)
    aligned = apply_similarity(align_similarity(pred0, jnp.where(valid[..., None], gt, 0.0), valid), pred0)
    return jnp.where(finite, aligned, jnp.nan)


@functools.partial(jax.jit, static_argnames=("align", "root"))
def joint_errors(
    pred: ArrayLike, gt: ArrayLike, *, align: Alignment = "root", root: int = 0, mask: ArrayLike | None = None
) -> Array:
    """Per-joint Euclidean errors after an alignment.

    Args:
        pred: Predicted joints, shape (..., j, 3), e.g. mm.
        gt: Ground-truth joints, shape (..., j, 3), same units.
        align: "root" (P1), "procrustes" (P2), "scale" (N-MPJPE) or "none" (absolute); see the module doc.
        root: Index of the root joint for "root" / "scale" (0 = H36M pelvis).
        mask: Optional (..., j) bool of joints to use; non-finite joints are always invalid.

    Returns:
        Errors, shape (..., j), input units; NaN at invalid joints.
    """
    err, valid = _errors(pred, gt, mask, align, root)
    return jnp.where(valid, err, jnp.nan)


_METRIC_ARGS = """

    Args:
        pred: Predicted joints, shape (..., j, 3), e.g. mm.
        gt: Ground-truth joints, shape (..., j, 3), same units.
        mask: Optional (..., j) bool of joints to use; non-finite joints are always invalid.
        root: Index of the root joint (0 = H36M pelvis); a sample whose root is invalid is left out.
            Not used by `p_mpjpe` and `absolute_mpjpe`.
        reduce: True: the mean over all valid joints (scalar, NaN if none); False: per-joint errors
            (..., j), NaN at invalid joints.

    Returns:
        A scalar or (..., j) array, input units.
"""


def _metric(fn):
    """Jit a metric (static root / reduce) and append the shared Args section to its docstring."""
    fn.__doc__ = (fn.__doc__ or "") + _METRIC_ARGS
    return functools.wraps(fn)(jax.jit(fn, static_argnames=("root", "reduce")))


@_metric
def mpjpe(
    pred: ArrayLike, gt: ArrayLike, *, mask: ArrayLike | None = None, root: int = 0, reduce: bool = True
):
    """MPJPE, Protocol #1: mean joint error after subtracting the root joint."""
    return _finish(*_errors(pred, gt, mask, "root", root), reduce)


@_metric
def p_mpjpe(
    pred: ArrayLike, gt: ArrayLike, *, mask: ArrayLike | None = None, root: int = 0, reduce: bool = True
):
    """P-MPJPE, Protocol #2: mean joint error after a Procrustes similarity alignment (no reflection)."""
    return _finish(*_errors(pred, gt, mask, "procrustes", root), reduce)


@_metric
def n_mpjpe(
    pred: ArrayLike, gt: ArrayLike, *, mask: ArrayLike | None = None, root: int = 0, reduce: bool = True
):
    """N-MPJPE (Rhodin et al. 2018): root alignment, then the scale <pred, gt> / <pred, pred>."""
    return _finish(*_errors(pred, gt, mask, "scale", root), reduce)


@_metric
def absolute_mpjpe(
    pred: ArrayLike, gt: ArrayLike, *, mask: ArrayLike | None = None, root: int = 0, reduce: bool = True
):
    """Absolute MPJPE: mean joint error without any alignment."""
    return _finish(*_errors(pred, gt, mask, "none", root), reduce)


@functools.partial(jax.jit, static_argnames=("align", "root", "reduce"))
def pck3d(
    pred: ArrayLike,
    gt: ArrayLike,
    *,
    threshold: float = PCK_THRESHOLD_MM,
    align: Alignment = "root",
    mask: ArrayLike | None = None,
    root: int = 0,
    reduce: bool = True,
) -> Array:
    """PCK3D: the fraction of valid joints whose error is strictly below ``threshold``.

    Args:
        pred: Predicted joints, shape (..., j, 3), mm.
        gt: Ground-truth joints, shape (..., j, 3), mm.
        threshold: Error threshold in input units (150 mm in MPI-INF-3DHP; use 0.15 for metres).
        align: Alignment before measuring, default "root" (see the module doc).
        mask: Optional (..., j) bool of joints to use; non-finite joints are always invalid.
        root: Root joint index for "root" / "scale" alignment.
        reduce: True: fraction over all valid joints (scalar in [0, 1], NaN if none); False: (..., j)
            of 1.0 / 0.0, NaN at invalid joints.

    Returns:
        A scalar or (..., j) array.
    """
    err, valid = _errors(pred, gt, mask, align, root)
    return _finish((err < threshold).astype(err.dtype), valid, reduce)


@functools.partial(jax.jit, static_argnames=("align", "root", "reduce"))
def auc(
    pred: ArrayLike,
    gt: ArrayLike,
    *,
    thresholds: ArrayLike = AUC_THRESHOLDS_MM,
    align: Alignment = "root",
    mask: ArrayLike | None = None,
    root: int = 0,
    reduce: bool = True,
) -> Array:
    """AUC of the PCK3D curve: the mean of `pck3d` over ``thresholds`` (MPI-INF-3DHP convention).

    Args:
        pred: Predicted joints, shape (..., j, 3), mm.
        gt: Ground-truth joints, shape (..., j, 3), mm.
        thresholds: Thresholds, shape (k,), input units; default ``linspace(0, 150, 31)`` mm.
        align: Alignment before measuring, default "root".
        mask: Optional (..., j) bool of joints to use; non-finite joints are always invalid.
        root: Root joint index for "root" / "scale" alignment.
        reduce: True: the AUC over all valid joints (scalar in [0, 1], NaN if none); False: per-joint
            AUC (..., j) (the fraction of thresholds the joint passes), NaN at invalid joints. The mean
            of the per-joint values over valid joints equals the reduced AUC.

    Returns:
        A scalar or (..., j) array.
    """
    err, valid = _errors(pred, gt, mask, align, root)
    thr = jnp.asarray(thresholds, dtype=err.dtype)
    per_joint = jnp.mean((err[..., None] < thr).astype(err.dtype), axis=-1)
    return _finish(per_joint, valid, reduce)


# ---------------------------------------------------------------------------------------------
# Tables (numpy)


def group_mean(
    values: ArrayLike, group_ids: ArrayLike, *, mask: ArrayLike | None = None, per_joint: bool = False
) -> dict:
    """Means of per-joint values (errors, PCK hits) by group label, e.g. per action or per subject.

    Args:
        values: Values, shape (n, ...) (typically (n, j) from ``reduce=False``); n samples.
        group_ids: Group label of each sample, shape (n,): strings or integers.
        mask: Optional (n, ...) bool of entries to count; non-finite values never count.
        per_joint: False: one mean per group over all its valid entries; True: keep the trailing axes,
            i.e. a mean over the group's samples per joint.

    Returns:
        ``{label: mean}`` in sorted label order; a mean is a float (an array of shape ``values.shape[1:]``
        if ``per_joint``), NaN where a group has no valid entry.
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(group_ids)
    if values.ndim < 1 or labels.shape != values.shape[:1]:
        raise ValueError(f"group_mean: group_ids has shape {labels.shape}, expected ({values.shape[0]},)")
    valid = np.isfinite(values)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise ValueError(f"group_mean: mask has shape {mask.shape}, expected {values.shape}")
        valid &= mask
    keys, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    filled = np.where(valid, values, 0.0).reshape(len(labels), -1)
    counts = valid.reshape(len(labels), -1).astype(np.float64)
    if not per_joint:
        filled, counts = filled.sum(axis=1, keepdims=True), counts.sum(axis=1, keepdims=True)
    sums = np.zeros((len(keys), filled.shape[1]))
    cnts = np.zeros((len(keys), filled.shape[1]))
    np.add.at(sums, inverse, filled)
    np.add.at(cnts, inverse, counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(cnts > 0, sums / np.maximum(cnts, 1), np.nan)
    out = {}
    for i, key in enumerate(keys):
        k = key.item() if isinstance(key, np.generic) else key
        out[k] = means[i].reshape(values.shape[1:]) if per_joint else float(means[i, 0])
    return out


def summarize(
    errors: ArrayLike,
    *,
    groups: Mapping[str, ArrayLike] | None = None,
    mask: ArrayLike | None = None,
    joint_names: Sequence[str] | None = None,
) -> dict:
    """A results table from per-joint errors: overall, per joint and per group (action, subject, ...).

    Args:
        errors: Per-joint errors (or PCK hits), shape (n, j), e.g. ``mpjpe(..., reduce=False)`` flattened to
            (n, j); NaN entries do not count.
        groups: Optional ``{"action": labels (n,), "subject": labels (n,), ...}``.
        mask: Optional (n, j) bool of entries to count.
        joint_names: Optional j names (e.g. ``H36M_17.joints``) for the per-joint table.

    Returns:
        ``{"mean": float, "count": int, "per_joint": {name or index: float}}`` plus, for each group key
        ``g``, ``"per_g": {label: mean}`` and ``"mean_over_g"`` (the unweighted mean of the group means,
        the number H36M papers report for actions).
    """
    errors = np.asarray(errors, dtype=np.float64)
    if errors.ndim != 2:
        raise ValueError(f"summarize: errors must have shape (n, j), got {errors.shape}")
    valid = np.isfinite(errors)
    if mask is not None:
        valid &= np.asarray(mask, dtype=bool)
    n, j = errors.shape
    if joint_names is not None and len(joint_names) != j:
        raise ValueError(f"summarize: {len(joint_names)} joint names for {j} joints")
    count = int(valid.sum())
    out: dict = {"mean": float(errors[valid].mean()) if count else float("nan"), "count": count}
    with np.errstate(invalid="ignore", divide="ignore"):
        per_joint = np.where(valid, errors, 0.0).sum(axis=0) / valid.sum(axis=0)
    names = list(joint_names) if joint_names is not None else list(range(j))
    out["per_joint"] = {name: float(v) for name, v in zip(names, per_joint, strict=True)}
    for key, labels in (groups or {}).items():
        table = group_mean(errors, labels, mask=valid)
        out[f"per_{key}"] = table
        finite = [v for v in table.values() if np.isfinite(v)]
        out[f"mean_over_{key}"] = float(np.mean(finite)) if finite else float("nan")
    return out
