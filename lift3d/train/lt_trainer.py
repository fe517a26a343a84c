"""Train and evaluate learnable triangulation (algebraic or volumetric, Iskakov et al. 2019).

Same conventions as the lifter's trainer (`lift3d.train.lifter_trainer`): a config file with
``get_config(variant)`` (`load_config`), ``WORKDIR/config.json`` (a resume with another config fails and
names the fields), ``WORKDIR/metrics.jsonl`` (``{"step", "epoch", "split": "train" | "test", ...}``),
orbax checkpoints in ``WORKDIR/checkpoints/`` with automatic resume, a tqdm bar, data parallelism over all
devices (`lift3d.train.sharding`: replicated state, batches split along their first axis).

Data: a dataset object (from `make_dataset(config)`, or passed in) with ``num_joints``, ``image_size``
(H, W) and ``iterate(key, batch_size, *, train)`` yielding dicts of numpy arrays: ``images`` (b, v, H, W, 3)
normalised, ``proj`` (b, v, 3, 4) into the images' pixels (mm world), ``view_mask`` (b, v), ``joints_3d``
(b, j, 3) mm, ``joints_valid`` (b, j), ``joints_2d`` (b, v, j, 2) px (may be NaN), ``pelvis`` (b, 3) mm;
test batches also ``subject``, ``action``, ``frame`` (b,) (or ``index`` (b,) into ``dataset.test_keys``, a list
of (subject, action, frame), or the dataset has a ``test_samples`` list in iteration order); optionally
``occluded`` (b, v, j) and ``sample_mask`` (b,) (False: a padding row, left out of losses and metrics).
Training batches of another size than ``batch_size`` are skipped; short test batches are padded.

Determinism: epoch ``e`` iterates ``iterate(fold_in(data_key, e), ...)``; the step's random draws (the
cuboid rotation) come from ``fold_in(key, step)``; a checkpoint stores the state and the data position
(epoch, batch), so a resumed run continues with the very batches and keys of an uninterrupted one.

Outputs: ``WORKDIR/model/`` (inference checkpoint: ``model.json`` + orbax weights, `load_model`),
``WORKDIR/predictions_test.npz`` (world-frame joints of every test sample in `lift3d.eval.h36m_eval`'s
format, for ``lift3d eval``; H36M-17 skeletons only) and ``WORKDIR/results.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import inspect
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx

from lift3d.core.skeleton import get_skeleton
from lift3d.eval import metrics
from lift3d.io.atomic import write_json
from lift3d.models.algebraic import AlgebraicTriangulation, mse_smooth_loss, sanitize_images
from lift3d.models.backbone import heatmap_size
from lift3d.models.heatmaps import argmax_2d, heatmap_to_image, soft_argmax_2d
from lift3d.models.volumetric import VolumetricTriangulation, l1_loss, volumetric_ce_loss
from lift3d.train import sharding
from lift3d.train.checkpoint import CheckpointError, TrainCheckpoints
from lift3d.train.lifter_trainer import _check_same_config, _config_json, _truncate_metrics, load_config

__all__ = ["LTConfig", "load_config", "make_dataset", "DATASETS", "make_model", "model_kwargs", "init_state"]
__all__ += ["make_optimizer", "make_train_step", "compiled_train_step", "compute_loss", "predict", "evaluate"]
__all__ += ["train_and_evaluate", "predict_keypoints_2d"]
__all__ += ["save_model", "load_model", "MODEL_FORMAT", "INPUT_KEYS"]

MODEL_FORMAT = "lift3d-learnable-triangulation/1"
INPUT_KEYS = ("images", "proj", "view_mask", "joints_3d", "joints_valid", "joints_2d", "pelvis")
MODELS = {"algebraic": AlgebraicTriangulation, "volumetric": VolumetricTriangulation}
# dataset name -> "module:function" taking the config and returning the dataset object
DATASETS: dict[str, str] = {"synthetic_multiview": "lift3d.synthetic.multiview_render:synthetic_multiview_dataset"}


@dataclasses.dataclass(frozen=True)
class LTConfig:
    """Everything a learnable-triangulation run depends on (defaults: the paper's Human3.6M settings).

    Model: `model` "algebraic" | "volumetric"; backbone `depth` / `width` / `num_stages` / `deconv_channels`
    / `num_deconv` / `confidence_width` (see `lift3d.models.backbone`); algebraic `use_confidences`,
    `heatmap_multiplier`, `solver`; volumetric `volume_size`, `cuboid_side_mm`, `volume_channels`,
    `v2v_width`, `v2v_levels`, `v2v_front_kernel`, `aggregation`, `volume_multiplier`, `up_axis`,
    `rotate_cuboid` (random rotation in training), `center_predictions` (test-time cuboid centres: the root
    joint of a predictions ``.npz``, e.g. an algebraic run's ``predictions_test.npz``; None: the ground-truth
    pelvis).
    Loss: `loss` "mse_smooth" (the paper's algebraic loss, `mse_smooth_threshold` mm^2) or "l1" (volumetric;
    plus `ce_weight` x the volumetric cross-entropy); `keypoint_2d_weight` x L1 (px) between the heatmaps'
    soft-argmax and ``joints_2d`` (0 in the paper, which starts from a pretrained 2D network).
    Optimiser: Adam; `learning_rate` for the backbone, `head_learning_rate` for the volumetric 1x1 conv and
    V2V; both times ``lr_decay_rate ** (step / lr_decay_steps)``; optional `grad_clip_norm`.
    Run: `max_steps` (may grow between resumes), `eval_every`, `log_every`, `checkpoint_every` (steps),
    `prefetch` (training batches read ahead in a thread), `num_devices` (None: all), `xla_options` (XLA
    compiler options of the training step and initialisation, e.g. ``(("xla_backend_optimization_level",
    0),)`` trades step speed for compile time in the smoke variants).
    """

    name: str = "lt"
    model: str = "algebraic"
    seed: int = 0
    data_seed: int = 0
    dataset: str = "synthetic_multiview"
    dataset_options: tuple[tuple[str, Any], ...] = ()
    skeleton: str | None = "h36m_17"
    depth: int = 152
    width: int = 64
    num_stages: int = 4
    deconv_channels: int = 256
    num_deconv: int = 3
    confidence_width: int = 256
    bn_momentum: float = 0.9
    use_confidences: bool = True
    heatmap_multiplier: float = 100.0
    solver: str = "svd"
    volume_size: int = 64
    cuboid_side_mm: float = 2500.0
    volume_channels: int = 32
    v2v_width: int = 32
    v2v_levels: int = 5
    v2v_front_kernel: int = 7
    aggregation: str = "softmax"
    volume_multiplier: float = 1.0
    up_axis: int = 2
    rotate_cuboid: bool = True
    center_predictions: str | None = None
    loss: str | None = None
    mse_smooth_threshold: float = 400.0
    ce_weight: float = 0.01
    keypoint_2d_weight: float = 0.0
    batch_size: int = 8
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    lr_decay_rate: float = 1.0
    lr_decay_steps: int = 10_000
    grad_clip_norm: float | None = None
    max_steps: int = 10_000
    eval_every: int = 1000
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_checkpoints: int = 2
    eval_batch_size: int = 8
    prefetch: int = 2
    num_devices: int | None = None
    progress: bool = True
    xla_options: tuple[tuple[str, Any], ...] = ()

    @property
    def loss_kind(self) -> str:
        """The 3D loss: `loss`, or the paper's choice for the model."""
        return self.loss or ("mse_smooth" if self.model == "algebraic" else "l1")

    def backbone_kwargs(self) -> dict:
        """`PoseResNet` keyword arguments (the confidence head is the model's business)."""
        return dict(depth=self.depth, width=self.width, num_stages=self.num_stages,
                    deconv_channels=self.deconv_channels, num_deconv=self.num_deconv,
                    confidence_width=self.confidence_width, bn_momentum=self.bn_momentum)  # fmt: skip


def make_dataset(config: LTConfig):
    """The dataset a config names (``DATASETS[config.dataset]``, imported lazily).

    Raises:
        ValueError: For a name nobody registered.
    """
    if config.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {config.dataset!r}; registered: {sorted(DATASETS) or 'none'} "
                         "(pass dataset= to train_and_evaluate, or register a factory in DATASETS)")  # fmt: skip
    module, _, fn = DATASETS[config.dataset].partition(":")
    return getattr(importlib.import_module(module), fn)(config)


