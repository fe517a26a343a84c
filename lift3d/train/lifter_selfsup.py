"""Self-supervised fine-tuning of the lifter on a calibrated multi-camera capture's 2D detections (no 3D at all).

The idea of EpipolarPose / CanonPose: each view is lifted on its own; the lifted pose, carried into the other
cameras with the rig, must land on their detections. Per frame:

1. Lift every view i: root-relative joints ``p_i`` (j, 3) in camera i's frame, mm (`lift3d.models.lifter`).
2. Place it: ``X_i = R_i^T p_i + r``, with ``r`` the root (pelvis) triangulated from the 2D detections and the
   rig (`triangulate_dlt`; no 3D ground truth is used, only the 2D and the calibration).
3. Project ``X_i`` into every camera k (`project_points`, with lens distortion) and compare with view k's
   detections: a robust loss (Geman-McClure or Huber of the pixel distance over ``scale_px``) weighted by the
   detector's confidences. Including k = i (``include_own_view``) ties the lift to its own 2D too.
4. Priors: left/right bone-length symmetry, bone lengths constant over frames and views, the views' poses
   agreeing in world axes, and temporal smoothness (second differences over consecutive frames).

Optionally the supervised loss on the synthetic twin (`lift3d.train.data_pipeline.augment`) is mixed in with
weight ``w_supervised`` against drift. BatchNorm statistics stay frozen (the model runs in inference mode,
no dropout): a capture of 100 frames is too small to re-estimate them.

Entry point: ``train_and_evaluate(config, workdir)`` starting from a lifter checkpoint (the shipped one by
default): ``WORKDIR/metrics.jsonl``, orbax checkpoints (resume), ``WORKDIR/lifter/`` (an inference checkpoint
`lift3d lift --checkpoint WORKDIR/lifter` reads) and ``WORKDIR/results.json`` (single-view error of each view
against the reference 3D, before and after, on the training frames, the held-out frames and all frames).
The reference is the twin's ground truth (``source="twin"``) or the all-view triangulation of the capture's
own detections (``source="keypoints"``; detector-based, not ground truth).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lift3d.core.skeleton import H36M_17
from lift3d.errors import TrainingDataError
from lift3d.eval import metrics
from lift3d.geometry.camera import Camera, project_points, world_to_camera
from lift3d.io.atomic import write_json
from lift3d.models.lifter import Lifter, pixels_to_rays
from lift3d.predict.checkpoint import save_lifter
from lift3d.train import sharding
from lift3d.train.common import TrainRun, config_json, load_config_file

__all__ = ["SelfSupConfig", "CaptureData", "load_config", "load_capture", "robust_rho", "selfsup_terms"]
__all__ += ["train_and_evaluate", "evaluate_views", "capture_from_arrays"]


@dataclasses.dataclass(frozen=True)
class SelfSupConfig:
    """Everything a self-supervised fine-tuning run depends on.

    Start: ``init`` = a lifter checkpoint folder (None: the shipped one; ``"scratch"``: a fresh `Lifter` of
    ``width`` x ``num_blocks``). Data (``source``): ``"keypoints"`` = ``keypoints`` files read with
    ``skeleton`` and calibrated by ``rig`` (joints below ``min_confidence`` missing; per frame and view the most
    confident detection is the subject); frames ``[train_frames[0], train_frames[1])`` train, the others are
    held out (None: all train). ``"twin"`` = the synthetic twin's subject ``twin_subject``, 2D only (plus
    ``twin_noise_px`` of Gaussian noise), take 0 of each action trains, take 1 is held out.
    Loss: weights ``w_*`` of `selfsup_terms`' terms, ``robust`` in {"geman_mcclure", "huber", "l2"} at
    ``scale_px``; ``w_supervised`` > 0 mixes in the twin's supervised loss (``supervised_batch`` poses a step).
    Optimiser: Adam at ``learning_rate`` (cosine decay to 0 over ``steps``); a step sees ``windows`` random
    runs of ``window`` consecutive training frames (all views); ``drop_prob``: each joint is hidden from the
    lifter's input with this probability (the loss still compares with every detection); ``train_layers``:
    the top-level parameter groups that learn (e.g. ``("output_layer",)``; None: all); ``w_anchor``: weight of
    the squared distance of the weights from the starting ones (L2-SP), against forgetting.
    """

    name: str = "lifter_selfsup"
    seed: int = 0
    init: str | None = None
    width: int = 512
    num_blocks: int = 2
    source: str = "keypoints"
    keypoints: tuple[str, ...] = ()
    rig: str | None = None
    skeleton: str | None = None
    fps: float | None = None
    min_confidence: float = 0.3
    min_visible: int = 8
    train_frames: tuple[int, int] | None = None
    twin_subject: str = "S9"
    twin_actions: tuple[str, ...] | None = None
    twin_frames: int = 200
    twin_noise_px: float = 0.0
    data_seed: int = 0
    robust: str = "geman_mcclure"
    scale_px: float = 20.0
    include_own_view: bool = True
    w_reprojection: float = 1.0
    w_symmetry: float = 0.1
    w_bone_consistency: float = 0.1
    w_view_consistency: float = 0.0
    w_smoothness: float = 0.1
    w_supervised: float = 0.0
    drop_prob: float = 0.0
    w_anchor: float = 0.0
    train_layers: tuple[str, ...] | None = None
    supervised_batch: int = 256
    steps: int = 300
    learning_rate: float = 1e-4
    windows: int = 16
    window: int = 8
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_checkpoints: int = 1
    progress: bool = True

    def __post_init__(self):
        if self.source not in ("keypoints", "twin"):
            raise TrainingDataError(f"source {self.source!r}: use 'keypoints' or 'twin'")
        if self.robust not in ("geman_mcclure", "huber", "l2"):
            raise TrainingDataError(f"robust {self.robust!r}: use 'geman_mcclure', 'huber' or 'l2'")


def load_config(spec: str | os.PathLike) -> SelfSupConfig:
    """A `SelfSupConfig` from ``path/to/config.py[:variant]`` (its ``get_config(variant)``)."""
    return load_config_file(spec, SelfSupConfig)


# ----------------------------------------------------------------------------------------------------------
# Data


@dataclasses.dataclass(frozen=True)
class CaptureData:
    """A multi-view capture's 2D in the form the loss takes (n frames, v views, j = 17 H36M joints).

    Attributes:
        points_px: (n, v, j, 2) detections, distorted px; 0 where missing.
        confidence: (n, v, j) detector confidences; 0 = missing.
        rays: (n, v, j, 2) undistorted normalised rays; 0 where missing.
        root_world: (n, 3) root triangulated from the 2D, world mm; 0 where unknown (``root_ok`` False).
        root_ok: (n,) bool.
        next_ok: (n,) bool, frame n + 1 follows frame n in the same take (temporal priors).
        train: (n,) bool, the frames fine-tuning may see; the others are held out.
        reference: (n, j, 3) world mm (the twin's truth or the all-view triangulation), NaN where unknown.
        reference_kind: "truth" or "triangulation".
        cameras: `Camera` batch (v,), mm.
        views: Camera names.
        frame_ids: (n,) frame numbers (in their take).
    """

    points_px: np.ndarray
    confidence: np.ndarray
    rays: np.ndarray
    root_world: np.ndarray
    root_ok: np.ndarray
    next_ok: np.ndarray
    train: np.ndarray
    reference: np.ndarray
    reference_kind: str
    cameras: Camera
    views: tuple[str, ...]
    frame_ids: np.ndarray

    def __len__(self) -> int:
        return len(self.points_px)


def capture_from_arrays(
    points_px, confidence, cameras: Camera, views: Sequence[str], *, take=None, train=None, reference=None,
    reference_kind: str = "triangulation", frame_ids=None,
) -> CaptureData:  # fmt: skip
    """A `CaptureData` from H36M-17 2D of all views (roots triangulated here, from the 2D alone).

    Args:
        points_px: (n, v, 17, 2) px, NaN = missing. confidence: (n, v, 17), 0 = missing.
        cameras: (v,) cameras, world units mm. views: their names.
        take: (n,) take id of each frame (consecutive frames of one take are temporal neighbours); None: one take.
        train: (n,) bool frames to train on (None: all). reference: (n, 17, 3) world mm (None: the
            all-view confidence-weighted DLT of the 2D). frame_ids: (n,) (None: 0..n-1).

    Raises:
        TrainingDataError: Fewer than two views, or no frame whose root two views see.
    """
    from lift3d.geometry.triangulation import triangulate_dlt

    pts = np.asarray(points_px, np.float32)
    conf = np.where(np.isfinite(pts).all(-1), np.nan_to_num(np.asarray(confidence, np.float32)), 0.0)
    n, v = pts.shape[:2]
    if v < 2:
        raise TrainingDataError(f"self-supervised fine-tuning needs at least two calibrated views, got {list(views)}")
    X = np.asarray(triangulate_dlt(cameras, np.nan_to_num(pts), conf)[0], np.float32)  # (n, 17, 3)
    root = X[:, H36M_17.root]
    root_ok = np.isfinite(root).all(-1)
    if not root_ok.any():
        raise TrainingDataError(f"views {list(views)}: no frame where two views see the root (pelvis)")
    take = np.zeros(n, int) if take is None else np.asarray(take)
    next_ok = np.zeros(n, bool)
    next_ok[:-1] = (take[1:] == take[:-1]) & root_ok[1:] & root_ok[:-1]
    rays = np.asarray(pixels_to_rays(cameras, np.moveaxis(np.nan_to_num(pts), 1, 0).reshape(v, -1, 2)))
    rays = np.moveaxis(rays.reshape(v, n, -1, 2), 0, 1)
    ok = conf > 0
    return CaptureData(
        points_px=np.where(ok[..., None], pts, 0.0).astype(np.float32), confidence=conf,
        rays=np.where(ok[..., None], rays, 0.0).astype(np.float32), root_world=np.nan_to_num(root),
        root_ok=root_ok, next_ok=next_ok, train=np.ones(n, bool) if train is None else np.asarray(train, bool),
        reference=X if reference is None else np.asarray(reference, np.float32), reference_kind=reference_kind,
        cameras=cameras, views=tuple(views), frame_ids=np.arange(n) if frame_ids is None else np.asarray(frame_ids),
    )  # fmt: skip


def load_capture(config: SelfSupConfig) -> CaptureData:
    """The config's capture (see `SelfSupConfig` for the two sources and their train / held-out split).

    Raises:
        TrainingDataError: No keypoints or rig, a single camera, a train range outside the frames;
            CaptureInputError: a keypoint camera that is not in the rig (both name it).
    """
    return _load_twin(config) if config.source == "twin" else _load_keypoints(config)


def _load_keypoints(config: SelfSupConfig) -> CaptureData:
    from lift3d.core.keypoints import match_views
    from lift3d.core.skeleton import map_to_h36m
    from lift3d.io.keypoints import read_keypoints
    from lift3d.io.rigs import load_rig

    if not config.keypoints or config.rig is None:
        raise TrainingDataError("self-supervised fine-tuning on a capture needs its keypoints and its rig "
                                "(--keypoints, --rig)")  # fmt: skip
    kp = read_keypoints(list(config.keypoints), skeleton=config.skeleton, fps=config.fps)
    if kp.num_views < 2:
        raise TrainingDataError(f"self-supervised fine-tuning needs at least two cameras; the keypoints hold "
                                f"{kp.num_views}: {list(kp.views)}")  # fmt: skip
    kp, rig = match_views(kp, load_rig(config.rig))
    rig = rig.to_units("mm")
    conf = np.where(kp.confidence >= config.min_confidence, kp.confidence, 0.0)
    pts, c = (np.asarray(a) for a in map_to_h36m(kp.points, conf, kp.skeleton))  # (t, v, p, 17, ...)
    slot = np.argmax(c.mean(-1), axis=-1)[:, :, None]  # (t, v): the most confident detection
    pts = np.take_along_axis(pts, slot[..., None, None], 2)[:, :, 0]
    c = np.take_along_axis(c, slot[..., None], 2)[:, :, 0]
    n = len(pts)
    train = None
    if config.train_frames is not None:
        start, stop = config.train_frames
        if not 0 <= start < stop <= n:
            raise TrainingDataError(f"train_frames {config.train_frames}: the keypoints hold frames 0..{n - 1}")
        train = (np.arange(n) >= start) & (np.arange(n) < stop)
    return capture_from_arrays(pts, c, rig.cameras, rig.names, train=train, frame_ids=np.asarray(kp.frame_ids))


def _load_twin(config: SelfSupConfig) -> CaptureData:
    from lift3d.datasets.h36m import ACTIONS
    from lift3d.synthetic import twin

    ds = twin.make_dataset(jax.random.key(config.data_seed), subjects=(config.twin_subject,),
                           actions=config.twin_actions or ACTIONS, trials=2,
                           frames_per_sequence=config.twin_frames)  # fmt: skip
    rig = ds.rigs[config.twin_subject]
    seqs = list(ds.sequences)
    pts = np.concatenate([s.points_2d for s in seqs]).astype(np.float32)
    if config.twin_noise_px > 0:
        noise = np.random.default_rng(config.data_seed).normal(0.0, config.twin_noise_px, pts.shape)
        pts = (pts + noise).astype(np.float32)
    take = np.concatenate([np.full(len(s), i) for i, s in enumerate(seqs)])
    train = np.concatenate([np.full(len(s), s.name == s.action) for s in seqs])  # take 0 trains, take 1 held out
    truth = np.concatenate([s.points_3d for s in seqs])
    frames = np.concatenate([s.frames for s in seqs])
    return capture_from_arrays(pts, np.ones(pts.shape[:-1], np.float32), rig.cameras, rig.names, take=take,
                               train=train, reference=truth, reference_kind="truth", frame_ids=frames)  # fmt: skip


# ----------------------------------------------------------------------------------------------------------
# Losses (pure, batched over frames and views)


def robust_rho(distance: jax.Array, scale: float, kind: str) -> jax.Array:
    """A robust penalty of distances, in units of ``scale`` (0 at 0; ~``(d / scale)^2`` near 0).

    Args:
        distance: (...) non-negative distances (px).
        scale: Where the penalty stops growing quadratically (px).
        kind: "geman_mcclure" (``x^2 / (1 + x^2)``, bounded by 1), "huber" (``x^2 / 2`` then ``|x| - 1/2``)
            or "l2" (``x^2``), with ``x = distance / scale``.

    Returns:
        (...) penalties.
    """
    x2 = (distance / scale) ** 2
    if kind == "geman_mcclure":
        return x2 / (1.0 + x2)
    if kind == "huber":
        x = jnp.sqrt(x2 + 1e-12)
        return jnp.where(x <= 1.0, 0.5 * x2, x - 0.5)
    return x2


def selfsup_terms(
    pred_cam: jax.Array, pose_ok: jax.Array, root_world: jax.Array, root_ok: jax.Array, points_px: jax.Array,
    confidence: jax.Array, next_ok: jax.Array, cameras: Camera, *, robust: str = "geman_mcclure",
    scale_px: float = 20.0, include_own_view: bool = True,
) -> dict[str, jax.Array]:  # fmt: skip
    """The self-supervised loss terms of lifted poses of t consecutive frames seen by v cameras.

    Every term is a mean over the frames, views and joints it concerns, symmetric in the views (permuting the
    view axis of every argument leaves it unchanged).

    Args:
        pred_cam: (t, v, j, 3) lifted joints, root-relative (root = H36M-17's pelvis), camera frame, mm.
        pose_ok: (t, v) bool, poses that were lifted (enough visible joints).
        root_world: (t, 3) the root in the world, mm (from the 2D and the rig). root_ok: (t,) bool.
        points_px: (t, v, j, 2) detections, px. confidence: (t, v, j), 0 = missing.
        next_ok: (t,) bool, frame t + 1 follows frame t (the last entry is ignored).
        cameras: (v,) cameras, mm.
        robust, scale_px: `robust_rho`'s kind and scale (px).
        include_own_view: Compare each lift with its own view's detections as well.

    Returns:
        ``reprojection`` (robust, confidence-weighted, over (frame, lifted view, observing view, joint)),
        ``symmetry`` (squared relative difference of left / right bone lengths), ``bone_consistency`` (squared
        relative deviation of each bone from its mean over the poses), ``view_consistency`` (squared distance,
        m^2, of each view's pose in world axes from the views' mean), ``smoothness`` (squared second
        difference over consecutive frames in world axes, m^2), and ``reprojection_px`` (the confidence-weighted
        mean pixel distance, for logging).
    """
    t, v = pred_cam.shape[:2]
    R = jnp.asarray(cameras.R)
    ok = pose_ok & root_ok[:, None]  # (t, v)
    okf = ok.astype(pred_cam.dtype)
    rel_world = jnp.einsum("vki,tvjk->tvji", R, pred_cam)  # R_i^T p_i: world axes, root-relative
    world = rel_world + root_world[:, None, None, :]  # (t, i, j, 3)
    lifted = world[:, :, None]  # (t, i, 1, j, 3), projected into every camera k (broadcast over k)
    depth = world_to_camera(cameras, lifted)[..., 2]  # (t, i, k, j)
    uv = project_points(cameras, lifted)  # (t, i, k, j, 2)
    dist = jnp.sqrt(jnp.sum((uv - points_px[:, None]) ** 2, -1) + 1e-6)
    w = confidence[:, None] * okf[:, :, None, None] * (depth > 1.0)
    if not include_own_view:
        w = w * (1.0 - jnp.eye(v, dtype=w.dtype))[None, :, :, None]
    wsum = jnp.maximum(jnp.sum(w), 1e-6)
    rho = robust_rho(jnp.where(w > 0, dist, 0.0), scale_px, robust)
    reprojection = jnp.sum(w * rho) / wsum
    reprojection_px = jnp.sum(w * jnp.where(w > 0, dist, 0.0)) / wsum

    parents = np.asarray(H36M_17.parents)
    child = np.flatnonzero(parents >= 0)
    bones = jnp.sqrt(jnp.sum((pred_cam[..., child, :] - pred_cam[..., parents[child], :]) ** 2, -1) + 1e-6)
    pos = {int(c): i for i, c in enumerate(child)}
    left = np.asarray([pos[a] for a, _ in H36M_17.left_right])
    right = np.asarray([pos[b] for _, b in H36M_17.left_right])
    bl, br = bones[..., left], bones[..., right]
    sym = ((bl - br) / (0.5 * (bl + br) + 1e-3)) ** 2
    n_ok = jnp.maximum(jnp.sum(okf), 1.0)
    symmetry = jnp.sum(sym * okf[..., None]) / (n_ok * len(left))
    mean_bone = jnp.sum(bones * okf[..., None], (0, 1)) / n_ok
    dev = ((bones - mean_bone) / (mean_bone + 1e-3)) ** 2
    bone_consistency = jnp.sum(dev * okf[..., None]) / (n_ok * len(child))

    n_views = jnp.maximum(jnp.sum(okf, 1, keepdims=True), 1.0)  # (t, 1)
    mean_pose = jnp.sum(rel_world * okf[..., None, None], 1, keepdims=True) / n_views[..., None, None]
    spread = jnp.sum((rel_world - mean_pose) ** 2, -1) / 1e6  # (t, v, j) m^2
    view_ok = okf * (n_views > 1.5)
    view_consistency = jnp.sum(spread * view_ok[..., None]) / (jnp.maximum(jnp.sum(view_ok), 1.0) * spread.shape[-1])

    acc = rel_world[2:] - 2.0 * rel_world[1:-1] + rel_world[:-2]  # (t - 2, v, j, 3)
    acc_ok = (next_ok[:-2] & next_ok[1:-1])[:, None] & ok[2:] & ok[1:-1] & ok[:-2]
    accf = acc_ok.astype(pred_cam.dtype)
    smooth = jnp.sum(jnp.sum(acc**2, -1) / 1e6 * accf[..., None]) / (jnp.maximum(jnp.sum(accf), 1.0) * acc.shape[2])
    return {"reprojection": reprojection, "symmetry": symmetry, "bone_consistency": bone_consistency,
            "view_consistency": view_consistency, "smoothness": smooth, "reprojection_px": reprojection_px}  # fmt: skip


_WEIGHTED = ("reprojection", "symmetry", "bone_consistency", "view_consistency", "smoothness")


def _weights(config: SelfSupConfig) -> dict[str, float]:
    return {k: getattr(config, f"w_{k}") for k in _WEIGHTED}


# ----------------------------------------------------------------------------------------------------------
# Model, steps, evaluation


def _initial_model(config: SelfSupConfig) -> tuple[Any, dict, dict, dict]:
    """``(graphdef, params, batch_stats, model_kwargs)`` of the starting lifter (float32)."""
    if config.init == "scratch":
        kwargs = dict(num_joints=H36M_17.num_joints, root_index=H36M_17.root, width=config.width,
                      num_blocks=config.num_blocks)  # fmt: skip
        graphdef, params, stats = nnx.split(Lifter(**kwargs, rngs=nnx.Rngs(params=jax.random.key(config.seed))),
                                            nnx.Param, nnx.BatchStat)  # fmt: skip
        return graphdef, nnx.to_pure_dict(params), nnx.to_pure_dict(stats), kwargs
    from lift3d.predict.lifter import load_lifter

    loaded = load_lifter(config.init)
    if loaded.skeleton.name != H36M_17.name:
        raise TrainingDataError(f"{loaded.path}: a lifter of skeleton {loaded.skeleton.name!r}; fine-tuning takes "
                                "an H36M-17 lifter")  # fmt: skip
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), loaded.params)
    return loaded.graphdef, params, loaded.batch_stats, dict(loaded.meta["model"])


@functools.partial(jax.jit, static_argnums=(0,))
def _lift(graphdef, params, batch_stats, rays, visible):
    """(n, v, j, 2) rays -> (n, v, j, 3) lifted joints (inference mode)."""
    model = nnx.merge(graphdef, params, batch_stats)
    n, v, j = rays.shape[:3]
    pred, _ = model(rays.reshape(n * v, j, 2), visible.reshape(n * v, j), train=False)
    return pred.reshape(n, v, j, 3)


def _make_step(config: SelfSupConfig, graphdef, batch_stats, tx, cameras: Camera) -> Callable:
    """The jitted step ``(state, batch, sup) -> (state, metrics)``; batch = the windows' arrays (w, L, ...)."""
    weights = _weights(config)
    terms_fn = functools.partial(selfsup_terms, robust=config.robust, scale_px=config.scale_px,
                                 include_own_view=config.include_own_view)  # fmt: skip
    aug_kwargs = None
    if config.w_supervised > 0:
        from lift3d.train.lifter_trainer import LifterConfig

        aug_kwargs = LifterConfig().augment_kwargs()

    def loss_fn(params, batch, sup, key, start):
        k_drop, key = jax.random.split(key)
        keep = jax.random.bernoulli(k_drop, 1.0 - config.drop_prob, batch["visible"].shape)
        batch = dict(batch, visible=batch["visible"] & keep)

        def window_terms(b):
            pred = _lift(graphdef, params, batch_stats, b["rays"], b["visible"])
            return terms_fn(pred, b["pose_ok"], b["root_world"], b["root_ok"], b["points_px"], b["confidence"],
                            b["next_ok"], cameras)  # fmt: skip

        terms = jax.tree.map(jnp.mean, jax.vmap(window_terms)(batch))
        total = sum(weights[k] * terms[k] for k in _WEIGHTED)
        if aug_kwargs is not None:
            from lift3d.train.data_pipeline import augment

            rays, visible, target = augment(key, sup["points_camera"], sup["up"], **aug_kwargs)
            pred, _ = nnx.merge(graphdef, params, batch_stats)(rays, visible, train=False)
            terms["supervised"] = jnp.mean((pred - target) ** 2) / 1e6
            total = total + config.w_supervised * terms["supervised"]
        if config.w_anchor > 0:
            sq = jax.tree.map(lambda a, b: jnp.sum((a - b) ** 2), params, start)
            terms["anchor"] = sum(jax.tree_util.tree_leaves(sq))
            total = total + config.w_anchor * terms["anchor"]
        return total, terms

    def step(state, batch, sup):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["step"])
        (total, terms), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"], batch, sup, key,
                                                                          state["start"])  # fmt: skip
        if config.train_layers is not None:
            grads = {k: g if k in config.train_layers else jax.tree.map(jnp.zeros_like, g) for k, g in grads.items()}
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        return dict(state, params=params, opt_state=opt_state, step=state["step"] + 1), {"loss": total, **terms}

    return jax.jit(step, donate_argnums=0)


