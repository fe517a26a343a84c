"""Learnable triangulation after training: prediction, test-set evaluation, inference checkpoints.

`evaluate` runs a model over a dataset's test split (the data contract of `lift3d.train.lt_trainer`) and
scores it (`score_predictions`: MPJPE absolute and root-aligned, PCK3D, occluded / visible joints apart);
`predict` and `predict_keypoints_2d` run it on one batch; `save_model` / `load_model` write and read the
inference checkpoint ``WORKDIR/model/`` (``model.json`` + orbax weights) that the trainer leaves.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from lift3d.errors import CheckpointError
from lift3d.eval import metrics
from lift3d.io.atomic import write_json
from lift3d.models.algebraic import sanitize_images
from lift3d.models.heatmaps import argmax_2d, heatmap_to_image
from lift3d.train import sharding
from lift3d.train.lt_config import MODELS, LTConfig

__all__ = ["forward", "predict", "predict_keypoints_2d", "evaluate", "score_predictions", "load_centers"]
__all__ += ["save_model", "load_model", "MODEL_FORMAT"]

MODEL_FORMAT = "lift3d-learnable-triangulation/1"
"""The ``format`` of an inference checkpoint's ``model.json``."""


@functools.partial(jax.jit, static_argnums=(0,))
def forward(graphdef, params, batch_stats, images, proj, view_mask, center):
    """The jitted eval-mode forward pass of a split model (what `predict` runs; ``forward.lower`` compiles it).

    Args:
        graphdef, params, batch_stats: The model, split (``nnx.split(model, nnx.Param, nnx.BatchStat)``,
            the state as pure dicts).
        images: (b, v, H, W, 3) normalised images, float32.
        proj: (b, v, 3, 4) projection matrices into the images' pixels (world mm).
        view_mask: (b, v) bool.
        center: (b, 3) cuboid centres, mm (volumetric; the algebraic model ignores them).

    Returns:
        (b, j, 3) joints, world mm.
    """
    model = nnx.merge(graphdef, params, batch_stats)
    return model(images, proj, view_mask, center, train=False)[0]


def predict(graphdef, params, batch_stats, batch: dict, center: np.ndarray | None = None, *, mesh=None) -> np.ndarray:
    """Joints (b, j, 3) mm of one batch (eval mode; volumetric: `center` or the batch's pelvis, no rotation)."""
    inputs = (batch["images"], batch["proj"], batch["view_mask"], batch["pelvis"] if center is None else center)
    inputs = tuple(np.asarray(x, np.float32) if x.dtype != bool else x for x in map(np.asarray, inputs))
    if mesh is not None:
        inputs = sharding.shard_batch(mesh, inputs)
    return np.asarray(forward(graphdef, params, batch_stats, *inputs))


@functools.partial(jax.jit, static_argnums=(0,))
def _predict_2d(graphdef, params, batch_stats, images, view_mask):
    model = nnx.merge(graphdef, params, batch_stats)
    b, v, H, W, _ = images.shape
    x = sanitize_images(images, view_mask).reshape(b * v, H, W, 3)
    hm = model.backbone(x, train=False)[0]
    hm = hm.reshape(b, v, *hm.shape[1:])
    xy, peak = argmax_2d(hm)
    valid = view_mask[..., None] & jnp.isfinite(peak)
    kp = jnp.where(valid[..., None], heatmap_to_image(xy, hm.shape[2:4], (H, W)), jnp.nan)
    return kp, jnp.where(valid, peak, 0.0)


def predict_keypoints_2d(graphdef, params, batch_stats, batch: dict) -> tuple[np.ndarray, np.ndarray]:
    """Hard-argmax 2D joints of the backbone's heatmaps (the classic baseline's input, e.g. for RANSAC).

    Returns:
        ``(keypoints (b, v, j, 2) image px, NaN in missing views; peak heatmap values (b, v, j), 0 there)``.
        For a volumetric model the heatmap head is trained only with ``keypoint_2d_weight > 0``.
    """
    images = np.asarray(batch["images"], np.float32)
    mask = np.asarray(batch["view_mask"], bool)
    kp, conf = _predict_2d(graphdef, params, batch_stats, images, mask)
    return np.asarray(kp), np.asarray(conf)


def _pad(batch: dict, size: int) -> dict:
    n = len(batch["images"])
    if n == size:
        return batch
    return {k: np.concatenate([v, np.repeat(v[-1:], size - n, 0)]) if isinstance(v, np.ndarray) and v.ndim else v
            for k, v in batch.items()}  # fmt: skip


