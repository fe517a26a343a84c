"""Write 3D joint trajectories (TRC, C3D, CSV, npz) and read them back (`read_motion`).

`write_motion` takes ``points`` (t, j, 3) in the rig's units (m or mm), the joint names and the frame rate,
plus optional per-joint diagnostics of shape (t, j): the reprojection ``error`` (px), the number of cameras
used ``ncams`` and a ``score``. Missing joints are NaN. Every file is written atomically (a temporary file in
the same folder, then ``os.replace``): a failed write leaves any previous file intact.

- TRC (OpenSim / Pose2Sim): header ``PathFileType 4 (X/Y/Z) <name>``, then ``DataRate CameraRate NumFrames
  NumMarkers Units OrigDataRate OrigDataStartFrame OrigNumFrames`` and their values, the marker-name row
  (``Frame#``, ``Time``, each name followed by two empty cells), the ``X1 Y1 Z1 ...`` row, then one
  tab-separated row per frame. Missing values are empty fields (what Pose2Sim writes and OpenSim reads as
  NaN). Diagnostics are not stored (TRC has no place for them).
- C3D (written with ezc3d, read with numpy alone by `lift3d.io._c3d`): ``POINT:LABELS``, ``POINT:RATE``,
  ``POINT:UNITS``; missing points are NaN with residual -1. The reprojection error is stored as the C3D
  residual, in px, which C3D quantises to 256 steps:
  ``POINT:SCALE`` is set to ``-max(error) / 255``, so the error comes back to within half that step.
  ``ncams`` and ``score`` are not stored. ``POINT:X_SCREEN`` / ``Y_SCREEN`` record the vertical axis.
- CSV: header ``frame, time_s``, then for each joint ``<joint>_x_<u>, <joint>_y_<u>, <joint>_z_<u>``
  (u = m or mm) and, when given, ``<joint>_error_px, <joint>_ncams, <joint>_score``; missing values empty.
- npz: ``points``, ``joint_names``, ``fps``, ``units``, ``frame_ids``, ``y_up`` and the diagnostics given.

Axes: lift3d's world is the rig's (Z-up for Pose2Sim / Qualisys data). ``y_up=True`` writes Y-up coordinates
the way Pose2Sim does for OpenSim, the cyclic rotation (x, y, z) -> (y, z, x) (`lift3d.core.motion.zup_to_yup`;
a proper rotation, so handedness is kept). `read_motion` returns a `lift3d.core.motion.Motion` with the
coordinates as stored, and ``y_up`` when the file records it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from lift3d.core.motion import UNITS, Motion, zup_to_yup
from lift3d.errors import MotionFileError
from lift3d.io._c3d import read_c3d_points
from lift3d.io.atomic import atomic_path, atomic_write
from lift3d.io.bvh import write_bvh_points
from lift3d.io.npz import load_npz

__all__ = ["write_motion", "read_motion", "read_trc", "read_c3d", "read_motion_csv", "read_motion_npz"]

PathLike = str | os.PathLike[str]
_DIAGNOSTICS = ("error", "ncams", "score")


@dataclasses.dataclass(frozen=True)
class _Data:
    """Validated writer input, converted to the file's units and axes."""

    points: np.ndarray
    names: tuple[str, ...]
    fps: float
    units: str
    frames: np.ndarray
    diag: dict[str, np.ndarray]
    y_up: bool

    @property
    def time(self) -> np.ndarray:
        return self.frames / self.fps