def _batch_arrays(data: CaptureData, min_visible: int) -> dict[str, np.ndarray]:
    vis = data.confidence > 0
    return {"rays": data.rays, "visible": vis, "pose_ok": vis.sum(-1) >= min_visible, "root_world": data.root_world,
            "root_ok": data.root_ok, "points_px": data.points_px, "confidence": data.confidence,
            "next_ok": data.next_ok}  # fmt: skip


def evaluate_views(pred_cam: np.ndarray, data: CaptureData, frames: np.ndarray, *, min_visible: int = 8) -> dict:
    """Single-view error of each view's lift against the reference 3D, on the chosen frames.

    Args:
        pred_cam: (n, v, j, 3) lifted joints, camera frame, mm. data: the capture (its ``reference``).
        frames: (n,) bool, the frames to judge.
        min_visible: Poses with fewer visible joints are not judged (as `lift3d lift` does not lift them).

    Returns:
        ``{"views": {name: {"p1_mm", "p2_mm", "frames"}}, "p1_mm", "p2_mm"}`` (the means over the views), or
        ``{}`` when no frame is chosen.
    """
    if not frames.any():
        return {}
    R, t = np.asarray(data.cameras.R), np.asarray(data.cameras.t)
    ref = np.einsum("vik,njk->nvji", R, data.reference) + t[None, :, None]  # (n, v, j, 3) camera mm
    posed = (data.confidence > 0).sum(-1) >= min_visible
    rows = {}
    for i, name in enumerate(data.views):
        p, g = pred_cam[frames, i], ref[frames, i]
        ok = np.isfinite(p).all(-1) & np.isfinite(g).all(-1) & posed[frames, i][:, None]
        rows[name] = {"p1_mm": float(metrics.mpjpe(p, g, mask=ok)), "p2_mm": float(metrics.p_mpjpe(p, g, mask=ok)),
                      "frames": int(ok.all(-1).sum())}  # fmt: skip
    return {"views": rows, "p1_mm": float(np.mean([r["p1_mm"] for r in rows.values()])),
            "p2_mm": float(np.mean([r["p2_mm"] for r in rows.values()]))}  # fmt: skip


