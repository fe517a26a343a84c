"""OpenCV `FileStorage` calibrations (YAML or XML: one camera, or a stereo pair) into a `Rig` (`read_opencv`;
read only). OpenCV is imported when a file is read."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lift3d.core.rig import SOURCE_KEY, Rig
from lift3d.errors import RigFileError
from lift3d.geometry.camera import Camera
from lift3d.io._rig_fields import check_rotation_matrix, failer, numbers, short

__all__ = ["read_opencv"]


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
    fs = _open(path)
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
        Ks = [_mat(fs, path, k, n, (3, 3), "3x3") for (k, _), n in zip(keys, names, strict=True)]
        dists = [_distortion(fs, path, d, n) for (_, d), n in zip(keys, names, strict=True)]
        w, h = fs.getNode("image_width"), fs.getNode("image_height")
        estimated = w.empty() or h.empty()
        for node, key in ((w, "image_width"), (h, "image_height")):
            if not (estimated or node.isInt() or node.isReal()):
                raise failer(path, names[0], key)("expected a number")
        sizes = [np.round(2.0 * K[:2, 2]) if estimated else np.array([w.real(), h.real()]) for K in Ks]
        if not np.all(np.isfinite(sizes) & (np.asarray(sizes) > 0)):
            field = "camera_matrix" if estimated else "image_width"
            raise failer(path, names[0], field)(f"expected a positive image size, got {sizes[0].tolist()}")
        Rs, ts = [np.eye(3)], [np.zeros(3)]
        if stereo:
            src, src_fs = path, fs
            if fs.getNode("R").empty() and extrinsics is not None:
                src, src_fs = Path(extrinsics), _open(Path(extrinsics))
            try:
                if src_fs.getNode("R").empty():
                    raise failer(path, names[1], "R")(
                        "missing: no stereo rotation in this file; pass extrinsics= (e.g. extrinsics.yml)"
                    )
                R = _mat(src_fs, src, "R", names[1], (3, 3), "3x3")
                Rs.append(check_rotation_matrix(R, failer(src, names[1], "R")))
                ts.append(_mat(src_fs, src, "T", names[1], (3,), "3 numbers"))
            finally:
                if src_fs is not fs:
                    src_fs.release()
    except cv2.error as err:  # a node of another kind than the field needs
        raise RigFileError(f"{path}: malformed OpenCV FileStorage file: {_cv_message(err)}") from None
    finally:
        fs.release()
    cams = Camera.create(np.stack(Ks), R=np.stack(Rs), t=np.stack(ts), dist=np.stack(dists), image_size=sizes)
    meta = {"image_size_estimated": True} if estimated else {}
    return Rig(names=names, cameras=cams, units=units, metadata={**meta, SOURCE_KEY: str(path)})


def _cv_message(err: BaseException) -> str:
    """The last 160 characters of an OpenCV error (or of the one a SystemError wraps), on one line."""
    return " ".join(str(err.__cause__ or err).split())[-160:]


def _open(path: Path):
    """`path` as an open `cv2.FileStorage` whose top level is a map, else `RigFileError`."""
    import cv2

    try:
        fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as err:  # SystemError wraps a cv2.error (e.g. an empty file)
        raise RigFileError(f"{path}: not an OpenCV FileStorage file: {_cv_message(err)}") from None
    if not fs.isOpened():
        raise RigFileError(f"{path}: cannot be opened as an OpenCV FileStorage file")
    if not fs.root().isMap():
        fs.release()
        raise RigFileError(f"{path}: not a camera calibration: the top level is not a map of named fields")
    return fs


def _mat(fs, path: Path, key: str, camera: str, shape: tuple[int, ...] | None, expected: str) -> np.ndarray:
    """Field `key` of `fs` as a finite float64 array of `shape` (None: any, flattened), else `RigFileError`.

    The opencv-matrix is read node by node (rows, cols, data): `FileNode.mat()` corrupts memory on a matrix
    without ``cols`` (OpenCV 5.1), so it is never called on a file's nodes.
    """
    node, fail = fs.getNode(key), failer(path, camera, key)
    if node.empty() or node.isNone():
        raise fail("missing")
    rows, cols, data = (node.getNode(k) for k in ("rows", "cols", "data")) if node.isMap() else (None,) * 3
    if rows is None or not (rows.isInt() and cols.isInt() and data.isSeq()):
        raise fail(f"expected an opencv-matrix with integer 'rows', 'cols' and a 'data' list ({expected})")
    values = [data.at(i) for i in range(data.size())]
    if not all(v.isReal() or v.isInt() for v in values):
        raise fail(f"expected numbers in 'data' ({expected})")
    n_rows, n_cols = int(rows.real()), int(cols.real())
    if n_rows < 0 or n_cols < 0 or n_rows * n_cols != len(values):
        raise fail(f"{n_rows} rows x {n_cols} cols, got {len(values)} numbers in 'data' ({expected})")
    m = np.array([v.real() for v in values], np.float64).reshape(n_rows, n_cols)
    m = m.reshape(-1) if shape is None or len(shape) == 1 else m
    return numbers(m.tolist(), [shape or m.shape], expected, fail)


def _distortion(fs, path: Path, key: str, camera: str) -> np.ndarray:
    """Field `key` as OpenCV's (k1, k2, p1, p2, k3), else `RigFileError`."""
    d = _mat(fs, path, key, camera, None, "4, 5, 8, 12 or 14 coefficients")
    if d.size not in (4, 5, 8, 12, 14) or np.any(d[5:] != 0):
        raise failer(path, camera, key)(f"expected k1, k2, p1, p2[, k3] (more only if zero), got {short(d.tolist())}")
    return np.pad(d[:5], (0, 5 - min(d.size, 5)))
