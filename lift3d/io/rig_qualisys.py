"""Qualisys QTM calibrations (`.qca.txt`, XML) into a `Rig` (`read_qualisys`; read only)."""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from lift3d.core.rig import SOURCE_KEY, Rig
from lift3d.errors import RigFileError
from lift3d.geometry.camera import Camera
from lift3d.io._rig_fields import check_rotation_matrix, failer, short

__all__ = ["read_qualisys"]

_QCA_DIST = (
    "radialDistortion1",
    "radialDistortion2",
    "tangentalDistortion1",
    "tangentalDistortion2",
    "radialDistortion3",
)


def _xml_float(elem: ET.Element | None, tag: str, key: str, path: Path, camera: str) -> float:
    fail = failer(path, camera, f"{tag}.{key}")
    if elem is None:
        raise failer(path, camera, tag)("missing element")
    raw = elem.get(key)
    if raw is None:
        raise fail("missing attribute")
    try:
        value = float(raw)
    except ValueError:
        raise fail(f"expected a number, got {short(raw)}") from None
    if not math.isfinite(value):
        raise fail(f"expected a finite number, got {short(raw)}")
    return value


def _parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, LookupError, ValueError) as err:  # LookupError, ValueError: a bad encoding="..."
        raise RigFileError(f"{path}: invalid XML: {' '.join(str(err).split())}") from None


def read_qualisys(path: str | os.PathLike, *, units: str = "m") -> Rig:
    """Import a Qualisys QTM calibration (`.qca.txt`, XML).

    Conversions (they reproduce Pose2Sim's TOML of the same file to ~1e-15): image size from `fov_video`
    (right - left + 1, bottom - top + 1); intrinsics from 1/64-px sensor units, fx = focalLengthU / 64,
    cx = centerPointU / 64 - fov_video.left (likewise V with top). `transform` is the camera pose in the
    world: (x, y, z) the camera centre C in mm and S[a][b] = r_ab; Qualisys cameras look along -z with y up,
    so the OpenCV world->camera rotation is R = diag(1, -1, -1) @ S and t = -R @ C.

    Distortion is kept as Qualisys writes it: (k1, k2, p1, p2, k3) = (radialDistortion1, radialDistortion2,
    tangentalDistortion1, tangentalDistortion2, radialDistortion3). Pose2Sim divides k1, k2, p1, p2 by 64
    (a bug: a checkerboard calibration of the same cameras agrees with the undivided values), so its TOML
    differs from ours by that factor. Skew is ignored (as Pose2Sim does); rotated views are not supported.

    Args:
        path: The `.qca.txt` file.
        units: World units of the returned rig, "m" (default) or "mm".

    Returns:
        The rig, cameras named by their `serial` attribute as written (e.g. "cam_01" or "cam01").

    Raises:
        RigFileError: Invalid XML, a missing element or attribute, a non-number, or a non-rotation.
    """
    if units not in ("m", "mm"):
        raise ValueError(f"units must be 'm' or 'mm', got {units!r}")
    path = Path(path)
    root = _parse_xml(path)
    if root.tag != "calibration":
        raise failer(path, None, "calibration")(f"expected a Qualisys <calibration> root, got <{root.tag}>")
    cameras = root.findall("cameras/camera")
    if not cameras:
        raise failer(path, None, "cameras/camera")("no cameras")
    names, Ks, dists, Rs, ts, sizes = [], [], [], [], [], []
    for i, cam in enumerate(cameras):
        name = cam.get("serial")
        if not name:
            raise failer(path, f"#{i + 1}", "serial")("missing camera serial")
        if name in names:
            raise failer(path, name, "serial")("duplicate camera serial")
        if cam.get("viewrotation", "0") not in ("0", "0.0"):
            raise failer(path, name, "viewrotation")(
                f"rotated views are not supported ({cam.get('viewrotation')})"
            )

        def num(tag: str, key: str, _cam=cam, _name=name) -> float:
            return _xml_float(_cam.find(tag), tag, key, path, _name)

        left, top = num("fov_video", "left"), num("fov_video", "top")
        size = (num("fov_video", "right") - left + 1.0, num("fov_video", "bottom") - top + 1.0)
        if min(size) <= 0:
            raise failer(path, name, "fov_video")(f"empty field of view {size}")
        fx, fy = num("intrinsic", "focalLengthU") / 64.0, num("intrinsic", "focalLengthV") / 64.0
        cx = num("intrinsic", "centerPointU") / 64.0 - left
        cy = num("intrinsic", "centerPointV") / 64.0 - top
        dist = [num("intrinsic", k) for k in _QCA_DIST]
        S = np.array([[num("transform", f"r{a}{b}") for b in (1, 2, 3)] for a in (1, 2, 3)])
        check_rotation_matrix(S, failer(path, name, "transform"))
        C = np.array([num("transform", k) for k in ("x", "y", "z")])
        R = np.diag([1.0, -1.0, -1.0]) @ S
        names.append(name)
        Ks.append([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        dists.append(dist)
        Rs.append(R)
        ts.append(-R @ (C / 1000.0 if units == "m" else C))
        sizes.append(size)
    cams = Camera.create(np.array(Ks), R=np.stack(Rs), t=np.stack(ts), dist=np.array(dists), image_size=sizes)
    return Rig(names=tuple(names), cameras=cams, units=units, metadata={SOURCE_KEY: str(path)})
