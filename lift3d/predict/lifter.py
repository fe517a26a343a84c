"""Lift 2D detections of one view to 3D with a trained residual MLP (`lift3d.models.lifter`): real use.

Pipeline (`lift3d.apps.lift.run_lift` = read + `lift_keypoints` + write):

1. Read keypoints (`lift3d.io.keypoints.read_keypoints`: OpenPose JSON folders, COCO, DLC, npz, ...).
2. Map the detector's skeleton to the checkpoint's (H36M-17 via `lift3d.core.skeleton.map_to_h36m`). A joint with
   confidence below `min_confidence` (default 0.3, Pose2Sim's threshold) or undetected is *missing*.
3. Pixels to rays: with a rig, undistort and apply K^-1 of each view's camera (exact). Without one,
   ``image_size`` (w, h) gives a pinhole with the principal point at the centre and ``focal_px``
   (default max(w, h), ~53 degrees across the long side); with neither, each pose is taken to lie on the
   optical axis. The lifter's perspective crop and centring make its output independent of the focal
   length and principal point except for the small rotation that says how far off-axis the person is, so
   the fallbacks cost little in P-MPJPE (rotation-free) and a few degrees of camera-frame orientation.
4. Lift every detection slot of every frame and view (or the chosen views). Missing joints are fed as the
   model was trained to take them (zeros with a 0 "visible" flag) and their 3D is still predicted; a pose
   with fewer than `min_visible` visible joints (default 8 of 17) is not lifted (NaN).
5. Write ``.npz`` (always the full result, see `write_lift_npz`) and, for ``.trc`` / ``.c3d`` / ``.csv``,
   one person's trajectories via `lift3d.io.motion.write_motion` (markers ``<view>_<joint>`` when
   several views are written; world axes when a rig is given, else camera axes; root at the origin).

Output frame: root-relative (pelvis = 0) joints in each camera's frame, mm (OpenCV axes). With a rig,
``points_3d_world`` also gives them rotated into world axes (still root-relative: one view cannot tell
where the person is). Detection slots are not identities (OpenPose orders people per frame).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lift3d.core.rig import Rig
from lift3d.core.skeleton import Skeleton, get_skeleton, map_to_h36m
from lift3d.errors import (
    CheckpointError,
    LiftInputError,  # noqa: F401  (re-exported)
)
from lift3d.geometry.association import MIN_CONFIDENCE
from lift3d.io.atomic import atomic_write
from lift3d.models.lifter import Lifter, apply_folded, fold_batch_norm, pixels_to_rays
from lift3d.predict.checkpoint import load_lifter_weights, read_lifter_meta

__all__ = ["LoadedLifter", "LiftResult", "LiftInputError", "default_checkpoint", "load_lifter", "lift_rays"]
__all__ += ["format_lift_summary", "lift_keypoints", "write_lift_npz"]


def default_checkpoint() -> Path:
    """The checkpoint shipped with lift3d (the twin, DeepMimic clips and the pose prior; see its ``lifter.json``)."""
    return Path(str(resources.files("lift3d").joinpath("checkpoints", "lifter")))


@dataclasses.dataclass(frozen=True, eq=False)
class LoadedLifter:
    """A lifter ready for inference.

    Attributes:
        graphdef, params, batch_stats: The split `Lifter` (params possibly bfloat16).
        layers: The inference network with BatchNorm folded in (`fold_batch_norm`), what `lift_rays` runs.
        skeleton: The joints it lifts.
        meta: The checkpoint's ``lifter.json``.
        path: Where it was read from.
    """

    graphdef: object
    params: dict
    batch_stats: dict
    layers: list
    skeleton: Skeleton
    meta: dict
    path: Path


def load_lifter(checkpoint: str | os.PathLike | None = None, *, weights_dtype: str | None = None) -> LoadedLifter:
    """Read an inference checkpoint (`lift3d.predict.checkpoint.save_lifter`'s folder).

    Args:
        checkpoint: Folder; None = the shipped `default_checkpoint`.
        weights_dtype: Cast the weights ("float32", "bfloat16"); None keeps the stored dtype.

    Raises:
        CheckpointError: Missing or foreign files, weights that do not match the stored hyper-parameters.
    """
    path = default_checkpoint() if checkpoint is None else Path(checkpoint)
    if not path.is_dir():
        what = "is a file, not a checkpoint folder" if path.exists() else "checkpoint folder not found"
        raise CheckpointError(f"{path}: {what}")
    meta = read_lifter_meta(path)
    try:
        model = Lifter(**meta["model"], rngs=nnx.Rngs(0))
    except TypeError as err:
        raise CheckpointError(f"{path}/lifter.json: bad model hyper-parameters ({err})") from err
    graphdef, params, batch_stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    like = {"params": nnx.to_pure_dict(params), "batch_stats": nnx.to_pure_dict(batch_stats)}
    weights, meta = load_lifter_weights(path, like)
    params = weights["params"]
    if weights_dtype is not None:
        params = jax.tree.map(lambda a: jnp.asarray(a, weights_dtype), params)
    dtype = jax.tree_util.tree_leaves(params)[0].dtype
    f32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    layers = [(w.astype(dtype), b) for w, b in fold_batch_norm(f32, weights["batch_stats"])]
    skeleton = get_skeleton(meta["skeleton"])
    if skeleton.num_joints != meta["model"].get("num_joints", 17):
        raise CheckpointError(f"{path}/lifter.json: skeleton {skeleton.name!r} does not have num_joints joints")
    return LoadedLifter(graphdef, params, weights["batch_stats"], layers, skeleton, meta, path)


@functools.partial(jax.jit, static_argnames=("root_index", "output_scale_mm"))
def _forward(layers, rays, visible, *, root_index, output_scale_mm):
    return apply_folded(layers, rays, visible, root_index=root_index, output_scale_mm=output_scale_mm)


def lift_rays(lifter: LoadedLifter, rays, visible=None, *, min_visible: int = 8, batch_size: int = 1024) -> np.ndarray:
    """Lift poses given as rays.

    Args:
        lifter: `load_lifter`'s result.
        rays: (..., j, 2) undistorted normalised coordinates ``(X/Z, Y/Z)``; NaN = missing joint.
        visible: Optional (..., j) bool; False = missing joint.
        min_visible: Poses with fewer visible joints come out NaN.
        batch_size: Poses per call (the last batch is padded: one compiled shape).

    Returns:
        (..., j, 3) root-relative joints in the camera frame, mm, float32; NaN for poses not lifted.

    Raises:
        LiftInputError: If the joint count is not the lifter's.
    """
    rays = np.asarray(rays, np.float32)
    j = lifter.skeleton.num_joints
    if rays.ndim < 2 or rays.shape[-2:] != (j, 2):
        raise LiftInputError(
            f"rays must have shape (..., {j}, 2) for the lifter's skeleton {lifter.skeleton.name!r}, got {rays.shape}"
        )
    lead = rays.shape[:-2]
    flat = rays.reshape(-1, j, 2)
    vis = np.all(np.isfinite(flat), -1)
    if visible is not None:
        vis &= np.broadcast_to(np.asarray(visible, bool), lead + (j,)).reshape(-1, j)
    n = len(flat)
    out = np.full((n, j, 3), np.nan, np.float32)
    ok = vis.sum(-1) >= min_visible
    idx = np.flatnonzero(ok)
    size = max(1, min(batch_size, len(idx)))
    for s in range(0, len(idx), size):
        sel = idx[s : s + size]
        r = np.zeros((size, j, 2), np.float32)
        v = np.zeros((size, j), bool)
        r[: len(sel)] = np.where(vis[sel, :, None], flat[sel], 0.0)
        v[: len(sel)] = vis[sel]
        pred = _forward(
            lifter.layers,
            r,
            v,
            root_index=int(lifter.meta["model"].get("root_index", 0)),
            output_scale_mm=float(lifter.meta["model"].get("output_scale_mm", 1000.0)),
        )
        out[sel] = np.asarray(pred)[: len(sel)]
    return out.reshape(*lead, j, 3)


@dataclasses.dataclass(frozen=True, eq=False)
class LiftResult:
    """Lifted 3D of every frame, view and detection slot.

    Attributes:
        points_3d: (t, v, p, j, 3) root-relative joints in each camera's frame, mm; NaN where not lifted.
        visible: (t, v, p, j) bool, the joints that were fed as visible.
        points_3d_world: (t, v, p, j, 3) the same rotated into world axes (needs a rig), else None.
        views, frame_ids, skeleton: As in the keypoints (skeleton: the lifter's).
        intrinsics: "rig", "image_size" or "none" (see the module doc).
        fps: Frame rate if known.
    """

    points_3d: np.ndarray
    visible: np.ndarray
    points_3d_world: np.ndarray | None
    views: tuple[str, ...]
    frame_ids: np.ndarray
    skeleton: Skeleton
    intrinsics: str
    fps: float | None = None


def _match_rig(rig: Rig, views: Sequence[str]) -> Rig:
    """The rig's cameras in the keypoints' view order (`Rig.match`), as a `LiftInputError` when they differ."""
    try:
        return rig.match(views)
    except KeyError as err:
        raise LiftInputError(f"rig cameras {list(rig.names)} do not match the keypoint views {list(views)}") from err


def _select_views(keypoints, views: Sequence[str], rig: Rig | None):
    """The chosen views of the keypoints, as a `LiftInputError` naming the views (and rig cameras) there are."""
    missing = [name for name in views if name not in keypoints.views]
    if missing:
        cameras = f"; rig cameras: {', '.join(rig.names)}" if rig is not None else ""
        raise LiftInputError(f"--views: no view {missing[0]!r} in the keypoints (views: {', '.join(keypoints.views)})"
                             f"{cameras}")  # fmt: skip
    return keypoints.select_views(list(views))


def _map_joints(points, confidence, source: Skeleton, target: Skeleton):
    if source.name == target.name:
        pts = np.asarray(points, np.float32)
        conf = np.asarray(confidence, np.float32)
        ok = np.all(np.isfinite(pts), -1) & (conf > 0)
        return np.where(ok[..., None], pts, np.nan), np.where(ok, conf, 0.0)
    if target.name != "h36m":
        raise LiftInputError(
            f"the lifter expects skeleton {target.name!r}; keypoints are {source.name!r} and only mappings "
            "to 'h36m' exist"
        )
    try:
        pts, conf = map_to_h36m(points, confidence, source)
    except (KeyError, ValueError) as err:
        raise LiftInputError(f"cannot map keypoints of skeleton {source.name!r} to H36M-17: {err}") from err
    return np.asarray(pts), np.asarray(conf)


def lift_keypoints(
    keypoints,
    *,
    checkpoint: str | os.PathLike | LoadedLifter | None = None,
    rig: Rig | None = None,
    views: Sequence[str] | None = None,
    image_size: tuple[float, float] | None = None,
    focal_px: float | None = None,
    min_confidence: float = MIN_CONFIDENCE,
    min_visible: int = 8,
) -> LiftResult:
    """Lift every detection of a `Keypoints2D` (see the module doc for each step).

    Args:
        keypoints: `lift3d.core.keypoints.Keypoints2D` (points (t, v, p, J, 2) px, confidence (t, v, p, J)).
        checkpoint: Folder, an already loaded lifter, or None (shipped checkpoint).
        rig: Cameras of the views (matched by name); gives exact rays and world axes.
        views: Views to lift (default all).
        image_size: (width, height) px when there is no rig.
        focal_px: Focal length when there is no rig (default max(image_size)).
        min_confidence: Joints below it are missing.
        min_visible: Poses with fewer visible mapped joints are not lifted.

    Returns:
        `LiftResult`.

    Raises:
        LiftInputError: No frames, unknown views, a skeleton that cannot be mapped, a rig that does not match.
    """
    kp = keypoints if views is None else _select_views(keypoints, views, rig)
    lifter = checkpoint if isinstance(checkpoint, LoadedLifter) else load_lifter(checkpoint)
    if kp.num_frames == 0 or kp.num_people == 0:
        raise LiftInputError(f"no detections to lift in {list(kp.source) or 'the keypoints'}")
    conf = np.where(kp.confidence >= min_confidence, kp.confidence, 0.0)
    pts, conf = _map_joints(kp.points, conf, kp.skeleton, lifter.skeleton)  # (t, v, p, j, 2)
    t, v, p, j = pts.shape[:4]
    visible = conf > 0
    pts = np.where(visible[..., None], pts, np.nan)
    world = None
    if rig is not None:
        rig = _match_rig(rig, kp.views)
        uv = np.moveaxis(pts, 1, 0).reshape(v, -1, 2)  # (v, t p j, 2)
        rays = np.asarray(pixels_to_rays(rig.cameras, uv)).reshape(v, t, p, j, 2)
        rays, source = np.moveaxis(rays, 0, 1), "rig"
    elif image_size is not None:
        w, h = (float(x) for x in image_size)
        f = float(focal_px) if focal_px is not None else max(w, h)
        rays, source = (pts - np.array([(w - 1) / 2, (h - 1) / 2], np.float32)) / f, "image_size"
    else:
        count = np.maximum(visible.sum(-1), 1)[..., None, None]
        centroid = np.where(visible[..., None], pts, 0.0).sum(-2, keepdims=True) / count
        rays, source = (pts - centroid) / 1000.0, "none"  # on the optical axis; the scale drops out
    out = lift_rays(lifter, rays, visible, min_visible=min_visible)
    if rig is not None:
        R = np.asarray(rig.cameras.R, np.float64)  # (v, 3, 3) world -> camera
        world = np.einsum("vki,tvpjk->tvpji", R, out.astype(np.float64)).astype(np.float32)
    return LiftResult(out, visible, world, kp.views, kp.frame_ids, lifter.skeleton, source, kp.fps)


def format_lift_summary(result: LiftResult) -> str:
    """A per-view table of what was lifted: frames, poses lifted / skipped, mean visible joints.

    Args:
        result: A `LiftResult`.

    Returns:
        Lines of text (no trailing newline); poses are (frame, detection slot) pairs with any visible joint.
    """
    j = result.visible.shape[-1]
    lines = [f"{'view':<12}{'frames':>8}{'poses lifted':>14}{'skipped':>9}{'joints seen':>13}"]
    for i, view in enumerate(result.views):
        vis = result.visible[:, i]  # (t, p, j)
        detected = vis.any(-1)
        lifted = np.isfinite(result.points_3d[:, i]).all((-1, -2))
        seen = vis.sum(-1)[lifted].mean() if lifted.any() else 0.0
        lines.append(f"{view:<12}{vis.shape[0]:>8}{int(lifted.sum()):>14}{int((detected & ~lifted).sum()):>9}"
                     f"{seen:>10.1f}/{j}")  # fmt: skip
    return "\n".join(lines)


def write_lift_npz(path: str | os.PathLike, result: LiftResult, **extra) -> Path:
    """Write a `LiftResult` as ``.npz`` atomically.

    Fields: ``points_3d`` (t, v, p, j, 3) mm camera frame, root-relative; ``visible`` (t, v, p, j);
    ``points_3d_world`` (with a rig); ``joint_names``, ``views``, ``frame_ids``, ``units`` ("mm"),
    ``frame`` ("camera, root-relative"), ``intrinsics``, ``fps`` (NaN if unknown), plus `extra`.
    """
    data = dict(
        points_3d=result.points_3d, visible=result.visible, joint_names=np.asarray(result.skeleton.joints),
        views=np.asarray(result.views), frame_ids=result.frame_ids, units=np.asarray("mm"),
        frame=np.asarray("camera, root-relative"), intrinsics=np.asarray(result.intrinsics),
        fps=np.asarray(np.nan if result.fps is None else result.fps),
        **{k: np.asarray(x) for k, x in extra.items()},
    )  # fmt: skip
    if result.points_3d_world is not None:
        data["points_3d_world"] = result.points_3d_world
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **data)
    return Path(path)
