"""Calibration boards: specs (`calib/boards/*.toml`), corner detection in images and videos, printable images.

A board is a checkerboard or a ChArUco board. Its corners are numbered row-major (index `r * cols + c`, `cols`
inner corners per row) and its object points lie in the board plane z = 0 with the origin at the first
inner corner, x along a row, y down the columns, in **metres** (specs give squares in millimetres,
`square_size_mm`).

Spec TOML (one `[board]` table)::

    [board]
    name = "opencv_chessboard_9x6_25mm"
    type = "checkerboard"          # or "charuco"
    inner_corners = [9, 6]         # checkerboard: columns x rows of inner corners (OpenCV pattern size)
    square_size_mm = 25.0
    # charuco only: squares = [7, 5] (columns x rows of squares), marker_size_mm, dictionary = "DICT_5X5_100",
    # legacy_pattern = false (true for boards printed with OpenCV < 4.6 and an even number of rows)

Detection gives, per image, every corner of the board in pixels (NaN where not seen), so that views of one
frame line up across cameras. Checkerboard corners are put in a canonical order from the square colours (the
square between the first four corners is dark, as on the printed board), so that two cameras number the same
physical corner alike; a board with `columns + rows` even is 180-degree symmetric and cannot be disambiguated
(a warning names it; use a ChArUco board or another size for rigs).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lift3d.calibration.errors import CalibrationError
from lift3d.calibration.sources import frames

__all__ = [
    "Board",
    "BoardDetections",
    "load_board",
    "board_from_dict",
    "detect_board",
    "detect_in_source",
    "board_image",
    "write_board_image",
]

MIN_SQUARE_MM, MAX_SQUARE_MM = 1.0, 1000.0
MAX_DETECT_SIDE = 1000  # images are searched at most this large (px), corners refined at full resolution
_SUBPIX_CRITERIA = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)


# --------------------------------------------------------------------------------------------- the spec


@dataclasses.dataclass(frozen=True)
class Board:
    """A calibration board.

    Attributes:
        kind: "checkerboard" or "charuco".
        inner_corners: (columns, rows) of inner corners, e.g. (9, 6); OpenCV's pattern size. For ChArUco,
            squares minus one in each direction.
        square_size_mm: Side of one square, millimetres.
        marker_size_mm: ChArUco marker side, millimetres (None for checkerboards).
        dictionary: ChArUco ArUco dictionary name, e.g. "DICT_5X5_100" (None for checkerboards).
        legacy_pattern: ChArUco boards printed with OpenCV < 4.6 (even row counts differ).
        name: A label for reports.
    """

    kind: str
    inner_corners: tuple[int, int]
    square_size_mm: float
    marker_size_mm: float | None = None
    dictionary: str | None = None
    legacy_pattern: bool = False
    name: str = ""

    def __post_init__(self):
        where = f"board {self.name!r}: " if self.name else "board: "
        fail = lambda field, msg: CalibrationError(f"{where}field {field!r}: {msg}")  # noqa: E731
        if self.kind not in ("checkerboard", "charuco"):
            raise fail("type", f"expected 'checkerboard' or 'charuco', got {self.kind!r}")
        cols, rows = (int(x) for x in self.inner_corners)
        object.__setattr__(self, "inner_corners", (cols, rows))
        if cols < 2 or rows < 2:
            raise fail("inner_corners", f"expected at least 2 x 2 inner corners, got {cols} x {rows}")
        _check_size_mm(self.square_size_mm, "square_size_mm", fail)
        if self.kind == "charuco":
            if self.marker_size_mm is None:
                raise fail("marker_size_mm", "missing (a ChArUco board needs its marker side in mm)")
            _check_size_mm(self.marker_size_mm, "marker_size_mm", fail)
            if not self.marker_size_mm < self.square_size_mm:
                raise fail(
                    "marker_size_mm",
                    f"{self.marker_size_mm} mm is not smaller than the square ({self.square_size_mm} mm)",
                )
            if self.dictionary is None or not hasattr(cv2.aruco, str(self.dictionary)):
                names = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
                raise fail("dictionary", f"unknown ArUco dictionary {self.dictionary!r}; one of {names}")
            markers = ((cols + 1) * (rows + 1)) // 2
            size = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary)).bytesList.shape[0]
            if markers > size:
                raise fail("dictionary", f"{self.dictionary} has {size} markers, the board needs {markers}")

    @property
    def squares(self) -> tuple[int, int]:
        """(columns, rows) of squares."""
        return self.inner_corners[0] + 1, self.inner_corners[1] + 1

    @property
    def num_corners(self) -> int:
        """Number of inner corners n."""
        return self.inner_corners[0] * self.inner_corners[1]

    @property
    def square_size_m(self) -> float:
        """Side of one square, metres."""
        return self.square_size_mm / 1000.0

    @property
    def symmetric(self) -> bool:
        """True for a checkerboard that looks the same turned by 180 degrees (corner order ambiguous)."""
        cols, rows = self.inner_corners
        return self.kind == "checkerboard" and ((cols + rows) % 2 == 0)

    def object_points(self) -> np.ndarray:
        """Corner positions on the board, shape (n, 3), metres, row-major, origin at the first corner."""
        cols, rows = self.inner_corners
        grid = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), -1).reshape(-1, 2)
        return np.concatenate([grid * self.square_size_m, np.zeros((grid.shape[0], 1))], 1)

    def charuco(self):
        """The OpenCV `cv2.aruco.CharucoBoard` (ChArUco boards only; sizes in metres)."""
        if self.kind != "charuco":
            raise ValueError(f"board {self.name!r} is a {self.kind}, not a ChArUco board")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        board = cv2.aruco.CharucoBoard(
            self.squares, self.square_size_m, self.marker_size_mm / 1000.0, dictionary
        )
        board.setLegacyPattern(bool(self.legacy_pattern))
        return board

    def to_dict(self) -> dict[str, Any]:
        """The spec as a `[board]` table (what `board_from_dict` reads)."""
        out: dict[str, Any] = {"name": self.name, "type": self.kind}
        if self.kind == "checkerboard":
            out["inner_corners"] = list(self.inner_corners)
        else:
            out["squares"] = list(self.squares)
        out["square_size_mm"] = float(self.square_size_mm)
        if self.kind == "charuco":
            out |= {"marker_size_mm": float(self.marker_size_mm), "dictionary": self.dictionary}
            out["legacy_pattern"] = bool(self.legacy_pattern)
        return out


def _check_size_mm(value: Any, field: str, fail) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or value <= 0:
        raise fail(field, f"expected a positive number of millimetres, got {value!r}")
    if value < MIN_SQUARE_MM:
        raise fail(
            field,
            f"{value} mm is implausibly small: it looks like metres ({value} m = {value * 1000:g} mm); "
            f"sizes are in millimetres, write {field} = {value * 1000:g}",
        )
    if value > MAX_SQUARE_MM:
        raise fail(
            field,
            f"{value} mm is implausibly large (over {MAX_SQUARE_MM:g} mm): it looks like micrometres "
            f"({value / 1000:g} mm); sizes are in millimetres",
        )


def board_from_dict(spec: Mapping[str, Any], source: str = "board spec") -> Board:
    """Build a board from a `[board]` table.

    Args:
        spec: Keys "type", "inner_corners" (checkerboard) or "squares" (ChArUco), "square_size_mm",
            and for ChArUco "marker_size_mm", "dictionary", optionally "legacy_pattern"; optional "name".
        source: What to name in errors (e.g. the file).

    Returns:
        The board.

    Raises:
        CalibrationError: A missing or malformed field, or a size in the wrong units.
    """
    fail = lambda field, msg: CalibrationError(f"{source}: field {field!r}: {msg}")  # noqa: E731
    known = {"name", "type", "inner_corners", "squares", "square_size_mm", "marker_size_mm", "dictionary"}
    unknown = sorted(set(spec) - known - {"legacy_pattern"})
    if unknown:
        hint = (
            " (sizes are given in millimetres: square_size_mm)" if any("size" in k for k in unknown) else ""
        )
        raise fail(unknown[0], f"unknown key; expected some of {sorted(known | {'legacy_pattern'})}{hint}")
    kind = spec.get("type", "checkerboard")
    if "square_size_mm" not in spec:
        raise fail("square_size_mm", "missing (side of one square in millimetres)")
    if kind == "charuco":
        key, offset = "squares", 1
    else:
        key, offset = "inner_corners", 0
    value = spec.get(key)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in value)
    ):
        raise fail(key, f"expected [columns, rows] (2 integers), got {value!r}")
    try:
        return Board(
            kind=kind,
            inner_corners=(value[0] - offset, value[1] - offset),
            square_size_mm=spec["square_size_mm"],
            marker_size_mm=spec.get("marker_size_mm"),
            dictionary=spec.get("dictionary"),
            legacy_pattern=bool(spec.get("legacy_pattern", False)),
            name=str(spec.get("name", "")),
        )
    except CalibrationError as err:
        raise CalibrationError(f"{source}: {err}") from None


def load_board(path: str | os.PathLike) -> Board:
    """Read a board spec TOML (`calib/boards/*.toml`, one `[board]` table).

    Args:
        path: The spec file.

    Returns:
        The board (named after the file if the spec has no name).

    Raises:
        FileNotFoundError: No such file.
        CalibrationError: Invalid TOML, a missing or malformed field, or sizes in the wrong units.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such board spec", str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CalibrationError(f"{path}: invalid TOML: {' '.join(str(err).split())}") from None
    spec = data.get("board")
    if not isinstance(spec, dict):
        raise CalibrationError(f"{path}: no [board] table")
    spec = dict(spec)
    spec.setdefault("name", path.stem)
    board = board_from_dict(spec, source=str(path))
    if board.symmetric:
        warnings.warn(
            f"{path}: a {board.inner_corners[0]} x {board.inner_corners[1]} checkerboard looks the same "
            "turned by 180 degrees; cameras may number its corners differently (fine for intrinsics, not for "
            "rigs)",
            stacklevel=2,
        )
    return board


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
    keys, names, paths, corners, status, size = [], [], [], [], [], None
    for key, name, path, image in frames(source, every):
        keys.append(key)
        names.append(name)
        paths.append(path)
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
    )


