"""Raw readers and writers of the three Human3.6M file layouts people actually have.

This module knows the files, nothing more: it validates every field it reads and returns plain numpy
arrays and dicts, in the files' own units, joint sets and names. `lift3d.datasets.h36m` turns them into one
`H36MDataset` (world mm, H36M-17 joints, canonical action names, `Rig`s).

Layouts:

* **VideoPose3D** (Pavllo et al. 2019, ``prepare_data_h36m.py``):
  ``data_3d_h36m.npz`` holds ``positions_3d``, a pickled dict ``subject -> action -> (T, 32, 3)`` world
  positions in **metres**; ``data_2d_h36m_<source>.npz`` holds ``positions_2d``, a pickled dict
  ``subject -> action -> [4 arrays (T, J, 2)]`` in pixels (one per camera, in the camera-id order), and
  ``metadata`` (``layout_name``, ``num_joints``, ``keypoints_symmetry``). The ``gt`` source has 17 joints in
  H36M-17 order (``layout_name`` ``"h36m"``).
* **Martinez et al. 2017** (3d-pose-baseline's ``h36m.zip``): ``cameras.h5`` with
  ``/subjectN/cameraM/{R, T, f, c, k, p, Name}`` (M = 1..4 in camera-id order): ``R`` is stored transposed
  (``R.T`` maps world to camera), ``T`` (3, 1) is the camera centre in mm (so ``t = -R T``), ``f`` and ``c``
  (2, 1) px, ``k`` (3, 1) radial k1, k2, k3, ``p`` (2, 1) tangential in OpenCV's p1, p2 order, ``Name`` the
  camera id as uint8 character codes. Poses: ``S*/MyPoses/3D_positions/<Action>.h5``, dataset
  ``3D_positions`` of shape (96, T), mm, one column per frame, 32 joints x (x, y, z) joint-major.
* **learnable-triangulation** (Iskakov et al. 2019, ``generate-labels-npy-multiview.py``):
  ``human36m-multiview-labels-GTbboxes.npy``, ``np.save`` of a pickled dict with ``subject_names``,
  ``camera_names``, ``action_names`` (``"Directions-1"`` style), ``cameras`` a structured array
  (subjects, cameras) with fields ``R`` (3, 3) ``t`` (3, 1) mm ``K`` (3, 3) ``dist`` (5,) (all float32,
  OpenCV order), and ``table`` a structured array with ``subject_idx`` int8, ``action_idx`` int8,
  ``frame_idx`` int16, ``keypoints`` float32 (17, 3) world mm and ``bbox_by_camera_tlbr`` int16
  (cameras, 4) = (top, left, bottom, right), all zero where a view is missing. Its 17 keypoints are NOT in
  H36M-17 order but "16 MPII joints + neck/nose": raw-32 indices `LT_JOINTS_FROM_32`.

Security: VideoPose3D and learnable-triangulation files are pickles; they are unpickled with
`lift3d.io.npz.ArraysOnlyUnpickler`, which builds numpy arrays, dtypes and plain containers and refuses every
other class, so a file cannot run code.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.errors import H36MFormatError  # noqa: F401  (re-exported)
from lift3d.io.atomic import atomic_write
from lift3d.io.npz import load_npy, load_npz

__all__ = [
    "H36MFormatError",
    "NUM_RAW_JOINTS",
    "LT_JOINTS_FROM_32",
    "lt_table_dtype",
    "read_videopose3d_3d",
    "read_videopose3d_2d",
    "write_videopose3d_3d",
    "write_videopose3d_2d",
    "read_martinez_cameras",
    "write_martinez_cameras",
    "read_martinez_poses",
    "write_martinez_poses",
    "martinez_pose_files",
    "read_lt_labels",
    "write_lt_labels",
]

_LIMIT = 1e9  # no coordinate, pixel or camera number of Human3.6M comes near: anything larger is damage

NUM_RAW_JOINTS = 32
"""Joints of the raw Human3.6M motion capture (VideoPose3D 3D and Martinez files)."""

LT_JOINTS_FROM_32: tuple[int, ...] = (3, 2, 1, 6, 7, 8, 0, 12, 13, 15, 27, 26, 25, 17, 18, 19, 14)
"""Raw-32 indices of learnable-triangulation's 17 table keypoints, in table order (MPII-like + neck/nose)."""


