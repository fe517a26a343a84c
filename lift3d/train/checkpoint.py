"""Training checkpoints: orbax checkpoints of the whole training state, with automatic resume.

Training (`TrainCheckpoints`): ``WORKDIR/checkpoints/<step>/`` written by an orbax `CheckpointManager`
(synchronously, so a crash never leaves a half-written latest step; orbax commits a step atomically). Each
holds the whole training state as a pytree of arrays (parameters, batch statistics, optimiser state, step,
the run's base random keys as raw ``uint32`` key data) and a JSON ``meta`` item (config, epoch). The data
order and every random draw are functions of (base keys, step), so restoring the latest step and going on
gives the same run as never stopping. A latest step whose files were damaged afterwards (truncated or
corrupted: a full disk, a copy cut short) is set aside with a warning and the run resumes from the previous
good one (`TrainCheckpoints.restore`).

Inference checkpoints (what `lift3d lift` reads) are `lift3d.predict.checkpoint`.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from lift3d.errors import CheckpointError

__all__ = ["TrainCheckpoints"]


def _abstract(tree):
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


def _shapes(tree) -> dict[str, tuple[int, ...]]:
    """Path -> shape of every leaf."""
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    return {"/".join(str(getattr(k, "key", k)) for k in path): np.shape(x) for path, x in leaves}


class TrainCheckpoints:
    """Orbax checkpoints of a training run in ``workdir/checkpoints``.

    Args:
        workdir: The run's folder.
        keep: How many recent checkpoints to keep.
    """

    def __init__(self, workdir: str | os.PathLike, *, keep: int = 2):
        self.directory = Path(workdir).absolute() / "checkpoints"
        self.restored_step: int | None = None  # the step the last `restore` read
        self.manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=False),
        )

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        return self.manager.latest_step()

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Save the state at `step` (replaces an existing checkpoint of the same step)."""
        if step in self.manager.all_steps():
            return
        self.manager.save(
            step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
        )
        self.manager.wait_until_finished()

    def restore(self, like: Any, step: int | None = None) -> tuple[Any, dict]:
        """Restore a state shaped like `like` (the freshly initialised state, same shardings).

        Without `step`, the newest checkpoint that can be read: a newer one whose files are truncated or corrupt
        (a disk that filled up, a copy cut short) is moved to ``workdir/corrupt_checkpoints/<step>`` with a
        warning, and the run goes on from the previous good one. `restored_step` tells which step was read.

        Args:
            like: The state's tree, shapes, dtypes and shardings.
            step: A step to restore (no fallback); None: the newest good one.

        Returns:
            ``(state, meta)``.

        Raises:
            CheckpointError: No checkpoint, or none that can be read: the stored arrays do not match `like`
                (another model or config) or every checkpoint is damaged (the newest one's error is given).
        """
        if step is not None:
            out = self._restore(like, step)
            self.restored_step = step
            return out
        steps = sorted(self.manager.all_steps(), reverse=True)
        if not steps:
            raise CheckpointError(f"{self.directory}: no checkpoint to restore")
        failed: list[tuple[int, CheckpointError]] = []
        for candidate in steps:
            try:
                out = self._restore(like, candidate)
            except CheckpointError as err:
                failed.append((candidate, err))
                continue
            if failed:
                self._set_aside(failed, candidate)
            self.restored_step = candidate
            return out
        raise failed[0][1]

    def _restore(self, like: Any, step: int) -> tuple[Any, dict]:
        try:
            out = self.manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)), meta=ocp.args.JsonRestore()),
            )
        except Exception as err:  # orbax / tensorstore raise ValueError, OSError, ... for mismatches and damage
            detail = " ".join(f"{type(err).__name__}: {err}".split())[:300]
            raise CheckpointError(
                f"{self.directory / str(step)}: cannot be restored: it does not match this model / config, or its "
                f"files are damaged ({detail})"
            ) from err
        if not isinstance(out.meta, dict):
            raise CheckpointError(f"{self.directory / str(step)}: meta is a {type(out.meta).__name__}, not a dict")
        want, have = _shapes(like), _shapes(out.state)
        for name in sorted(want.keys() | have.keys()):
            if want.get(name) != have.get(name):  # orbax restores the stored shape whatever the target's
                raise CheckpointError(
                    f"{self.directory / str(step)}: cannot be restored: array {name} has shape {have.get(name)}, "
                    f"this model / config expects {want.get(name)}"
                )
        return out.state, out.meta

    def _set_aside(self, failed: list[tuple[int, CheckpointError]], good: int) -> None:
        """Move the unreadable checkpoints newer than `good` out of the way (so the run can save those steps
        again), with a warning naming them."""
        aside = self.directory.parent / "corrupt_checkpoints"
        aside.mkdir(exist_ok=True)
        for bad, _ in failed:
            src = self.directory / str(bad)
            if src.exists():
                dest = aside / str(bad)
                shutil.rmtree(dest, ignore_errors=True)
                shutil.move(str(src), str(dest))
        self.manager.reload()
        steps = ", ".join(str(bad) for bad, _ in failed)
        warnings.warn(
            f"{self.directory}: checkpoint(s) {steps} cannot be read, resuming from step {good}; moved to "
            f"{aside} ({failed[0][1]})",
            UserWarning,
            stacklevel=3,
        )

    def close(self) -> None:
        self.manager.close()
