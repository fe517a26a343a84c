"""What the rig readers and writers share: field checks whose errors name the file, the camera and the field,
and the float64 Rodrigues conversions (the convention of `cv2.Rodrigues`).

Private to `lift3d.io`: `rig_toml`, `rig_qualisys`, `rig_opencv` and `rigs` import it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lift3d.errors import RigFileError
from lift3d.geometry import numpy_camera

Fail = Callable[[str], RigFileError]


def short(value: Any, limit: int = 60) -> str:
    """`repr(value)` on one line, cut to `limit` characters (for error messages)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def failer(path: os.PathLike | str, camera: str | None, field: str) -> Fail:
    """A function that turns a problem into a `RigFileError` naming the file, the camera and the field."""
    cam = f"camera {camera!r}, " if camera is not None else ""
    return lambda problem: RigFileError(f"{path}: {cam}field {field!r}: {problem}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _nested_numbers(value: Any, depth: int) -> bool:
    if depth == 0:
        return _is_number(value)
    return isinstance(value, list) and all(_nested_numbers(v, depth - 1) for v in value)


def numbers(value: Any, shapes: Sequence[tuple[int, ...]], expected: str, fail: Fail) -> np.ndarray:
    """A nested list of numbers of one of `shapes` as a finite float64 array, else `fail`."""
    for shape in shapes:
        if _nested_numbers(value, len(shape)):
            try:
                arr = np.array(value, dtype=np.float64)
            except ValueError:  # ragged
                continue
            if arr.shape == shape:
                if not np.all(np.isfinite(arr)):
                    raise fail(f"expected {expected}, got non-finite values {short(value)}")
                return arr
    raise fail(f"expected {expected}, got {short(value)}")


def check_rotation_matrix(R: np.ndarray, fail: Fail, atol: float = 1e-6) -> np.ndarray:
    """`R` (3, 3) if it is orthonormal with det +1 (to `atol`), else `fail`."""
    if not np.all(np.abs(R) <= 1.0 + atol):  # also refuses NaN, and numbers whose products overflow
        raise fail(f"not a rotation matrix (orthonormal, det +1): {short(R.tolist())}")
    if np.abs(R.T @ R - np.eye(3)).max() > atol or abs(np.linalg.det(R) - 1.0) > atol:
        raise fail(f"not a rotation matrix (orthonormal, det +1): {short(R.tolist())}")
    return R


def rodrigues_to_matrix(rvec: np.ndarray) -> np.ndarray:
    """(n, 3) Rodrigues vectors (rad) to (n, 3, 3) rotation matrices, float64 (the `cv2.Rodrigues` convention)."""
    return numpy_camera.rotvec_to_matrix(np.asarray(rvec, np.float64).reshape(-1, 3))


def matrix_to_rodrigues(R: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotation matrices to (n, 3) Rodrigues vectors (rad), float64."""
    from scipy.spatial.transform import Rotation  # on use (writing rigs): 0.3-0.5 s that reading need not pay

    return Rotation.from_matrix(np.asarray(R, np.float64).reshape(-1, 3, 3)).as_rotvec()
