"""Anipose / Pose2Sim / FreeMoCap TOML rig files: `read_rig_toml`, `rig_to_toml` and `save_rig`.

One table per camera (`[cam_01]`: name, size [w, h], matrix (K), distortions (4 or 5), rotation (Rodrigues
vector, world->camera), translation (world->camera), fisheye) and a `[metadata]` table; units are metres unless
`[metadata] units = "mm"`. Files written by Pose2Sim round-trip byte for byte: the writer uses Pose2Sim's layout
and Python's shortest float repr, and keeps the Rodrigues vectors and the number of distortion coefficients it
read (in `rig.metadata["_toml"]`) for cameras whose rotation is unchanged.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.rig import SOURCE_KEY, Rig
from lift3d.errors import RigFileError
from lift3d.geometry.camera import Camera
from lift3d.io._rig_fields import (
    Fail,
    check_rotation_matrix,
    failer,
    matrix_to_rodrigues,
    numbers,
    rodrigues_to_matrix,
    short,
)
from lift3d.io.atomic import atomic_write

__all__ = ["read_rig_toml", "rig_to_toml", "save_rig"]

TOML_KEY = "_toml"  # rig.metadata key: what the TOML reader keeps for an exact write-back
_PRIVATE_KEYS = (SOURCE_KEY, TOML_KEY)
_ROTATION_MATCH_ATOL = 1e-12  # a stored Rodrigues vector is reused if it still gives the camera's R to this
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# ------------------------------------------------------------------------------------------------ read


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
        raise failer(path, None, "metadata")(f"expected a table, got {short(metadata)}")
    units = metadata.get("units", "m")
    if units not in ("m", "mm"):
        raise failer(path, None, "metadata.units")(f"expected 'm' or 'mm', got {short(units)}")

    names, Ks, dists, rvecs, Rs, ts, sizes, fisheyes, stored = [], [], [], [], [], [], [], [], {}
    for table, cam in data.items():
        if table == "metadata":
            continue
        if not isinstance(cam, dict):
            raise failer(path, None, table)(f"expected a camera table [{table}], got {short(cam)}")
        name = cam.get("name", table)
        if not isinstance(name, str) or not name:
            raise failer(path, table, "name")(f"expected a non-empty string, got {short(name)}")
        if name in names:
            raise failer(path, name, "name")(f"duplicate camera name (table [{table}])")

        def get(key: str, shapes, expected: str, _name=name, _cam=cam) -> tuple[np.ndarray, Fail]:
            fail = failer(path, _name, key)
            if key not in _cam:
                raise fail("missing")
            return numbers(_cam[key], shapes, expected, fail), fail

        fisheye = cam.get("fisheye", False)
        if not isinstance(fisheye, bool):
            raise failer(path, name, "fisheye")(f"expected true or false, got {short(fisheye)}")
        size, fail = get("size", [(2,)], "[width, height] (2 numbers)")
        if np.any(size <= 0):
            raise fail(f"expected a positive width and height, got {short(size.tolist())}")
        K, fail = get("matrix", [(3, 3)], "a 3x3 matrix of numbers")
        if np.any(K[2] != (0.0, 0.0, 1.0)) or K[0, 0] <= 0 or K[1, 1] <= 0:
            raise fail(f"expected [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {short(K.tolist())}")
        n_dist = ([(4,)], "4 numbers (fisheye)") if fisheye else ([(4,), (5,)], "4 or 5 numbers")
        dist, _ = get("distortions", *n_dist)
        rot, fail = get("rotation", [(3,), (3, 3)], "a Rodrigues vector (3 numbers) or a 3x3 rotation matrix")
        t, _ = get("translation", [(3,)], "3 numbers")

        stored[name] = {"table": table, "n_dist": len(dist)}
        if rot.shape == (3,) and not np.all(np.abs(rot) < 1e6):  # beyond, sin and cos of the angle are noise
            raise fail(f"a Rodrigues vector (radians) of implausible size {short(rot.tolist())}")
        if rot.shape == (3,):
            stored[name]["rotation"] = tuple(float(x) for x in rot)
            rvecs.append((len(names), rot))
            Rs.append(None)  # filled below, all cameras in one conversion
        else:
            Rs.append(check_rotation_matrix(rot, fail))
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
        raise failer(path, odd, "fisheye")("fisheye and pinhole cameras cannot share one rig")
    if rvecs:
        matrices = rodrigues_to_matrix(np.stack([r for _, r in rvecs]))
        for (i, _), R in zip(rvecs, matrices, strict=True):
            Rs[i] = R
    arrays = {"R": np.stack(Rs), "t": np.stack(ts), "dist": np.stack(dists), "image_size": np.stack(sizes)}
    cameras = Camera.create(np.stack(Ks), **arrays, model="fisheye" if fisheyes[0] else "pinhole")
    meta = dict(metadata)
    meta[TOML_KEY] = {"cameras": stored, "units_key": "units" in metadata}
    return Rig(names=tuple(names), cameras=cameras, units=units, metadata={**meta, SOURCE_KEY: str(path)})


# ----------------------------------------------------------------------------------------------- write


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
        check_rotation_matrix(
            R_i, lambda problem, _n=name: ValueError(f"camera {_n!r}, field 'R': {problem}")
        )
    toml_meta = rig.metadata.get(TOML_KEY, {})
    stored = toml_meta.get("cameras", {})
    rvecs = matrix_to_rodrigues(R)
    kept = {i: stored[n]["rotation"] for i, n in enumerate(rig.names) if "rotation" in stored.get(n, {})}
    if kept:
        idx = list(kept)
        again = rodrigues_to_matrix(np.array([kept[i] for i in idx]))
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
