"""Train and evaluate the residual MLP lifter on the synthetic Human3.6M twin.

The conventions of lift3d's trainers (config files with variants, ``WORKDIR/config.json``,
``metrics.jsonl``, orbax checkpoints with exact resume, data parallelism) are `lift3d.train.common`'s. Here
the data order is a function of the step alone (`lift3d.train.data_pipeline.batch_indices`), so a
checkpoint needs no data position.

The test metrics (P1 = MPJPE after root alignment, P2 = P-MPJPE, PCK3D at 150 mm, AUC) are measured on the
test subjects at the end of every epoch, from the dataset's distorted pixels through the cameras, as real
detections would come. The run ends by writing ``WORKDIR/lifter/`` (an inference checkpoint for
`lift3d.predict.lifter`) and ``WORKDIR/results.json`` (final metrics, per action).
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
from lift3d.datasets.h36m import TEST_SUBJECTS, TRAIN_SUBJECTS
from lift3d.datasets.motion_dataset import CameraRanges, TrainingDataError
from lift3d.eval import metrics
from lift3d.io.atomic import write_json
from lift3d.models.lifter import Lifter, max_norm_project
from lift3d.predict.checkpoint import save_lifter
from lift3d.train import sharding
from lift3d.train.common import TrainRun, config_json, load_config_file
from lift3d.train.data_pipeline import (
    TestSamples,
    TrainSamples,
    augment,
    batch_indices,
    motion_test_samples,
    motion_train_samples,
    test_samples,
    train_samples,
)

__all__ = ["LifterConfig", "load_config", "train_and_evaluate", "make_model", "make_train_step"]
__all__ += ["evaluate", "predict_batches", "load_data"]


@dataclasses.dataclass(frozen=True)
class LifterConfig:
    """Everything a lifter run depends on (defaults: Martinez et al. 2017 where the paper says).

    Data: the synthetic twin (`lift3d.synthetic.twin.make_dataset`) of `subjects` with `trials` takes of
    `frames_per_sequence` frames per action; training uses every `train_every`-th frame of the train
    subjects, testing every `test_every`-th frame of the test subjects (damaged takes dropped).
    With `data` set, the twin is replaced (`load_data`): a Human3.6M layout (the same subjects' protocol, the
    file's 2D for testing, else 2D projected through its cameras), ``"deepmimic"`` or its folder (train on
    `deepmimic.TRAIN_CLIPS`, test on `deepmimic.VALIDATION_CLIPS`), or motion files (a tail of
    `motion_test_fraction` of each take tested), motion seen by `virtual_views` virtual cameras per frame
    (`camera_heights_m`, `camera_distances_m`, `aim_jitter_m`) and, with `rig`, by the rig's cameras too;
    `up` = the motion files' vertical axis when they do not record it. `with_twin` adds the twin's training
    samples to those of `data` (testing stays on `data`'s). `prior_poses` > 0 adds that many poses of the broad
    pose prior (`lift3d.synthetic.pose_prior`, seed `data_seed`, `prior_child_fraction` children, joints placed by
    `prior_definitions`: ``"h36m"`` or a mapped ``"detector"``'s, proportions jittered x `prior_proportion_spread`),
    each seen by `prior_views` virtual cameras at `prior_camera_heights_m` / `prior_camera_distances_m`.
    Model: `Lifter` hyper-parameters; ``max_norm`` None disables the constraint.
    Optimiser: Adam, learning rate ``learning_rate * decay_rate ** (step / decay_steps)``.
    Augmentation: see `lift3d.train.data_pipeline.augment`.
    """

    name: str = "lifter"
    seed: int = 0
    data_seed: int = 0
    train_subjects: tuple[str, ...] = TRAIN_SUBJECTS
    test_subjects: tuple[str, ...] = TEST_SUBJECTS
    actions: tuple[str, ...] | None = None
    trials: int = 2
    frames_per_sequence: int = 1000
    train_every: int = 1
    test_every: int = 4
    data: str | None = None
    rig: str | None = None
    up: str = "auto"
    virtual_views: int = 4
    camera_heights_m: tuple[float, float] = (0.3, 2.8)
    camera_distances_m: tuple[float, float] = (2.0, 6.0)
    aim_jitter_m: float = 0.3
    motion_test_fraction: float = 0.2
    with_twin: bool = False
    prior_poses: int = 0
    prior_views: int = 4
    prior_child_fraction: float = 0.1
    prior_definitions: str = "h36m"
    prior_proportion_spread: float = 1.0
    prior_camera_heights_m: tuple[float, float] = (0.3, 3.5)
    prior_camera_distances_m: tuple[float, float] = (1.5, 7.0)
    width: int = 1024
    num_blocks: int = 2
    dropout: float = 0.5
    bn_momentum: float = 0.99
    max_norm: float | None = 1.0
    batch_size: int = 64
    learning_rate: float = 1e-3
    decay_rate: float = 0.96
    decay_steps: int = 100_000
    num_epochs: int = 200
    max_steps: int | None = None
    loss: str = "mse"
    turn_deg: float = 180.0
    elevation_deg: float = 15.0
    roll_deg: float = 5.0
    distance_range: tuple[float, float] = (0.7, 1.5)
    flip_prob: float = 0.5
    noise_std: float = 0.02
    drop_prob: float = 0.05
    limb_drop_prob: float = 0.0
    swap_prob: float = 0.0
    extremity_noise: float = 0.0
    log_every: int = 200
    checkpoint_every: int = 5000
    keep_checkpoints: int = 2
    eval_batch_size: int = 4096
    num_devices: int | None = None
    progress: bool = True

    def model_kwargs(self) -> dict:
        """The `Lifter` hyper-parameters of this config."""
        return dict(num_joints=H36M_17.num_joints, root_index=H36M_17.root, width=self.width,
                    num_blocks=self.num_blocks, dropout=self.dropout,
                    bn_momentum=self.bn_momentum)  # fmt: skip

    def augment_kwargs(self) -> dict:
        """Keyword arguments of `augment`."""
        return dict(root_index=H36M_17.root, turn_deg=self.turn_deg, elevation_deg=self.elevation_deg,
                    roll_deg=self.roll_deg, distance_range=tuple(self.distance_range),
                    flip_prob=self.flip_prob, noise_std=self.noise_std, drop_prob=self.drop_prob,
                    limb_drop_prob=self.limb_drop_prob, swap_prob=self.swap_prob,
                    extremity_noise=self.extremity_noise)  # fmt: skip


def load_config(spec: str | os.PathLike) -> LifterConfig:
    """A `LifterConfig` from ``path/to/config.py`` or ``path/to/config.py:variant`` (its ``get_config(variant)``).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it has no ``get_config``.
        TypeError: If its config is not a `LifterConfig`.
    """
    return load_config_file(spec, LifterConfig)


def make_model(config: LifterConfig, key: jax.Array) -> Lifter:
    """A freshly initialised `Lifter` of the config's hyper-parameters."""
    return Lifter(**config.model_kwargs(), rngs=nnx.Rngs(params=key))


def _optimizer(config: LifterConfig) -> optax.GradientTransformation:
    schedule = optax.exponential_decay(config.learning_rate, config.decay_steps, config.decay_rate)
    return optax.adam(schedule)


def _loss(pred: jax.Array, target: jax.Array, kind: str, root: int) -> jax.Array:
    err = jnp.delete(pred - target, root, axis=-2, assume_unique_indices=True) / 1000.0  # metres
    if kind == "mse":
        return jnp.mean(err**2)
    if kind == "mpjpe":
        return jnp.mean(jnp.sqrt(jnp.sum(err**2, -1) + 1e-12))
    raise ValueError(f"unknown loss {kind!r}; use 'mse' or 'mpjpe'")


def make_train_step(
    graphdef: Any,
    tx: optax.GradientTransformation,
    *,
    loss: str = "mse",
    max_norm: float | None = None,
    augment_kwargs: dict | None = None,
    root_index: int = 0,
) -> Callable:
    """The pure training step ``(state, points_camera (b, j, 3), up (b, 3)) -> (state, metrics)``.

    `state` is ``{"params", "batch_stats", "opt_state", "step", "key"}`` (pure pytrees; ``key`` holds raw
    key data; other entries, e.g. the trainer's ``data_key``, pass through unchanged). The step's
    augmentation and dropout keys are ``fold_in(key, step)``, so the step is a pure function of its inputs.
    jit it (the trainer does, with shardings).
    """
    aug = dict(augment_kwargs or {})

    def step_fn(state, points_camera, up):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["step"])
        k_aug, k_drop = jax.random.split(key)
        rays, visible, target = augment(k_aug, points_camera, up, **aug)

        def loss_fn(params):
            model = nnx.merge(graphdef, params, state["batch_stats"])
            pred, _ = model(rays, visible, train=True, key=k_drop)
            batch_stats = nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))
            value = _loss(pred, target, loss, root_index)
            return value, (batch_stats, pred)

        (value, (batch_stats, pred)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state["params"])
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        params = optax.apply_updates(state["params"], updates)
        if max_norm is not None:
            params = max_norm_project(params, max_norm)
        err = jnp.linalg.norm(pred - target, axis=-1)
        new_state = dict(state, params=params, batch_stats=batch_stats, opt_state=opt_state,
                         step=state["step"] + 1)  # fmt: skip
        return new_state, {"loss": value, "mpjpe_mm": jnp.mean(err)}

    return step_fn