def _error(path, where: str, field: str, problem: str) -> H36MFormatError:
    where = f" [{where}]" if where else ""
    problem = " ".join(problem.split())  # one line, whatever a damaged file's names hold
    return H36MFormatError(f"{os.fspath(path)}{where}: field {field!r}: {problem[:300]}")


def _check_array(
    path, where: str, field: str, value: Any, shape: Sequence[int | None], *, nan: bool = True
) -> np.ndarray:
    """`value` as a real array of the given shape (None = any length), finite (or NaN, with `nan`) and below
    `_LIMIT` in magnitude."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise _error(path, where, field, f"not an array ({exc})") from None
    ok = arr.ndim == len(shape) and all(s is None or s == n for s, n in zip(shape, arr.shape, strict=True))
    if not ok:
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise _error(path, where, field, f"expected shape {want}, got {arr.shape}")
    if arr.dtype.kind not in "iuf":
        raise _error(path, where, field, f"expected numbers, got dtype {arr.dtype}")
    with np.errstate(invalid="ignore"):
        bad = ~(np.isnan(arr) | (np.abs(arr) < _LIMIT)) if nan else ~(np.abs(arr) < _LIMIT)
    if bad.any():
        raise _error(path, where, field, f"expected finite numbers{' or NaN' if nan else ''}, got {arr[bad][0]}")
    return arr


def _load_pickled_npz(path, keys: Sequence[str]) -> dict[str, Any]:
    """The arrays `keys` of a VideoPose3D npz (0-d object arrays unwrapped), unpickled with numpy arrays only."""
    path = Path(path)
    arrays = load_npz(path, H36MFormatError, pickled=True)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise _error(path, "", missing[0], f"missing; the file holds {sorted(arrays)}")
    return {k: arrays[k].item() if arrays[k].dtype == object and arrays[k].shape == () else arrays[k] for k in keys}


def _nested_dict(path, field: str, value: Any) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise _error(
            path, "", field, f"expected a dict subject -> action -> array, got {type(value).__name__}"
        )
    return value


# ---------------------------------------------------------------------------------------------------------
# VideoPose3D


def read_videopose3d_3d(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Read VideoPose3D's ``data_3d_h36m.npz`` (a pickle, unpickled with numpy arrays only).

    Args:
        path: The ``.npz`` file.

    Returns:
        ``subject -> action -> (T, 32, 3)`` world positions in metres, as stored (float32 usually).

    Raises:
        H36MFormatError: Not an npz, no ``positions_3d``, or an entry of the wrong shape; the message names
            the file, subject/action and field.
    """
    positions = _nested_dict(path, "positions_3d", _load_pickled_npz(path, ["positions_3d"])["positions_3d"])
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in positions.items():
        out[str(subject)] = {
            str(action): _check_array(
                path, f"{subject}/{action}", "positions_3d", arr, (None, NUM_RAW_JOINTS, 3)
            )
            for action, arr in actions.items()
        }
    return out