def model_kwargs(config: LTConfig, num_joints: int) -> dict:
    """The model constructor's hyper-parameters (JSON-serialisable; stored with the weights)."""
    if config.model == "algebraic":
        return dict(num_joints=num_joints, backbone=config.backbone_kwargs(), use_confidences=config.use_confidences,
                    heatmap_multiplier=config.heatmap_multiplier, solver=config.solver)  # fmt: skip
    if config.model == "volumetric":
        return dict(num_joints=num_joints, backbone=config.backbone_kwargs(), volume_size=config.volume_size,
                    cuboid_side_mm=config.cuboid_side_mm, volume_channels=config.volume_channels,
                    v2v_width=config.v2v_width, v2v_levels=config.v2v_levels,
                    v2v_front_kernel=config.v2v_front_kernel, aggregation=config.aggregation,
                    volume_multiplier=config.volume_multiplier, up_axis=config.up_axis,
                    bn_momentum=config.bn_momentum)  # fmt: skip
    raise ValueError(f"unknown model {config.model!r}; use 'algebraic' or 'volumetric'")


def make_model(config: LTConfig, key: jax.Array, num_joints: int):
    """A freshly initialised model of the config."""
    return MODELS[config.model](**model_kwargs(config, num_joints), rngs=nnx.Rngs(params=key))


