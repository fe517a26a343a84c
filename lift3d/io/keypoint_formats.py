"""Readers of COCO keypoint results, DeepLabCut and MediaPipe files into `Keypoints2D`.

They can be imported from `lift3d.io.keypoints` too, whose docstring describes the common behaviour (frame
alignment, masking, errors); `lift3d.io.keypoints.read_keypoints` dispatches to them.

DeepLabCut ``.h5`` files are read with h5py (already a dependency), not pandas / PyTables: both layouts that
pandas writes are supported (``format="table"``, DeepLabCut's analysis output, and the default
``format="fixed"``). The column labels of the table layout are pickled by pandas (protocol 0 lists of string
tuples); they are unpickled with every class refused, so a file cannot run code.
"""

from __future__ import annotations

import csv
import io
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.skeleton import SKELETONS, Skeleton, get_skeleton
from lift3d.io.keypoints import (
    OPENPOSE_COCO_18,
    KeypointFileError,
    Keypoints2D,
    PathLike,
    _as_paths,
    _assemble,
    _flat_numbers,
    _last_int,
    _load_json,
    _names,
    _resolve_skeleton,
    _skeleton_from_names,
    _triplets,
    _View,
)

__all__ = ["read_coco", "read_dlc", "read_mediapipe"]

# --------------------------------------------------------------------------------------------- COCO results