def read_videopose3d_2d(path: str | os.PathLike) -> tuple[dict[str, dict[str, list[np.ndarray]]], dict]:
    """Read a VideoPose3D ``data_2d_h36m_<source>.npz`` (a pickle, unpickled with numpy arrays only).

    Args:
        path: The ``.npz`` file.

    Returns:
        ``(positions_2d, metadata)``: ``subject -> action -> list of per-camera (T, J, 2)`` pixel arrays (the
        cameras' frame counts may differ: VideoPose3D trims them to the 3D length when loading), and the
        metadata dict (``layout_name``, ``num_joints``, ``keypoints_symmetry``).

    Raises:
        H36MFormatError: Missing keys, metadata without ``num_joints``, or arrays of the wrong shape.
    """
    raw = _load_pickled_npz(path, ["positions_2d", "metadata"])
    positions = _nested_dict(path, "positions_2d", raw["positions_2d"])
    metadata = raw["metadata"]
    if not isinstance(metadata, Mapping) or "num_joints" not in metadata:
        raise _error(path, "", "metadata", "expected a dict with 'num_joints' and 'layout_name'")
    num_joints = metadata["num_joints"]
    if not isinstance(num_joints, int | np.integer) or isinstance(num_joints, bool) or not 0 < num_joints < 10_000:
        raise _error(path, "", "metadata", f"'num_joints': expected a positive integer, got {num_joints!r:.60}")
    num_joints = int(num_joints)
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in positions.items():
        out[str(subject)] = {}
        for action, views in actions.items():
            where = f"{subject}/{action}"
            if not isinstance(views, Sequence | np.ndarray) or len(views) == 0:
                raise _error(path, where, "positions_2d", "expected a list of per-camera arrays")
            out[str(subject)][str(action)] = [
                _check_array(path, f"{where}/camera {c}", "positions_2d", v, (None, num_joints, 2))
                for c, v in enumerate(views)
            ]
    return out, dict(metadata)


def write_videopose3d_3d(
    path: str | os.PathLike, positions_3d: Mapping[str, Mapping[str, np.ndarray]]
) -> Path:
    """Write ``data_3d_h36m.npz`` as VideoPose3D does (``np.savez_compressed(positions_3d=dict)``).

    Args:
        path: Destination ``.npz``.
        positions_3d: ``subject -> action -> (T, 32, 3)`` world metres.

    Returns:
        The path written.
    """
    data = {s: {a: np.asarray(x, np.float32) for a, x in acts.items()} for s, acts in positions_3d.items()}
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, positions_3d=data)
    return Path(path)


def write_videopose3d_2d(
    path: str | os.PathLike, positions_2d: Mapping[str, Mapping[str, Sequence[np.ndarray]]], metadata: Mapping
) -> Path:
    """Write ``data_2d_h36m_<source>.npz`` as VideoPose3D does.

    Args:
        path: Destination ``.npz``.
        positions_2d: ``subject -> action -> list of per-camera (T, J, 2)`` pixels.
        metadata: ``layout_name``, ``num_joints``, ``keypoints_symmetry``.

    Returns:
        The path written.
    """
    data = {
        s: {a: [np.asarray(v, np.float32) for v in views] for a, views in acts.items()}
        for s, acts in positions_2d.items()
    }
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, positions_2d=data, metadata=dict(metadata))
    return Path(path)


# ---------------------------------------------------------------------------------------------------------
# Martinez et al. (3d-pose-baseline)


