"""DeepLabCut predictions (``.csv`` or ``.h5``) into `Keypoints2D` (`read_dlc`).

DeepLabCut ``.h5`` files are read with h5py (already a dependency), not pandas / PyTables: both layouts that
pandas writes are supported (``format="table"``, DeepLabCut's analysis output, and the default
``format="fixed"``). The column labels of the table layout are pickled by pandas (protocol 0 lists of string
tuples); they are unpickled with every class refused, so a file cannot run code.
"""

from __future__ import annotations

import csv
import io
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import OPENPOSE_COCO_18, SKELETONS, Skeleton, get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import PathLike, View, as_paths, assemble, short, view_names

__all__ = ["read_dlc"]


def _skeleton_from_names(name: str, joints: Sequence[str], bones: Sequence[tuple[str, str]] = ()) -> Skeleton:
    """Skeleton with left/right pairs found by the ``left_`` / ``right_`` prefixes."""
    idx = {j: i for i, j in enumerate(joints)}
    pairs = tuple(
        (i, idx["right_" + j[5:]])
        for i, j in enumerate(joints)
        if j.startswith("left_") and "right_" + j[5:] in idx
    )
    return Skeleton(name, tuple(joints), tuple((idx[a], idx[b]) for a, b in bones), pairs)



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
    except Exception as e:  # OSError, or whatever else a damaged superblock makes HDF5 raise
        raise KeypointFileError(f"{path}: not an HDF5 file ({short(e, 160)})") from None
    try:
        with f:
            return _dlc_h5_frame(f, fail)
    except KeypointFileError:
        raise
    except Exception as e:  # a damaged file: HDF5 raises KeyError, RuntimeError, OSError, ValueError, ...
        raise KeypointFileError(f"{path}: damaged HDF5 file ({type(e).__name__}: {short(e, 160)})") from None


def _dlc_h5_frame(f, fail) -> tuple[list[str], list[tuple], np.ndarray, np.ndarray]:
    """`_dlc_h5` of an open file."""
    import h5py

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
            raise fail(f"unsupported pandas table layout ({short(e, 160)})") from None
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
            raise fail(f"unsupported pandas fixed layout ({short(e, 160)})") from None
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
    try:
        for row in csv.reader(lines[:4]):
            header.append(row)
            if row and row[0] == "coords":
                break
            if not row or row[0] not in _DLC_LEVELS[:3]:
                raise KeypointFileError(f"{path}: line {len(header)}: expected DeepLabCut header rows "
                                        f"scorer, [individuals], bodyparts, coords")  # fmt: skip
    except csv.Error as e:
        raise KeypointFileError(f"{path}: line {len(header) + 1}: {e}") from None
    if not header or header[-1][:1] != ["coords"] or any(len(r) != len(header[0]) for r in header):
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
        raise KeypointFileError(f"{path}: column levels {short(levels)}: expected bodyparts and coords")
    columns = [tuple(str(x) for x in c) for c in columns]
    index, values = np.asarray(index), np.asarray(values)
    if any(len(c) != len(levels) for c in columns):
        raise KeypointFileError(f"{path}: column labels of another length than the levels {short(levels)}")
    if index.ndim != 1 or values.shape != (len(index), len(columns)):
        raise KeypointFileError(f"{path}: {len(columns)} columns and {index.shape} row labels, got values of "
                                f"shape {values.shape}")  # fmt: skip
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
    if index.dtype.kind in "iuf":
        number = index.astype(np.float64)
        with np.errstate(invalid="ignore"):
            integral = np.all(np.isfinite(number) & (number % 1 == 0) & (np.abs(number) < 2**53))
    else:
        integral = False
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
    files = as_paths(paths)
    parsed = [
        (p, n, *_dlc_view(p)) for p, n in zip(files, view_names(files, views, lambda p: p.stem), strict=True)
    ]
    parts = parsed[0][3]
    for p, _, _, other, _, _ in parsed[1:]:
        if other != parts:
            raise KeypointFileError(f"{p}: body parts {other} differ from those of {files[0]}: {parts}")
    if skeleton is None:
        named = [s for s in (*SKELETONS.values(), OPENPOSE_COCO_18) if set(s.joints) == set(parts)]
        skel = named[0] if named else _skeleton_from_names("dlc", parts)
    else:
        skel = get_skeleton(skeleton)
        missing = [j for j in skel.joints if j not in parts]
        if missing:
            raise KeypointFileError(f"{files[0]}: no body part(s) {missing} for skeleton {skel.name!r}; "
                                    f"body parts: {parts}")  # fmt: skip
    order = [parts.index(j) for j in skel.joints]
    out = [View(n, str(p), frames, xyc[:, :, order]) for p, n, _, _, frames, xyc in parsed]
    return assemble(out, skel, fps=fps, dtype=dtype, notes=[])