def _prepare(points, joint_names, fps, units, error, ncams, score, y_up, frame_ids, file_units) -> _Data:
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 3:
        raise ValueError(f"points must have shape (t, j, 3), got {pts.shape}")
    t, j = pts.shape[:2]
    names = tuple(str(n) for n in joint_names)
    if len(names) != j or len(set(names)) != j:
        raise ValueError(f"need {j} unique joint names, got {names}")
    bad = [n for n in names if not n or re.search(r"[\t\n\r,]", n)]
    if bad:
        raise ValueError(f"joint names must be non-empty without tabs, commas or newlines: {bad}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    file_units = units if file_units is None else file_units
    for u in (units, file_units):
        if u not in UNITS:
            raise ValueError(f"units must be 'm' or 'mm', got {u!r}")
    frames = np.arange(t, dtype=np.int64) if frame_ids is None else np.asarray(frame_ids).astype(np.int64)
    if frames.shape != (t,) or (t > 1 and not np.all(np.diff(frames) > 0)):
        raise ValueError(f"frame_ids must be {t} increasing integers")
    diag = {}
    for key, value in zip(_DIAGNOSTICS, (error, ncams, score), strict=True):
        if value is not None:
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != (t, j):
                raise ValueError(f"{key} must have shape ({t}, {j}), got {arr.shape}")
            diag[key] = np.where(np.isfinite(arr), arr, np.nan)
    pts = np.where(np.isfinite(pts).all(axis=-1, keepdims=True), pts, np.nan) * (
        UNITS[units] / UNITS[file_units]
    )
    return _Data(zup_to_yup(pts) if y_up else pts, names, float(fps), file_units, frames, diag, bool(y_up))


def _rows(
    columns: Sequence[np.ndarray], formats: Sequence[str], sep: str, chunk: int = 4096
) -> Iterator[str]:
    """Text of `chunk` rows at a time; columns (t,) or (t, k) get one format each; NaN and inf -> ''."""
    blocks = [np.asarray(c, dtype=np.float64).reshape(len(c), -1) for c in columns]
    fmt = sep.join(f for f, b in zip(formats, blocks, strict=True) for _ in range(b.shape[1])) + "\n"
    for start in range(0, len(blocks[0]), chunk):
        table = np.concatenate([b[start : start + chunk] for b in blocks], axis=1)
        table = np.where(np.isfinite(table), table, np.nan).tolist()
        yield "".join(fmt % tuple(row) for row in table).replace("nan", "")  # %f/%g/%d numbers hold no "nan"


def _coord_format(units: str) -> str:
    return "%.6f" if units == "m" else "%.3f"  # 1 micrometre either way


def _number(text: str, what: str, fail) -> float:
    try:
        return float(text)
    except ValueError:
        raise fail(f"{what}: not a number: {text!r}") from None


def _count(text: str, what: str, fail) -> int:
    """A non-negative integer field, else `fail`."""
    value = _number(text, what, fail)
    if not (np.isfinite(value) and value >= 0 and value % 1 == 0 and value < 2**31):
        raise fail(f"{what}: expected a count, got {text!r}")
    return int(value)


def _rate(value: float, what: str, fail) -> float:
    """A frame rate: finite and positive, else `fail`."""
    if not (np.isfinite(value) and value > 0):
        raise fail(f"{what}: expected a positive frame rate, got {value!r}")
    return float(value)


def _frame_ids(column: np.ndarray, what: str, fail) -> np.ndarray:
    """Frame numbers (n,) as int64 if they are integers (|n| < 2**53), else `fail` naming the first bad row."""
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(column) & (column % 1 == 0) & (np.abs(column) < 2**53)
    if not ok.all():
        raise fail(f"{what}: data row {np.argmin(ok) + 1}: expected a frame number, got {column[np.argmin(ok)]!r}")
    return column.astype(np.int64)


def _parse_table(lines: list[tuple[int, str]], width: int, sep: str, path) -> np.ndarray:
    """(n, width) float64 from (line number, line) pairs; empty fields are NaN; errors name the line."""
    if not lines:
        return np.zeros((0, width))
    text = "\n".join(line for _, line in lines)
    d = re.escape(sep)
    text = re.sub(rf"^(?={d})", "nan", re.sub(rf"{d}(?={d}|$)", sep + "nan", text, flags=re.M), flags=re.M)
    try:  # fast path: numpy's C parser once empty fields read "nan"
        table = np.loadtxt(io.StringIO(text), delimiter=sep, ndmin=2)
        if table.shape == (len(lines), width):
            return table
    except ValueError:
        pass
    rows = []  # slow path: ragged rows (missing trailing fields) or an error to locate
    for number, line in lines:
        fields = [f.strip() or "nan" for f in line.split(sep)]
        if len(fields) > width and any(f != "nan" for f in fields[width:]):
            raise MotionFileError(f"{path}: line {number}: {len(fields)} fields, expected {width}")
        for k, field in enumerate(fields[:width]):
            try:
                float(field)
            except ValueError:
                raise MotionFileError(
                    f"{path}: line {number}, column {k + 1}: not a number: {field!r}"
                ) from None
        rows.append((fields + ["nan"] * width)[:width])
    return np.array(rows, dtype=np.float64)


# ------------------------------------------------------------------------------------------------- TRC


def _write_trc(path: PathLike, data: _Data) -> Path:
    """Write a TRC file (see the module docstring)."""
    t, j = data.points.shape[:2]
    rate, start = f"{data.fps:.10g}", int(data.frames[0]) if t else 0
    head = [
        f"PathFileType\t4\t(X/Y/Z)\t{Path(path).name}",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
        "\t".join(map(str, [rate, rate, t, j, data.units, rate, start, t])),
        "Frame#\tTime\t" + "\t\t\t".join(data.names) + "\t\t",
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, j + 1)),
    ]
    columns = [data.frames, data.time, data.points.reshape(t, 3 * j)]
    with atomic_write(path, newline="\n") as f:
        f.write("\n".join(head) + "\n")
        f.writelines(_rows(columns, ["%d", "%.6f", _coord_format(data.units)], "\t"))
    return Path(path)