@contextlib.contextmanager
def _h5(path) -> Iterator[Any]:
    """The HDF5 file `path`, open for reading; a damaged file raises `H36MFormatError` naming it."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except Exception as exc:  # OSError, or whatever else a damaged superblock makes HDF5 raise
        if not Path(path).exists():
            raise FileNotFoundError(f"{os.fspath(path)}: no such file") from None
        raise H36MFormatError(f"{os.fspath(path)}: not a readable HDF5 file ({_one_line(exc)})") from None
    try:
        with f:
            yield f
    except H36MFormatError:
        raise
    except Exception as exc:  # a damaged file: HDF5 raises KeyError, RuntimeError, OSError, ValueError, ...
        raise H36MFormatError(
            f"{os.fspath(path)}: damaged HDF5 file ({type(exc).__name__}: {_one_line(exc)})"
        ) from None


def _one_line(exc: BaseException, limit: int = 160) -> str:
    return " ".join(str(exc).split())[:limit]


def _h5_field(path, where: str, group, field: str, size: int | None = None) -> np.ndarray:
    """A dataset of an HDF5 group, flattened to float64, with `size` values (None: any)."""
    if field not in group:
        raise _error(path, where, field, f"missing; the group holds {sorted(group)}")
    arr = np.asarray(group[field][()])
    if arr.dtype.kind not in "iuf" or (size is not None and arr.size != size):
        raise _error(path, where, field, f"expected {size or 'some'} numbers, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.float64).ravel()
    if not np.all(np.isfinite(arr) & (np.abs(arr) < _LIMIT)):
        raise _error(path, where, field, f"expected finite numbers, got {arr[:9].tolist()}")
    return arr


def read_martinez_cameras(path: str | os.PathLike) -> dict[str, list[dict[str, Any]]]:
    """Read Martinez' ``cameras.h5``.

    Args:
        path: The ``.h5`` file.

    Returns:
        ``subject ("S1") -> list of cameras`` in ``camera1..`` order, each a dict with ``name`` (str),
        ``R`` (3, 3) world->camera, ``t`` (3,) mm (``-R @ centre``), ``center`` (3,) mm, ``K`` (3, 3),
        ``dist`` (5,) OpenCV (k1, k2, p1, p2, k3); float64.

    Raises:
        H36MFormatError: Missing groups or fields, or fields of the wrong size.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    with _h5(path) as f:
        subjects = sorted((k for k in f if re.fullmatch(r"subject\d+", k)), key=lambda k: int(k[7:]))
        if not subjects:
            raise _error(path, "", "subjectN", f"no subject groups; the file holds {sorted(f)}")
        for sk in subjects:
            cams = sorted((k for k in f[sk] if re.fullmatch(r"camera\d+", k)), key=lambda k: int(k[6:]))
            subject = "S" + sk[7:]
            out[subject] = []
            for ck in cams:
                where, g = f"{sk}/{ck}", f[sk][ck]
                R = _h5_field(path, where, g, "R", 9).reshape(3, 3).T  # stored transposed
                center = _h5_field(path, where, g, "T", 3)
                f_, c = _h5_field(path, where, g, "f", 2), _h5_field(path, where, g, "c", 2)
                k, p = _h5_field(path, where, g, "k", 3), _h5_field(path, where, g, "p", 2)
                codes = _h5_field(path, where, g, "Name")
                if not np.all((codes > 0) & (codes < 128) & (codes % 1 == 0)):
                    raise _error(path, where, "Name", "expected ASCII character codes")
                name = "".join(chr(int(x)) for x in codes)
                K = np.array([[f_[0], 0.0, c[0]], [0.0, f_[1], c[1]], [0.0, 0.0, 1.0]])
                out[subject].append(
                    dict(
                        name=name,
                        R=R,
                        t=-R @ center,
                        center=center,
                        K=K,
                        dist=np.array([k[0], k[1], p[0], p[1], k[2]]),
                    )
                )
    return out


def write_martinez_cameras(
    path: str | os.PathLike, cameras: Mapping[str, Sequence[Mapping[str, Any]]]
) -> Path:
    """Write ``cameras.h5`` in Martinez' layout.

    Args:
        path: Destination ``.h5``.
        cameras: ``subject -> list of dicts`` with ``name``, ``R`` (3, 3) world->camera, ``t`` (3,) mm,
            ``K`` (3, 3) and ``dist`` (5,) OpenCV order, as `read_martinez_cameras` returns.

    Returns:
        The path written.
    """
    import h5py

    with atomic_write(path, "wb") as fobj, h5py.File(fobj, "w") as f:
        for subject, cams in cameras.items():
            for m, cam in enumerate(cams, start=1):
                g = f.create_group(f"subject{int(subject.lstrip('S'))}/camera{m}")
                R, t = np.asarray(cam["R"], np.float64), np.asarray(cam["t"], np.float64)
                K, d = np.asarray(cam["K"], np.float64), np.asarray(cam["dist"], np.float64)
                g["R"] = R.T
                g["T"] = (-R.T @ t).reshape(3, 1)
                g["f"] = np.array([[K[0, 0]], [K[1, 1]]])
                g["c"] = np.array([[K[0, 2]], [K[1, 2]]])
                g["k"] = np.array([[d[0]], [d[1]], [d[4]]])
                g["p"] = np.array([[d[2]], [d[3]]])
                g["Name"] = np.frombuffer(str(cam["name"]).encode("ascii"), np.uint8).reshape(-1, 1)
    return Path(path)


