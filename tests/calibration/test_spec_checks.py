"""A board spec that does not match the photos, and fits that cannot be right, are refused with a
`CalibrationError` that says what to check (before: a 7 x 5 spec on OpenCV's 9 x 6 photos gave fx 4432 px instead
of 533 px, RMS 9.7 px, exit status 0)."""

import warnings
from pathlib import Path

import cv2
import jax
import numpy as np
import pytest

from lift3d.calibration.boards import BoardDetections, detect_in_source, spec_mismatch, spec_mismatch_message
from lift3d.calibration.intrinsics import calibrate_camera, implausible_fit_message
from lift3d.errors import CalibrationError
from lift3d.io.boards import Board, board_image

ROOT = Path(__file__).resolve().parents[2]
OPENCV = ROOT.parent / "shared" / "data" / "opencv_stereo_chessboard"
needs_shared = pytest.mark.skipif(not OPENCV.is_dir(), reason="../shared/data is not present")


def grid(board: Board, px: int, margin: float = 0.5, offset=(0, 0)) -> np.ndarray:
    """Where `board_image(px_per_square=px)` of a larger board puts a sub-grid of `board` starting at corner
    `offset` (columns, rows): (n, 2) px, row-major."""
    cols, rows = board.inner_corners
    u, v = np.meshgrid(np.arange(cols) + offset[0], np.arange(rows) + offset[1])
    first = (margin + 1) * px - 0.5
    return np.stack([first + u * px, first + v * px], -1).reshape(-1, 2).astype(np.float64)


def test_rendered_board_larger_than_the_spec():
    big = Board("checkerboard", (9, 6), 25.0)
    img = board_image(big, px_per_square=40)
    assert spec_mismatch(img, grid(big, 40), big) == ""
    small = Board("checkerboard", (7, 5), 25.0)
    assert spec_mismatch(img, grid(small, 40), small).endswith("corners on the bottom and right sides")
    assert spec_mismatch(img, grid(small, 40, offset=(1, 1)), small).endswith("on the top, left and right sides")
    shifted = grid(big, 40) + 20.0  # corners in the middle of squares: no alternating squares between them
    assert "do not alternate" in spec_mismatch(img, shifted, big)
    charuco = Board("charuco", (7, 5), 35.0, marker_size_mm=26.0, dictionary="DICT_5X5_100")
    assert spec_mismatch(img, shifted[:24], charuco) == ""  # ChArUco corners carry their identity


@needs_shared
def test_real_photos_with_a_smaller_spec_are_refused():
    small = Board("checkerboard", (7, 5), 25.0)
    files = [OPENCV / f"left0{k}.jpg" for k in (2, 3, 6, 7, 8)]  # where a 7 x 5 sub-grid is "found"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the 7 x 5 board is symmetric
        det = detect_in_source([str(f) for f in files], small, camera="left")
    assert det.found.all() and all(det.mismatch)
    message = spec_mismatch_message(det, "b75.toml")
    assert message.startswith("camera 'left': the board found in 5 of 5 views (left02.jpg")
    assert "does not match the spec 'b75.toml' (checkerboard inner_corners = [7, 5])" in message
    assert message.endswith("fix inner_corners in the spec")
    with pytest.raises(CalibrationError, match="does not match the spec"):
        calibrate_camera(det)
    right = Board("checkerboard", (9, 6), 25.0)
    good = detect_in_source([str(f) for f in files], right, camera="left")
    assert not any(good.mismatch) and spec_mismatch_message(good) is None


def projected(board: Board, noise_px: float, views: int = 8) -> tuple[BoardDetections, object]:
    """Board views projected through a ring rig's first camera (640 x 480 px, fx 600 px), with noise."""
    from lift3d.synthetic import boards as sb

    rig = sb.ring_rig(jax.random.key(2), 1, jitter=0.0)
    R, t = sb.board_poses_facing(jax.random.key(3), rig, 0, views, board)
    cam = rig.cameras[0]
    Rc, tc = np.asarray(cam.R) @ R, np.einsum("ij,fj->fi", np.asarray(cam.R), t) + np.asarray(cam.t)
    rng = np.random.default_rng(0)
    obj = board.object_points()
    corners = np.stack([
        cv2.projectPoints(obj, cv2.Rodrigues(r)[0], tt, np.asarray(cam.K), np.asarray(cam.dist))[0].reshape(-1, 2)
        + rng.normal(0, noise_px, (len(obj), 2)) for r, tt in zip(Rc, tc, strict=True)
    ])  # fmt: skip
    names = tuple(f"view{i:02d}.png" for i in range(views))
    det = BoardDetections("cam", tuple(map(str, range(views))), names, corners, ("found",) * views, (640, 480),
                          "synthetic", board)  # fmt: skip
    return det, cam


def test_implausible_fits_are_refused():
    board = Board("checkerboard", (9, 6), 25.0)
    det, cam = projected(board, noise_px=8.0)  # corners 8 px off: not this board, or blurred
    with pytest.raises(CalibrationError, match=r"camera 'cam': implausible calibration from synthetic: RMS "
                                               r"reprojection error [\d.]+ px \(> 3 px.*check the board spec"):
        calibrate_camera(det, reject_k=None)
    assert calibrate_camera(det, reject_k=None, max_rms_px=20.0).rms_px > 3.0  # the limit is an option
    det, _ = projected(board, noise_px=0.1)
    assert implausible_fit_message(det, np.asarray(cam.K), 0.2, 3.0) is None
    telephoto = np.array([[13296.0, 0, 320], [0, 13296, 240], [0, 0, 1]])
    assert "fx 13296 px = 21 x the image width 640 px" in implausible_fit_message(det, telephoto, 0.2, 3.0)


def test_rendered_views_pass_the_spec_checks(tmp_path):
    """Rendered board views (blur, noise, lens distortion) of the right spec are never flagged."""
    from lift3d.synthetic import boards as sb

    board = Board("checkerboard", (9, 6), 25.0)
    rig = sb.ring_rig(jax.random.key(0), 1, jitter=0.0)
    R, t = sb.board_poses_facing(jax.random.key(1), rig, 0, 6, board)
    images = sb.render_capture(jax.random.key(2), rig, board, R, t)[0]
    folders = sb.write_capture(tmp_path, rig, images)
    det = detect_in_source(folders[rig.names[0]], board, camera="cam")
    assert det.found.sum() >= 4 and not any(det.mismatch)
    assert calibrate_camera(det).rms_px < 1.0
