"""Read and write rig (calibration) files: anipose / Pose2Sim TOML, Qualisys `.qca.txt`, OpenCV YAML/XML.

- TOML (read and write): one table per camera (`[cam_01]`: name, size [w, h], matrix (K),
  distortions (4 or 5), rotation (Rodrigues vector, world->camera), translation (world->camera), fisheye) and
  a `[metadata]` table; units are metres unless `[metadata] units = "mm"`. Files written by Pose2Sim
  round-trip byte for byte: the writer uses Pose2Sim's layout and Python's shortest float repr, and keeps the
  Rodrigues vectors and the number of distortion coefficients it read (in `rig.metadata["_toml"]`) for
  cameras whose rotation is unchanged.
- Qualisys QTM `.qca.txt` (XML, read only): see `read_qualisys`.
- OpenCV `FileStorage` YAML/XML (read only): single-camera intrinsics or stereo (M1, D1, M2, D2, R, T).

Every malformed input raises `RigFileError` (a `ValueError`) with one line naming the file, the camera and the
field. Rotations are converted in float64 with `scipy.spatial.transform.Rotation` (the same Rodrigues
convention as `cv2.Rodrigues` and `lift3d.geometry.rotation`).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from lift3d.core.rig import SOURCE_KEY, Rig, RigFileError, UnknownCameraError
from lift3d.geometry.camera import Camera
from lift3d.io.atomic import atomic_write

__all__ = ["RigFileError", "UnknownCameraError", "load_rig", "save_rig", "read_rig_toml", "rig_to_toml"]
__all__ += ["read_qualisys", "read_opencv", "camera_table", "format_camera_table", "rig_to_json_dict"]

TOML_KEY = "_toml"  # rig.metadata key: what the TOML reader keeps for an exact write-back
_PRIVATE_KEYS = (SOURCE_KEY, TOML_KEY)
_ROTATION_MATCH_ATOL = 1e-12  # a stored Rodrigues vector is reused if it still gives the camera's R to this
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

_QCA_DIST = (
    "radialDistortion1",
    "radialDistortion2",
    "tangentalDistortion1",
    "tangentalDistortion2",
    "radialDistortion3",
)

Fail = Callable[[str], RigFileError]


# ----------------------------------------------------------------------------------------------- helpers


def _short(value: Any, limit: int = 60) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failer(path: os.PathLike | str, camera: str | None, field: str) -> Fail:
    cam = f"camera {camera!r}, " if camera is not None else ""
    return lambda problem: RigFileError(f"{path}: {cam}field {field!r}: {problem}")


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _nested_numbers(value: Any, depth: int) -> bool:
    if depth == 0:
        return _is_number(value)
    return isinstance(value, list) and all(_nested_numbers(v, depth - 1) for v in value)


def _numbers(value: Any, shapes: Sequence[tuple[int, ...]], expected: str, fail: Fail) -> np.ndarray:
    """A nested list of numbers of one of `shapes` as a finite float64 array, else `fail`."""
    for shape in shapes:
        if _nested_numbers(value, len(shape)):
            try:
                arr = np.array(value, dtype=np.float64)
            except ValueError:  # ragged
                continue
            if arr.shape == shape:
                if not np.all(np.isfinite(arr)):
                    raise fail(f"expected {expected}, got non-finite values {_short(value)}")
                return arr
    raise fail(f"expected {expected}, got {_short(value)}")


def _check_rotation_matrix(R: np.ndarray, fail: Fail, atol: float = 1e-6) -> np.ndarray:
    if np.abs(R.T @ R - np.eye(3)).max() > atol or abs(np.linalg.det(R) - 1.0) > atol:
        raise fail(f"not a rotation matrix (orthonormal, det +1): {_short(R.tolist())}")
    return R


def _rodrigues_to_matrix(rvec: np.ndarray) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(rvec, np.float64).reshape(-1, 3)).as_matrix()


def _matrix_to_rodrigues(R: np.ndarray) -> np.ndarray:
    return Rotation.from_matrix(np.asarray(R, np.float64).reshape(-1, 3, 3)).as_rotvec()


# ------------------------------------------------------------------------------------------ TOML: read


def read_rig_toml(path: str | os.PathLike) -> Rig:
    """Read an anipose / Pose2Sim / FreeMoCap TOML rig.

    Every table except `[metadata]` is a camera; its `name` (else the table name) names it. `rotation` is a
    Rodrigues vector (3 numbers, radians) or a 3x3 rotation matrix, world->camera; `distortions` holds 4 or 5
    OpenCV coefficients (k1, k2, p1, p2[, k3]), or 4 fisheye coefficients (k1..k4) when `fisheye = true`.

    Args:
        path: The `.toml` file.

    Returns:
        The rig, in the file's units ("m" unless `[metadata] units = "mm"`). `rig.metadata` holds the
        `[metadata]` table plus private keys ("_source", "_toml") used to write the file back unchanged.

    Raises:
        RigFileError: Invalid TOML (the message gives the line), a missing key, a wrong shape, a non-finite
            number, a bad rotation, duplicate camera names or mixed fisheye / pinhole cameras.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as err:
        raise RigFileError(f"{path}: invalid TOML: {' '.join(str(err).split())}") from None
    except UnicodeDecodeError as err:
        raise RigFileError(f"{path}: not UTF-8 text (byte {err.start})") from None
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _failer(path, None, "metadata")(f"expected a table, got {_short(metadata)}")
    units = metadata.get("units", "m")
    if units not in ("m", "mm"):
        raise _failer(path, None, "metadata.units")(f"expected 'm' or 'mm', got {_short(units)}")

    names, Ks, dists, rvecs, Rs, ts, sizes, fisheyes, stored = [], [], [], [], [], [], [], [], {}
    for table, cam in data.items():
        if table == "metadata":
            continue
        if not isinstance(cam, dict):
            raise _failer(path, None, table)(f"expected a camera table [{table}], got {_short(cam)}")
        name = cam.get("name", table)
        if not isinstance(name, str) or not name:
            raise _failer(path, table, "name")(f"expected a non-empty string, got {_short(name)}")
        if name in names:
            raise _failer(path, name, "name")(f"duplicate camera name (table [{table}])")

        def get(key: str, shapes, expected: str, _name=name, _cam=cam) -> tuple[np.ndarray, Fail]:
            fail = _failer(path, _name, key)
            if key not in _cam:
                raise fail("missing")
            return _numbers(_cam[key], shapes, expected, fail), fail

        fisheye = cam.get("fisheye", False)
        if not isinstance(fisheye, bool):
            raise _failer(path, name, "fisheye")(f"expected true or false, got {_short(fisheye)}")
        size, fail = get("size", [(2,)], "[width, height] (2 numbers)")
        if np.any(size <= 0):
            raise fail(f"expected a positive width and height, got {_short(size.tolist())}")
        K, fail = get("matrix", [(3, 3)], "a 3x3 matrix of numbers")
        if np.any(K[2] != (0.0, 0.0, 1.0)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise fail(f"expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {_short(K.tolist())}")
        n_dist = ([(4,)], "4 numbers (fisheye)") if fisheye else ([(4,), (5,)], "4 or 5 numbers")
        dist, _ = get("distortions", *n_dist)
        rot, fail = get("rotation", [(3,), (3, 3)], "a Rodrigues vector (3 numbers) or a 3x3 rotation matrix")
        t, _ = get("translation", [(3,)], "3 numbers")

        stored[name] = {"table": table, "n_dist": len(dist)}
        if rot.shape == (3,):
            stored[name]["rotation"] = tuple(float(x) for x in rot)
            rvecs.append((len(names), rot))
            Rs.append(None)  # filled below, all cameras in one conversion
        else:
            Rs.append(_check_rotation_matrix(rot, fail))
        names.append(name)
        Ks.append(K)
        dists.append(np.pad(dist, (0, 5 - len(dist))))
        ts.append(t)
        sizes.append(size)
        fisheyes.append(fisheye)
    if not names:
        raise RigFileError(f"{path}: no camera tables (expected [cam_1] ... with name, size, matrix, ...)")
    if len(set(fisheyes)) > 1:
        odd = names[fisheyes.index(not fisheyes[0])]
        raise _failer(path, odd, "fisheye")("fisheye and pinhole cameras cannot share one rig")
    if rvecs:
        matrices = _rodrigues_to_matrix(np.stack([r for _, r in rvecs]))
        for (i, _), R in zip(rvecs, matrices, strict=True):
            Rs[i] = R
    arrays = {"R": np.stack(Rs), "t": np.stack(ts), "dist": np.stack(dists), "image_size": np.stack(sizes)}
    cameras = Camera.create(np.stack(Ks), **arrays, model="fisheye" if fisheyes[0] else "pinhole")
    meta = dict(metadata)
    meta[TOML_KEY] = {"cameras": stored, "units_key": "units" in metadata}
    return Rig(names=tuple(names), cameras=cameras, units=units, metadata={**meta, SOURCE_KEY: str(path)})


# ----------------------------------------------------------------------------------------- TOML: write


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any, where: str) -> str:
    """One TOML value in Pose2Sim's style: `[ a, b]`, floats as Python's shortest repr."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(" " + _toml_value(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(str(k))} = {_toml_value(v, where)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if hasattr(value, "isoformat"):  # datetime, date, time as read by tomllib
        return value.isoformat()
    raise TypeError(f"rig metadata {where!r}: cannot write a {type(value).__name__} to TOML")


def rig_to_toml(rig: Rig) -> str:
    """The rig as anipose / Pose2Sim TOML text (see `save_rig`).

    Args:
        rig: The rig; its translations are written in `rig.units`.

    Returns:
        The TOML text.

    Raises:
        ValueError: A non-finite value or a non-rotation R (naming the camera and field), or metadata that
            TOML cannot hold.
    """
    cams = rig.cameras
    K, dist, R, t, size = (
        np.asarray(a, np.float64) for a in (cams.K, cams.dist, cams.R, cams.t, cams.image_size)
    )
    for field, arr in (("K", K), ("dist", dist), ("R", R), ("t", t), ("image_size", size)):
        finite = np.isfinite(arr.reshape(len(rig), -1)).all(axis=1)
        if not finite.all():
            raise ValueError(f"camera {rig.names[np.argmin(finite)]!r}, field {field!r}: not finite")
    for name, R_i in zip(rig.names, R, strict=True):
        _check_rotation_matrix(
            R_i, lambda problem, _n=name: ValueError(f"camera {_n!r}, field 'R': {problem}")
        )
    toml_meta = rig.metadata.get(TOML_KEY, {})
    stored = toml_meta.get("cameras", {})
    rvecs = _matrix_to_rodrigues(R)
    kept = {i: stored[n]["rotation"] for i, n in enumerate(rig.names) if "rotation" in stored.get(n, {})}
    if kept:
        idx = list(kept)
        again = _rodrigues_to_matrix(np.array([kept[i] for i in idx]))
        for i, R_again in zip(idx, again, strict=True):
            if np.abs(R_again - R[i]).max() <= _ROTATION_MATCH_ATOL:
                rvecs[i] = kept[i]
    fisheye = cams.model == "fisheye"
    lines, tables = [], set()
    for i, name in enumerate(rig.names):
        info = stored.get(name, {})
        table = info.get("table", name)
        if table == "metadata" or table in tables:
            table = next(f"cam_{j}" for j in itertools.count() if f"cam_{j}" not in tables | set(rig.names))
        tables.add(table)
        d = dist[i]
        if fisheye:
            if d[4] != 0.0:
                raise ValueError(f"camera {name!r}: a fisheye camera has 4 coefficients, dist[4] = {d[4]}")
            d = d[:4]
        elif d[4] == 0.0 and info.get("n_dist") == 4:
            d = d[:4]
        lines += [
            f"[{_toml_key(table)}]",
            f"name = {_toml_string(name)}",
            f"size = {_toml_value(size[i], 'size')}",
            f"matrix = {_toml_value(K[i], 'matrix')}",
            f"distortions = {_toml_value(d, 'distortions')}",
            f"rotation = {_toml_value([float(x) for x in rvecs[i]], 'rotation')}",
            f"translation = {_toml_value(t[i], 'translation')}",
            f"fisheye = {_toml_value(fisheye, 'fisheye')}",
            "",
        ]
    meta = {k: v for k, v in rig.metadata.items() if k not in _PRIVATE_KEYS}
    if "units" in meta or toml_meta.get("units_key", True) or rig.units != "m":
        meta["units"] = rig.units
    if meta:
        lines.append("[metadata]")
        lines += [f"{_toml_key(str(k))} = {_toml_value(v, str(k))}" for k, v in meta.items()]
    else:
        lines.pop()  # no trailing blank line
    return "\n".join(lines) + "\n"


def save_rig(rig: Rig, path: str | os.PathLike, *, units: str | None = None) -> Path:
    """Write a rig as anipose / Pose2Sim TOML, atomically (temporary file, then rename).

    The layout is Pose2Sim's (`size = [ 1088.0, 1920.0]`, floats as Python's shortest repr), so a file read
    with `read_rig_toml` and saved unchanged is written back byte for byte. Distortion: 4 coefficients when
    k3 == 0 and the file read had 4 (and always for fisheye cameras), else 5. Rotation: the Rodrigues vector
    read from the file while it still gives the camera's R (to 1e-12), else one computed in float64.
    `[metadata]` keeps the rig's metadata and records `units` (omitted only for a file read without it and
    still in metres, as Pose2Sim writes them; anipose and Pose2Sim assume metres).

    Args:
        rig: The rig.
        path: Destination `.toml` file (its folder is created).
        units: Convert the translations to "m" or "mm" first; None keeps `rig.units`.

    Returns:
        The path written.

    Raises:
        RigFileError: The rig cannot be written (see `rig_to_toml`); an existing file is left untouched.
    """
    if units is not None:
        rig = rig.to_units(units)
    try:
        text = rig_to_toml(rig)
    except (ValueError, TypeError) as err:
        raise RigFileError(f"{path}: cannot write: {err}") from None
    with atomic_write(path, "wb") as f:
        f.write(text.encode("utf-8"))
    return Path(path)


# -------------------------------------------------------------------------------------------- Qualisys


def _xml_float(elem: ET.Element | None, tag: str, key: str, path: Path, camera: str) -> float:
    fail = _failer(path, camera, f"{tag}.{key}")
    if elem is None:
        raise _failer(path, camera, tag)("missing element")
    raw = elem.get(key)
    if raw is None:
        raise fail("missing attribute")
    try:
        value = float(raw)
    except ValueError:
        raise fail(f"expected a number, got {_short(raw)}") from None
    if not math.isfinite(value):
        raise fail(f"expected a finite number, got {_short(raw)}")
    return value


def _parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as err:
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
        raise _failer(path, None, "calibration")(f"expected a Qualisys <calibration> root, got <{root.tag}>")
    cameras = root.findall("cameras/camera")
    if not cameras:
        raise _failer(path, None, "cameras/camera")("no cameras")
    names, Ks, dists, Rs, ts, sizes = [], [], [], [], [], []
    for i, cam in enumerate(cameras):
        name = cam.get("serial")
        if not name:
            raise _failer(path, f"#{i + 1}", "serial")("missing camera serial")
        if name in names:
            raise _failer(path, name, "serial")("duplicate camera serial")
        if cam.get("viewrotation", "0") not in ("0", "0.0"):
            raise _failer(path, name, "viewrotation")(
                f"rotated views are not supported ({cam.get('viewrotation')})"
            )

        def num(tag: str, key: str, _cam=cam, _name=name) -> float:
            return _xml_float(_cam.find(tag), tag, key, path, _name)

        left, top = num("fov_video", "left"), num("fov_video", "top")
        size = (num("fov_video", "right") - left + 1.0, num("fov_video", "bottom") - top + 1.0)
        if min(size) <= 0:
            raise _failer(path, name, "fov_video")(f"empty field of view {size}")
        fx, fy = num("intrinsic", "focalLengthU") / 64.0, num("intrinsic", "focalLengthV") / 64.0
        cx = num("intrinsic", "centerPointU") / 64.0 - left
        cy = num("intrinsic", "centerPointV") / 64.0 - top
        dist = [num("intrinsic", k) for k in _QCA_DIST]
        S = np.array([[num("transform", f"r{a}{b}") for b in (1, 2, 3)] for a in (1, 2, 3)])
        _check_rotation_matrix(S, _failer(path, name, "transform"))
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


# ---------------------------------------------------------------------------------------------- OpenCV


def read_opencv(
    path: str | os.PathLike, *, extrinsics: str | os.PathLike | None = None,
    names: Sequence[str] | None = None, units: str = "m",
) -> Rig:  # fmt: skip
    """Read an OpenCV `FileStorage` calibration (YAML or XML), as written by OpenCV's calibration samples.

    Two layouts: a single camera (`camera_matrix`, `distortion_coefficients`, `image_width`, `image_height`;
    the camera is the world: R = I, t = 0), or a stereo pair (`M1`, `D1`, `M2`, `D2` with `R`, `T` from the
    same file or from `extrinsics`, e.g. stereo_calib's intrinsics.yml + extrinsics.yml; camera 1 is the
    world). Without `image_width` / `image_height` the image size is taken as twice the principal point,
    rounded, and `metadata["image_size_estimated"]` is True. Up to 5 coefficients (k1, k2, p1, p2, k3) are
    supported; longer vectors must be zero beyond the fifth.

    Args:
        path: The `.yml` / `.yaml` / `.xml` file.
        extrinsics: A second file holding the stereo `R` and `T`.
        names: Camera names; default (file stem,) for one camera, ("cam_01", "cam_02") for a pair.
        units: The unit of `T` in the file (OpenCV stores the board's unit), "m" or "mm".

    Returns:
        A 1- or 2-camera rig.

    Raises:
        RigFileError: Not a calibration, a missing or malformed field, or a non-rotation `R`.
    """
    import cv2

    if units not in ("m", "mm"):
        raise ValueError(f"units must be 'm' or 'mm', got {units!r}")
    path = Path(path)

    def open_fs(p: Path):
        try:
            fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_READ)
        except cv2.error as err:
            raise RigFileError(
                f"{p}: not an OpenCV FileStorage file: {' '.join(str(err).split())[-160:]}"
            ) from None
        if not fs.isOpened():
            raise RigFileError(f"{p}: cannot be opened as an OpenCV FileStorage file")
        return fs

    def mat(fs, p: Path, key: str, camera: str, shape: tuple[int, ...] | None, expected: str) -> np.ndarray:
        node, fail = fs.getNode(key), _failer(p, camera, key)
        if node.empty() or node.isNone():
            raise fail("missing")
        m = node.mat()
        if m is None:
            raise fail(f"expected an opencv-matrix ({expected})")
        m = np.asarray(m, np.float64)
        m = m.reshape(-1) if shape is None or len(shape) == 1 else m
        return _numbers(m.tolist(), [shape or m.shape], expected, fail)

    def distortion(fs, key: str, camera: str) -> np.ndarray:
        d = mat(fs, path, key, camera, None, "4, 5, 8, 12 or 14 coefficients")
        if d.size not in (4, 5, 8, 12, 14) or np.any(d[5:] != 0):
            raise _failer(path, camera, key)(
                f"expected k1, k2, p1, p2[, k3] (more only if zero), got {_short(d.tolist())}"
            )
        return np.pad(d[:5], (0, 5 - min(d.size, 5)))

    fs = open_fs(path)
    try:
        stereo, single = not fs.getNode("M1").empty(), not fs.getNode("camera_matrix").empty()
        if not (stereo or single):
            raise RigFileError(
                f"{path}: not a camera calibration: no 'camera_matrix' (one camera) or 'M1' (stereo)"
            )
        default = ("cam_01", "cam_02") if stereo else (path.name.split(".")[0],)
        names = tuple(names) if names is not None else default
        if len(names) != len(default):
            raise ValueError(f"{path}: holds {len(default)} camera(s), got names {list(names)}")
        keys = [("M1", "D1"), ("M2", "D2")] if stereo else [("camera_matrix", "distortion_coefficients")]
        Ks = [mat(fs, path, k, n, (3, 3), "3x3") for (k, _), n in zip(keys, names, strict=True)]
        dists = [distortion(fs, d, n) for (_, d), n in zip(keys, names, strict=True)]
        w, h = fs.getNode("image_width"), fs.getNode("image_height")
        estimated = w.empty() or h.empty()
        sizes = [np.round(2.0 * K[:2, 2]) if estimated else np.array([w.real(), h.real()]) for K in Ks]
        if np.any(np.asarray(sizes) <= 0):
            raise _failer(path, names[0], "image_width")(f"expected a positive size, got {sizes[0].tolist()}")
        Rs, ts = [np.eye(3)], [np.zeros(3)]
        if stereo:
            src, src_fs = path, fs
            if fs.getNode("R").empty() and extrinsics is not None:
                src, src_fs = Path(extrinsics), open_fs(Path(extrinsics))
            try:
                if src_fs.getNode("R").empty():
                    raise _failer(path, names[1], "R")(
                        "missing: no stereo rotation in this file; pass extrinsics= (e.g. extrinsics.yml)"
                    )
                R = mat(src_fs, src, "R", names[1], (3, 3), "3x3")
                Rs.append(_check_rotation_matrix(R, _failer(src, names[1], "R")))
                ts.append(mat(src_fs, src, "T", names[1], (3,), "3 numbers"))
            finally:
                if src_fs is not fs:
                    src_fs.release()
    finally:
        fs.release()
    cams = Camera.create(np.stack(Ks), R=np.stack(Rs), t=np.stack(ts), dist=np.stack(dists), image_size=sizes)
    meta = {"image_size_estimated": True} if estimated else {}
    return Rig(names=names, cameras=cams, units=units, metadata={**meta, SOURCE_KEY: str(path)})


# -------------------------------------------------------------------------------------------- dispatch


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
        "rvec": _matrix_to_rodrigues(R).tolist(),
        "t": np.asarray(cams.t, np.float64).tolist(),
        "centers": rig.centers.tolist(),
    }