def read_martinez_poses(path: str | os.PathLike) -> np.ndarray:
    """Read one Martinez pose file (``S*/MyPoses/3D_positions/<Action>.h5``).

    Args:
        path: The ``.h5`` file.

    Returns:
        World positions (T, 32, 3) in mm, as stored (float64 usually).

    Raises:
        H36MFormatError: No ``3D_positions`` dataset or not of shape (96, T).
    """
    with _h5(path) as f:
        if "3D_positions" not in f:
            raise _error(path, "", "3D_positions", f"missing; the file holds {sorted(f)}")
        data = _check_array(path, "", "3D_positions", f["3D_positions"][()], (3 * NUM_RAW_JOINTS, None))
    return np.ascontiguousarray(data.T.reshape(-1, NUM_RAW_JOINTS, 3))


def write_martinez_poses(path: str | os.PathLike, points_32: np.ndarray) -> Path:
    """Write one Martinez pose file: dataset ``3D_positions`` of shape (96, T), mm.

    Args:
        path: Destination ``.h5`` (its folder is created).
        points_32: World positions (T, 32, 3) in mm.

    Returns:
        The path written.
    """
    import h5py

    points_32 = np.asarray(points_32, np.float64)
    with atomic_write(path, "wb") as fobj, h5py.File(fobj, "w") as f:
        f["3D_positions"] = points_32.reshape(len(points_32), 3 * NUM_RAW_JOINTS).T
    return Path(path)


def martinez_pose_files(root: str | os.PathLike) -> dict[str, dict[str, Path]]:
    """Find the pose files of a Martinez tree.

    Args:
        root: Folder holding ``S1/MyPoses/3D_positions/*.h5`` etc.

    Returns:
        ``subject -> file stem (e.g. "Walking 1") -> path``, subjects in numeric order, stems sorted.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (expected S1/MyPoses/3D_positions/*.h5 inside)")
    out: dict[str, dict[str, Path]] = {}
    subjects = sorted(
        (p for p in root.iterdir() if re.fullmatch(r"S\d+", p.name)), key=lambda p: int(p.name[1:])
    )
    for sdir in subjects:
        files = sorted((sdir / "MyPoses" / "3D_positions").glob("*.h5"))
        if files:
            out[sdir.name] = {p.stem: p for p in files}
    if not out:
        raise FileNotFoundError(f"{root}: no pose files S*/MyPoses/3D_positions/*.h5")
    return out


# ---------------------------------------------------------------------------------------------------------
# learnable-triangulation


def lt_table_dtype(num_cameras: int) -> np.dtype:
    """The dtype of learnable-triangulation's ``table`` (as ``generate-labels-npy-multiview.py`` makes it)."""
    return np.dtype(
        [
            ("subject_idx", np.int8),
            ("action_idx", np.int8),
            ("frame_idx", np.int16),
            ("keypoints", np.float32, (17, 3)),
            ("bbox_by_camera_tlbr", np.int16, (num_cameras, 4)),
        ]
    )


def _lt_cameras_dtype() -> np.dtype:
    return np.dtype(
        [
            ("R", np.float32, (3, 3)),
            ("t", np.float32, (3, 1)),
            ("K", np.float32, (3, 3)),
            ("dist", np.float32, 5),
        ]
    )