def make_optimizer(config: LTConfig) -> optax.GradientTransformation:
    """Adam with the backbone's and the 3D head's learning rates (exponential decay), optional clipping."""

    def adam(lr):
        return optax.adam(optax.exponential_decay(lr, config.lr_decay_steps, config.lr_decay_rate))

    def labels(params):
        return {k: jax.tree.map(lambda _, k=k: "backbone" if k == "backbone" else "head", v)
                for k, v in params.items()}  # fmt: skip

    tx = optax.multi_transform({"backbone": adam(config.learning_rate), "head": adam(config.head_learning_rate)},
                               labels)  # fmt: skip
    return tx if config.grad_clip_norm is None else optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)


def _static(config: LTConfig) -> LTConfig:
    """The config with the fields that do not change compiled programs normalised (cache keys)."""
    return dataclasses.replace(config, name="", progress=True, log_every=1, max_steps=0, eval_every=1,
                               checkpoint_every=1, keep_checkpoints=1, prefetch=0, eval_batch_size=1,
                               center_predictions=None, num_devices=None)  # fmt: skip


@functools.lru_cache(maxsize=8)
def _init_fn(config: LTConfig, num_joints: int) -> tuple[Any, Callable]:
    """(graphdef, jitted init(key) -> params, batch stats, optimiser state); cached per config."""
    tx = make_optimizer(config)

    def init(key):
        _, params, stats = nnx.split(make_model(config, key, num_joints), nnx.Param, nnx.BatchStat)
        params, stats = nnx.to_pure_dict(params), nnx.to_pure_dict(stats)
        return {"params": params, "batch_stats": stats, "opt_state": tx.init(params)}

    abstract = nnx.eval_shape(lambda: make_model(config, jax.random.key(0), num_joints))
    return nnx.split(abstract, nnx.Param, nnx.BatchStat)[0], jax.jit(init, compiler_options=dict(config.xla_options))


def init_state(config: LTConfig, num_joints: int) -> tuple[Any, dict]:
    """``(graphdef, state)``: the model's static graph and the training state of step 0.

    State: ``{"params", "batch_stats", "opt_state", "step", "key", "data_key"}`` (pure pytrees; keys as raw
    ``uint32`` key data). Initialisation runs as one jitted program drawing from an ``rbg`` key (eager
    initialisers compile one program per parameter shape, and threefry draws compile 3x slower on CPU;
    rbg streams differ between CPU and GPU, so the same seed initialises differently there).
    """
    seed = jax.random.key(config.seed)
    k_data, k_train = jax.random.split(seed)
    graphdef, init = _init_fn(_static(config), num_joints)
    state = dict(init(jax.random.key(config.seed, impl="rbg")))
    state.update(step=jnp.asarray(0, jnp.int32), key=jax.random.key_data(k_train),
                 data_key=jax.random.key_data(jax.random.fold_in(k_data, config.data_seed)))  # fmt: skip
    return graphdef, state


