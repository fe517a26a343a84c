"""Read multi-camera 2D keypoint files of any supported format into `Keypoints2D` (`read_keypoints`).

`read_keypoints` dispatches to one reader per format, each in its own module:

- OpenPose JSON (`lift3d.io.keypoints_openpose.read_openpose`): one folder per camera of ``<name><frame>.json``
  files, ``people[i].pose_keypoints_2d`` = flat (x px, y px, confidence) * J; undetected joints are (0, 0, 0).
- COCO keypoint results JSON (`lift3d.io.keypoints_coco.read_coco`): one file per camera, a list of
  ``{"image_id", "category_id", "keypoints": [x, y, v] * J, "score"}``.
- DeepLabCut (`lift3d.io.keypoints_dlc.read_dlc`): ``.csv`` or ``.h5`` per camera, columns scorer /
  [individuals] / bodyparts / coords (x, y, likelihood); ``.h5`` is read with h5py, without pandas / PyTables.
- MediaPipe-style JSON (`lift3d.io.keypoints_mediapipe.read_mediapipe`): BlazePose-33, normalised coordinates.
- npz arrays (`lift3d.io.keypoints_npz.read_keypoints_npz`, and `write_keypoints_npz` for the reverse).

The in-memory type is `lift3d.core.keypoints.Keypoints2D`; what the readers share lives in
`lift3d.io._keypoint_files`.

Frames are aligned across cameras by frame number (union of the frames of all cameras; a frame a camera lacks
is missing there, and a warning names the camera and the frames). People are padded to the largest number of
detections in any frame and view: missing data is NaN with confidence 0, masked, never dropped. Errors are
`KeypointFileError` with one line naming the file, the frame / person and the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import KeypointFileError
from lift3d.io._keypoint_files import PathLike, as_paths
from lift3d.io.keypoints_coco import read_coco
from lift3d.io.keypoints_dlc import read_dlc
from lift3d.io.keypoints_mediapipe import read_mediapipe
from lift3d.io.keypoints_npz import read_keypoints_npz
from lift3d.io.keypoints_openpose import read_openpose

__all__ = ["DEFAULT_FORMAT", "FORMATS", "read_keypoints"]

FORMATS = ("openpose", "coco", "dlc", "mediapipe", "npz")
DEFAULT_FORMAT = "openpose"  # the commands' default: Pose2Sim's and most labs' detector output


def _guess_format(paths: list[Path]) -> str:
    first = paths[0]
    if first.is_dir():
        return "openpose"
    suffix = first.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".h5", ".hdf5", ".csv"):
        return "dlc"
    if suffix == ".json":
        try:
            with open(first, "rb") as f:
                head = f.read(256).lstrip()
        except OSError as e:
            raise KeypointFileError(f"{first}: cannot read: {e}") from None
        if head.startswith(b"["):
            return "coco"
        if head.startswith(b"{"):
            return "mediapipe"
    raise KeypointFileError(
        f"{first}: cannot tell the keypoint format; pass format= (one of {', '.join(FORMATS)})"
    )


def read_keypoints(
    paths: PathLike | Sequence[PathLike],
    *,
    format: str | None = None,
    skeleton: str | Skeleton | None = None,
    views: Sequence[str] | None = None,
    **kwargs: Any,
) -> Keypoints2D:
    """Read 2D keypoints of several cameras in any supported format.

    Args:
        paths: OpenPose: camera folders (or their parent); COCO / DLC / MediaPipe: one file per camera;
            npz: one file.
        format: ``"openpose"``, ``"coco"``, ``"dlc"``, ``"mediapipe"`` or ``"npz"``; None guesses from the
            paths (folder -> openpose, .npz, .h5/.csv -> dlc, .json list -> coco, .json object -> mediapipe).
        skeleton: Passed to the reader (MediaPipe is always BlazePose-33).
        views: Camera names.
        **kwargs: Reader options (``on_error``, ``fps``, ``image_size``, ``image_to_frame``, ``dtype``).

    Returns:
        `Keypoints2D`: points (t, v, p, j, 2) px, confidence (t, v, p, j).

    Raises:
        KeypointFileError: A malformed file, or a format that cannot be guessed (naming the file).
        ValueError: An unknown format, several npz files, or a non-BlazePose skeleton for MediaPipe.
    """
    files = as_paths(paths)
    if not files:
        raise ValueError("no keypoint paths given")
    fmt = format or _guess_format(files)
    if fmt == "openpose":
        return read_openpose(files, skeleton=skeleton, views=views, **kwargs)
    if fmt == "coco":
        return read_coco(files, skeleton=skeleton or "coco", views=views, **kwargs)
    if fmt == "dlc":
        return read_dlc(files, skeleton=skeleton, views=views, **kwargs)
    if fmt == "mediapipe":
        if skeleton is not None and get_skeleton(skeleton).name != "blazepose":
            raise ValueError(f"MediaPipe keypoints are BlazePose-33, not {skeleton!r}")
        return read_mediapipe(files, views=views, **kwargs)
    if fmt == "npz":
        if len(files) != 1:
            raise ValueError(f"npz keypoints come in one file, got {len(files)}")
        return read_keypoints_npz(files[0], skeleton=skeleton, views=views, **kwargs)
    raise ValueError(f"unknown keypoint format {fmt!r}; formats: {', '.join(FORMATS)}")
