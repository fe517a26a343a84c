"""Whole captures: `triangulate_sequence` cuts the frames into fixed-size chunks and picks the backend.

Method "pose2sim" runs `pose2sim.triangulate_pose2sim_exact` (float64 numpy, Pose2Sim's own estimator, to
rounding); refinement, if asked, runs jitted after it. Backends: "jax", the jitted methods of `linear` / `robust`
(every method and option), and "fixed_rig", the kernels of `fixed_rig.make_triangulator` (the rig compiled into
structure-of-arrays programs, 10-40x faster on CPU), used for the plain DLT and the RANSAC of pinhole rigs of
up to 16 views; left/right swap repair there is `repair_left_right_swaps` up to 5 views and, beyond, each view
tested against the robust pose (`mirrors.mirrored_views`, O(v) instead of sum_k C(v, k) sets of views);
refinement and the reprojection errors run jitted after either. "numpy" is the jax methods' float64 numpy
form (`numpy_camera`'s DLT and all-pairs RANSAC, `robust.swap_repair`, `refine.refine_points_numpy`): nothing
to compile and JAX never imported, for short captures. `backend="auto"` takes "numpy" up to
`NUMPY_MAX_OBSERVATIONS`, else "fixed_rig" where it applies (`choose_backend`), and is what `lift3d
triangulate` runs. The library default stays "jax" (every option, traceable): the kernels' inhomogeneous DLT
is another estimator where views disagree (see `triangulate_sequence`).
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import TYPE_CHECKING, Literal, NamedTuple

import numpy as np

from lift3d.geometry import numpy_camera
from lift3d.geometry.camera import Camera
from lift3d.geometry.lazy_jax import is_traced, jax, jit, jnp
from lift3d.geometry.triangulation.fixed_rig import _MAX_ROBUST_VIEWS, make_triangulator
from lift3d.geometry.triangulation.linear import mean_over_views, reprojection_error, triangulate_dlt
from lift3d.geometry.triangulation.mirrors import mirrored_views
from lift3d.geometry.triangulation.pose2sim import triangulate_pose2sim_exact
from lift3d.geometry.triangulation.refine import refine_points, refine_points_numpy
from lift3d.geometry.triangulation.robust import (
    INLIER_THRESHOLD_PX,
    repair_left_right_swaps,
    swap_options,
    swap_repair,
    triangulate_ransac,
)

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = ["SequenceResult", "Backend", "fixed_rig_applies", "numpy_applies", "choose_backend", "triangulate_sequence",
           "NUMPY_MAX_OBSERVATIONS"]

Backend = Literal["auto", "jax", "fixed_rig", "numpy"]

_FIXED_RIG_OPTIONS = {"dlt": {"undistort", "solver"}, "ransac": {"threshold_px", "max_exhaustive_views", "undistort",
                                                                 "num_hypotheses", "solver"}}
_FIXED_RIG_SWAP_OPTIONS = {"swap_min_gain_px", "swap_min_relative_gain"}
_MAX_SWAP_HYPOTHESES = 16  # up to 5 views the kernels' swap repair tries every set of views, beyond that O(v)
_POSE2SIM_OPTIONS = {"likelihood_threshold", "reprojection_threshold_px", "min_cameras", "metres_per_unit"}
_TRIANGULATORS: OrderedDict = OrderedDict()  # a few compiled rigs, most recent last
_MAX_TRIANGULATORS = 8
_NUMPY_OPTIONS = {"threshold_px", "undistort"}
NUMPY_MAX_OBSERVATIONS = 100_000  # "auto": frames x views x joints in numpy (about 1-2 s of work; no JAX import)


class SequenceResult(NamedTuple):
    """Result of `triangulate_sequence`, numpy arrays over all frames.

    Attributes:
        points_3d: (t, j, 3) world units, NaN where not triangulated.
        mean_error_px: (t, j) mean reprojection error over the used views, px.
        num_views: (t, j) number of views used.
        views_used: (t, v, j) bool.
        swapped: (t, v, j) bool, left/right repairs applied (all False without `flip_perm`).
    """

    points_3d: np.ndarray
    mean_error_px: np.ndarray
    num_views: np.ndarray
    views_used: np.ndarray
    swapped: np.ndarray



@functools.partial(jit, static_argnames=("method", "refine", "flip_perm", "options"))
def _triangulate_chunk(key, cameras, points_2d, confidence, method, refine, flip_perm, options):
    opts = dict(options)
    refine_opts = {k[7:]: opts.pop(k) for k in list(opts) if k.startswith("refine_")}
    swapped = jnp.zeros(points_2d.shape[:-1], bool)
    if flip_perm is not None:
        swap_opts = {k[5:]: opts.pop(k) for k in list(opts) if k.startswith("swap_")}
        points_2d, confidence, swapped = repair_left_right_swaps(cameras, points_2d, confidence, flip_perm,
                                                                 **swap_opts)
    if method == "dlt":
        X, info = triangulate_dlt(cameras, points_2d, confidence, **opts)
    else:
        X, info = triangulate_ransac(key, cameras, points_2d, confidence, **opts)
    used = info.views_used
    if refine:
        X = refine_points(cameras, X, points_2d, jnp.where(used, confidence, 0.0), **refine_opts)
    err = mean_over_views(reprojection_error(cameras, X, points_2d), used)
    return X, err, info.num_views, used, swapped



def fixed_rig_applies(cameras: Camera, method: str, flip_perm: ArrayLike | None = None, **options) -> bool:
    """Whether `triangulate_sequence(..., backend="auto")` runs on the fixed-rig kernels.

    They apply to "dlt" and "ransac" (up to 16 views; beyond `max_exhaustive_views` the pairs among each
    point's most confident views, see `make_triangulator`) on concrete pinhole cameras of batch shape (v,), with
    the adjugate solver. Left/right repair there is `repair_left_right_swaps` up to 5 views (at most 16 sets
    of swapped views), beyond that `mirrors.mirrored_views` (each view tested against the robust 3D pose, O(v)
    instead of sum_k C(v, k) sets: 93 at 8 views); options `swap_min_gain_px`, `swap_min_relative_gain`.

    Args:
        cameras: Cameras, batch shape (v,).
        method: The triangulation method.
        flip_perm: The left/right permutation, if any.
        **options: The method's options (`refine_` options are free: refinement runs after either backend).

    Returns:
        True if the kernels compute this call.
    """
    opts = {k: v for k, v in options.items() if not k.startswith("refine_")}
    swap_opts = {k for k in opts if k.startswith("swap_")}
    if method not in _FIXED_RIG_OPTIONS or cameras.model != "pinhole":
        return False
    if not swap_opts <= _FIXED_RIG_SWAP_OPTIONS or (swap_opts and flip_perm is None):
        return False
    if flip_perm is not None and not opts.get("undistort", True):  # the mirror test projects with distortion
        return False
    if not set(opts) - swap_opts <= _FIXED_RIG_OPTIONS[method] or opts.get("solver", "adjugate") != "adjugate":
        return False
    if is_traced(cameras):
        return False
    shape = np.shape(cameras.K)
    return len(shape) == 3 and (method == "dlt" or shape[0] <= _MAX_ROBUST_VIEWS)


def numpy_applies(cameras: Camera, method: str, **options) -> bool:
    """Whether `triangulate_sequence(..., backend="numpy")` computes this call: "dlt" and "ransac" (all view
    pairs: up to `max_exhaustive_views`, 8) with undistortion, concrete cameras of batch shape (v,); options
    `threshold_px`, `swap_*` and `refine_*`."""
    opts = {k for k in options if not k.startswith(("refine_", "swap_"))}
    if method not in _FIXED_RIG_OPTIONS or not opts <= _NUMPY_OPTIONS or not options.get("undistort", True):
        return False
    shape = np.shape(cameras.K)
    return len(shape) == 3 and not is_traced(cameras) and (method == "dlt" or shape[0] <= 8)


def choose_backend(cameras: Camera, method: str, num_observations: int, flip_perm: ArrayLike | None = None,
                   **options) -> str:
    """The backend `triangulate_sequence(backend="auto")` runs for a capture of this size.

    "numpy" for up to `NUMPY_MAX_OBSERVATIONS` observations where it applies (float64, nothing to compile and
    JAX never imported: a short capture is done in well under a second), else "fixed_rig" where the kernels
    apply, else "jax". Callers that cut a capture into blocks decide once, on the whole capture.

    Args:
        cameras: Cameras, batch shape (v,).
        method: The triangulation method.
        num_observations: Frames x views x joints (x people) of the whole capture.
        flip_perm: The left/right permutation, if any.
        **options: The method's options.

    Returns:
        "numpy", "fixed_rig" or "jax".
    """
    if num_observations <= NUMPY_MAX_OBSERVATIONS and numpy_applies(cameras, method, **options):
        return "numpy"
    return "fixed_rig" if fixed_rig_applies(cameras, method, flip_perm, **options) else "jax"


def _numpy_chunk(cameras: Camera, uv: np.ndarray, conf: np.ndarray, method: str, refine: bool, flip, options: dict):
    """`_triangulate_chunk` in float64 numpy (`numpy_camera`'s DLT and all-pairs RANSAC, `swap_repair`,
    `refine_points_numpy`): (X, mean error, views used count, views used, swapped)."""
    opts = {k: v for k, v in options.items() if not k.startswith(("refine_", "swap_"))}
    dtype = np.result_type(uv.dtype, np.float32)  # float64 inside, the jax backend's dtypes out
    uv, conf = np.asarray(uv, np.float64), np.asarray(conf, np.float64)
    t, v, j = uv.shape[:3]
    swapped = np.zeros((t, v, j), bool)

    def solve(uv, conf):
        if method == "dlt":
            X = numpy_camera.triangulate_weighted(cameras, uv, conf)
            return X, (conf > 0) & np.isfinite(uv[..., 0]) & np.isfinite(X[..., None, :, 0])
        return numpy_camera.triangulate_inliers(cameras, uv, conf, threshold_px=opts.get("threshold_px",
                                                                                          INLIER_THRESHOLD_PX))

    if flip is not None and _swap_hypotheses(v) <= _MAX_SWAP_HYPOTHESES:  # every set of swapped views
        params, fisheye = numpy_camera.camera_params(cameras), cameras.model == "fisheye"
        swap = {k[5:]: value for k, value in options.items() if k.startswith("swap_")}
        rep = swap_repair(np, cameras, uv, conf, *swap_options(v, flip, j, **swap),
                          project=lambda _, X: numpy_camera.project(params, X, fisheye)[0])  # fmt: skip
        uv, conf, swapped = rep
    X, used = solve(uv, conf)
    if flip is not None and _swap_hypotheses(v) > _MAX_SWAP_HYPOTHESES:  # each view against the robust pose
        uv, conf, swapped = _repair_views(cameras, uv, conf, X, flip, options)
        if swapped.any():
            X, used = solve(uv, conf)
    if refine:
        refine_opts = {k[7:]: value for k, value in options.items() if k.startswith("refine_")}
        X = refine_points_numpy(cameras, X, uv, np.where(used, conf, 0.0), **refine_opts)
    err = mean_over_views(numpy_camera.reprojection_errors(cameras, X, uv), used, xp=np)
    return X.astype(dtype), err.astype(dtype), used.sum(-2).astype(np.int32), used, swapped


def _swap_hypotheses(v: int) -> int:
    """How many sets of swapped views `repair_left_right_swaps` tries on v views (its default limit)."""
    return sum(math.comb(v, k) for k in range((v - 1) // 2 + 1))


def _swap_options(opts: tuple) -> tuple:
    return tuple((k[5:], value) for k, value in opts if k.startswith("swap_"))


@functools.partial(jit, static_argnames=("flip_perm", "options"))
def _repair_swaps_jit(cameras, points_2d, confidence, flip_perm, options):
    return tuple(repair_left_right_swaps(cameras, points_2d, confidence, flip_perm, **dict(options)))


def _repair_views(cameras: Camera, uv: np.ndarray, conf: np.ndarray, X: np.ndarray, flip: tuple[int, ...],
                  options: dict):
    """Swap repair on many views: views mirrored against the pose X get their lateral joints exchanged."""
    perm = np.asarray(flip)
    lateral = perm != np.arange(perm.size)
    kwargs = {k[5:]: options[k] for k in _FIXED_RIG_SWAP_OPTIONS if k in options}
    views = mirrored_views(cameras, uv, conf, X, perm, **kwargs)
    swapped = views[..., None] & lateral  # (t, v, j)
    uv = np.where(swapped[..., None], uv[..., perm, :], uv)
    return uv, np.where(swapped, conf[..., perm], conf), swapped


def _no_swap(opts: tuple) -> tuple:
    return tuple(item for item in opts if not item[0].startswith("swap_"))


def _triangulator(cameras: Camera, method: str, options: dict):
    """`make_triangulator` for this rig and method, compiled once per process (a small cache)."""
    leaves = tuple(np.asarray(a, np.float64).tobytes() for a in (cameras.K, cameras.dist, cameras.R, cameras.t,
                                                                   cameras.image_size))
    robust = method == "ransac"
    kwargs = {"undistort": bool(options.get("undistort", True)), "robust": robust}
    if robust:
        kwargs |= {"threshold_px": float(options.get("threshold_px", 20.0)),
                   "max_exhaustive_views": int(options.get("max_exhaustive_views", 8))}
    key = (leaves, np.shape(cameras.K), cameras.model, tuple(sorted(kwargs.items())))
    if key not in _TRIANGULATORS:
        _TRIANGULATORS[key] = make_triangulator(cameras, **kwargs)
        while len(_TRIANGULATORS) > _MAX_TRIANGULATORS:
            _TRIANGULATORS.popitem(last=False)
    _TRIANGULATORS.move_to_end(key)
    return _TRIANGULATORS[key]


@functools.partial(jit, static_argnames=("refine", "options"))
def _finish_chunk(cameras, points_2d, confidence, X, used, refine, options):
    """Refinement and mean reprojection error of points from the fixed-rig kernels (as `_triangulate_chunk`)."""
    refine_opts = {k[7:]: v for k, v in options if k.startswith("refine_")}
    if refine:
        X = refine_points(cameras, X, points_2d, jnp.where(used, confidence, 0.0), **refine_opts)
    return X, mean_over_views(reprojection_error(cameras, X, points_2d), used)


def triangulate_sequence(
    cameras: Camera, points_2d: ArrayLike, confidence: ArrayLike | None = None, *,
    method: Literal["dlt", "ransac", "pose2sim"] = "dlt", refine: bool = False, chunk_size: int = 1024,
    key: Array | None = None, flip_perm: ArrayLike | None = None, backend: Backend = "jax", **options,
) -> SequenceResult:
    """Triangulate a whole capture in fixed-size chunks of frames (one compilation, flat memory).

    The frames are cut into chunks of `chunk_size` (or of the next power of two for shorter inputs); the last
    chunk is padded with missing observations, so the jitted program is compiled once per (method, options,
    chunk shape). Results are gathered on the host as numpy.

    Args:
        cameras: Cameras, batch shape (v,).
        points_2d: Keypoints, shape (t, v, j, 2), distorted pixels (NaN = missing).
        confidence: Weights, shape (t, v, j) (0 = missing), or None for 1.
        method: "dlt" (`triangulate_dlt`), "ransac" (`triangulate_ransac`) or "pose2sim"
            (`pose2sim.triangulate_pose2sim_exact`: Pose2Sim's result to float64 rounding; its `mean_error_px`
            is Pose2Sim's error, distortion ignored, unless refined; no `flip_perm`, no fixed-rig backend).
        refine: Polish the points with `refine_points` on the views the method used.
        chunk_size: Frames per jitted call.
        key: `jax.random` key for "ransac" (folded with the chunk index); defaults to key 0.
        flip_perm: If given, the skeleton's left/right permutation: `repair_left_right_swaps` runs first.
        backend: "jax" (the jitted methods; the default), "numpy" (the same in float64 numpy, `numpy_applies`),
            "auto" (`choose_backend` on t x v x j: numpy for short inputs, else the fixed-rig kernels where
            `fixed_rig_applies`, else "jax") or "fixed_rig" (raises ValueError where the kernels do not apply).
            The kernels solve the DLT rows in inhomogeneous form, another estimator where the views disagree:
            on synthetic 1 px data the points agree with "jax" to float32 rounding, but on the Pose2Sim
            balancing trial the unrefined DLT differs by up to 153 mm and RANSAC keeps other views on 9 of
            2,500 joints (67 mm). Refined, the DLT agrees to 0.0007 mm (`tests/geometry/test_triangulate_real.py`).
            `lift3d triangulate` runs "auto" (`benchmarks/long_capture.py`).
        **options: Keyword options of the method, e.g. `threshold_px=20` for "ransac"; options prefixed
            `refine_` go to `refine_points` (`refine_robust="huber"`), `swap_` to `repair_left_right_swaps`
            (on the kernels, only `swap_min_gain_px` and `swap_min_relative_gain`).

    Returns:
        `SequenceResult` of numpy arrays over the t frames.
    """
    if method not in ("dlt", "ransac", "pose2sim"):
        raise ValueError(f"method must be 'dlt', 'ransac' or 'pose2sim', got {method!r}")
    if backend not in ("auto", "jax", "fixed_rig", "numpy"):
        raise ValueError(f"backend must be 'auto', 'jax', 'fixed_rig' or 'numpy', got {backend!r}")
    uv = np.asarray(points_2d)
    if uv.ndim != 4 or uv.shape[-1] != 2:
        raise ValueError(f"points_2d must have shape (t, v, j, 2), got {uv.shape}")
    t, v, j = uv.shape[:3]
    conf = np.ones((t, v, j), uv.dtype) if confidence is None else np.asarray(confidence)
    if conf.shape != (t, v, j):
        raise ValueError(f"confidence must have shape {(t, v, j)}, got {conf.shape}")
    if cameras.batch_shape != (v,):
        raise ValueError(f"cameras must have batch shape ({v},) like points_2d, got {cameras.batch_shape}")
    flip = None if flip_perm is None else tuple(int(i) for i in np.asarray(flip_perm))
    opts = tuple(sorted(options.items()))
    if method == "pose2sim":
        if backend == "fixed_rig":
            raise ValueError("the fixed-rig kernels do not apply to method='pose2sim'")
        return _pose2sim_sequence(cameras, uv, conf, refine, flip, options, int(chunk_size))
    if backend == "auto":
        backend = choose_backend(cameras, method, t * v * j, flip_perm, **options)
    if backend == "numpy":
        if not numpy_applies(cameras, method, **options):
            raise ValueError(f"backend='numpy' does not apply to method={method!r} with these cameras / options "
                             f"({sorted(options)}); use 'auto'")  # fmt: skip
        return SequenceResult(*_numpy_chunk(cameras, uv, conf, method, refine, flip, options))
    applies = fixed_rig_applies(cameras, method, flip_perm, **options)
    if backend == "fixed_rig" and not applies:
        raise ValueError(f"the fixed-rig kernels do not apply to method={method!r} with these cameras / options; "
                         "use backend='jax' or 'auto'")
    key = jax.random.key(0) if key is None else key
    fast = _triangulator(cameras, method, options) if backend != "jax" and applies else None
    chunk = min(int(chunk_size), 1 << max(t - 1, 0).bit_length())  # short inputs: a power of two, few shapes
    every_set = _swap_hypotheses(v) <= _MAX_SWAP_HYPOTHESES
    out = None
    for n, start in enumerate(range(0, t, chunk)):
        stop = min(start + chunk, t)
        pad = chunk - (stop - start)
        uv_c = np.concatenate([uv[start:stop], np.full((pad, v, j, 2), np.nan, uv.dtype)])
        conf_c = np.concatenate([conf[start:stop], np.zeros((pad, v, j), conf.dtype)])
        if fast is not None:
            swapped = np.zeros((chunk, v, j), bool)
            if flip is not None and every_set:  # every set of swapped views tried
                rep = _repair_swaps_jit(cameras, uv_c, conf_c, flip, _swap_options(opts))
                uv_c, conf_c, swapped = (np.asarray(a) for a in rep)
            X, info = fast(uv_c, conf_c, return_info=True)
            if flip is not None and not every_set:  # each view against the robust pose
                uv_c, conf_c, swapped = _repair_views(cameras, uv_c, conf_c, np.asarray(X), flip, options)
                if swapped.any():
                    X, info = fast(uv_c, conf_c, return_info=True)
            X, err = _finish_chunk(cameras, uv_c, conf_c, X, info.views_used, refine, _no_swap(opts))
            res = (X, err, info.num_views, info.views_used, swapped)
        else:
            res = _triangulate_chunk(jax.random.fold_in(key, n), cameras, uv_c, conf_c, method, refine, flip,
                                     opts)
        res = [np.asarray(r)[: stop - start] for r in res]
        if out is None:
            out = [np.empty((t, *r.shape[1:]), r.dtype) for r in res]
        for o, r in zip(out, res, strict=True):
            o[start:stop] = r
    return SequenceResult(*out)


def _pose2sim_sequence(cameras: Camera, uv: np.ndarray, conf: np.ndarray, refine: bool, flip, options: dict,
                       chunk: int) -> SequenceResult:
    """Method "pose2sim" of `triangulate_sequence`: Pose2Sim's float64 rule in chunks, then optional refinement."""
    if flip is not None:
        raise ValueError("method='pose2sim' reproduces Pose2Sim with handle_LR_swap = false: no flip_perm")
    opts = {k: v for k, v in options.items() if not k.startswith("refine_")}
    if not set(opts) <= _POSE2SIM_OPTIONS:
        raise ValueError(f"method='pose2sim' takes the options {sorted(_POSE2SIM_OPTIONS)} (and refine_*), got "
                         f"{sorted(set(opts) - _POSE2SIM_OPTIONS)}")
    t, v, j = uv.shape[:3]
    chunk = min(chunk, 1 << max(t - 1, 0).bit_length())
    refine_opts = tuple(sorted(item for item in options.items() if item[0].startswith("refine_")))
    out = (np.full((t, j, 3), np.nan), np.full((t, j), np.nan), np.zeros((t, j), np.int32),
           np.zeros((t, v, j), bool), np.zeros((t, v, j), bool))
    for start in range(0, t, chunk):
        stop = min(start + chunk, t)
        res = triangulate_pose2sim_exact(cameras, uv[start:stop], conf[start:stop], **opts)
        X, used = res.points_3d, res.views_used
        err = np.where(np.isfinite(X[..., 0]), res.mean_error_px, np.nan)
        if refine:
            pad = chunk - (stop - start)  # one compiled shape for every chunk
            uv_c = np.concatenate([uv[start:stop], np.full((pad, v, j, 2), np.nan, uv.dtype)])
            conf_c = np.concatenate([conf[start:stop], np.zeros((pad, v, j), conf.dtype)])
            X_c = np.concatenate([X, np.full((pad, j, 3), np.nan)]).astype(uv.dtype)
            used_c = np.concatenate([used, np.zeros((pad, v, j), bool)])
            X, err = (np.asarray(a)[: stop - start] for a in _finish_chunk(cameras, uv_c, conf_c, X_c, used_c,
                                                                              True, refine_opts))
        for o, r in zip(out, (X, err, res.num_views, used, np.zeros_like(used)), strict=True):
            o[start:stop] = r
    return SequenceResult(*out)