def read_coco(
    paths: PathLike | Sequence[PathLike],
    *,
    skeleton: str | Skeleton = "coco",
    views: Sequence[str] | None = None,
    image_to_frame: Mapping[Any, int] | Callable[[Any], int] | None = None,
    category_id: int | None = 1,
    fps: float | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read COCO keypoint-detection results, one JSON file per camera.

    Each file is a list of ``{"image_id": int | str, "category_id": 1, "keypoints": [x, y, v] * J,
    "score": s}`` (the format of COCO's results files, MMPose and AlphaPose). ``v`` is the keypoint's
    confidence (0 = missing); ``score`` becomes `Keypoints2D.person_score`. Detections of one image become the
    people of that frame, in file order.

    Args:
        paths: One results file per camera.
        skeleton: Joint layout of ``keypoints`` (default MS-COCO-17; e.g. ``"halpe_26"`` for AlphaPose).
        views: Camera names; default: the file stems.
        image_to_frame: Frame number of an ``image_id``, as a mapping or a function. Default: the id itself if
            it is an integer, else the last integer group of the string (``"frame_000042.jpg"`` -> 42).
        category_id: Keep only detections of this category (entries without one are kept); None keeps all.
        fps: Frame rate to record.
        dtype: Floating dtype of the arrays.

    Raises:
        KeypointFileError: Naming the file, the entry index and the field.
    """
    skel = _resolve_skeleton(skeleton)
    files = _as_paths(paths)
    out = []
    for path, name in zip(files, _names(files, views, lambda p: p.stem), strict=True):
        data = _load_json(path)
        if not isinstance(data, list):
            raise KeypointFileError(f"{path}: expected a list of detections (COCO results JSON)")
        by_frame: dict[int, list[tuple[np.ndarray, float]]] = {}
        for i, det in enumerate(data):
            where = f"{path}: entry {i}"
            if not isinstance(det, dict) or "image_id" not in det or "keypoints" not in det:
                raise KeypointFileError(f"{where}: expected an object with 'image_id' and 'keypoints'")
            if category_id is not None and det.get("category_id", category_id) != category_id:
                continue
            image_id = det["image_id"]
            if image_to_frame is None:
                frame = image_id if isinstance(image_id, int) else _last_int(str(image_id))
            else:
                try:
                    frame = image_to_frame(image_id) if callable(image_to_frame) else image_to_frame[image_id]
                except (KeyError, IndexError):
                    raise KeypointFileError(
                        f"{where}, field 'image_id': {image_id!r} not in image_to_frame"
                    ) from None
            if not isinstance(frame, (int, np.integer)):
                raise KeypointFileError(f"{where}, field 'image_id': no frame number in {image_id!r}")
            field = f"{where}, field 'keypoints'"
            kp = _triplets(_flat_numbers(det["keypoints"], field), skel.num_joints, skel, field)
            score = det.get("score", np.nan)
            by_frame.setdefault(int(frame), []).append((kp, float(np.nan if score is None else score)))
        order = sorted(by_frame)
        p = max([len(by_frame[k]) for k in order] + [0])
        xyc, sc = np.full((len(order), p, skel.num_joints, 3), np.nan), np.full((len(order), p), np.nan)
        for row, k in enumerate(order):
            for i, (kp, s) in enumerate(by_frame[k]):
                xyc[row, i], sc[row, i] = kp, s
        out.append(_View(name, str(path), np.asarray(order, dtype=np.int64), xyc, sc))
    return _assemble(out, skel, fps=fps, dtype=dtype, notes=[])


# --------------------------------------------------------------------------------------------- DeepLabCut

_DLC_LEVELS = ("scorer", "individuals", "bodyparts", "coords")


class _NoGlobals(pickle.Unpickler):
    """Unpickles plain containers and strings only (pandas' pickled column labels): any class is refused."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _dlc_h5(path: Path) -> tuple[list[str], list[tuple], np.ndarray, np.ndarray]:
    """(level names, column labels, index (n,), values (n, c)) of a pandas DataFrame stored by `to_hdf`."""
    import h5py

    fail = lambda msg: KeypointFileError(f"{path}: {msg}; export CSV from DeepLabCut instead")  # noqa: E731
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise KeypointFileError(f"{path}: not an HDF5 file ({e})") from None
    with f:
        keys = [k for k in f if isinstance(f[k], h5py.Group) and "pandas_type" in f[k].attrs]
        if not keys:
            raise fail("no pandas DataFrame in the file")
        g = f["df_with_missing" if "df_with_missing" in keys else keys[0]]
        kind = g.attrs["pandas_type"].decode()
        if kind == "frame_table":  # format="table": rows (index, values_block_k (c_k,)), pickled labels
            table = g["table"][()]
            try:
                unpickle = lambda a: _NoGlobals(io.BytesIO(bytes(a))).load()  # noqa: E731
                columns = [tuple(c) for c in unpickle(g.attrs["non_index_axes"])[0][1]]
                info = unpickle(g.attrs["info"])
                levels = list(info.get(1, {}).get("names") or [])
                label_of: dict[tuple, np.ndarray] = {}
                for name in table.dtype.names:
                    if name.startswith("values_block_"):
                        labels = unpickle(g["table"].attrs[f"{name}_kind"])
                        for k, lab in enumerate(labels):
                            label_of[tuple(lab)] = table[name][:, k]
                values = np.stack([label_of[c] for c in columns], axis=1).astype(np.float64)
            except (pickle.UnpicklingError, KeyError, IndexError, TypeError, ValueError, EOFError) as e:
                raise fail(f"unsupported pandas table layout ({e})") from None
            index = table["index"]
        elif kind == "frame":  # format="fixed": MultiIndex columns as level/label arrays, float blocks
            try:
                n = int(g.attrs["axis0_nlevels"])
                lv = [g[f"axis0_level{i}"][()].astype(str) for i in range(n)]
                codes = [g[f"axis0_label{i}"][()] for i in range(n)]
                columns = list(zip(*[lv[i][codes[i]].tolist() for i in range(n)], strict=True))
                levels = [g[f"axis0_level{i}"].attrs["name"].decode() for i in range(n)]
                label_of = {}
                for b in range(int(g.attrs["nblocks"])):
                    items = zip(
                        *[g[f"block{b}_items_level{i}"][()].astype(str)[g[f"block{b}_items_label{i}"][()]].tolist()
                          for i in range(n)],
                        strict=True,
                    )  # fmt: skip
                    vals = g[f"block{b}_values"][()]
                    for k, lab in enumerate(items):
                        label_of[tuple(lab)] = vals[:, k]
                values = np.stack([label_of[c] for c in columns], axis=1).astype(np.float64)
                index = g["axis1"][()]
            except (KeyError, IndexError, TypeError, ValueError) as e:
                raise fail(f"unsupported pandas fixed layout ({e})") from None
        else:
            raise fail(f"unsupported pandas storage {kind!r}")
    return levels, columns, index, values


def _dlc_csv(path: Path) -> tuple[list[str], list[tuple], np.ndarray, np.ndarray]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise KeypointFileError(f"{path}: cannot read DeepLabCut CSV ({e})") from None
    lines = text.splitlines()
    header = []
    for row in csv.reader(lines[:4]):
        header.append(row)
        if row and row[0] == "coords":
            break
        if not row or row[0] not in _DLC_LEVELS[:3]:
            raise KeypointFileError(f"{path}: line {len(header)}: expected DeepLabCut header rows "
                                    f"scorer, [individuals], bodyparts, coords")  # fmt: skip
    if header[-1][:1] != ["coords"] or any(len(r) != len(header[0]) for r in header):
        raise KeypointFileError(f"{path}: line {len(header)}: expected a 'coords' row as wide as 'scorer'")
    width = len(header[0]) - 1
    rows = [
        (k, ln.split(",")) for k, ln in enumerate(lines[len(header) :], start=len(header) + 1) if ln.strip()
    ]
    index = np.array([r[0] for _, r in rows])
    values = np.full((len(rows), width), np.nan)
    for row, (number, fields) in enumerate(rows):  # per line, so that an error names its line
        if len(fields) != width + 1:
            raise KeypointFileError(f"{path}: line {number}: {len(fields)} fields, expected {width + 1}")
        try:
            values[row] = [float(f) if f.strip() else np.nan for f in fields[1:]]
        except ValueError:
            bad = next(k for k, f in enumerate(fields[1:]) if f.strip() and not _is_float(f))
            raise KeypointFileError(
                f"{path}: line {number}, column {bad + 2} {tuple(r[bad + 1] for r in header)}: "
                f"not a number: {fields[bad + 1]!r}"
            ) from None
    try:
        index = index.astype(np.float64)
    except ValueError:
        pass  # labeled-data files index rows by image path
    return [r[0] for r in header], list(zip(*[r[1:] for r in header], strict=True)), index, values


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _dlc_view(path: Path) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """(individuals, bodyparts, frames (n,), xyc (n, p, j, 3)) of one DeepLabCut file."""
    levels, columns, index, values = (
        _dlc_h5(path) if path.suffix.lower() in (".h5", ".hdf5") else _dlc_csv(path)
    )
    if "bodyparts" not in levels or "coords" not in levels:
        raise KeypointFileError(f"{path}: column levels {levels}: expected bodyparts and coords")
    li = levels.index("individuals") if "individuals" in levels else None
    lb, lc = levels.index("bodyparts"), levels.index("coords")
    inds = list(dict.fromkeys(c[li] for c in columns)) if li is not None else [""]
    parts = list(dict.fromkeys(c[lb] for c in columns))
    xyc = np.full((len(index), len(inds), len(parts), 3), np.nan)
    for k, c in enumerate(columns):
        if c[lc] not in ("x", "y", "likelihood"):
            raise KeypointFileError(f"{path}: column {c}: coords must be x, y or likelihood")
        xyc[
            :,
            inds.index(c[li]) if li is not None else 0,
            parts.index(c[lb]),
            ("x", "y", "likelihood").index(c[lc]),
        ] = values[:, k]
    index = np.asarray(index)
    integral = index.dtype.kind in "iu" or (
        index.dtype.kind == "f" and np.all(np.isfinite(index) & (index % 1 == 0))
    )
    # labeled-data files are indexed by image path: number their rows
    frames = index.astype(np.int64) if integral else np.arange(len(index))
    return inds, parts, frames, xyc


def read_dlc(
    paths: PathLike | Sequence[PathLike],
    *,
    skeleton: str | Skeleton | None = None,
    views: Sequence[str] | None = None,
    fps: float | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read DeepLabCut predictions (``.csv`` or ``.h5``), one file per camera.

    Columns are scorer / bodyparts / coords (single animal) or scorer / individuals / bodyparts / coords
    (multi-animal; each individual is a person slot, DeepLabCut's ``single`` individual of unique body
    parts included, with its absent body parts missing). ``likelihood`` is the confidence. Frames are the
    integer row index (labeled-data files, indexed by image path, get 0..n-1).

    Args:
        paths: One file per camera.
        skeleton: A named skeleton whose joint names are body-part names (the body parts are selected and
            reordered by name). None: the named skeleton with exactly the file's body parts if one
            exists, else a custom skeleton named ``"dlc"`` with the body parts in file order and no bones.
        views: Camera names; default: the file stems.
        fps: Frame rate to record.
        dtype: Floating dtype of the arrays.

    Raises:
        KeypointFileError: Naming the file and the column or row problem; also if cameras have different body
            parts or a named skeleton's joint is not a body part.
    """
    files = _as_paths(paths)
    parsed = [
        (p, n, *_dlc_view(p)) for p, n in zip(files, _names(files, views, lambda p: p.stem), strict=True)
    ]
    parts = parsed[0][3]
    for p, _, _, other, _, _ in parsed[1:]:
        if other != parts:
            raise KeypointFileError(f"{p}: body parts {other} differ from those of {files[0]}: {parts}")
    if skeleton is None:
        named = [s for s in (*SKELETONS.values(), OPENPOSE_COCO_18) if set(s.joints) == set(parts)]
        skel = named[0] if named else _skeleton_from_names("dlc", parts)
    else:
        skel = _resolve_skeleton(skeleton)
        missing = [j for j in skel.joints if j not in parts]
        if missing:
            raise KeypointFileError(f"{files[0]}: no body part(s) {missing} for skeleton {skel.name!r}; "
                                    f"body parts: {parts}")  # fmt: skip
    order = [parts.index(j) for j in skel.joints]
    out = [_View(n, str(p), frames, xyc[:, :, order]) for p, n, _, _, frames, xyc in parsed]
    return _assemble(out, skel, fps=fps, dtype=dtype, notes=[])


# --------------------------------------------------------------------------------------------- MediaPipe


def _landmark(lm: dict, width: float, height: float) -> list[float]:
    """(x px, y px, visibility) of a normalised MediaPipe landmark (pixel centres at integer coordinates)."""
    vis = lm.get("visibility", 1.0)
    return [float(lm["x"]) * width - 0.5, float(lm["y"]) * height - 0.5, float(1.0 if vis is None else vis)]


def read_mediapipe(
    paths: PathLike | Sequence[PathLike],
    *,
    views: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
    fps: float | None = None,
    dtype: Any = np.float32,
) -> Keypoints2D:
    """Read MediaPipe Pose (BlazePose-33) landmarks saved as JSON, one file per camera.

    Accepted layout (``image_width`` / ``image_height`` may be omitted if `image_size` is given; ``fps`` is
    optional; ``z`` is ignored)::

        {"image_width": 1920, "image_height": 1080, "fps": 30,
         "frames": [{"frame": 0,
                     "landmarks": [{"x": 0.51, "y": 0.32, "z": -0.1, "visibility": 0.99}, ... 33 landmarks]},
                    {"frame": 1, "landmarks": [[...33 of person 0...], [...33 of person 1...]]},
                    {"frame": 2, "landmarks": []}]}

    ``landmarks`` is one person's 33 landmarks, a list of such lists (several people), or empty. ``x``, ``y``
    are MediaPipe's normalised image coordinates (0 and 1 at the image edges); pixels, with lift3d's
    convention of pixel centres at integer coordinates, are ``x * width - 0.5`` and ``y * height - 0.5``.
    ``visibility`` (default 1) is the confidence.

    Args:
        paths: One file per camera.
        views: Camera names; default: the file stems.
        image_size: (width, height) in pixels, overriding the file's.
        fps: Frame rate, overriding the file's.
        dtype: Floating dtype of the arrays.

    Raises:
        KeypointFileError: Naming the file, the frame and the field.
    """
    skel = get_skeleton("blazepose")
    files = _as_paths(paths)
    out, rates = [], []
    for path, name in zip(files, _names(files, views, lambda p: p.stem), strict=True):
        data = _load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
            raise KeypointFileError(f"{path}: field 'frames': expected a list (MediaPipe JSON layout)")
        w, h = image_size if image_size is not None else (data.get("image_width"), data.get("image_height"))
        if not all(isinstance(s, (int, float)) and s > 0 for s in (w, h)):
            raise KeypointFileError(f"{path}: fields 'image_width'/'image_height' missing: pass image_size=")
        if data.get("fps") is not None:
            rates.append(float(data["fps"]))
        frames, people = [], []
        for i, entry in enumerate(data["frames"]):
            frame = entry.get("frame") if isinstance(entry, dict) else None
            if not isinstance(frame, int) or not isinstance(entry.get("landmarks"), list):
                raise KeypointFileError(f"{path}: frames[{i}]: expected 'frame' (int) and 'landmarks' (list)")
            marks = entry["landmarks"]
            persons = marks if marks and isinstance(marks[0], list) else ([marks] if marks else [])
            rows = []
            for k, person in enumerate(persons):
                where = f"{path}: frame {frame}, person {k}, field 'landmarks'"
                if not isinstance(person, list) or len(person) != skel.num_joints:
                    raise KeypointFileError(f"{where}: expected {skel.num_joints} landmarks")
                try:
                    rows.append([_landmark(lm, w, h) for lm in person])
                except (TypeError, KeyError, ValueError) as e:
                    raise KeypointFileError(
                        f"{where}: each landmark needs numeric 'x' and 'y' ({e})"
                    ) from None
            frames.append(frame)
            people.append(np.asarray(rows, dtype=np.float64).reshape(len(rows), skel.num_joints, 3))
        if len(set(frames)) != len(frames):
            raise KeypointFileError(f"{path}: field 'frame': repeated frame numbers")
        p = max([len(x) for x in people] + [0])
        xyc = np.full((len(frames), p, skel.num_joints, 3), np.nan)
        for row, x in enumerate(people):
            xyc[row, : len(x)] = x
        order = np.argsort(frames)
        out.append(_View(name, str(path), np.asarray(frames, dtype=np.int64)[order], xyc[order]))
    return _assemble(
        out, skel, fps=fps if fps is not None else (rates[0] if rates else None), dtype=dtype, notes=[]
    )