def _test_keys(dataset, batch: dict, seen: int, keep: np.ndarray) -> tuple[list, list, list]:
    """(subjects, actions, frames) of a test batch's real rows: from the batch, from ``dataset.test_keys``
    indexed by the batch's ``index``, or from ``dataset.test_samples`` in iteration order."""
    if all(k in batch for k in ("subject", "action", "frame")):
        return list(batch["subject"][keep]), list(batch["action"][keep]), list(batch["frame"][keep])
    if "index" in batch and getattr(dataset, "test_keys", None) is not None:
        keys = dataset.test_keys
        rows = [tuple(keys[int(i)]) for i in np.asarray(batch["index"])[keep]]
    elif getattr(dataset, "test_samples", None) is not None:
        field = lambda s, k: s[k] if isinstance(s, dict) else getattr(s, k)  # noqa: E731
        rows = [tuple(field(s, k) for k in ("subject", "action", "frame"))
                for s in dataset.test_samples[seen : seen + int(keep.sum())]]  # fmt: skip
    else:
        raise ValueError("test batches carry no subject/action/frame (nor index with dataset.test_keys) and the "
                         "dataset has no test_samples list")  # fmt: skip
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


def load_centers(path: str | os.PathLike, root: int) -> dict:
    """Test-time cuboid centres from a predictions ``.npz`` (`lift3d.eval.h36m_eval` format, world frame).

    Args:
        path: The predictions file (e.g. an algebraic run's ``predictions_test.npz``).
        root: The joint whose prediction is the centre.

    Returns:
        ``{(subject, action, frame): (3,) mm}``.

    Raises:
        ValueError: If the predictions are in a camera frame.
    """
    from lift3d.eval.h36m_eval import load_predictions

    pred = load_predictions(path)
    if pred.camera is not None:
        raise ValueError(f"{path}: centre predictions must be in the world frame (the file has a camera field)")
    return {(str(s), str(a), int(f)): p[root] for s, a, f, p in
            zip(pred.subject, pred.action, pred.frame, pred.points_3d, strict=True)}  # fmt: skip