@functools.partial(jax.jit, static_argnums=(0,))
def _predict(graphdef, params, batch_stats, rays, visible):
    model = nnx.merge(graphdef, params, batch_stats)
    return model(rays, visible, train=False)[0]


def predict_batches(graphdef, params, batch_stats, rays: np.ndarray, visible: np.ndarray | None = None, *,
                    batch_size: int = 4096, mesh=None) -> np.ndarray:  # fmt: skip
    """Run the model over many poses in fixed-size (padded) batches.

    Args:
        graphdef, params, batch_stats: The split model.
        rays: (n, j, 2) rays; NaN = missing.
        visible: Optional (n, j) bool.
        batch_size: Poses per call (rounded up to a multiple of the mesh's devices).
        mesh: Optional mesh to split batches over.

    Returns:
        (n, j, 3) root-relative camera-frame joints, mm, float32.
    """
    n, j = rays.shape[:2]
    vis = np.ones((n, j), bool) if visible is None else np.asarray(visible, bool)
    devices = 1 if mesh is None else mesh.devices.size
    batch_size = -(-min(batch_size, max(n, 1)) // devices) * devices
    out = np.empty((n, j, 3), np.float32)
    for s in range(0, n, batch_size):
        r = np.zeros((batch_size, j, 2), np.float32)
        v = np.zeros((batch_size, j), bool)
        e = min(s + batch_size, n)
        r[: e - s], v[: e - s] = rays[s:e], vis[s:e]
        if mesh is not None:
            r, v = sharding.shard_batch(mesh, (r, v))
        out[s:e] = np.asarray(_predict(graphdef, params, batch_stats, r, v))[: e - s]
    return out


def evaluate(pred: np.ndarray, test: TestSamples, *, root: int = 0) -> tuple[dict, dict]:
    """P1, P2, PCK3D and AUC of predictions on test samples.

    Returns:
        ``(scalars, tables)``: scalars ``p1_mm, p2_mm, pck3d, auc`` (means over all joints of all samples)
        and `metrics.summarize` tables of P1 and P2 per action, subject and joint.
    """
    gt = jnp.asarray(test.target)
    p1 = np.asarray(metrics.mpjpe(pred, gt, root=root, reduce=False))
    p2 = np.asarray(metrics.p_mpjpe(pred, gt, root=root, reduce=False))
    pck = np.asarray(metrics.pck3d(pred, gt, root=root, reduce=False))
    scalars = {
        "p1_mm": float(np.nanmean(p1)), "p2_mm": float(np.nanmean(p2)),
        "pck3d": float(np.nanmean(pck)), "auc": float(metrics.auc(pred, gt, root=root)),
    }  # fmt: skip
    groups = {"action": test.action, "subject": test.subject}
    tables = {
        name: metrics.summarize(err, groups=groups, joint_names=H36M_17.joints)
        for name, err in (("p1", p1), ("p2", p2))
    }
    return scalars, tables


def load_data(config: LifterConfig) -> tuple[TrainSamples, TestSamples]:
    """The config's training and test samples (cached per data fields in the process).

    Returns:
        ``(train, test)``: without `data`, the twin's: `TrainSamples` of the train subjects (every
        ``train_every``-th frame, all cameras) and `TestSamples` of the test subjects (damaged takes dropped,
        every ``test_every``-th frame); with `data`, those of `data` (see `LifterConfig`).

    Raises:
        TrainingDataError: `data` is in none of the layouts, a motion cannot be mapped to H36M-17 or has no
            clear vertical axis, or the protocol's subjects are missing (the message names the file).
    """
    if config.data is not None:
        ranges = CameraRanges(config.virtual_views, tuple(config.camera_heights_m),
                              tuple(config.camera_distances_m), config.aim_jitter_m)  # fmt: skip
        train, test = _load_real_cached(str(config.data), config.rig, config.up, ranges, config.motion_test_fraction,
                                        tuple(config.train_subjects), tuple(config.test_subjects),
                                        config.train_every, config.test_every, config.data_seed)  # fmt: skip
        if config.with_twin:
            twin, _ = load_data(dataclasses.replace(config, data=None, prior_poses=0))
            train = _concat(twin, train)
    else:
        train, test = _load_data_cached(config.data_seed, tuple(config.train_subjects), tuple(config.test_subjects),
                                        config.actions, config.trials, config.frames_per_sequence,
                                        config.train_every, config.test_every)  # fmt: skip
    if config.prior_poses > 0:
        ranges = CameraRanges(config.prior_views, tuple(config.prior_camera_heights_m),
                              tuple(config.prior_camera_distances_m), config.aim_jitter_m)  # fmt: skip
        train = _concat(train, _prior_cached(config.prior_poses, config.data_seed, config.prior_child_fraction,
                                             config.prior_definitions, config.prior_proportion_spread,
                                             ranges))  # fmt: skip
    return train, test


def _concat(a: TrainSamples, b: TrainSamples) -> TrainSamples:
    return TrainSamples(np.concatenate([a.points_camera, b.points_camera]), np.concatenate([a.up, b.up]))


@functools.lru_cache(maxsize=1)
def _prior_cached(n: int, seed: int, child_fraction: float, definitions: str, spread: float,
                  ranges: CameraRanges) -> TrainSamples:  # fmt: skip
    from lift3d.synthetic.pose_prior import sample_poses

    poses = sample_poses(seed, n, child_fraction=child_fraction, definitions=definitions, proportion_spread=spread)
    return motion_train_samples({"prior": poses}, seed=seed, ranges=ranges)


@functools.lru_cache(maxsize=2)  # tests and sweeps train several runs on the same data in one process
def _load_data_cached(data_seed, train_subjects, test_subjects, actions, trials, frames, train_every, test_every):
    from lift3d.datasets.h36m import ACTIONS
    from lift3d.synthetic import twin as synthetic

    ds = synthetic.make_dataset(
        jax.random.key(data_seed), subjects=train_subjects + test_subjects, actions=actions or ACTIONS,
        trials=trials, frames_per_sequence=frames,
    )  # fmt: skip
    train = ds.select(subjects=train_subjects)
    if train_every > 1:
        train = train.subsample(train_every)
    test = ds.select(subjects=test_subjects).without_damaged().subsample(test_every)
    return train_samples(train), test_samples(test, root_index=H36M_17.root)


@functools.lru_cache(maxsize=2)
def _load_real_cached(data, rig, up, ranges, test_fraction, train_subjects, test_subjects, train_every, test_every,
                      seed):  # fmt: skip
    from lift3d.datasets import deepmimic, motion_dataset
    from lift3d.io.rigs import load_rig

    kind = motion_dataset.data_kind(data)
    if rig is not None and kind != "motion":
        raise TrainingDataError(f"{rig}: a rig is used with motion files only, not with {kind} data ({data})")
    if kind == "h36m":
        return _h36m_samples(data, train_subjects, test_subjects, train_every, test_every)
    if kind == "deepmimic":
        train = {k: m.points for k, m in deepmimic.load_clips(data, deepmimic.TRAIN_CLIPS).items()}
        test = {k: m.points for k, m in deepmimic.load_clips(data, deepmimic.VALIDATION_CLIPS).items()}
    else:
        parts = {k: motion_dataset.split_frames(p, test_fraction)
                 for k, p in motion_dataset.read_motions(data, up=up).items()}  # fmt: skip
        train = {k: a for k, (a, _) in parts.items() if len(a)}
        test = {k: b for k, (_, b) in parts.items() if len(b)}
        if not test:
            raise TrainingDataError(f"{data}: too few frames to hold any out for testing")
    train = {k: p[::train_every] for k, p in train.items()}
    test = {k: p[::test_every] if len(p) >= 4 * test_every else p for k, p in test.items()}
    rig_obj = None if rig is None else load_rig(rig)
    return (
        motion_train_samples(train, seed=2 * seed, ranges=ranges, rig=rig_obj),
        motion_test_samples(test, seed=2 * seed + 1, ranges=ranges, rig=rig_obj, root_index=H36M_17.root),
    )


def _h36m_samples(path, train_subjects, test_subjects, train_every, test_every):
    """A Human3.6M layout with the papers' protocol: train `train_subjects`, test `test_subjects`."""
    from lift3d.datasets.h36m import load_h36m

    try:
        ds = load_h36m(path)
    except FileNotFoundError as exc:
        raise TrainingDataError(str(exc)) from None
    train, test = ds.select(subjects=train_subjects), ds.select(subjects=test_subjects).without_damaged()
    for split, part, subjects in (("train", train, train_subjects), ("test", test, test_subjects)):
        if not len(part):
            raise TrainingDataError(f"{path}: no {split} subject ({', '.join(subjects)}) among "
                                    f"{', '.join(ds.subjects) or 'none'}")  # fmt: skip
        if missing := sorted(set(part.subjects) - set(part.rigs)):
            raise TrainingDataError(f"{path}: no cameras for {', '.join(missing)}")
    if train_every > 1:
        train = train.subsample(train_every)
    test = test.subsample(test_every)
    if any(s.points_2d is None for s in test):  # the layout holds no 2D: project through its cameras
        test = test.with_projections()
    return train_samples(train), test_samples(test, root_index=H36M_17.root)


@functools.lru_cache(maxsize=8)
def _compiled_step(config: LifterConfig, graphdef, mesh) -> Callable:
    """The jitted step of a config (cached: a resumed run in the same process compiles nothing)."""
    replicated = sharding.replicated(mesh)
    return jax.jit(
        make_train_step(graphdef, _optimizer(config), loss=config.loss, max_norm=config.max_norm,
                        augment_kwargs=config.augment_kwargs(), root_index=H36M_17.root),
        donate_argnums=0, out_shardings=(replicated, replicated),
    )  # fmt: skip


def train_and_evaluate(
    config: LifterConfig, workdir: str | os.PathLike, *, hooks: Sequence[Callable[[int], None]] = ()
) -> dict:
    """Train the lifter, resuming from ``workdir``'s latest checkpoint if there is one.

    Args:
        config: The run's `LifterConfig`.
        workdir: Output folder (created): config.json, metrics.jsonl, checkpoints/, lifter/, results.json.
        hooks: Called as ``hook(step)`` after every step (``step`` = steps done); an exception stops the run
            (tests use this to interrupt one).

    Returns:
        The final test metrics (``p1_mm``, ``p2_mm``, ``pck3d``, ``auc``) plus ``step``, ``train_time_s``.

    Raises:
        CheckpointError: If ``workdir`` holds a run of another config.
    """
    run = TrainRun(workdir, config, keep_checkpoints=config.keep_checkpoints)
    mesh = sharding.make_mesh(config.num_devices, batch_size=config.batch_size)
    t0 = time.perf_counter()
    train, test = load_data(config)
    data_time = time.perf_counter() - t0

    key = jax.random.key(config.seed)
    k_init, k_data, k_train = jax.random.split(key, 3)
    graphdef, params, batch_stats = nnx.split(make_model(config, k_init), nnx.Param, nnx.BatchStat)
    params, batch_stats = nnx.to_pure_dict(params), nnx.to_pure_dict(batch_stats)
    tx = _optimizer(config)
    state = {
        "params": params, "batch_stats": batch_stats, "opt_state": tx.init(params),
        "step": jnp.asarray(0, jnp.int32), "key": jax.random.key_data(k_train),
        "data_key": jax.random.key_data(k_data),
    }  # fmt: skip
    state = sharding.replicate(mesh, state)
    with run:
        state, _ = run.resume(state, mesh)
        start = int(state["step"])
        k_data = jax.random.wrap_key_data(np.asarray(state["data_key"]))  # the data order, from the state

        steps_per_epoch = len(train) // config.batch_size
        total = config.num_epochs * steps_per_epoch
        if config.max_steps is not None:
            total = min(total, config.max_steps)
        # the fields that only steer the loop are normalised: one compiled step for all of them
        step_fn = _compiled_step(dataclasses.replace(config, progress=True, log_every=1, max_steps=None),
                                 graphdef, mesh)  # fmt: skip

        def run_eval(step: int, record: bool = True) -> tuple[dict, dict]:
            pred = predict_batches(graphdef, state["params"], state["batch_stats"], test.rays,
                                   batch_size=config.eval_batch_size, mesh=mesh)  # fmt: skip
            scalars, tables = evaluate(pred, test, root=H36M_17.root)
            if record:
                run.log({"step": step, "epoch": step / steps_per_epoch, "split": "test", **scalars})
            return scalars, tables

        run.start(total, start)
        t_train = time.perf_counter()
        last = None  # (step, scalars, tables) of the latest evaluation
        for step in range(start, total):
            idx = batch_indices(k_data, step, len(train), config.batch_size)
            batch = sharding.shard_batch(mesh, (train.points_camera[idx], train.up[idx]))
            state, out = step_fn(state, *batch)
            done = step + 1
            vals = run.record(done, out, log=done % config.log_every == 0 or done == total,
                              epoch=done / steps_per_epoch, lr=float(_optimizer_lr(config, done)))  # fmt: skip
            if vals is not None:
                run.show(loss=f"{vals['loss']:.4f}", mpjpe=f"{vals['mpjpe_mm']:.1f}")
            end_of_epoch = done % steps_per_epoch == 0 or done == total
            if end_of_epoch:
                last = (done, *run_eval(done))
                scalars = last[1]
                run.write(
                    f"step {done} epoch {done / steps_per_epoch:.2f}: test P1 {scalars['p1_mm']:.1f} mm, "
                    f"P2 {scalars['p2_mm']:.1f} mm, PCK3D {scalars['pck3d']:.3f}"
                )
            if done % config.checkpoint_every == 0 or end_of_epoch:
                run.save(done, state, {"config": config_json(config), "epoch": done / steps_per_epoch})
            for hook in hooks:
                hook(done)
    train_time = time.perf_counter() - t_train
    if last is None or last[0] != total:  # nothing left to train: the restored state was evaluated before
        last = (total, *run_eval(total, record=start < total))
    _, scalars, tables = last
    model_kwargs = config.model_kwargs()
    results = {**scalars, "step": total, "train_time_s": train_time, "data_time_s": data_time,
               "devices": int(mesh.devices.size),
               "test_samples": len(test), "train_samples": len(train)}  # fmt: skip
    save_lifter(
        run.workdir / "lifter",
        params=jax.device_get(state["params"]), batch_stats=jax.device_get(state["batch_stats"]),
        model_kwargs=model_kwargs,
        info={"skeleton": H36M_17.name, "config": config_json(config), "metrics": scalars, "step": total},
    )  # fmt: skip
    write_json(run.workdir / "results.json", {**results, "tables": tables})
    return results


def _optimizer_lr(config: LifterConfig, step: int) -> float:
    return config.learning_rate * config.decay_rate ** (step / config.decay_steps)
