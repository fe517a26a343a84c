"""Calibration board specs (`calib/boards/*.toml`) and printable board images.

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

A checkerboard with `columns + rows` even is 180-degree symmetric: cameras may number its corners differently,
so `load_board` warns (fine for intrinsics, not for rigs). Detection is `lift3d.calibration.boards`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lift3d.errors import CalibrationError

__all__ = ["Board", "load_board", "board_from_dict", "board_image", "write_board_image"]

MIN_SQUARE_MM, MAX_SQUARE_MM = 1.0, 1000.0
MAX_CORNERS = 1000  # inner corners per row or column; more is not a board a camera could resolve


def _short(value: Any, limit: int = 60) -> str:
    """`repr(value)` on one line, cut to `limit` characters (for error messages)."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
            raise fail("type", f"expected 'checkerboard' or 'charuco', got {_short(self.kind)}")
        cols, rows = (int(x) for x in self.inner_corners)
        object.__setattr__(self, "inner_corners", (cols, rows))
        if cols < 2 or rows < 2:
            raise fail("inner_corners", f"expected at least 2 x 2 inner corners, got {cols} x {rows}")
        if cols > MAX_CORNERS or rows > MAX_CORNERS:
            raise fail("inner_corners", f"expected at most {MAX_CORNERS} inner corners each way, got {cols} x {rows}")
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
            names = sorted(n for n in dir(cv2.aruco) if n.startswith("DICT_"))
            if self.dictionary not in names:
                raise fail("dictionary", f"unknown ArUco dictionary {_short(self.dictionary)}; one of {names}")
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
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan
    except OverflowError:  # an integer beyond float64
        number = np.inf
    if not (np.isfinite(number) and number > 0):
        raise fail(field, f"expected a positive number of millimetres, got {_short(value)}")
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
    legacy = spec.get("legacy_pattern", False)
    if not isinstance(legacy, bool):
        raise fail("legacy_pattern", f"expected true or false, got {_short(legacy)}")
    value = spec.get(key)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(x, int) and not isinstance(x, bool) for x in value)
    ):
        raise fail(key, f"expected [columns, rows] (2 integers), got {_short(value)}")
    try:
        return Board(
            kind=kind,
            inner_corners=(value[0] - offset, value[1] - offset),
            square_size_mm=spec["square_size_mm"],
            marker_size_mm=spec.get("marker_size_mm"),
            dictionary=spec.get("dictionary"),
            legacy_pattern=legacy,
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

    from lift3d.io.atomic import atomic_write

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