def _evaluate_all(graphdef, params, batch_stats, data: CaptureData, min_visible: int) -> dict:
    vis = data.confidence > 0
    pred = np.asarray(_lift(graphdef, params, batch_stats, jnp.asarray(data.rays), jnp.asarray(vis)))
    splits = {"train": data.train, "held_out": ~data.train, "all": np.ones(len(data), bool)}
    return {k: evaluate_views(pred, data, m, min_visible=min_visible) for k, m in splits.items()}


def _supervised_samples(config: SelfSupConfig):
    from lift3d.train.lifter_trainer import LifterConfig, load_data

    train, _ = load_data(LifterConfig(trials=1, frames_per_sequence=200, train_every=2, test_every=50))
    return train


def _window_starts(key: jax.Array, step: int, n: int, windows: int, window: int) -> np.ndarray:
    """Random window starts among n training frames (a function of the key and the step)."""
    k = jax.random.fold_in(key, step)
    return np.asarray(jax.random.randint(k, (windows,), 0, max(n - window, 0) + 1))


def train_and_evaluate(config: SelfSupConfig, workdir: str | os.PathLike) -> dict:
    """Fine-tune a lifter on a capture's 2D alone (resuming from ``workdir``'s latest checkpoint).

    Args:
        config: The run's `SelfSupConfig`.
        workdir: Output folder: config.json, metrics.jsonl, checkpoints/, lifter/, results.json.

    Returns:
        ``{"before": ..., "after": ...}`` (each `evaluate_views` on the ``train``, ``held_out`` and ``all``
        frames), ``reference``, ``steps``, ``train_time_s``, ``train_frames``, ``held_out_frames``.

    Raises:
        TrainingDataError, CaptureInputError: Bad input (see `load_capture`); CheckpointError: another run's
            workdir or an unreadable starting checkpoint.
    """
    data = load_capture(config)
    graphdef, params, batch_stats, model_kwargs = _initial_model(config)
    train = _subset(data, data.train)
    if len(train) < config.window:
        raise TrainingDataError(f"{len(train)} training frames, fewer than one window of {config.window}")
    run = TrainRun(workdir, config, keep_checkpoints=config.keep_checkpoints)
    mesh = sharding.make_mesh(1)
    before = _evaluate_all(graphdef, params, batch_stats, data, config.min_visible)
    schedule = optax.cosine_decay_schedule(config.learning_rate, max(config.steps, 1))
    tx = optax.adam(schedule)
    key = jax.random.key(config.seed)
    start_params = jax.tree.map(jnp.array, params) if config.w_anchor > 0 else {}
    state = {"params": params, "start": start_params, "opt_state": tx.init(params), "step": jnp.asarray(0, jnp.int32),
             "key": np.array(jax.random.key_data(key))}  # fmt: skip
    step_fn = _make_step(config, graphdef, batch_stats, tx, data.cameras)
    arrays = _batch_arrays(train, config.min_visible)
    sup_data = _supervised_samples(config) if config.w_supervised > 0 else None
    offsets = np.arange(config.window)
    k_windows, k_sup = jax.random.split(jax.random.fold_in(key, 1))
    t0 = time.perf_counter()
    with run:
        state, _ = run.resume(state, mesh)
        start = int(state["step"])
        run.start(config.steps, start)
        for step in range(start, config.steps):
            idx = _window_starts(k_windows, step, len(train), config.windows, config.window)[:, None] + offsets
            idx = np.minimum(idx, len(train) - 1)
            batch = {k: a[idx] for k, a in arrays.items()}
            sup = {}
            if sup_data is not None:
                rows = np.asarray(jax.random.randint(jax.random.fold_in(k_sup, step), (config.supervised_batch,),
                                                     0, len(sup_data)))  # fmt: skip
                sup = {"points_camera": sup_data.points_camera[rows], "up": sup_data.up[rows]}
            state, out = step_fn(state, batch, sup)
            done = step + 1
            vals = run.record(done, out, log=done % config.log_every == 0 or done == config.steps,
                              epoch=done / config.steps, lr=float(schedule(done)))  # fmt: skip
            if vals is not None:
                run.show(loss=f"{vals['loss']:.4f}", px=f"{vals['reprojection_px']:.1f}")
            if done % config.checkpoint_every == 0 or done == config.steps:
                run.save(done, state, {"config": config_json(config)})
    train_time = time.perf_counter() - t0
    after = _evaluate_all(graphdef, state["params"], batch_stats, data, config.min_visible)
    run.log({"step": config.steps, "epoch": 1.0, "split": "test", **_flat(after)})
    results = {"before": before, "after": after, "reference": data.reference_kind, "steps": config.steps,
               "train_time_s": train_time, "train_frames": int(data.train.sum()),
               "held_out_frames": int((~data.train).sum()), "views": list(data.views)}  # fmt: skip
    save_lifter(run.workdir / "lifter", params=jax.device_get(state["params"]), batch_stats=batch_stats,
                model_kwargs=model_kwargs,
                info={"skeleton": H36M_17.name, "config": config_json(config), "step": config.steps,
                      "made_by": "lift3d.train.lifter_selfsup (self-supervised, 2D + rig only)",
                      "metrics": _flat(after)})  # fmt: skip
    write_json(run.workdir / "results.json", results)
    return results


def _flat(ev: dict) -> dict:
    """``{split_p1_mm, split_p2_mm}`` of `_evaluate_all`'s result."""
    return {f"{s}_{k}": r[k] for s, r in ev.items() if r for k in ("p1_mm", "p2_mm")}


def _subset(data: CaptureData, mask: np.ndarray) -> CaptureData:
    """The frames of `mask` (temporal links kept only between frames that stay neighbours)."""
    idx = np.flatnonzero(mask)
    nxt = data.next_ok[idx] & np.append(idx[1:] == idx[:-1] + 1, False)
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    per_frame = ("points_px", "confidence", "rays", "root_world", "root_ok", "train", "reference", "frame_ids")
    return dataclasses.replace(data, **{k: fields[k][idx] for k in per_frame}, next_ok=nxt)
