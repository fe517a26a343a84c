"""Training checkpoints: orbax checkpoints of the whole training state, with automatic resume.

Training (`TrainCheckpoints`): ``WORKDIR/checkpoints/<step>/`` written by an orbax `CheckpointManager`
(synchronously, so a crash never leaves a half-written latest step; orbax commits a step atomically). Each
holds the whole training state as a pytree of arrays (parameters, batch statistics, optimiser state, step,
the run's base random keys as raw ``uint32`` key data) and a JSON ``meta`` item (config, epoch). The data
order and every random draw are functions of (base keys, step), so restoring the latest step and going on
gives the same run as never stopping.

Inference checkpoints (what `lift3d lift` reads) are `lift3d.predict.checkpoint`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jax
import orbax.checkpoint as ocp

from lift3d.errors import CheckpointError

__all__ = ["TrainCheckpoints"]


def _abstract(tree):
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class TrainCheckpoints:
    """Orbax checkpoints of a training run in ``workdir/checkpoints``.

    Args:
        workdir: The run's folder.
        keep: How many recent checkpoints to keep.
    """

    def __init__(self, workdir: str | os.PathLike, *, keep: int = 2):
        self.directory = Path(workdir).absolute() / "checkpoints"
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

        Raises:
            CheckpointError: If the stored arrays do not match `like` (another model or config).
        """
        step = self.latest_step() if step is None else step
        try:
            out = self.manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(_abstract(like)), meta=ocp.args.JsonRestore()),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise CheckpointError(
                f"{self.directory / str(step)}: the checkpoint does not match this model / config ({err})"
            ) from err
        return out.state, out.meta

    def close(self) -> None:
        self.manager.close()