# ---------------------------------------------------------------------------------------- printable board


def board_image(board: Board, *, px_per_square: int = 100, margin_squares: float = 0.5) -> np.ndarray:
    """The board as a grey image: black and white squares (top-left square black), white margin.

    Pixel (u, v) of the image (centres at integers) lies at board point
    `((u + 0.5) / px_per_square - margin_squares - 1) * square` (likewise v): the first inner corner is at
    `(margin_squares + 1) * px_per_square - 0.5` px.

    Args:
        board: The board.
        px_per_square: Pixels per square side.
        margin_squares: White margin around the squares, in squares (its pixel width is rounded).

    Returns:
        Image, shape (h, w), uint8.
    """
    margin = int(round(margin_squares * px_per_square))
    cols, rows = board.squares
    if board.kind == "charuco":
        cb = board.charuco()
        for k in (1, 2, 3, 5):  # OpenCV asserts on some sizes (e.g. 60 px squares): draw k times larger
            try:
                size = (cols * px_per_square * k, rows * px_per_square * k)
                img = cb.generateImage(size, marginSize=0, borderBits=1)
                break
            except cv2.error:
                continue
        else:  # pragma: no cover
            raise ValueError(
                f"OpenCV cannot draw {board.name!r} at {px_per_square} px per square; try another size"
            )
        if k > 1:
            img = cv2.resize(img, (cols * px_per_square, rows * px_per_square), interpolation=cv2.INTER_AREA)
        return cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)
    yy, xx = np.mgrid[0:rows, 0:cols]
    squares = np.where((xx + yy) % 2 == 0, 0, 255).astype(np.uint8)
    img = np.kron(squares, np.ones((px_per_square, px_per_square), np.uint8))
    return cv2.copyMakeBorder(img, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255)


def write_board_image(
    board: Board, path: str | os.PathLike, *, dpi: int = 300, margin_mm: float = 10.0
) -> Path:
    """Write a printable board (PNG, or PDF by extension) whose squares print at `square_size_mm` at `dpi`.

    Print at 100 % ("actual size"), then measure a square: the spec must hold the measured size.

    Args:
        board: The board.
        path: Destination, `.png` or `.pdf`; written atomically.
        dpi: Printer resolution (dots per inch) the image is made for.
        margin_mm: White margin around the board, millimetres.

    Returns:
        The path written.
    """
    from PIL import Image  # lazily: only for printing

    from lift3d.fileio import atomic_write

    path = Path(path)
    fmt = {".png": "PNG", ".pdf": "PDF"}.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: write a .png or a .pdf board image")
    px_per_square = max(1, int(round(board.square_size_mm / 25.4 * dpi)))
    img = board_image(board, px_per_square=px_per_square, margin_squares=margin_mm / board.square_size_mm)
    kwargs = {"resolution": float(dpi)} if fmt == "PDF" else {"dpi": (dpi, dpi)}
    with atomic_write(path, "wb") as f:
        Image.fromarray(img).save(f, format=fmt, **kwargs)
    return path
