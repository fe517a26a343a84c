"""lift3d: people filmed by several cameras to 3D joints.

Calibrate cameras, triangulate multi-camera 2D keypoints, lift single-view 2D detections to 3D, learn to
triangulate end to end, evaluate Human3.6M-style and look at the results in Open3D.

The front door: the nouns and the main functions, each also importable from its own module::

    from lift3d import Camera, Rig, Skeleton, Keypoints2D, Motion, Lift3DError
    from lift3d import load_rig, read_keypoints, read_motion, write_motion, project_points

`import lift3d` stays light: it never imports OpenCV, Open3D or matplotlib, and the names above are imported
when first used (so that `lift3d --help` does not wait for JAX).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES = {
    "Camera": "lift3d.geometry.camera",
    "project_points": "lift3d.geometry.camera",
    "Rig": "lift3d.core.rig",
    "Skeleton": "lift3d.core.skeleton",
    "Keypoints2D": "lift3d.core.keypoints",
    "Motion": "lift3d.core.motion",
    "Lift3DError": "lift3d.errors",
    "load_rig": "lift3d.io.rigs",
    "read_keypoints": "lift3d.io.keypoints",
    "read_motion": "lift3d.io.motion",
    "write_motion": "lift3d.io.motion",
}

__all__ = [
    "__version__",
    "Camera",
    "project_points",
    "Rig",
    "Skeleton",
    "Keypoints2D",
    "Motion",
    "Lift3DError",
    "load_rig",
    "read_keypoints",
    "read_motion",
    "write_motion",
]

if TYPE_CHECKING:
    from lift3d.core.keypoints import Keypoints2D
    from lift3d.core.motion import Motion
    from lift3d.core.rig import Rig
    from lift3d.core.skeleton import Skeleton
    from lift3d.errors import Lift3DError
    from lift3d.geometry.camera import Camera, project_points
    from lift3d.io.keypoints import read_keypoints
    from lift3d.io.motion import read_motion, write_motion
    from lift3d.io.rigs import load_rig


def __getattr__(name: str) -> Any:
    """The front-door names of `__all__`, imported from their modules on first use."""
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
