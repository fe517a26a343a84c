"""Data-parallel training with `jax.sharding`: one mesh axis ``"data"`` over the devices.

The training state is replicated (``PartitionSpec()``), batches are split along their first axis
(``PartitionSpec("data")``), and the step is one `jax.jit` program over *global* arrays: XLA inserts the
cross-device reductions itself. BatchNorm statistics are therefore means over the whole global batch,
identical on every device and identical to a one-device run of the same batch (up to the order of float
additions), with no ``axis_name`` / ``pmean`` bookkeeping. Several hosts: call
`jax.distributed.initialize` first; `make_mesh` then spans all processes' devices (each host must feed its
part of the batch, e.g. with `jax.make_array_from_process_local_data`; this single-host code puts whole
batches).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

__all__ = ["make_mesh", "replicated", "batch_sharding", "shard_batch", "replicate"]

DATA_AXIS = "data"


def make_mesh(num_devices: int | None = None, *, batch_size: int | None = None) -> Mesh:
    """A 1-D mesh named ``"data"`` over the first `num_devices` devices (None: all).

    Args:
        num_devices: Devices to use (None: all).
        batch_size: The global training batch, checked to split evenly over the devices (None: no check).

    Raises:
        ValueError: If more devices are asked for than exist, or `batch_size` does not divide by them.
    """
    devices = jax.devices()
    n = len(devices) if num_devices is None else int(num_devices)
    if not 1 <= n <= len(devices):
        raise ValueError(f"asked for {num_devices} devices, {len(devices)} available")
    if batch_size is not None and batch_size % n:
        raise ValueError(f"batch_size {batch_size} is not divisible by {n} devices")
    return Mesh(np.asarray(devices[:n]), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Sharding of an array copied to every device of `mesh`."""
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Sharding of a batch split along its first axis over the ``"data"`` axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def shard_batch(mesh: Mesh, tree):
    """Put host arrays (first axis divisible by the device count) on the mesh, split along that axis.

    Raises:
        ValueError: If a leading dimension is not divisible by the number of devices.
    """
    n = mesh.devices.size
    for leaf in jax.tree_util.tree_leaves(tree):
        if np.shape(leaf)[0] % n:
            raise ValueError(f"batch dimension {np.shape(leaf)[0]} is not divisible by {n} devices")
    return jax.device_put(tree, batch_sharding(mesh))


def replicate(mesh: Mesh, tree):
    """Put a pytree (the training state) on every device of the mesh."""
    return jax.device_put(tree, replicated(mesh))
