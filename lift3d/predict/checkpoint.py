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

from lift3d.core.skeleton import get_skeleton
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
    weights_dir = path.absolute() / "weights"
    try:
        stored = ocp.StandardCheckpointer().metadata(weights_dir)
    except Exception as err:  # orbax / tensorstore raise many kinds on missing or damaged files
        raise CheckpointError(f"{path}/weights: missing or damaged ({_one_line(err)})") from None
    stored_tree = getattr(stored, "item_metadata", stored)
    stored_tree = getattr(stored_tree, "tree", stored_tree)

    def shapes(tree, shape_of) -> dict:
        leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
        return {"/".join(str(getattr(k, "key", k)) for k in p): tuple(shape_of(x)) for p, x in leaves}

    want = shapes(like, np.shape)
    try:
        have = shapes({k: stored_tree[k] for k in like}, lambda m: m.shape)
    except (KeyError, TypeError, AttributeError) as err:
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
    try:
        weights = ocp.StandardCheckpointer().restore(weights_dir, target)
    except Exception as err:  # truncated or corrupt array files: tensorstore / orbax errors of many kinds
        raise CheckpointError(f"{path}/weights: damaged array files ({_one_line(err)})") from None
    for name, leaf in jax.tree_util.tree_flatten_with_path(weights)[0]:
        if not np.all(np.isfinite(np.asarray(leaf, np.float32))):
            where = "/".join(str(getattr(k, "key", k)) for k in name)
            raise CheckpointError(f"{path}/weights: array {where} holds NaN or infinite values (damaged file?)")
    return weights, meta


def _one_line(err: BaseException, limit: int = 200) -> str:
    """``Type: message`` of an exception on one line, cut to `limit` characters."""
    return " ".join(f"{type(err).__name__}: {err}".split())[:limit]


def read_lifter_meta(path: str | os.PathLike) -> dict:
    """``lifter.json`` of an inference checkpoint folder, checked.

    The model hyper-parameters must be `Lifter`'s keyword arguments with values of the type and range it takes,
    ``skeleton`` a known skeleton name, ``weights_dtype`` "float32" or "bfloat16".

    Raises:
        CheckpointError: If the folder or file is missing, not JSON, of another format, or a field is missing
            or malformed (the message names the file and the field).
    """
    path = Path(path)
    file = path / "lifter.json"
    if not file.is_file():
        raise CheckpointError(f"{path}: not a lifter checkpoint folder (no lifter.json)")
    try:
        meta = json.loads(file.read_text("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, ValueError) as err:
        raise CheckpointError(f"{file}: invalid JSON ({_one_line(err)})") from None
    except OSError as err:
        raise CheckpointError(f"{file}: cannot read ({_one_line(err)})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{file}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != LIFTER_FORMAT:
        raise CheckpointError(f"{file}: format {_short(meta.get('format'))}, expected {LIFTER_FORMAT!r}")
    for field in ("model", "skeleton"):
        if field not in meta:
            raise CheckpointError(f"{file}: missing field {field!r}")
    _check_model(meta["model"], file)
    skeleton = meta["skeleton"]
    try:
        known = isinstance(skeleton, str) and get_skeleton(skeleton) is not None
    except KeyError:
        known = False
    if not known:
        raise CheckpointError(f"{file}: field 'skeleton': not a known skeleton name: {_short(skeleton)}")
    if meta.get("weights_dtype", "float32") not in ("float32", "bfloat16"):
        raise CheckpointError(
            f"{file}: field 'weights_dtype': expected 'float32' or 'bfloat16', got {_short(meta['weights_dtype'])}"
        )
    return meta


_MODEL_RANGES = {  # Lifter's keyword arguments: (type, smallest, largest); a wider net is not a lift3d lifter
    "num_joints": (int, 2, 1000), "root_index": (int, 0, 999), "width": (int, 1, 16384),
    "num_blocks": (int, 0, 64), "dropout": (float, 0.0, 1.0), "bn_momentum": (float, 0.0, 1.0),
    "output_scale_mm": (float, 1e-6, 1e9),
}  # fmt: skip


def _check_model(model: Any, file: Path) -> None:
    """`model` as `Lifter`'s keyword arguments, else `CheckpointError` naming the field."""
    if not isinstance(model, dict):
        raise CheckpointError(f"{file}: field 'model': expected an object, got {_short(model)}")
    for key, value in model.items():
        if key not in _MODEL_RANGES:
            raise CheckpointError(f"{file}: field 'model.{_short(key)}': not a Lifter hyper-parameter")
        kind, low, high = _MODEL_RANGES[key]
        ok = isinstance(value, int | float) if kind is float else isinstance(value, int)
        if not ok or isinstance(value, bool) or not low <= value <= high:
            raise CheckpointError(f"{file}: field 'model.{key}': expected {kind.__name__} in [{low}, {high}], got "
                                  f"{_short(value)}")  # fmt: skip
    if not model.get("root_index", 0) < model.get("num_joints", 17):
        raise CheckpointError(f"{file}: field 'model.root_index': {model['root_index']} is not a joint")


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
