"""Calibration boards: corner detection in images and videos (specs and printable images: `lift3d.io.boards`).

Corners are numbered as `lift3d.io.boards` describes (row-major, object points in metres on the board plane).

Detection gives, per image, every corner of the board in pixels (NaN where not seen), so that views of one
frame line up across cameras. Checkerboard corners are put in a canonical order from the square colours (the
square between the first four corners is dark, as on the printed board), so that two cameras number the same
physical corner alike; a board with `columns + rows` even is 180-degree symmetric and cannot be disambiguated
(a warning names it; use a ChArUco board or another size for rigs).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from lift3d.errors import CalibrationError
from lift3d.io.boards import Board
from lift3d.io.image_sources import frames

__all__ = ["BoardDetections", "detect_board", "detect_in_source", "spec_mismatch", "spec_mismatch_message"]

MAX_DETECT_SIDE = 1000  # images are searched at most this large (px), corners refined at full resolution
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)


# ---------------------------------------------------------------------------------------------- detection


def _gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY)
    if image.dtype != np.uint8:
        image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return image


def _min_spacing(grid: np.ndarray) -> float:
    """Smallest distance between neighbouring corners of a (rows, cols, 2) grid, pixels."""
    d = [np.linalg.norm(np.diff(grid, axis=a), axis=-1) for a in (0, 1)]
    return float(min(x.min() for x in d if x.size))


def _mean_in_quad(gray: np.ndarray, quad: np.ndarray) -> float:
    """Mean intensity in the middle of a quadrilateral (its corners shrunk halfway to the centroid)."""
    centre = quad.mean(0)
    inner = (centre + 0.5 * (quad - centre)).astype(np.int32)
    mask = np.zeros(gray.shape, np.uint8)
    cv2.fillConvexPoly(mask, inner, 1)
    if not mask.any():
        x, y = np.clip(np.round(centre).astype(int), 0, np.array(gray.shape[::-1]) - 1)
        return float(gray[y, x])
    return float(cv2.mean(gray, mask)[0])


def _canonical_order(gray: np.ndarray, corners: np.ndarray, pattern: tuple[int, int]) -> np.ndarray:
    """Reverse the corner order if the square between the first four corners is the lighter one."""
    cols, rows = pattern
    grid = corners.reshape(rows, cols, 2)
    first = np.array([grid[0, 0], grid[0, 1], grid[1, 1], grid[1, 0]])
    last = np.array([grid[-1, -1], grid[-1, -2], grid[-2, -2], grid[-2, -1]])
    if _mean_in_quad(gray, first) > _mean_in_quad(gray, last):
        return corners[::-1].copy()
    return corners


def _refine(
    gray: np.ndarray, corners: np.ndarray, pattern: tuple[int, int], window: int | None
) -> np.ndarray:
    """Sub-pixel corners; the window (half side, px) defaults to 0.3 x the corner spacing (3 to 30 px)."""
    if window is None:
        window = int(np.clip(0.3 * _min_spacing(corners.reshape(pattern[1], pattern[0], 2)), 3, 30))
    pts = corners.reshape(-1, 1, 2).astype(np.float32)
    return cv2.cornerSubPix(gray, pts, (window, window), (-1, -1), _SUBPIX_CRITERIA).reshape(-1, 2)


def _detect_checkerboard(gray: np.ndarray, board: Board, detector: str, window: int | None):
    pattern = board.inner_corners
    scale = min(1.0, MAX_DETECT_SIDE / max(gray.shape))
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    found, corners = False, None
    if detector in ("auto", "classic"):
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
        found, corners = cv2.findChessboardCorners(small, pattern, flags=flags)
    if not found and detector in ("auto", "sb"):
        found, corners = cv2.findChessboardCornersSB(small, pattern, flags=cv2.CALIB_CB_EXHAUSTIVE)
    if not found:
        return None
    corners = (corners.reshape(-1, 2).astype(np.float64) + 0.5) / scale - 0.5  # pixel centres at integers
    corners = _refine(gray, corners, pattern, window)
    if not board.symmetric:
        corners = _canonical_order(gray, corners, pattern)
    return corners


def _patch_means(gray: np.ndarray, H: np.ndarray, uv: np.ndarray, half: int) -> np.ndarray:
    """Mean intensity of (2 half + 1)^2 px patches at board coordinates `uv` (n, 2) mapped by the homography H."""
    pts = cv2.perspectiveTransform(uv.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    h, w = gray.shape
    out = np.full(len(pts), np.nan)
    for k, (x, y) in enumerate(np.round(pts).astype(np.int64)):
        if half <= x < w - half and half <= y < h - half:
            out[k] = gray[y - half : y + half + 1, x - half : x + half + 1].mean()
    return out


_SIDES = ("top", "bottom", "left", "right")


def spec_mismatch(image: np.ndarray, corners: np.ndarray, board: Board) -> str:
    """Why a checkerboard detection does not look like the spec's board ("" when it does).

    Two checks on the image, through the homography of the detected corners (board squares as units):
    the squares between the corners must alternate dark / light (a detector that latched onto the wrong
    grid does not), and the board must end where the spec says: one row or column beyond the outer inner
    corners lies the board's edge (squares on one side, the margin on the other), not another checkerboard
    corner (a board larger than the spec, e.g. a 7 x 5 spec on a 9 x 6 board).

    Args:
        image: The image the corners were found in (grey or BGR).
        corners: (n, 2) detected corners, the spec's order, px.
        board: The spec (checkerboards; ChArUco corners carry their identity and always pass).

    Returns:
        "" or a phrase such as "the board continues beyond the top and bottom rows of corners".
    """
    if board.kind != "checkerboard" or not np.isfinite(corners).all():
        return ""
    gray = _gray(image)
    cols, rows = board.inner_corners
    grid = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), -1).reshape(-1, 2).astype(np.float64)
    H, _ = cv2.findHomography(grid, np.asarray(corners, np.float64))
    if H is None:
        return "the corners do not form a grid"
    half = max(1, int(0.15 * _min_spacing(np.asarray(corners).reshape(rows, cols, 2))))
    squares = np.stack(np.meshgrid(np.arange(cols - 1) + 0.5, np.arange(rows - 1) + 0.5), -1).reshape(-1, 2)
    values = _patch_means(gray, H, squares, half)
    dark = (np.floor(squares).sum(1) % 2).astype(bool)
    if np.isfinite(values).sum() < 4:
        return ""
    contrast = abs(np.nanmean(values[dark]) - np.nanmean(values[~dark]))
    spread = np.nanpercentile(values, 90) - np.nanpercentile(values, 10)
    if contrast < 0.45 * max(spread, 1e-9) or contrast < 5:
        return "the squares between the detected corners do not alternate dark and light"
    outside = {"top": [(u, -1) for u in range(cols)], "bottom": [(u, rows) for u in range(cols)],
               "left": [(-1, v) for v in range(rows)], "right": [(cols, v) for v in range(rows)]}  # fmt: skip
    beyond = []
    for side in _SIDES:
        at = np.asarray(outside[side], np.float64)
        a, b, c, d = (_patch_means(gray, H, at + o, half) for o in ([0.5, 0.5], [-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5]))
        ok = np.isfinite(a + b + c + d)
        corner = (abs(a - b) < 0.25 * contrast) & (abs(c - d) < 0.25 * contrast)
        corner &= abs((a + b) / 2 - (c + d) / 2) > 0.5 * contrast
        if ok.sum() >= 2 and corner[ok].mean() >= 0.6:
            beyond.append(side)
    if not beyond:
        return ""
    where = beyond[0] + " side" if len(beyond) == 1 else ", ".join(beyond[:-1]) + f" and {beyond[-1]} sides"
    return f"the checkerboard continues beyond the detected corners on the {where}"


def _detect_charuco(gray: np.ndarray, board: Board, min_corners: int):
    cb = board.charuco()
    detector = cv2.aruco.CharucoDetector(cb)
    corners, ids, _, _ = detector.detectBoard(gray)
    if ids is None or len(ids) < min_corners:
        return None
    ids = ids.reshape(-1)
    if cb.checkCharucoCornersCollinear(ids.reshape(-1, 1)):
        return None
    out = np.full((board.num_corners, 2), np.nan)
    out[ids] = corners.reshape(-1, 2)
    return out


def detect_board(
    image: np.ndarray,
    board: Board,
    *,
    detector: str = "auto",
    min_corners: int = 6,
    subpix_window: int | None = None,
) -> np.ndarray | None:
    """Find the board's corners in one image, sub-pixel refined.

    Checkerboards: `cv2.findChessboardCorners` (`detector="classic"`), `cv2.findChessboardCornersSB`
    (`"sb"`) or the first, then the second (`"auto"`), searched on the image shrunk to at most 1000 px, then
    refined by `cv2.cornerSubPix` at full resolution; the whole board must be seen. ChArUco:
    `cv2.aruco.CharucoDetector`; any `min_corners` non-collinear corners suffice.

    Args:
        image: Grey or BGR image, shape (h, w) or (h, w, 3).
        board: The board.
        detector: "auto", "classic" or "sb" (checkerboards).
        min_corners: ChArUco: fewest corners for a usable view.
        subpix_window: Half side of the `cornerSubPix` window, px; None: 0.3 x the corner spacing (3-30 px).

    Returns:
        Corners, shape (n, 2), pixels, NaN for corners not seen; None if the board was not found.
    """
    if detector not in ("auto", "classic", "sb"):
        raise ValueError(f"detector must be 'auto', 'classic' or 'sb', got {detector!r}")
    gray = _gray(image)
    if board.kind == "charuco":
        return _detect_charuco(gray, board, min_corners)
    return _detect_checkerboard(gray, board, detector, subpix_window)


@dataclasses.dataclass(frozen=True)
class BoardDetections:
    """The board's corners in the frames of one camera.

    Attributes:
        camera: Camera name.
        keys: Frame keys (match views across cameras), length f.
        names: Readable frame names (file names, "video.mp4 frame 12"), length f.
        corners: Corners, shape (f, n, 2), pixels, NaN where not seen.
        status: Per frame "found", "partial" (ChArUco, some corners), "not found" or "unreadable".
        image_size: (width, height), pixels.
        source: What was read (folder, pattern or video).
        board: The board searched for.
        paths: Per frame, the image file read (for videos: the video file).
        mismatch: Per frame, why the found board does not look like the spec ("" when it does; see
            `spec_mismatch`); empty when not checked.
    """

    camera: str
    keys: tuple[str, ...]
    names: tuple[str, ...]
    corners: np.ndarray
    status: tuple[str, ...]
    image_size: tuple[int, int]
    source: str
    board: Board
    paths: tuple[str, ...] = ()
    mismatch: tuple[str, ...] = ()

    @property
    def found(self) -> np.ndarray:
        """Frames with a usable view, shape (f,) bool."""
        return np.array([s in ("found", "partial") for s in self.status], dtype=bool)

    def subset(self, mask: np.ndarray) -> BoardDetections:
        """The detections of the frames where `mask` (shape (f,)) is True."""
        idx = np.flatnonzero(mask)
        pick = lambda seq: tuple(seq[i] for i in idx)  # noqa: E731
        return dataclasses.replace(
            self,
            keys=pick(self.keys),
            names=pick(self.names),
            corners=self.corners[idx],
            status=pick(self.status),
            paths=pick(self.paths) if self.paths else (),
            mismatch=pick(self.mismatch) if self.mismatch else (),
        )


def detect_in_source(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    board: Board,
    *,
    camera: str | None = None,
    every: int = 1,
    detector: str = "auto",
    min_corners: int = 6,
    subpix_window: int | None = None,
) -> BoardDetections:
    """Detect the board in every (n-th) frame of a camera's images or video.

    Args:
        source: Folder, glob pattern, list of images or a video (see `iter_images`).
        board: The board.
        camera: Camera name; default: the folder, pattern or video name.
        every: Keep every n-th frame.
        detector: See `detect_board`.
        min_corners: See `detect_board`.
        subpix_window: See `detect_board`.

    Returns:
        The detections of all frames read (found or not).

    Raises:
        CalibrationError: No frame could be read, frames of different sizes, or duplicate frame keys.
    """
    label = os.fspath(source) if not isinstance(source, (list, tuple)) else os.fspath(source[0])
    camera = camera or Path(label).stem.rstrip("*?") or Path(label).name
    keys, names, paths, corners, status, mismatch, size = [], [], [], [], [], [], None
    for key, name, path, image in frames(source, every):
        keys.append(key)
        names.append(name)
        paths.append(path)
        mismatch.append("")
        if image is None:
            status.append("unreadable")
            corners.append(np.full((board.num_corners, 2), np.nan))
            continue
        h, w = image.shape[:2]
        if size is None:
            size = (w, h)
        elif size != (w, h):
            raise CalibrationError(
                f"camera {camera!r}: {name} is {w}x{h} px but earlier frames are {size[0]}x{size[1]} px"
            )
        c = detect_board(
            image, board, detector=detector, min_corners=min_corners, subpix_window=subpix_window
        )
        if c is None:
            status.append("not found")
            corners.append(np.full((board.num_corners, 2), np.nan))
        else:
            status.append("found" if np.isfinite(c).all() else "partial")
            corners.append(c)
            mismatch[-1] = spec_mismatch(image, c, board)
    if size is None:
        raise CalibrationError(f"camera {camera!r}: {label}: no readable image or video frame")
    if len(set(keys)) != len(keys):
        keys = [Path(n).stem for n in names]  # two files share a number: fall back to whole stems
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise CalibrationError(f"camera {camera!r}: two frames are both named {dup!r}")
    return BoardDetections(
        camera=camera,
        keys=tuple(keys),
        names=tuple(names),
        corners=np.stack(corners),
        status=tuple(status),
        image_size=size,
        source=label,
        board=board,
        paths=tuple(paths),
        mismatch=tuple(mismatch),
    )


def spec_mismatch_message(det: BoardDetections, spec: str | None = None) -> str | None:
    """The error for a camera whose found boards mostly do not look like the spec (None when they do).

    Args:
        det: The camera's detections (with `mismatch`).
        spec: The spec file, for the message (default the board's name).

    Returns:
        One line naming the camera, the views, the pattern and what to check; None when fewer than half of
        the found views disagree with the spec.
    """
    found = np.flatnonzero(det.found)
    bad = [i for i in found if det.mismatch and det.mismatch[i]]
    if not bad or 2 * len(bad) < len(found):
        return None
    cols, rows = det.board.inner_corners
    reasons = sorted({det.mismatch[i] for i in bad}, key=lambda r: -sum(det.mismatch[i] == r for i in bad))
    names = ", ".join(det.names[i] for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
    return (
        f"camera {det.camera!r}: the board found in {len(bad)} of {len(found)} views ({names}) does not match "
        f"the spec {spec or det.board.name!r} (checkerboard inner_corners = [{cols}, {rows}]): "
        f"{'; '.join(reasons[:2])}; count the inner corners of the printed board (where four squares meet, "
        "columns x rows) and fix inner_corners in the spec"
    )
