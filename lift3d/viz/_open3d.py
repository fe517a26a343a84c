"""Open3D, imported when a function first needs it (never at import time), and its vector type.

Private to `lift3d.viz`.
"""

from __future__ import annotations

import os

import numpy as np


def load_open3d():
    """The `open3d` module (imported now, not when lift3d.viz is)."""
    import open3d

    return open3d


def load_open3d_for_windows():
    """The `open3d` module, with ``XDG_RUNTIME_DIR`` set first (Mesa complains on every window without one)."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        import tempfile

        os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="lift3d-xdg-")
    return load_open3d()


def vector3(a: np.ndarray):
    """(n, 3) array as an `open3d.utility.Vector3dVector` (float64, contiguous)."""
    return load_open3d().utility.Vector3dVector(np.ascontiguousarray(a, dtype=np.float64))