def evaluate(graphdef, params, batch_stats, dataset, config: LTConfig, *, mesh=None, root: int = 0) -> dict:
    """Predict every test sample and measure it.

    Returns:
        ``{"scalars": {...}, "pred", "gt", "valid", "subject", "action", "frame", "occluded"}``: scalars
        ``mpjpe_abs_mm`` (no alignment), ``mpjpe_rel_mm`` (root-aligned, P1), ``pck3d`` (root-aligned,
        150 mm), and with occlusion labels ``mpjpe_rel_occluded_mm`` / ``mpjpe_rel_visible_mm`` (joints
        occluded in at least one valid view / in none).
    """
    centers = None
    if config.model == "volumetric" and config.center_predictions:
        centers = load_centers(config.center_predictions, root)
    devices = 1 if mesh is None else mesh.devices.size
    size = -(-config.eval_batch_size // devices) * devices
    out = {k: [] for k in ("pred", "gt", "valid", "subject", "action", "frame", "occluded")}
    seen = 0
    for batch in dataset.iterate(jax.random.key(config.data_seed), size, train=False):
        n = len(batch["images"])
        keep = np.asarray(batch.get("sample_mask", np.ones(n, bool)), bool)  # False: padding rows
        keys = _test_keys(dataset, batch, seen, keep)
        seen += int(keep.sum())
        padded = _pad(batch, max(size, -(-n // devices) * devices))
        center = None
        if centers is not None:
            try:
                rows = [centers[(str(s), str(a), int(f))] for s, a, f in zip(*keys, strict=True)]
            except KeyError as err:
                raise ValueError(f"{config.center_predictions}: no prediction for test sample {err.args[0]}") from err
            center = np.asarray(padded["pelvis"], np.float32).copy()
            center[np.flatnonzero(keep)] = rows
        out["pred"].append(predict(graphdef, params, batch_stats, padded, center, mesh=mesh)[:n][keep])
        out["gt"].append(np.asarray(batch["joints_3d"], np.float32)[keep])
        out["valid"].append(np.asarray(batch["joints_valid"], bool)[keep])
        for name, k in zip(("subject", "action", "frame"), keys, strict=True):
            out[name].extend(k)
        if "occluded" in batch:
            occ = np.asarray(batch["occluded"], bool) & np.asarray(batch["view_mask"], bool)[..., None]
            out["occluded"].append(occ.any(1)[keep])
    if not out["pred"]:
        raise ValueError("the dataset yielded no test batch")
    res = {k: np.concatenate(out[k]) for k in ("pred", "gt", "valid")}
    res.update(subject=np.asarray(out["subject"]).astype(str), action=np.asarray(out["action"]).astype(str),
               frame=np.asarray(out["frame"]).astype(np.int64))  # fmt: skip
    res["occluded"] = np.concatenate(out["occluded"]) if len(out["occluded"]) == len(out["pred"]) else None
    res["scalars"] = score_predictions(res["pred"], res["gt"], res["valid"], res["occluded"], root=root)
    return res


def score_predictions(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray, occluded: np.ndarray | None = None, *,
                      root: int = 0) -> dict:  # fmt: skip
    """The test scalars of `evaluate` from predicted and true joints.

    Args:
        pred: Predicted joints, shape (n, j, 3), mm.
        gt: True joints, shape (n, j, 3), mm.
        valid: Joints with ground truth, shape (n, j) bool.
        occluded: Joints occluded in at least one view, shape (n, j) bool, or None.
        root: Root joint for the root-aligned metrics.

    Returns:
        ``mpjpe_abs_mm``, ``mpjpe_rel_mm``, ``pck3d``, ``num_samples`` and, with `occluded`,
        ``mpjpe_rel_{occluded,visible}_mm`` and ``num_{occluded,visible}_joints``. A joint without a prediction
        (NaN) is left out of the means.
    """
    rel = np.asarray(metrics.joint_errors(pred, gt, align="root", root=root, mask=valid))
    absolute = np.asarray(metrics.joint_errors(pred, gt, align="none", root=root, mask=valid))
    scalars = {"mpjpe_abs_mm": float(np.nanmean(absolute)), "mpjpe_rel_mm": float(np.nanmean(rel)),
               "pck3d": float(np.nanmean(np.where(np.isnan(rel), np.nan, rel < metrics.PCK_THRESHOLD_MM))),
               "num_samples": len(pred)}  # fmt: skip
    if occluded is not None:
        for name, sel in (("occluded", occluded), ("visible", ~occluded)):
            vals = rel[sel & np.isfinite(rel)]
            scalars[f"mpjpe_rel_{name}_mm"] = float(vals.mean()) if vals.size else float("nan")
            scalars[f"num_{name}_joints"] = int(vals.size)
    return scalars


def save_model(path: str | os.PathLike, *, model: str, kwargs: dict, params: Any, batch_stats: Any,
               info: dict) -> Path:  # fmt: skip
    """Write an inference checkpoint: ``model.json`` (format, model name, hyper-parameters, info) + ``weights/``."""
    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    weights = {"params": jax.device_get(params), "batch_stats": jax.device_get(batch_stats)}
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(path / "weights", weights, force=True)
    ckptr.wait_until_finished()
    write_json(path / "model.json", {"format": MODEL_FORMAT, "model": model, "kwargs": kwargs, **info})
    return path


def load_model(path: str | os.PathLike):
    """``(model, meta)`` from a `save_model` folder (e.g. ``WORKDIR/model``).

    Raises:
        CheckpointError: Missing or foreign files, or weights that do not fit the stored hyper-parameters.
    """
    path = Path(path)
    file = path / "model.json"
    if not file.is_file():
        raise CheckpointError(f"{path}: not a learnable-triangulation checkpoint (no model.json)")
    meta = json.loads(file.read_text("utf-8"))
    if meta.get("format") != MODEL_FORMAT or meta.get("model") not in MODELS:
        raise CheckpointError(f"{file}: format {meta.get('format')!r} / model {meta.get('model')!r} not supported")
    abstract = nnx.eval_shape(lambda: MODELS[meta["model"]](**meta["kwargs"], rngs=nnx.Rngs(0)))
    graphdef, params, stats = nnx.split(abstract, nnx.Param, nnx.BatchStat)
    like = {"params": nnx.to_pure_dict(params), "batch_stats": nnx.to_pure_dict(stats)}
    try:
        weights = ocp.StandardCheckpointer().restore(path.absolute() / "weights", jax.tree.map(
            ocp.utils.to_shape_dtype_struct, like))  # fmt: skip
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}/weights: do not match the hyper-parameters in model.json ({err})") from err
    nnx.replace_by_pure_dict(params, weights["params"])
    nnx.replace_by_pure_dict(stats, weights["batch_stats"])
    return nnx.merge(graphdef, params, stats), meta