def read_lt_labels(path: str | os.PathLike) -> dict[str, Any]:
    """Read learnable-triangulation's ``human36m-multiview-labels-*.npy`` (a pickle, unpickled with numpy arrays only).

    Args:
        path: The ``.npy`` file.

    Returns:
        The dict, validated: ``subject_names``, ``camera_names``, ``action_names`` (lists of str),
        ``cameras`` (structured, (subjects, cameras)), ``table`` (structured, (N,)); see the module docstring.

    Raises:
        H36MFormatError: Missing keys, missing or mis-shaped structured fields, or indices out of range.
    """
    path = Path(path)
    labels = load_npy(path, H36MFormatError, pickled=True)
    labels = labels.item() if labels.dtype == object and labels.shape == () else labels
    if not isinstance(labels, Mapping):
        raise _error(path, "", "labels", f"expected a pickled dict, got {type(labels).__name__}")
    for key in ("subject_names", "camera_names", "action_names", "cameras", "table"):
        if key not in labels:
            raise _error(path, "", key, f"missing; the dict holds {sorted(map(str, labels))}")
    for key in ("subject_names", "camera_names", "action_names"):
        names = labels[key]
        if not isinstance(names, list | tuple | np.ndarray) or not all(isinstance(n, str) for n in names):
            raise _error(path, "", key, f"expected a list of names, got {type(names).__name__}")
        if len(set(names)) != len(names):
            raise _error(path, "", key, "repeated names")
    n_s, n_c = len(labels["subject_names"]), len(labels["camera_names"])
    cams, table = np.asarray(labels["cameras"]), np.asarray(labels["table"])
    for field, shape in (("R", (3, 3)), ("t", (3, 1)), ("K", (3, 3)), ("dist", (5,))):
        if cams.dtype.names is None or field not in cams.dtype.names:
            raise _error(path, "cameras", field, f"missing from the structured dtype {cams.dtype}")
        _check_array(path, "cameras", field, cams[field], (n_s, n_c, *shape), nan=False)
    fields = {
        "subject_idx": (),
        "action_idx": (),
        "frame_idx": (),
        "keypoints": (17, 3),
        "bbox_by_camera_tlbr": (n_c, 4),
    }
    for field, shape in fields.items():
        if table.dtype.names is None or field not in table.dtype.names:
            raise _error(path, "table", field, f"missing from the structured dtype {table.dtype}")
        _check_array(path, "table", field, table[field], (None, *shape))
    for field, n in (("subject_idx", n_s), ("action_idx", len(labels["action_names"]))):
        bad = np.flatnonzero((table[field] < 0) | (table[field] >= n))
        if bad.size:
            raise _error(
                path, f"table row {bad[0]}", field, f"index {table[field][bad[0]]} out of range [0, {n})"
            )
    out = dict(labels)
    out.update(
        subject_names=[str(s) for s in labels["subject_names"]],
        camera_names=[str(s) for s in labels["camera_names"]],
        action_names=[str(s) for s in labels["action_names"]],
        cameras=cams,
        table=table,
    )
    return out


def write_lt_labels(path: str | os.PathLike, labels: Mapping[str, Any]) -> Path:
    """Write learnable-triangulation labels (``np.save`` of the dict, dtypes coerced to the original ones).

    Args:
        path: Destination ``.npy``.
        labels: ``subject_names``, ``camera_names``, ``action_names``, ``cameras`` (structured or a dict of
            arrays R (s, c, 3, 3), t (s, c, 3, 1), K, dist), ``table`` (structured or a dict of field arrays).

    Returns:
        The path written.
    """
    n_c = len(labels["camera_names"])
    cams_in, table_in = labels["cameras"], labels["table"]
    first = np.asarray(cams_in["R"])
    cams = np.zeros(first.shape[:2], _lt_cameras_dtype())
    for field in ("R", "t", "K", "dist"):
        cams[field] = np.asarray(cams_in[field]).reshape(cams[field].shape)
    n = len(np.asarray(table_in["subject_idx"]))
    dtype = lt_table_dtype(n_c)
    table = np.zeros(n, dtype)
    for field in dtype.names:
        values = np.asarray(table_in[field])
        info = np.iinfo(dtype[field].base) if np.issubdtype(dtype[field].base, np.integer) else None
        if info is not None and values.size and (values.min() < info.min or values.max() > info.max):
            raise ValueError(
                f"{os.fspath(path)}: table field {field!r} does not fit {dtype[field].base} "
                f"(values {values.min()}..{values.max()})"
            )
        table[field] = values
    out = {
        "subject_names": list(labels["subject_names"]),
        "camera_names": list(labels["camera_names"]),
        "action_names": list(labels["action_names"]),
        "cameras": cams,
        "table": table,
    }
    with atomic_write(path, "wb") as f:
        np.save(f, np.array(out, dtype=object), allow_pickle=True)
    return Path(path)
