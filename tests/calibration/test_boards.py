"""Calibration boards: specs (units caught), detection round trips, corner order, sources, printing."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from lift3d.calibration.boards import detect_board, detect_in_source
from lift3d.errors import CalibrationError
from lift3d.io.boards import Board, board_from_dict, board_image, load_board, write_board_image
from lift3d.io.image_sources import frame_key, iter_images

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
OPENCV = SHARED / "opencv_stereo_chessboard"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")


def expected_corners(board: Board, px_per_square: int, margin_squares: float = 0.5) -> np.ndarray:
    """Where `board_image` puts the inner corners (pixel centres at integers)."""
    m = round(margin_squares * px_per_square)
    return board.object_points()[:, :2] / board.square_size_m * px_per_square + m + px_per_square - 0.5


def test_shipped_specs_load():
    boards = {p.stem: load_board(p) for p in sorted((ROOT / "calib" / "boards").glob("*.toml"))}
    assert {"pose2sim_checkerboard_4x7_60mm", "opencv_chessboard_9x6_25mm", "charuco_7x5_35mm_5x5"} <= set(
        boards
    )
    p2s = boards["pose2sim_checkerboard_4x7_60mm"]
    assert (p2s.kind, p2s.inner_corners, p2s.square_size_m) == ("checkerboard", (7, 4), 0.06)
    ch = boards["charuco_7x5_35mm_5x5"]
    assert (ch.kind, ch.squares, ch.inner_corners, ch.marker_size_mm) == ("charuco", (7, 5), (6, 4), 26.0)
    assert not any(b.symmetric for b in boards.values())


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"inner_corners": [9, 6], "square_size_mm": 0.025}, "square_size_mm", ["metres", "25"]),
        ({"inner_corners": [9, 6], "square_size_mm": 25000}, "square_size_mm", ["micrometres"]),
        ({"inner_corners": [9, 6], "square_size": 25}, "square_size", ["millimetres"]),
        ({"inner_corners": [9, 6]}, "square_size_mm", ["missing"]),
        ({"inner_corners": [9], "square_size_mm": 25}, "inner_corners", ["2 integers"]),
        ({"inner_corners": [1, 6], "square_size_mm": 25}, "inner_corners", ["2 x 2"]),
        ({"type": "hexagons", "inner_corners": [9, 6], "square_size_mm": 25}, "type", ["checkerboard"]),
        ({"type": "charuco", "squares": [7, 5], "square_size_mm": 35}, "marker_size_mm", ["missing"]),
        (
            {
                "type": "charuco",
                "squares": [7, 5],
                "square_size_mm": 35,
                "marker_size_mm": 0.026,
                "dictionary": "x",
            },
            "marker_size_mm",
            ["metres", "26"],
        ),
        (
            {
                "type": "charuco",
                "squares": [7, 5],
                "square_size_mm": 35,
                "marker_size_mm": 40,
                "dictionary": "x",
            },
            "marker_size_mm",
            ["not smaller"],
        ),
        (
            {
                "type": "charuco",
                "squares": [7, 5],
                "square_size_mm": 35,
                "marker_size_mm": 26,
                "dictionary": "D",
            },
            "dictionary",
            ["DICT_5X5_100"],
        ),
        (
            {
                "type": "charuco",
                "squares": [12, 12],
                "square_size_mm": 35,
                "marker_size_mm": 26,
                "dictionary": "DICT_4X4_50",
            },
            "dictionary",
            ["50 markers", "72"],
        ),
    ],
)
def test_bad_specs_name_the_field(tmp_path, spec, field, words):
    path = tmp_path / "board.toml"
    lines = ["[board]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in spec.items()]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(CalibrationError) as err:
        load_board(path)
    msg = str(err.value)
    assert str(path) in msg and f"'{field}'" in msg
    for w in words:
        assert w in msg


def test_invalid_toml_and_missing_table(tmp_path):
    (tmp_path / "a.toml").write_text("[board\n")
    with pytest.raises(CalibrationError, match="invalid TOML"):
        load_board(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text("[plate]\nx = 1\n")
    with pytest.raises(CalibrationError, match=r"no \[board\] table"):
        load_board(tmp_path / "b.toml")
    with pytest.raises(FileNotFoundError):
        load_board(tmp_path / "missing.toml")


def test_symmetric_board_warns(tmp_path):
    path = tmp_path / "sym.toml"
    path.write_text('[board]\ntype = "checkerboard"\ninner_corners = [7, 5]\nsquare_size_mm = 30\n')
    with pytest.warns(UserWarning, match="180 degrees"):
        board = load_board(path)
    assert board.symmetric


def test_object_points_metres_row_major():
    b = board_from_dict({"inner_corners": [4, 3], "square_size_mm": 50})
    obj = b.object_points()
    assert obj.shape == (12, 3)
    np.testing.assert_allclose(obj[1], [0.05, 0, 0])
    np.testing.assert_allclose(obj[4], [0, 0.05, 0])
    np.testing.assert_allclose(obj[-1], [0.15, 0.10, 0])


def test_checkerboard_round_trip_and_canonical_order():
    b = Board("checkerboard", (9, 6), 25.0)
    img = board_image(b, px_per_square=30)
    found = detect_board(img, b)
    np.testing.assert_allclose(found, expected_corners(b, 30), atol=0.05)
    # the board turned by 180 degrees: the same physical corner keeps index 0
    h, w = img.shape
    turned = detect_board(np.ascontiguousarray(img[::-1, ::-1]), b)
    np.testing.assert_allclose(np.stack([w - 1 - turned[:, 0], h - 1 - turned[:, 1]], 1), found, atol=0.05)
    for detector in ("classic", "sb"):
        np.testing.assert_allclose(detect_board(img, b, detector=detector), found, atol=0.05)
    with pytest.raises(ValueError, match="detector"):
        detect_board(img, b, detector="magic")


@needs_shared
def test_real_image_order_is_the_same_under_rotation_and_matches_opencv():
    b = Board("checkerboard", (9, 6), 25.0)
    gray = cv2.imread(str(OPENCV / "left01.jpg"), cv2.IMREAD_GRAYSCALE)
    ours = detect_board(gray, b, detector="classic", subpix_window=5)
    ok, ref = cv2.findChessboardCorners(
        gray, (9, 6), flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    )
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    ref = cv2.cornerSubPix(gray, ref, (5, 5), (-1, -1), crit).reshape(-1, 2)
    if np.linalg.norm(ref[0] - ours[0]) > 1:  # OpenCV numbered it from the other end
        ref = ref[::-1]
    np.testing.assert_allclose(ours, ref, atol=1e-3)
    h, w = gray.shape
    turned = detect_board(np.ascontiguousarray(gray[::-1, ::-1]), b)
    back = np.stack([w - 1 - turned[:, 0], h - 1 - turned[:, 1]], 1)
    np.testing.assert_allclose(back, detect_board(gray, b), atol=0.05)


def test_charuco_round_trip_and_partial_view():
    b = Board("charuco", (6, 4), 35.0, marker_size_mm=26.0, dictionary="DICT_5X5_100")
    img = board_image(b, px_per_square=60)
    found = detect_board(img, b)
    assert np.isfinite(found).all()
    np.testing.assert_allclose(found, expected_corners(b, 60), atol=0.1)
    # hide the right third of the board: the seen corners keep their ids, the others are NaN
    part = img.copy()
    part[:, 2 * img.shape[1] // 3 :] = 255
    seen = detect_board(part, b)
    ok = np.isfinite(seen).all(1)
    assert 6 <= ok.sum() < b.num_corners
    np.testing.assert_allclose(seen[ok], found[ok], atol=0.1)
    # a blank image has no board
    assert detect_board(np.full_like(img, 255), b) is None


def test_write_board_image_png_and_pdf_sizes(tmp_path):
    from PIL import Image

    b = Board("checkerboard", (9, 6), 25.0)
    png = write_board_image(b, tmp_path / "board.png", dpi=200, margin_mm=10)
    with Image.open(png) as im:
        px_per_square = round(25 / 25.4 * 200)
        assert im.size == (10 * px_per_square + 2 * round(10 / 25 * px_per_square),) + (
            7 * px_per_square + 2 * round(10 / 25 * px_per_square),
        )
        assert round(im.info["dpi"][0]) == 200
    pdf = write_board_image(b, tmp_path / "board.pdf", dpi=200, margin_mm=10)
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)", pdf.read_bytes())
    width_mm = float(box.group(1)) / 72 * 25.4
    assert width_mm == pytest.approx(10 * 25 + 2 * 10, abs=0.5)  # squares print at 25 mm
    with pytest.raises(ValueError, match="png or a .pdf"):
        write_board_image(b, tmp_path / "board.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["board.pdf", "board.png"]  # no temporary files left


def test_frame_key():
    assert frame_key("left01.jpg") == frame_key("right01.jpg") == "1"
    assert frame_key("cam2/frame_0042.png") == "42"
    assert frame_key("cam01_07_int.jpg") == "7"
    assert frame_key("board.png") == "board"


def test_sources_folder_pattern_and_errors(tmp_path):
    b = Board("checkerboard", (4, 3), 30.0)
    img = board_image(b, px_per_square=40)
    cam = tmp_path / "cam1"
    cam.mkdir()
    for i in range(3):
        cv2.imwrite(str(cam / f"frame_{i:03d}.png"), img)
    (cam / "notes.txt").write_text("not an image")
    det = detect_in_source(cam, b)
    assert det.keys == ("0", "1", "2") and det.status == ("found",) * 3 and det.image_size == img.shape[::-1]
    assert det.camera == "cam1" and det.found.all()
    assert detect_in_source(str(cam / "*.png"), b, every=2).keys == ("0", "2")
    cv2.imwrite(str(cam / "frame_003.png"), np.full((10, 10), 255, np.uint8))
    with pytest.raises(CalibrationError, match=r"frame_003.png is 10x10 px"):
        detect_in_source(cam, b)
    with pytest.raises(FileNotFoundError):
        detect_in_source(tmp_path / "nowhere", b)
    with pytest.raises(CalibrationError, match="no file matches"):
        detect_in_source(str(tmp_path / "*.jpg"), b)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CalibrationError, match="no images"):
        detect_in_source(tmp_path / "empty", b)


def test_video_every_nth_frame(tmp_path):
    b = Board("checkerboard", (4, 3), 30.0)
    img = cv2.cvtColor(board_image(b, px_per_square=40), cv2.COLOR_GRAY2BGR)
    h, w = img.shape[:2]
    path = tmp_path / "cam.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    if not writer.isOpened():
        pytest.skip("no MJPG video writer in this OpenCV build")
    for i in range(10):
        frame = img if i % 2 == 0 else np.full_like(img, 255)  # the board in even frames only
        writer.write(frame)
    writer.release()
    assert [k for k, _, _ in iter_images(path, every=3)] == ["0", "3", "6", "9"]
    det = detect_in_source(path, b, every=2)
    assert det.keys == ("0", "2", "4", "6", "8") and det.found.all()
    assert det.names[1] == "cam.avi frame 2"
    det = detect_in_source(path, b, every=3)
    assert det.status == ("found", "not found", "found", "not found")
    assert np.isnan(det.corners[1]).all()
