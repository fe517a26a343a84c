"""Load any rig (calibration) file (`load_rig`), and the rig as a table or JSON for reports.

One module per format, `load_rig` picks by extension and contents:

- anipose / Pose2Sim TOML (read and write, byte-exact round trips): `lift3d.io.rig_toml` (`read_rig_toml`,
  `rig_to_toml`, `save_rig`).
- Qualisys QTM `.qca.txt` (XML, read only): `lift3d.io.rig_qualisys.read_qualisys`.
- OpenCV `FileStorage` YAML/XML (read only): single-camera intrinsics or stereo (M1, D1, M2, D2, R, T):
  `lift3d.io.rig_opencv.read_opencv`.

Every malformed input raises `RigFileError` (a `ValueError`) with one line naming the file, the camera and the
field. Rotations are converted in float64 with `scipy.spatial.transform.Rotation` (the same Rodrigues
convention as `cv2.Rodrigues` and `lift3d.geometry.rotation`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.rig import Rig
from lift3d.errors import RigFileError
from lift3d.io._rig_fields import matrix_to_rodrigues
from lift3d.io.rig_opencv import read_opencv
from lift3d.io.rig_qualisys import read_qualisys
from lift3d.io.rig_toml import read_rig_toml

__all__ = ["load_rig", "camera_table", "format_camera_table", "rig_to_json_dict"]

# ----------------------------------------------------------------------------------------------- dispatch


def _sniff(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".toml"):
        return "toml"
    if name.endswith((".yml", ".yaml")):
        return "opencv"
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    if head.startswith(b"%YAML"):
        return "opencv"
    if b"<opencv_storage" in head:
        return "opencv"
    if b"<calibration" in head:
        return "qualisys"
    if name.endswith((".xml", ".txt")):
        raise RigFileError(
            f"{path}: neither a Qualisys <calibration> nor an OpenCV <opencv_storage> XML file"
        )
    return "toml"


def load_rig(
    path: str | os.PathLike, *, cameras: Sequence[str] | None = None, units: str | None = None
) -> Rig:
    """Read any supported rig file, chosen by extension and contents.

    `.toml` -> `read_rig_toml`; `.yml` / `.yaml`, or XML with an `<opencv_storage>` root -> `read_opencv`;
    `.qca.txt` or XML with a `<calibration>` root -> `read_qualisys` (in metres); other names are sniffed.

    Args:
        path: The rig file.
        cameras: Keep only these cameras, in this order.
        units: Convert to "m" or "mm"; None keeps the file's units.

    Returns:
        The rig (`rig.metadata["_source"]` is the path, so later errors can name it).

    Raises:
        FileNotFoundError: No such file.
        RigFileError: A malformed file, or a requested camera the file does not have (`UnknownCameraError`).
    """
    path = Path(path)
    if path.is_dir():
        raise RigFileError(f"{path}: is a folder; give a rig file (.toml, Qualisys .qca.txt, OpenCV .yml / .xml)")
    if not path.is_file():
        raise FileNotFoundError(2, "no such rig file", str(path))
    kind = _sniff(path)
    rig = {"toml": read_rig_toml, "opencv": read_opencv, "qualisys": read_qualisys}[kind](path)
    if cameras is not None:
        rig = rig.subset(list(cameras))
    return rig.to_units(units) if units is not None else rig


# --------------------------------------------------------------------------------------- tables, JSON


def camera_table(rig: Rig) -> list[dict[str, Any]]:
    """One row per camera for reports: name, image size, focal length, centre and distance to the origin.

    Args:
        rig: The rig (any units; positions are reported in metres).

    Returns:
        Rows with keys "name", "size" ("1088x1920", width x height), "fx_px", "center_m" ([x, y, z], world
        metres) and "distance_m" (camera centre to world origin, metres).
    """
    centers = rig.to_units("m").centers
    K, size = np.asarray(rig.cameras.K), np.asarray(rig.cameras.image_size)
    return [
        {
            "name": name,
            "size": f"{size[i, 0]:.0f}x{size[i, 1]:.0f}",
            "fx_px": float(K[i, 0, 0]),
            "center_m": [float(c) for c in centers[i]],
            "distance_m": float(np.linalg.norm(centers[i])),
        }
        for i, name in enumerate(rig.names)
    ]


def format_camera_table(rig: Rig) -> str:
    """`camera_table(rig)` as aligned text, one line per camera plus a header.

    Args:
        rig: The rig.

    Returns:
        The table (no trailing newline).
    """
    rows = camera_table(rig)
    width = max([len("camera")] + [len(r["name"]) for r in rows])
    lines = [f"{'camera':<{width}}  {'size':>9}  {'fx (px)':>8}  {'centre x, y, z (m)':>26}  {'dist (m)':>8}"]
    for r in rows:
        x, y, z = r["center_m"]
        lines.append(
            f"{r['name']:<{width}}  {r['size']:>9}  {r['fx_px']:8.1f}  {x:8.3f}, {y:7.3f}, {z:7.3f}  "
            f"{r['distance_m']:8.3f}"
        )
    return "\n".join(lines)


def rig_to_json_dict(rig: Rig) -> dict[str, Any]:
    """The rig as JSON-ready lists (e.g. `demo_out/cameras.json`); one entry per camera in each list.

    Args:
        rig: The rig.

    Returns:
        Keys "units", "model", "names", "image_size" ([w, h] px), "K" (3x3 px), "dist" (5 coefficients),
        "R" (3x3 world->camera), "rvec" (Rodrigues, rad), "t" (world->camera, `units`) and "centers" (camera
        centres in the world, `units`).
    """
    cams = rig.cameras
    R = np.asarray(cams.R, np.float64)
    return {
        "units": rig.units,
        "model": cams.model,
        "names": list(rig.names),
        "image_size": np.asarray(cams.image_size, np.float64).tolist(),
        "K": np.asarray(cams.K, np.float64).tolist(),
        "dist": np.asarray(cams.dist, np.float64).tolist(),
        "R": R.tolist(),
        "rvec": matrix_to_rodrigues(R).tolist(),
        "t": np.asarray(cams.t, np.float64).tolist(),
        "centers": rig.centers.tolist(),
    }