def compute_loss(config: LTConfig, pred: jax.Array, aux: dict, batch: dict) -> tuple[jax.Array, dict]:
    """The training loss of a batch and its parts (see `LTConfig`)."""
    gt, valid = batch["joints_3d"], batch["joints_valid"]
    if config.loss_kind == "mse_smooth":
        loss = mse_smooth_loss(pred, gt, valid, threshold=config.mse_smooth_threshold)
    elif config.loss_kind == "l1":
        loss = l1_loss(pred, gt, valid)
    else:
        raise ValueError(f"unknown loss {config.loss_kind!r}; use 'mse_smooth' or 'l1'")
    parts = {"loss_3d": loss}
    if config.model == "volumetric" and config.ce_weight:
        ce = volumetric_ce_loss(aux["probabilities"], gt, valid, center=aux["center"], rotation=aux["rotation"],
                                side_mm=config.cuboid_side_mm)  # fmt: skip
        loss, parts["ce"] = loss + config.ce_weight * ce, ce
    if config.keypoint_2d_weight:
        hm = aux["heatmaps"]
        xy, _ = soft_argmax_2d(hm, config.heatmap_multiplier)
        kp = heatmap_to_image(xy, hm.shape[2:4], batch["images"].shape[2:4])
        target = batch["joints_2d"]
        ok = jnp.all(jnp.isfinite(target), -1) & jnp.all(jnp.isfinite(kp), -1) & batch["view_mask"][..., None]
        err = jnp.where(ok[..., None], kp - jnp.where(ok[..., None], target, 0.0), 0.0)
        l2d = jnp.sum(jnp.abs(err)) / jnp.maximum(2.0 * jnp.sum(ok), 1.0)
        loss, parts["l1_2d_px"] = loss + config.keypoint_2d_weight * l2d, l2d
    return loss, parts


