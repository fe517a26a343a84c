"""Inference checkpoints of the lifter: what `lift3d lift` reads and the lifter's trainer writes.

A folder with ``lifter.json`` (model hyper-parameters, skeleton, how it was made, its test metrics) and
``weights/`` (orbax, params and batch statistics, optionally stored in bfloat16 to halve the size). Loading checks
that the weights match the hyper-parameters and says which array differs otherwise.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from lift3d.errors import CheckpointError
from lift3d.io.atomic import write_json
from lift3d.models.lifter import Lifter

__all__ = ["save_lifter", "load_lifter_weights", "read_lifter_meta", "export_lifter", "LIFTER_FORMAT"]

LIFTER_FORMAT = "lift3d-lifter/1"


def save_lifter(
    path: str | os.PathLike,
    *,
    params: Any,
    batch_stats: Any,
    model_kwargs: dict,
    info: dict,
    weights_dtype: str = "float32",
) -> Path:
    """Write an inference checkpoint folder (``lifter.json`` + ``weights/``), replacing an existing one.

    Args:
        path: Destination folder.
        params, batch_stats: Pure-dict states of the `Lifter`.
        model_kwargs: Its constructor's hyper-parameters (JSON-serialisable).
        info: Anything to record: skeleton, training command, metrics.
        weights_dtype: "float32" or "bfloat16" (the weights are cast; batch statistics stay float32).

    Returns:
        The folder.
    """
    path = Path(path).absolute()
    path.mkdir(parents=True, exist_ok=True)
    dtype = jnp.dtype(weights_dtype)
    weights = {
        "params": jax.tree.map(lambda a: np.asarray(a).astype(dtype), params),
        "batch_stats": jax.tree.map(lambda a: np.asarray(a, np.float32), batch_stats),
    }
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(path / "weights", weights, force=True)
    ckptr.wait_until_finished()
    meta = {"format": LIFTER_FORMAT, "model": model_kwargs, "weights_dtype": weights_dtype, **info}
    write_json(path / "lifter.json", meta)
    return path


def load_lifter_weights(path: str | os.PathLike, like: dict) -> tuple[dict, dict]:
    """Read an inference checkpoint's ``lifter.json`` and weights.

    Args:
        path: The folder `save_lifter` wrote.
        like: ``{"params": ..., "batch_stats": ...}`` of a model built from the json's hyper-parameters
            (float32); the stored weights are checked against it and cast to float32 unless stored as bf16
            (then kept in bfloat16: the caller decides).

    Returns:
        ``(weights, meta)``.

    Raises:
        CheckpointError: Missing files, another format, or arrays that do not match.
    """
    path = Path(path)
    meta = read_lifter_meta(path)
    stored = ocp.StandardCheckpointer().metadata(path.absolute() / "weights")
    stored_tree = getattr(stored, "item_metadata", stored)
    stored_tree = getattr(stored_tree, "tree", stored_tree)

    def shapes(tree, shape_of) -> dict:
        leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
        return {"/".join(str(getattr(k, "key", k)) for k in p): tuple(shape_of(x)) for p, x in leaves}

    want = shapes(like, np.shape)
    try:
        have = shapes({k: stored_tree[k] for k in like}, lambda m: m.shape)
    except (KeyError, TypeError) as err:
        raise CheckpointError(f"{path}/weights: not a lift3d lifter checkpoint ({err!r} missing)") from err
    for name in sorted(want.keys() | have.keys()):
        if want.get(name) != have.get(name):
            raise CheckpointError(
                f"{path}/weights: array {name} has shape {have.get(name)}, the model built from "
                f"lifter.json expects {want.get(name)} (weights from another config?)"
            )
    dtype = jnp.dtype(meta.get("weights_dtype", "float32"))
    target = {
        "params": jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), dtype), like["params"]),
        "batch_stats": jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), jnp.float32), like["batch_stats"]),
    }
    weights = ocp.StandardCheckpointer().restore(path.absolute() / "weights", target)
    return weights, meta


def read_lifter_meta(path: str | os.PathLike) -> dict:
    """``lifter.json`` of an inference checkpoint folder.

    Raises:
        CheckpointError: If the folder or file is missing or of another format.
    """
    path = Path(path)
    file = path / "lifter.json"
    if not file.is_file():
        raise CheckpointError(f"{path}: not a lifter checkpoint folder (no lifter.json)")
    try:
        meta = json.loads(file.read_text("utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{file}: invalid JSON ({err})") from err
    if meta.get("format") != LIFTER_FORMAT:
        raise CheckpointError(f"{file}: format {meta.get('format')!r}, expected {LIFTER_FORMAT!r}")
    for field in ("model", "skeleton"):
        if field not in meta:
            raise CheckpointError(f"{file}: missing field {field!r}")
    return meta


def export_lifter(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    weights_dtype: str = "float32",
    info: dict | None = None,
) -> Path:
    """Copy an inference checkpoint (e.g. ``WORKDIR/lifter``), casting its weights and adding notes.

    Args:
        src: A `save_lifter` folder.
        dest: Destination folder (replaced).
        weights_dtype: "float32" or "bfloat16".
        info: Extra ``lifter.json`` fields (e.g. the command that made it, measured metrics).

    Returns:
        The destination folder.
    """
    from flax import nnx

    meta = read_lifter_meta(src)
    model = Lifter(**meta["model"], rngs=nnx.Rngs(0))
    _, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    weights, meta = load_lifter_weights(
        src, {"params": nnx.to_pure_dict(params), "batch_stats": nnx.to_pure_dict(stats)}
    )
    keep = {k: v for k, v in meta.items() if k not in ("format", "model", "weights_dtype")}
    return save_lifter(
        dest,
        params=jax.tree.map(lambda a: np.asarray(a, np.float32), weights["params"]),
        batch_stats=weights["batch_stats"],
        model_kwargs=meta["model"],
        info={**keep, **(info or {})},
        weights_dtype=weights_dtype,
    )
