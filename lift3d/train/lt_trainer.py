"""Train and evaluate learnable triangulation (algebraic or volumetric, Iskakov et al. 2019).

The conventions of lift3d's trainers (`lift3d.train.common`): a config file with ``get_config(variant)``
(`load_config`, an `lift3d.train.lt_config.LTConfig`), ``WORKDIR/config.json`` (a resume with another
config fails and names the fields), ``WORKDIR/metrics.jsonl`` (``{"step", "epoch", "split": "train" |
"test", ...}``), orbax checkpoints in ``WORKDIR/checkpoints/`` with automatic resume, a tqdm bar, data
parallelism over all devices (`lift3d.train.sharding`: replicated state, batches split along their first
axis). Training batches are read ahead in a thread (`lift3d.datasets.prefetch`, ``LTConfig.prefetch``).

Datasets by name (`DATASETS`): ``"synthetic_multiview"`` (the synthetic set, rendered on first use),
``"h36m_lt"`` (learnable-triangulation's processed Human3.6M layout at ``dataset_options``' ``root``;
`lift3d.datasets.multiview.open_lt_root`, ``lift3d train ... --data ROOT``) and ``"real_videos"`` (a rig's real
video frames with multi-view pseudo-labels, mixed with the synthetic set: `lift3d.train.lt_video_data`). Before
training, a volumetric config's cuboid is checked against the dataset's poses (`check_cuboid`); with
``init_backbone_from`` a fresh run starts its backbone from a trained model (`init_backbone`, the paper's
volumetric recipe).

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

Outputs: ``WORKDIR/model/`` (inference checkpoint: ``model.json`` + orbax weights,
`lift3d.train.lt_eval.load_model`),
``WORKDIR/predictions_test.npz`` (world-frame joints of every test sample in `lift3d.eval.h36m_eval`'s
format, for ``lift3d eval``; H36M-17 skeletons only) and ``WORKDIR/results.json``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lift3d.core.skeleton import get_skeleton
from lift3d.datasets.prefetch import prefetch
from lift3d.io.atomic import write_json
from lift3d.models.algebraic import mse_smooth_loss
from lift3d.models.backbone import heatmap_size
from lift3d.models.heatmaps import heatmap_to_image, soft_argmax_2d
from lift3d.models.volumetric import l1_loss, volumetric_ce_loss
from lift3d.train import sharding
from lift3d.train.common import TrainRun, config_json, load_config_file
from lift3d.train.lt_config import MODELS, LTConfig, model_kwargs
from lift3d.train.lt_eval import evaluate, load_centers, save_model

__all__ = ["load_config", "make_dataset", "DATASETS", "make_model", "init_state", "make_optimizer"]
__all__ += ["make_train_step", "compiled_train_step", "compute_loss", "train_and_evaluate", "INPUT_KEYS"]
__all__ += ["init_backbone", "check_cuboid"]

INPUT_KEYS = ("images", "proj", "view_mask", "joints_3d", "joints_valid", "joints_2d", "pelvis")
"""The batch arrays a training step takes."""
# dataset name -> "module:function" taking the config and returning the dataset object
DATASETS: dict[str, str] = {"synthetic_multiview": "lift3d.synthetic.multiview_dataset:synthetic_multiview_dataset",
                            "h36m_lt": "lift3d.datasets.multiview:lt_layout_dataset",
                            "real_videos": "lift3d.train.lt_video_data:real_videos_dataset"}  # fmt: skip


def load_config(spec: str | os.PathLike) -> LTConfig:
    """An `LTConfig` from ``path/to/config.py`` or ``path/to/config.py:variant`` (its ``get_config(variant)``).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it has no ``get_config``.
        TypeError: If its config is not an `LTConfig`.
    """
    return load_config_file(spec, LTConfig)


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
                               center_predictions=None, num_devices=None, init_backbone_from=None)  # fmt: skip


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


def _flat(tree: dict, prefix: tuple = ()) -> dict[tuple, Any]:
    out = {}
    for k, v in tree.items():
        out.update(_flat(v, (*prefix, k)) if isinstance(v, dict) else {(*prefix, k): v})
    return out


def init_backbone(state: dict, source: str | os.PathLike) -> dict:
    """`state` with its backbone's parameters and BatchNorm statistics taken from a trained model.

    The paper's volumetric model starts from its algebraic model's trained backbone: the 3D head then
    learns on features that already locate joints instead of on noise.

    Args:
        state: A training state (`init_state`) whose model has a ``backbone``.
        source: A run's ``WORKDIR`` (uses ``WORKDIR/model``) or a `lift3d.train.lt_eval.save_model` folder.

    Returns:
        The state with ``params["backbone"]`` / ``batch_stats["backbone"]`` replaced (the confidence head only
        where both models have one of the same shapes; otherwise the fresh one stays).

    Raises:
        CheckpointError: No model at `source`, or backbone arrays missing there or of other shapes (named).
    """
    from lift3d.errors import CheckpointError
    from lift3d.train.lt_eval import load_model

    path = Path(source)
    folder = path / "model" if (path / "model" / "model.json").is_file() else path
    if not (folder / "model.json").is_file():
        raise CheckpointError(f"init_backbone_from={str(source)!r}: no trained model there (neither "
                              f"{path / 'model' / 'model.json'} nor {path / 'model.json'}); finish that run "
                              "first")  # fmt: skip
    model, _ = load_model(folder)
    _, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    src = {"params": nnx.to_pure_dict(params), "batch_stats": nnx.to_pure_dict(stats)}
    new = dict(state)
    for group in ("params", "batch_stats"):
        if "backbone" not in state[group]:
            raise CheckpointError(f"init_backbone_from: the model being trained has no backbone {group}")
        mine, theirs = _flat(state[group]["backbone"]), _flat(src[group].get("backbone", {}))
        fits = {k: k in theirs and np.shape(theirs[k]) == np.shape(v) for k, v in mine.items()}
        bad = [k for k, ok in fits.items() if not ok and k[0] != "confidence"]
        if bad:
            what = [f"backbone/{'/'.join(map(str, k))} {tuple(np.shape(mine[k]))} vs "
                    f"{tuple(np.shape(theirs[k])) if k in theirs else 'missing'}" for k in bad[:5]]  # fmt: skip
            raise CheckpointError(f"init_backbone_from={str(folder)!r}: {len(bad)} backbone {group} do not fit "
                                  f"(this config vs the checkpoint): {'; '.join(what)}; use the same backbone "
                                  "settings (depth, width, num_stages, deconv_channels, num_deconv)")  # fmt: skip
        conf_ok = all(ok for k, ok in fits.items() if k[0] == "confidence")
        take = {k: jnp.asarray(theirs[k], v.dtype) if (k[0] != "confidence" or conf_ok) else v for k, v in mine.items()}
        tree = jax.tree_util.tree_map(lambda x: x, state[group]["backbone"])
        for k, v in take.items():
            node = tree
            for part in k[:-1]:
                node = node[part]
            node[k[-1]] = v
        new[group] = {**state[group], "backbone": tree}
    return new


def check_cuboid(config: LTConfig, dataset, root: int) -> None:
    """Fail before training when a volumetric config's cuboid cannot hold the dataset's people.

    A joint must lie within the outermost voxel centres (the 3D soft-argmax cannot reach further) of a cube
    centred on the root joint; in training the cube turns about the vertical (`LTConfig.rotate_cuboid`), so
    the horizontal distance counts there. Datasets without ``joints_3d(train=...)`` are not checked.

    Raises:
        ConfigError: Naming the sample, the joint's reach and the smallest `cuboid_side_mm` that holds it.
    """
    from lift3d.errors import ConfigError

    if config.model != "volumetric" or not hasattr(dataset, "joints_3d"):
        return
    inner = 0.5 * config.cuboid_side_mm * (1.0 - 1.0 / config.volume_size)
    for train in (True, False):
        joints, valid = dataset.joints_3d(train=train)
        if not len(joints):
            continue
        rel = joints - joints[:, root : root + 1]
        flat = np.delete(rel, config.up_axis, -1)
        turn = train and config.rotate_cuboid
        reach = np.maximum(np.linalg.norm(flat, axis=-1) if turn else np.abs(flat).max(-1),
                           np.abs(rel[..., config.up_axis]))  # fmt: skip
        reach = np.where(valid & np.isfinite(reach), reach, 0.0)
        if reach.max() > inner:
            n = int(np.argmax(reach.max(-1)))
            key = dataset.keys(train=train)[n] if hasattr(dataset, "keys") else n
            need = 2.0 * reach.max() / (1.0 - 1.0 / config.volume_size)
            raise ConfigError(f"cuboid_side_mm={config.cuboid_side_mm:g} cannot hold the person: a joint of "
                              f"{'train' if train else 'test'} sample {key} lies {reach.max():.0f} mm from the "
                              f"root joint, the {config.volume_size}^3 grid reaches {inner:.0f} mm"
                              f"{' (turned about the vertical)' if turn else ''}; use cuboid_side_mm >= "
                              f"{np.ceil(need / 100) * 100:.0f}")  # fmt: skip


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
    run = TrainRun(workdir, config, keep_checkpoints=config.keep_checkpoints)
    mesh = sharding.make_mesh(config.num_devices, batch_size=config.batch_size)
    dataset = make_dataset(config) if dataset is None else dataset
    num_joints = int(dataset.num_joints)
    skeleton = get_skeleton(config.skeleton) if config.skeleton else None
    if skeleton is not None and skeleton.num_joints != num_joints:
        raise ValueError(f"skeleton {config.skeleton!r} has {skeleton.num_joints} joints, the dataset {num_joints}")
    root = skeleton.root if skeleton is not None and skeleton.root is not None else 0
    heatmap_size(tuple(dataset.image_size), config.num_stages, config.num_deconv)  # checks divisibility

    if config.model == "volumetric" and config.center_predictions:
        load_centers(config.center_predictions, root)  # a missing or malformed file fails now, not after training
    check_cuboid(config, dataset, root)
    graphdef, state = init_state(config, num_joints)
    state = sharding.replicate(mesh, state)
    with run:
        state, meta = run.resume(state, mesh)
        if meta is None and config.init_backbone_from:  # fresh run: the paper's warm start; a resume keeps its own
            state = sharding.replicate(mesh, init_backbone(state, config.init_backbone_from))
        position = (0, 0) if meta is None else tuple(meta.get("data_position", (0, 0)))  # (epoch, batch) next
        start = int(state["step"])
        data_key = jax.random.wrap_key_data(np.asarray(state["data_key"]))
        total = config.max_steps
        step_fn = compiled_train_step(config, graphdef, mesh)

        def run_eval(step: int, epoch: float, record: bool = True) -> dict:
            res = evaluate(graphdef, state["params"], state["batch_stats"], dataset, config, mesh=mesh, root=root)
            if record:
                run.log({"step": step, "epoch": epoch, "split": "test", **res["scalars"]})
            return res

        run.start(total, start)
        t_train = time.perf_counter()
        last = None  # (step, evaluation) of the latest evaluation
        epoch = position[0]
        batches = prefetch(_train_batches(dataset, data_key, config.batch_size, *position), config.prefetch,
                           name="lt-train-batches")  # fmt: skip
        try:
            for step in range(start, total):
                e, i, batch = next(batches)
                state, out = step_fn(state, _device_batch(batch, mesh))
                position, epoch = (e, i + 1), e
                done = step + 1
                vals = run.record(done, out, log=done % config.log_every == 0 or done == total, epoch=e,
                                  lr=_lr(config, done))  # fmt: skip
                if vals is not None:
                    run.show(loss=f"{vals['loss']:.3g}", mpjpe=f"{vals['mpjpe_mm']:.1f}")
                if done % config.eval_every == 0 or done == total:
                    last = (done, run_eval(done, e))
                    sc = last[1]["scalars"]
                    run.write(f"step {done}: test MPJPE abs {sc['mpjpe_abs_mm']:.1f} mm, "
                              f"rel {sc['mpjpe_rel_mm']:.1f} mm")  # fmt: skip
                if done % config.checkpoint_every == 0 or done % config.eval_every == 0 or done == total:
                    # the data position makes a resume continue with the very next batch
                    run.save(done, state, {"config": config_json(config), "data_position": list(position)})
                for hook in hooks:
                    hook(done)
        finally:
            batches.close()  # stops the read-ahead thread
    train_time = time.perf_counter() - t_train
    if last is None or last[0] != total:  # nothing left to train: the restored state was evaluated before
        last = (total, run_eval(total, epoch, record=start < total))
    res = last[1]
    kwargs = model_kwargs(config, num_joints)
    save_model(run.workdir / "model", model=config.model, kwargs=kwargs, params=state["params"],
               batch_stats=state["batch_stats"], info={"skeleton": config.skeleton, "config": config_json(config),
                                                       "metrics": res["scalars"], "step": total})  # fmt: skip
    if skeleton is not None and num_joints == 17:
        from lift3d.eval.h36m_eval import save_predictions

        save_predictions(run.workdir / "predictions_test.npz", res["pred"], subject=res["subject"],
                         action=res["action"], frame=res["frame"])  # fmt: skip
    results = {**res["scalars"], "step": total, "train_time_s": train_time, "devices": int(mesh.devices.size)}
    write_json(run.workdir / "results.json", results)
    return results