def make_train_step(graphdef: Any, tx: optax.GradientTransformation, config: LTConfig) -> Callable:
    """The pure step ``(state, batch) -> (state, metrics)`` (batch: the `INPUT_KEYS` arrays). jit it."""
    rotate = config.model == "volumetric" and config.rotate_cuboid

    def step_fn(state, batch):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["step"])

        def loss_fn(params):
            model = nnx.merge(graphdef, params, state["batch_stats"])
            pred, aux = model(batch["images"], batch["proj"], batch["view_mask"], batch["pelvis"], train=True,
                              key=key if rotate else None)  # fmt: skip
            stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
            loss, parts = compute_loss(config, pred, aux, batch)
            return loss, (stats, pred, parts)

        (loss, (stats, pred, parts)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        err = jnp.linalg.norm(pred - batch["joints_3d"], axis=-1)
        ok = batch["joints_valid"] & jnp.isfinite(err)
        mpjpe = jnp.sum(jnp.where(ok, err, 0.0)) / jnp.maximum(jnp.sum(ok), 1)
        new = dict(state, params=params, batch_stats=stats, opt_state=opt_state, step=state["step"] + 1)
        return new, {"loss": loss, "mpjpe_mm": mpjpe, "grad_norm": optax.tree.norm(grads), **parts}

    return step_fn


def compiled_train_step(config: LTConfig, graphdef: Any, mesh) -> Callable:
    """The jitted step of a config on a mesh, cached (a resumed run in the same process compiles nothing)."""
    return _compiled_step(_static(config), graphdef, mesh)


@functools.lru_cache(maxsize=8)
def _compiled_step(config: LTConfig, graphdef: Any, mesh) -> Callable:
    replicated = sharding.replicated(mesh)
    return jax.jit(make_train_step(graphdef, make_optimizer(config), config), donate_argnums=0,
                   out_shardings=(replicated, replicated), compiler_options=dict(config.xla_options))  # fmt: skip


@functools.partial(jax.jit, static_argnums=(0,))
def _predict(graphdef, params, batch_stats, images, proj, view_mask, center):
    model = nnx.merge(graphdef, params, batch_stats)
    return model(images, proj, view_mask, center, train=False)[0]


def predict(graphdef, params, batch_stats, batch: dict, center: np.ndarray | None = None, *, mesh=None) -> np.ndarray:
    """Joints (b, j, 3) mm of one batch (eval mode; volumetric: `center` or the batch's pelvis, no rotation)."""
    inputs = (batch["images"], batch["proj"], batch["view_mask"], batch["pelvis"] if center is None else center)
    inputs = tuple(np.asarray(x, np.float32) if x.dtype != bool else x for x in map(np.asarray, inputs))
    if mesh is not None:
        inputs = sharding.shard_batch(mesh, inputs)
    return np.asarray(_predict(graphdef, params, batch_stats, *inputs))


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


def _load_centers(path: str, root: int) -> dict:
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
        centers = _load_centers(config.center_predictions, root)
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


def _prefetch(iterable: Iterable, size: int) -> Iterator:
    """Iterate in a daemon thread, up to `size` items ahead (its exceptions are re-raised here)."""
    if size <= 0:
        yield from iterable
        return
    q: queue.Queue = queue.Queue(maxsize=size)
    stop, end = threading.Event(), object()

    def work():
        try:
            for item in iterable:
                while not stop.is_set():
                    with contextlib.suppress(queue.Full):
                        q.put((item, None), timeout=0.1)
                        break
                if stop.is_set():
                    return
            q.put((end, None))
        except BaseException as err:  # handed to the consumer
            q.put((end, err))

    threading.Thread(target=work, daemon=True).start()
    try:
        while (got := q.get())[0] is not end:
            yield got[0]
        if got[1] is not None:
            raise got[1]
    finally:
        stop.set()


def _train_batches(dataset, data_key: jax.Array, batch_size: int, epoch: int, skip: int) -> Iterator:
    """``(epoch, index in epoch, batch)`` from data position (epoch, skip) on, forever.

    A dataset whose ``iterate`` takes ``epochs`` is asked for one pass at a time; skipped batches (a resume
    in the middle of an epoch) are read and dropped.
    """
    one = {"epochs": 1} if "epochs" in inspect.signature(dataset.iterate).parameters else {}
    while True:
        n = 0
        key = jax.random.fold_in(data_key, epoch)
        for i, batch in enumerate(dataset.iterate(key, batch_size, train=True, **one)):
            if i < skip:
                continue
            n += 1
            if len(batch["images"]) == batch_size:
                yield epoch, i, batch
        if n == 0 and skip == 0:
            raise ValueError(f"the dataset yielded no training batch of size {batch_size}")
        epoch, skip = epoch + 1, 0


def _device_batch(batch: dict, mesh) -> dict:
    arrays = {}
    for k in INPUT_KEYS:
        if k not in batch:
            raise ValueError(f"training batch lacks {k!r} (has {sorted(batch)})")
        a = np.asarray(batch[k])
        arrays[k] = a.astype(bool) if k in ("view_mask", "joints_valid") else a.astype(np.float32, copy=False)
    if "sample_mask" in batch:  # padding samples take no part in the loss
        arrays["joints_valid"] = arrays["joints_valid"] & np.asarray(batch["sample_mask"], bool)[:, None]
    return sharding.shard_batch(mesh, arrays)


def _lr(config: LTConfig, step: int) -> float:
    return config.learning_rate * config.lr_decay_rate ** (step / config.lr_decay_steps)


def train_and_evaluate(config: LTConfig, workdir: str | os.PathLike, *, dataset=None,
                       hooks: Sequence[Callable[[int], None]] = ()) -> dict:  # fmt: skip
    """Train a learnable-triangulation model, resuming from ``workdir``'s latest checkpoint if there is one.

    Args:
        config: The run's `LTConfig`.
        workdir: Output folder (created): config.json, metrics.jsonl, checkpoints/, model/,
            predictions_test.npz, results.json.
        dataset: The dataset object (see the module doc); None: `make_dataset(config)`.
        hooks: Called as ``hook(step)`` after every step (steps done); an exception stops the run.

    Returns:
        The final test metrics (``mpjpe_abs_mm``, ``mpjpe_rel_mm``, ``pck3d``, ...) plus ``step``,
        ``train_time_s``.

    Raises:
        CheckpointError: If ``workdir`` holds a run of another config or its checkpoint does not fit.
    """
    from tqdm.auto import tqdm

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    _check_same_config(workdir, config)
    mesh = sharding.make_mesh(config.num_devices)
    if config.batch_size % mesh.devices.size:
        raise ValueError(f"batch_size {config.batch_size} is not divisible by {mesh.devices.size} devices")
    dataset = make_dataset(config) if dataset is None else dataset
    num_joints = int(dataset.num_joints)
    skeleton = get_skeleton(config.skeleton) if config.skeleton else None
    if skeleton is not None and skeleton.num_joints != num_joints:
        raise ValueError(f"skeleton {config.skeleton!r} has {skeleton.num_joints} joints, the dataset {num_joints}")
    root = skeleton.root if skeleton is not None and skeleton.root is not None else 0
    heatmap_size(tuple(dataset.image_size), config.num_stages, config.num_deconv)  # checks divisibility

    if config.model == "volumetric" and config.center_predictions:
        _load_centers(config.center_predictions, root)  # a missing or malformed file fails now, not after training
    graphdef, state = init_state(config, num_joints)
    state = sharding.replicate(mesh, state)
    ckpts = TrainCheckpoints(workdir, keep=config.keep_checkpoints)
    metrics_path = workdir / "metrics.jsonl"
    position = (0, 0)  # data (epoch, batch within it) of the next step
    start = ckpts.latest_step()
    if start is not None:
        state, meta = ckpts.restore(state)
        state = sharding.replicate(mesh, state)
        position = tuple(meta.get("data_position", (0, 0)))
        _truncate_metrics(metrics_path, start)
    start = int(state["step"])
    data_key = jax.random.wrap_key_data(np.asarray(state["data_key"]))
    total = config.max_steps
    step_fn = compiled_train_step(config, graphdef, mesh)

    def log(entry: dict) -> None:
        with open(metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def run_eval(step: int, epoch: float, record: bool = True) -> dict:
        res = evaluate(graphdef, state["params"], state["batch_stats"], dataset, config, mesh=mesh, root=root)
        if record:
            log({"step": step, "epoch": epoch, "split": "test", **res["scalars"]})
        return res

    bar = tqdm(total=total, initial=start, desc=f"train {config.name}", disable=not config.progress, unit="step",
               dynamic_ncols=True)  # fmt: skip
    t_train, window, t_window = time.perf_counter(), [], time.perf_counter()
    last = None  # (step, evaluation) of the latest evaluation
    epoch = position[0]
    batches = _prefetch(_train_batches(dataset, data_key, config.batch_size, *position), config.prefetch)
    try:
        for step in range(start, total):
            e, i, batch = next(batches)
            state, out = step_fn(state, _device_batch(batch, mesh))
            position, epoch = (e, i + 1), e
            window.append(out)
            done = step + 1
            bar.update(1)
            if done % config.log_every == 0 or done == total:
                vals = {k: float(np.mean([float(o[k]) for o in window])) for k in window[0]}
                now = time.perf_counter()
                log({"step": done, "epoch": e, "split": "train", **vals, "lr": _lr(config, done),
                     "steps_per_s": len(window) / (now - t_window)})  # fmt: skip
                bar.set_postfix(loss=f"{vals['loss']:.3g}", mpjpe=f"{vals['mpjpe_mm']:.1f}")
                window, t_window = [], now
            if done % config.eval_every == 0 or done == total:
                last = (done, run_eval(done, e))
                sc = last[1]["scalars"]
                bar.write(f"step {done}: test MPJPE abs {sc['mpjpe_abs_mm']:.1f} mm, rel {sc['mpjpe_rel_mm']:.1f} mm")
            if done % config.checkpoint_every == 0 or done % config.eval_every == 0 or done == total:
                ckpts.save(done, state, {"config": _config_json(config), "data_position": list(position)})
            for hook in hooks:
                hook(done)
    finally:
        bar.close()
        ckpts.close()
        batches.close()
    train_time = time.perf_counter() - t_train
    if last is None or last[0] != total:  # nothing left to train: the restored state was evaluated before
        last = (total, run_eval(total, epoch, record=start < total))
    res = last[1]
    kwargs = model_kwargs(config, num_joints)
    save_model(workdir / "model", model=config.model, kwargs=kwargs, params=state["params"],
               batch_stats=state["batch_stats"], info={"skeleton": config.skeleton, "config": _config_json(config),
                                                       "metrics": res["scalars"], "step": total})  # fmt: skip
    if skeleton is not None and num_joints == 17:
        from lift3d.eval.h36m_eval import save_predictions

        save_predictions(workdir / "predictions_test.npz", res["pred"], subject=res["subject"], action=res["action"],
                         frame=res["frame"])  # fmt: skip
    results = {**res["scalars"], "step": total, "train_time_s": train_time, "devices": int(mesh.devices.size)}
    write_json(workdir / "results.json", results)
    return results