def read_trc(path: PathLike) -> Motion:
    """Read a TRC file (OpenSim's layout: 5 header lines, then tab-separated frames; empty fields are NaN).

    Raises:
        MotionFileError: Naming the file, the line and the field.
    """
    path = Path(path)
    fail = lambda msg: MotionFileError(f"{path}: {msg}")  # noqa: E731
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise fail(f"cannot read ({e})") from None
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise fail("line 1: not a TRC file (expected 'PathFileType')")
    keys, values = lines[1].split("\t"), lines[2].split("\t")
    header = {k.strip(): v.strip() for k, v in zip(keys, values, strict=False)}
    for key in ("DataRate", "NumFrames", "NumMarkers", "Units"):
        if key not in header:
            raise fail(f"line 2-3: field {key!r} missing")
    units = header["Units"]
    if units not in UNITS:
        raise fail(f"line 3: field 'Units': expected 'm' or 'mm', got {units!r}")
    names = tuple(n.strip() for n in lines[3].split("\t")[2:] if n.strip())
    n_markers = _count(header["NumMarkers"], "line 3: field 'NumMarkers'", fail)
    if len(names) != n_markers:
        raise fail(f"line 4: {len(names)} marker names, field 'NumMarkers' says {n_markers}")
    data_lines = [(k, ln) for k, ln in enumerate(lines[5:], start=6) if ln.strip()]
    table = _parse_table(data_lines, 2 + 3 * n_markers, "\t", path)
    n_frames = _count(header["NumFrames"], "line 3: field 'NumFrames'", fail)
    if len(table) != n_frames:
        raise fail(f"{len(table)} data lines, field 'NumFrames' says {n_frames}")
    fps = _rate(_number(header["DataRate"], "line 3: field 'DataRate'", fail), "line 3: field 'DataRate'", fail)
    return Motion(
        points=table[:, 2:].reshape(n_frames, n_markers, 3), joint_names=names, fps=fps, units=units,
        frame_ids=_frame_ids(table[:, 0], "column 'Frame#'", fail), time=table[:, 1], source=str(path),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- C3D


def _write_c3d(path: PathLike, data: _Data) -> Path:
    """Write a C3D file with ezc3d (see the module docstring)."""
    import ezc3d

    t, j = data.points.shape[:2]
    if t > 1 and not np.all(np.diff(data.frames) == 1):
        raise ValueError("C3D needs consecutive frame_ids")
    c3d = ezc3d.c3d()
    point = c3d["parameters"]["POINT"]
    point["RATE"]["value"] = [data.fps]
    point["LABELS"]["value"] = list(data.names)
    point["UNITS"]["value"] = [data.units]
    valid = np.isfinite(data.points).all(axis=-1)  # (t, j)
    residual = np.zeros((t, j))
    if "error" in data.diag:
        err = data.diag["error"]
        finite = err[np.isfinite(err) & valid]
        step = max(float(finite.max()) / 255.0, 1e-6) if finite.size else 1.0
        point["SCALE"]["value"] = [-step]
        # C3D stores floor(residual / step) in one byte: add half a step to round, clip to the byte's range
        residual = np.where(np.isfinite(err), np.clip(err + 0.5 * step, 0.0, 255.0 * step), 0.0)
        c3d.add_parameter("LIFT3D", "RESIDUAL_UNITS", ["px"])
    residual = np.where(valid, residual, -1.0)
    xyz1 = np.ones((4, j, t))
    xyz1[:3] = np.where(valid[..., None], data.points, 0.0).transpose(2, 1, 0)
    c3d["data"]["points"] = xyz1
    c3d["data"]["meta_points"]["residuals"] = residual.T[None]
    c3d["data"]["meta_points"]["camera_masks"] = np.zeros((7, j, t), dtype=bool)
    c3d.add_parameter("POINT", "X_SCREEN", ["+X"])
    c3d.add_parameter("POINT", "Y_SCREEN", ["+Y" if data.y_up else "+Z"])
    c3d["header"]["points"]["first_frame"] = int(data.frames[0]) if t else 0
    path = Path(path)
    with atomic_path(path) as tmp:  # ezc3d writes to a path itself: write beside the target, then rename
        c3d.write(str(tmp))
    return path


def read_c3d(path: PathLike) -> Motion:
    """Read the points of a C3D file (residual < 0 means missing), with `lift3d.io._c3d` (numpy alone).

    Raises:
        MotionFileError: Naming the file and the parameter.
    """
    path = Path(path)
    if not path.is_file():
        raise MotionFileError(f"{path}: no such file")
    c3d = read_c3d_points(path)
    units = c3d["units"] or "mm"
    if units not in UNITS:
        raise MotionFileError(f"{path}: parameter 'POINT:UNITS': expected 'm' or 'mm', got {units!r}")
    xyz, residual = c3d["points"], c3d["residual"]
    valid = np.isfinite(xyz).all(axis=-1) & (residual >= 0)
    fps = _rate(c3d["rate"], "parameter 'POINT:RATE'", lambda msg: MotionFileError(f"{path}: {msg}"))
    frames = c3d["first_frame"] + np.arange(len(xyz), dtype=np.int64)
    # written by lift3d: the residual is the reprojection error in px (a valid point written without one reads 0)
    error = np.where(valid, residual, np.nan) if c3d["lift3d_residuals"] else None
    names = tuple(c3d["labels"][: xyz.shape[1]])
    names += tuple(f"point{k + 1}" for k in range(len(names), xyz.shape[1]))  # unlabelled points
    return Motion(
        points=np.where(valid[..., None], xyz, np.nan), joint_names=names, fps=fps,
        units=units, frame_ids=frames, time=frames / fps, error=error,
        y_up={"+Y": True, "+Z": False}.get(c3d["y_screen"]), source=str(path),
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- CSV

_DIAG_SUFFIX = {"error": "error_px", "ncams": "ncams", "score": "score"}
_DIAG_FORMAT = {"error": "%.4f", "ncams": "%.0f", "score": "%.6g"}


def _write_motion_csv(path: PathLike, data: _Data) -> Path:
    """Write a CSV file, one row a frame (see the module docstring)."""
    t, j = data.points.shape[:2]
    keys = [k for k in _DIAGNOSTICS if k in data.diag]
    per_joint = [data.points[..., 0], data.points[..., 1], data.points[..., 2]] + [data.diag[k] for k in keys]
    block = np.stack(per_joint, axis=-1).reshape(t, j * len(per_joint))  # joint-major: x y z [diag] per joint
    header = ["frame", "time_s"]
    suffixes = [f"x_{data.units}", f"y_{data.units}", f"z_{data.units}"] + [_DIAG_SUFFIX[k] for k in keys]
    header += [f"{n}_{s}" for n in data.names for s in suffixes]
    formats = ([_coord_format(data.units)] * 3 + [_DIAG_FORMAT[k] for k in keys]) * j
    columns = [data.frames, data.time] + [block[:, i] for i in range(block.shape[1])]
    with atomic_write(path, newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(header)
        f.writelines(_rows(columns, ["%d", "%.9f", *formats], ","))
    return Path(path)


def read_motion_csv(path: PathLike, *, fps: float | None = None) -> Motion:
    """Read a CSV written by `write_motion` (columns found by their suffixes).

    Args:
        path: The file.
        fps: Frame rate; default: from the ``time_s`` column (1 / median step).

    Raises:
        MotionFileError: Naming the file, the line or the column.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MotionFileError(f"{path}: cannot read ({e})") from None
    try:
        header = next(csv.reader(io.StringIO(text)), None)
    except csv.Error as e:
        raise MotionFileError(f"{path}: line 1: {e}") from None
    if not header or header[:2] != ["frame", "time_s"]:
        raise MotionFileError(f"{path}: line 1: expected columns 'frame', 'time_s', ...")
    units = {m.group(1) for h in header if (m := re.search(r"_[xyz]_(m|mm)$", h))}
    if len(units) != 1:
        raise MotionFileError(
            f"{path}: line 1: coordinate columns need one unit suffix _m or _mm, got {units}"
        )
    (u,) = units
    names = list(dict.fromkeys(h[: -len(f"_x_{u}")] for h in header if h.endswith(f"_x_{u}")))
    if not names:
        raise MotionFileError(f"{path}: line 1: no '<joint>_x_{u}' column")
    col = {h: i for i, h in enumerate(header)}
    lines = text.splitlines()[1:]
    table = _parse_table(
        [(k, ln) for k, ln in enumerate(lines, start=2) if ln.strip()], len(header), ",", path
    )
    pick = lambda suffix: np.stack([table[:, col[f"{n}_{suffix}"]] for n in names], axis=1)  # noqa: E731
    try:
        points = np.stack([pick(f"{a}_{u}") for a in "xyz"], axis=-1)
        diag = {k: pick(s) if f"{names[0]}_{s}" in col else None for k, s in _DIAG_SUFFIX.items()}
    except KeyError as e:
        raise MotionFileError(f"{path}: line 1: column {e.args[0]!r} missing") from None
    time = table[:, 1]
    fail = lambda msg: MotionFileError(f"{path}: {msg}")  # noqa: E731
    frames = _frame_ids(table[:, 0], "column 'frame'", fail)
    if fps is None:  # from the span of frames and times, to 6 significant digits (times have 9 decimals)
        span = time[-1] - time[0] if len(time) > 1 else np.nan
        with np.errstate(over="ignore"):
            fps = float(f"{(frames[-1] - frames[0]) / span:.6g}") if np.isfinite(span) and span > 0 else np.nan
        if not (np.isfinite(fps) and fps > 0):
            raise MotionFileError(f"{path}: column 'time_s': cannot infer the frame rate; pass fps=")
    return Motion(points, tuple(names), float(fps), u, frames, time, source=str(path), **diag)


# ------------------------------------------------------------------------------------------------- npz


def _write_motion_npz(path: PathLike, data: _Data) -> Path:
    """Write an npz file (see the module docstring)."""
    with atomic_write(path, "wb") as f:
        np.savez(  # uncompressed: trajectories hardly compress, and compression is slow
            f, points=data.points, joint_names=np.array(data.names), fps=np.array(data.fps),
            units=np.array(data.units), frame_ids=data.frames, y_up=np.array(data.y_up), **data.diag,
        )  # fmt: skip
    return Path(path)


def read_motion_npz(path: PathLike) -> Motion:
    """Read an npz written by `write_motion`.

    Raises:
        MotionFileError: Naming the file and the array: not an npz, a damaged member, an array of Python
            objects (never unpickled), of text where numbers belong, or of the wrong shape.
    """
    path = Path(path)
    arrays = load_npz(path, MotionFileError)
    fail = lambda name, problem: MotionFileError(f"{path}: array {name!r}: {problem}")  # noqa: E731
    missing = [k for k in ("points", "joint_names", "fps", "units") if k not in arrays]
    if missing:
        raise MotionFileError(f"{path}: array(s) {missing} missing")
    for key in ("points", "fps", "frame_ids", "y_up", *_DIAGNOSTICS):
        if key in arrays and arrays[key].dtype.kind not in "biuf":
            raise fail(key, f"expected numbers, got dtype {arrays[key].dtype}")
    for key in ("joint_names", "units"):
        if arrays[key].dtype.kind not in "US":
            raise fail(key, f"expected text, got dtype {arrays[key].dtype}")
    points = arrays["points"].astype(np.float64)
    names = arrays["joint_names"]
    if points.ndim != 3 or points.shape[-1] != 3 or names.shape != points.shape[1:2]:
        raise fail("points", f"{points.shape} does not match 'joint_names' {names.shape}")
    t, j = points.shape[:2]
    fps = float(arrays["fps"].ravel()[0]) if arrays["fps"].size == 1 else np.nan
    if not (np.isfinite(fps) and fps > 0):
        raise fail("fps", f"expected a positive frame rate, got {arrays['fps'].ravel()[:4].tolist()}")
    units = str(arrays["units"].ravel()[0]) if arrays["units"].size == 1 else ""
    if units not in UNITS:
        raise fail("units", f"expected 'm' or 'mm', got {arrays['units'].ravel()[:4].tolist()}")
    frames = arrays["frame_ids"].astype(np.float64) if "frame_ids" in arrays else np.arange(t, dtype=np.float64)
    if frames.shape != (t,) or not np.all(np.isfinite(frames) & (frames % 1 == 0) & (np.abs(frames) < 2**53)):
        raise fail("frame_ids", f"expected {t} integer frame numbers, got shape {frames.shape}")
    y_up = arrays.get("y_up")
    if y_up is not None and y_up.size != 1:
        raise fail("y_up", f"expected one flag, got shape {y_up.shape}")
    diag = {k: arrays[k].astype(np.float64) if k in arrays else None for k in _DIAGNOSTICS}
    for key, value in diag.items():
        if value is not None and value.shape != (t, j):
            raise fail(key, f"expected shape {(t, j)}, got {value.shape}")
    frames = frames.astype(np.int64)
    return Motion(
        points=points, joint_names=tuple(str(n) for n in names), fps=fps, units=units, frame_ids=frames,
        time=frames / fps, y_up=None if y_up is None else bool(y_up.ravel()[0]), source=str(path), **diag,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------- dispatch

_WRITERS = {".trc": _write_trc, ".c3d": _write_c3d, ".csv": _write_motion_csv, ".npz": _write_motion_npz,
            ".bvh": lambda path, d: write_bvh_points(path, d.points, d.names, d.fps, d.units)}  # fmt: skip
"""Writers by extension; ``.bvh`` (`lift3d.io.bvh`, write only) fits a skeleton found from the joint names."""
_READERS = {".trc": read_trc, ".c3d": read_c3d, ".csv": read_motion_csv, ".npz": read_motion_npz}


def write_motion(
    path: PathLike,
    points: ArrayLike,
    *,
    joint_names: Sequence[str],
    fps: float,
    units: str = "m",
    error: ArrayLike | None = None,
    ncams: ArrayLike | None = None,
    score: ArrayLike | None = None,
    y_up: bool = False,
    frame_ids: ArrayLike | None = None,
    file_units: str | None = None,
) -> Path:
    """Write 3D joints to ``.trc``, ``.c3d``, ``.csv``, ``.npz`` or ``.bvh`` (by the extension), atomically.

    ``.bvh``: a skeleton fitted to the subject (`lift3d.io.bvh`), in `file_units`; diagnostics are not stored.

    Args:
        path: Destination; its folder is created if missing.
        points: (t, j, 3) coordinates in `units` (the rig's), world axes; NaN where missing.
        joint_names: j unique names (no tabs, commas or newlines).
        fps: Frame rate (Hz); time = frame_ids / fps.
        units: Units of `points`: "m" or "mm".
        error: (t, j) reprojection error (px), optional (TRC: not stored; C3D: quantised residual).
        ncams: (t, j) number of cameras used, optional (CSV, npz).
        score: (t, j) score, optional (CSV, npz).
        y_up: Write Y-up axes, (x, y, z) -> (y, z, x) as Pose2Sim does for OpenSim (see `zup_to_yup`).
        frame_ids: (t,) increasing frame numbers; default 0..t-1 (C3D needs them consecutive).
        file_units: Units in the file ("m" or "mm"); default `units`. OpenSim reads both from a TRC's header.

    Returns:
        The path written.

    Raises:
        ValueError: For inconsistent shapes, names, units, or an unknown extension.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _WRITERS:
        raise ValueError(f"{path}: unknown motion format {suffix!r}; use one of {', '.join(_WRITERS)}")
    data = _prepare(points, joint_names, fps, units, error, ncams, score, y_up, frame_ids, file_units)
    return _WRITERS[suffix](path, data)


def read_motion(path: PathLike, **kwargs: Any) -> Motion:
    """Read 3D joints from ``.trc``, ``.c3d``, ``.csv`` or ``.npz`` (chosen by the extension).

    Args:
        path: The file.
        **kwargs: Reader options (``fps`` for CSV).

    Returns:
        `Motion`, coordinates as stored (see ``Motion.y_up``; `yup_to_zup` converts back).

    Raises:
        MotionFileError: For a malformed file, naming the file, the line and the field.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _READERS:
        raise MotionFileError(f"{path}: unknown motion format {suffix!r}; use one of {', '.join(_READERS)}")
    return _READERS[suffix](path, **kwargs)
