"""Intrinsic calibration of one camera from board detections, with automatic rejection of bad images.

OpenCV solves (`cv2.calibrateCameraExtended`, or `cv2.fisheye.calibrate`); lift3d chooses the distortion
model, rejects images whose reprojection error is an outlier (calibrate, drop images with an RMS above
`median + k * MAD`, calibrate again) and measures where in the image the corners fell (coverage).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

from lift3d.calibration.boards import BoardDetections, detect_board, spec_mismatch_message
from lift3d.errors import CalibrationError
from lift3d.geometry.camera import Camera
from lift3d.io.image_sources import iter_images

__all__ = [
    "IntrinsicsResult",
    "calibrate_camera",
    "coverage_grid",
    "implausible_fit_message",
    "no_board_message",
    "too_few_views_message",
]
__all__ += ["DISTORTION_MODELS"]

DISTORTION_MODELS = ("auto", "k1k2", "k1k2p", "full")
AUTO_FULL_MIN_VIEWS = 10  # "auto": 5 coefficients from this many views, else k1, k2 only
MAX_RMS_PX = 3.0  # a board fit worse than this (px) is refused: good ones are 0.1-1 px
FOCAL_RANGE = (0.1, 10.0)  # plausible fx, fy as multiples of the image width (about 150 to 6 degrees wide)
_MAD_TO_SIGMA = 1.4826
_MAX_LIST = 8


@dataclasses.dataclass(frozen=True)
class IntrinsicsResult:
    """One camera's intrinsic calibration.

    Attributes:
        name: Camera name.
        camera: The camera (unbatched; identity pose), K and dist in pixels.
        rms_px: Overall RMS reprojection error of the views used, pixels.
        model: "pinhole" or "fisheye".
        distortion: The distortion model fitted ("k1k2", "k1k2p", "full"; "fisheye").
        views: One dict per frame: "name", "key", "status" ("used", "rejected", "not found", "partial",
            "unreadable"), "rms_px" (for views calibrated at least once), "reason" (rejected views).
        std: Standard deviations of fx, fy, cx, cy (px) and of the distortion coefficients (pinhole only).
        coverage: See `coverage_grid`.
        rounds: Per rejection round: views used, RMS, threshold and the views dropped.
    """

    name: str
    camera: Camera
    rms_px: float
    model: str
    distortion: str
    views: list[dict[str, Any]]
    std: dict[str, Any]
    coverage: dict[str, Any]
    rounds: list[dict[str, Any]]

    @property
    def used(self) -> list[str]:
        """Names of the views the final calibration used."""
        return [v["name"] for v in self.views if v["status"] == "used"]

    @property
    def unusable(self) -> list[str]:
        """Names of the frames not used (board not found, unreadable or rejected)."""
        return [v["name"] for v in self.views if v["status"] != "used"]


def coverage_grid(corners: np.ndarray, image_size: tuple[int, int], *, cells_long_side: int = 10) -> dict:
    """Where the corners fell in the image: a grid histogram.

    Args:
        corners: Corners, shape (..., 2), pixels; NaN are ignored.
        image_size: (width, height), pixels.
        cells_long_side: Grid cells along the image's longer side (square-ish cells).

    Returns:
        Dict with "grid" ([columns, rows] of cells), "counts" (rows x columns corner counts, list of lists),
        "fraction" (share of cells holding at least one corner), "outer_fraction" (share of corners farther
        than 70 % of the half-diagonal from the image centre: distortion is measured there).
    """
    w, h = image_size
    gx = cells_long_side if w >= h else max(1, round(cells_long_side * w / h))
    gy = cells_long_side if h > w else max(1, round(cells_long_side * h / w))
    pts = np.asarray(corners, np.float64).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(1)]
    counts, _, _ = np.histogram2d(
        pts[:, 1], pts[:, 0], bins=(gy, gx), range=((-0.5, h - 0.5), (-0.5, w - 0.5))
    )
    radius = np.linalg.norm((pts - (np.array([w, h]) - 1) / 2) / (np.hypot(w, h) / 2), axis=1)
    return {
        "grid": [gx, gy],
        "counts": counts.astype(int).tolist(),
        "fraction": float((counts > 0).mean()),
        "outer_fraction": float((radius > 0.7).mean()) if len(pts) else 0.0,
    }


def _name_list(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LIST])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_LIST else "")


def no_board_message(det: BoardDetections, *, probe_images: int = 3) -> str:
    """Explain why a camera has no usable view: the images, the pattern tried, and what would have worked.

    For checkerboards the first few images are searched again for the transposed pattern, for squares
    counted instead of inner corners, and for a board one corner smaller; the first that is found is named.

    Args:
        det: The camera's detections (no frame found).
        probe_images: How many images to search again for other patterns.

    Returns:
        The message (one line).
    """
    board = det.board
    cols, rows = board.inner_corners
    what = (
        f"checkerboard inner_corners = [{cols}, {rows}] (columns x rows of inner corners, OpenCV pattern "
        f"size ({cols}, {rows}))"
        if board.kind == "checkerboard"
        else f"ChArUco board {board.squares[0]} x {board.squares[1]} squares, {board.dictionary}"
    )
    frames = _name_list(list(det.names))
    msg = f"camera {det.camera!r}: no board found in any of {len(det.names)} frames ({frames}) "
    msg += f"of {det.source}; looked for a {what}"
    if board.kind != "checkerboard":
        return msg + "; check the dictionary, the squares count and legacy_pattern"
    candidates = [(rows, cols, "the transposed pattern"), (cols - 1, rows - 1, "squares minus one")]
    candidates += [(cols - 2, rows - 2, "two fewer"), (cols + 1, rows + 1, "one more")]
    candidates = [(c, r, why) for c, r, why in candidates if c >= 2 and r >= 2]
    images = []
    for name, path, status in zip(det.names, det.paths, det.status, strict=True):
        if len(images) >= probe_images:
            break
        if status == "unreadable":
            continue
        if " frame " in name:  # a video: read its first frames
            images = [img for _, (_, _, img) in zip(range(probe_images), iter_images(path), strict=False)]
            images = [img for img in images if img is not None]
            break
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is not None:
            images.append(img)
    for c, r, why in candidates:
        alt = dataclasses.replace(board, inner_corners=(c, r))
        hits = sum(detect_board(img, alt, detector="classic") is not None for img in images)
        if hits:
            return msg + (
                f"; inner_corners = [{c}, {r}] ({why}) finds it in {hits} of {len(images)} images tried: "
                "count inner corners (where four squares meet), not squares"
            )
    return msg + (
        f"; also tried the transposed pattern [{rows}, {cols}] and nearby sizes; check that the whole board "
        "is in view, sharp and well lit"
    )


def too_few_views_message(det: BoardDetections, min_views: int) -> str:
    """The message for a camera with fewer than `min_views` usable views (naming them)."""
    names = [n for n, ok in zip(det.names, det.found, strict=True) if ok]
    return (
        f"camera {det.camera!r}: only {len(names)} usable view(s) ({_name_list(names)}) of {len(det.names)} "
        f"frames of {det.source}; at least {min_views} are needed (10-30 recommended, the board tilted and "
        "covering the whole image)"
    )


def implausible_fit_message(det: BoardDetections, K: np.ndarray, rms_px: float, max_rms_px: float) -> str | None:
    """Why a camera's fit cannot be right (None when it is plausible): RMS above `max_rms_px`, fx or fy
    outside `FOCAL_RANGE` x the image width.

    Args:
        det: The camera's detections (names the camera, source and board).
        K: The fitted 3x3 camera matrix, px.
        rms_px: The fit's RMS reprojection error, px.
        max_rms_px: Largest acceptable RMS, px.

    Returns:
        One line naming the camera, the numbers and what to check, or None.
    """
    w = det.image_size[0]
    fx, fy = float(K[0, 0]), float(K[1, 1])
    lo, hi = FOCAL_RANGE
    problems = []
    if not rms_px <= max_rms_px:
        problems.append(f"RMS reprojection error {rms_px:.2f} px (> {max_rms_px:g} px; good fits are 0.1-1 px)")
    for name, f in (("fx", fx), ("fy", fy)):
        if not lo * w <= f <= hi * w:
            problems.append(f"{name} {f:.0f} px = {f / w:.2g} x the image width {w} px (plausible: {lo:g}-{hi:g} x)")
    if not problems:
        return None
    cols, rows = det.board.inner_corners
    what = f"inner_corners = [{cols}, {rows}]" if det.board.kind == "checkerboard" else "squares, dictionary"
    return (
        f"camera {det.camera!r}: implausible calibration from {det.source}: {'; '.join(problems)}; check the "
        f"board spec {det.board.name!r} ({what}, square size) and that every image is of this camera and sharp "
        "(a larger --max-rms writes the fit and its per-image errors)"
    )


def _flags(model: str, distortion: str, fix_aspect: bool, fix_principal: bool) -> int:
    if model == "fisheye":
        flags = getattr(cv2, "CALIB_RECOMPUTE_EXTRINSIC", None)
        flags = flags if flags is not None else cv2.fisheye.CALIB_RECOMPUTE_EXTRINSIC
        flags |= getattr(cv2, "CALIB_FIX_SKEW", None) or cv2.fisheye.CALIB_FIX_SKEW
        if fix_principal:
            flags |= cv2.CALIB_FIX_PRINCIPAL_POINT
        return flags
    flags = {"k1k2": cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST, "k1k2p": cv2.CALIB_FIX_K3, "full": 0}[
        distortion
    ]
    if fix_aspect:
        flags |= cv2.CALIB_FIX_ASPECT_RATIO
    if fix_principal:
        flags |= cv2.CALIB_FIX_PRINCIPAL_POINT
    return flags


def _solve(obj: list[np.ndarray], img: list[np.ndarray], size, model: str, flags: int):
    """(rms, K, dist5, per-view RMS, std dict) from OpenCV."""
    if model == "fisheye":
        o = [p.reshape(1, -1, 3).astype(np.float64) for p in obj]  # OpenCV 5 wants (1, n, 3) here
        i = [p.reshape(1, -1, 2).astype(np.float64) for p in img]
        crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 200, 1e-10)
        _, K, D, rvecs, tvecs = cv2.fisheye.calibrate(
            o, i, size, np.eye(3), np.zeros(4), flags=flags, criteria=crit
        )
        errs = []
        for p, q, rv, tv in zip(o, i, rvecs, tvecs, strict=True):
            proj, _ = cv2.fisheye.projectPoints(p, rv, tv, K, D)
            errs.append(np.sqrt(np.mean(np.sum((proj - q).reshape(-1, 2) ** 2, 1))))
        errs = np.array(errs)
        counts = np.array([len(p) for p in obj])
        rms = float(np.sqrt(np.sum(errs**2 * counts) / counts.sum()))
        return rms, K, np.concatenate([D.ravel(), [0.0]]), errs, {}
    o = [p.astype(np.float32) for p in obj]
    i = [p.astype(np.float32) for p in img]
    K0 = np.eye(3)
    rms, K, D, _, _, std_in, _, errs = cv2.calibrateCameraExtended(o, i, size, K0, np.zeros(5), flags=flags)
    std_in = std_in.ravel()
    std = {
        "fx_px": std_in[0],
        "fy_px": std_in[1],
        "cx_px": std_in[2],
        "cy_px": std_in[3],
        "dist": std_in[4:9],
    }
    return float(rms), K, D.ravel()[:5], errs.ravel(), {k: np.asarray(v).tolist() for k, v in std.items()}


def calibrate_camera(
    detections: BoardDetections,
    *,
    model: str = "pinhole",
    distortion: str = "auto",
    fix_aspect: bool = False,
    fix_principal_point: bool = False,
    reject_k: float | None = 3.0,
    reject_min_px: float = 0.5,
    max_reject_fraction: float = 0.3,
    min_views: int = 4,
    max_rounds: int = 5,
    max_rms_px: float = MAX_RMS_PX,
) -> IntrinsicsResult:
    """Calibrate one camera's intrinsics from its board detections.

    Rejection: after each calibration, views whose RMS exceeds `max(median + reject_k * 1.4826 * MAD,
    reject_min_px)` are dropped (worst first, never more than `max_reject_fraction` of the found views nor
    below `min_views`) and the camera is calibrated again, until no view is dropped.

    Args:
        detections: The camera's detections (`detect_in_source`).
        model: "pinhole" (OpenCV k1, k2, p1, p2, k3) or "fisheye" (k1..k4, `cv2.fisheye`).
        distortion: Pinhole coefficients fitted: "k1k2" (k3 = p1 = p2 = 0), "k1k2p" (k3 = 0), "full", or
            "auto" ("full" from 10 views on, else "k1k2": few views cannot pin k3 and tangential terms).
        fix_aspect: Keep fx = fy.
        fix_principal_point: Keep the principal point at the image centre.
        reject_k: MAD multiplier of the rejection threshold; None disables rejection.
        reject_min_px: Views under this RMS (px) are never rejected.
        max_reject_fraction: Most views that may be rejected, as a share of the views found.
        min_views: Fewest usable views; fewer raise.
        max_rounds: Most calibrate-reject rounds.
        max_rms_px: Refuse a fit whose RMS reprojection error exceeds this, px.

    Returns:
        The result (camera, RMS, per-view status, coverage of the views used).

    Raises:
        CalibrationError: No board found in any frame (the message names the frames and the pattern, and
            suggests a pattern that finds the board), fewer than `min_views` usable views, boards that do not
            look like the spec in at least half of the views (`spec_mismatch`), or an implausible fit (RMS
            above `max_rms_px`, fx or fy outside `FOCAL_RANGE` x the image width).
    """
    if model not in ("pinhole", "fisheye"):
        raise ValueError(f"model must be 'pinhole' or 'fisheye', got {model!r}")
    if distortion not in DISTORTION_MODELS:
        raise ValueError(f"distortion must be one of {DISTORTION_MODELS}, got {distortion!r}")
    det = detections
    found = np.flatnonzero(det.found)
    if found.size == 0:
        raise CalibrationError(no_board_message(det))
    if found.size < min_views:
        raise CalibrationError(too_few_views_message(det, min_views))
    spec_error = spec_mismatch_message(det)
    if spec_error:
        raise CalibrationError(spec_error)
    off_spec = {int(i): det.mismatch[i] for i in found if det.mismatch and det.mismatch[i]}
    found = np.array([i for i in found if i not in off_spec], dtype=np.int64)
    if found.size < min_views:
        raise CalibrationError(too_few_views_message(det, min_views) + f"; {len(off_spec)} view(s) not like the spec")
    if model == "fisheye":
        distortion_used = "fisheye"
    elif distortion == "auto":
        distortion_used = "full" if found.size >= AUTO_FULL_MIN_VIEWS else "k1k2"
    else:
        distortion_used = distortion
    flags = _flags(model, distortion_used, fix_aspect, fix_principal_point)
    objp = det.board.object_points()
    obj, img = {}, {}
    for i in found:
        ok = np.isfinite(det.corners[i]).all(1)
        obj[i], img[i] = objp[ok], det.corners[i][ok]

    used = list(found)
    rejected: dict[int, str] = {i: f"the board does not look like the spec: {why}" for i, why in off_spec.items()}
    view_rms: dict[int, float] = {}
    rounds = []
    max_drop = int(np.floor(max_reject_fraction * found.size))
    for r in range(max_rounds):
        rms, K, dist, errs, std = _solve(
            [obj[i] for i in used], [img[i] for i in used], det.image_size, model, flags
        )
        view_rms.update({i: float(e) for i, e in zip(used, errs, strict=True)})
        info = {"round": r + 1, "views": len(used), "rms_px": rms, "dropped": []}
        rounds.append(info)
        if reject_k is None:
            break
        med = float(np.median(errs))
        mad = _MAD_TO_SIGMA * float(np.median(np.abs(errs - med)))
        thr = max(med + reject_k * mad, reject_min_px)
        info["threshold_px"] = thr
        order = np.argsort(-errs)
        room = min(max_drop - len(rejected) + len(off_spec), len(used) - min_views)
        drop = [used[j] for j in order if errs[j] > thr][: max(room, 0)]
        if not drop:
            break
        for i in drop:
            rejected[i] = (
                f"per-image RMS {view_rms[i]:.3f} px > {thr:.3f} px (median {med:.3f} + {reject_k:g} x MAD "
                f"{mad:.3f}, round {r + 1})"
            )
            info["dropped"].append(det.names[i])
        used = [i for i in used if i not in rejected]
    else:  # pragma: no cover - max_rounds exhausted with views still dropped: calibrate on what is left
        rms, K, dist, errs, std = _solve(
            [obj[i] for i in used], [img[i] for i in used], det.image_size, model, flags
        )
        view_rms.update({i: float(e) for i, e in zip(used, errs, strict=True)})

    views = []
    for i, (key, name, status) in enumerate(zip(det.keys, det.names, det.status, strict=True)):
        entry: dict[str, Any] = {"name": name, "key": key}
        if i in rejected:
            entry |= {"status": "rejected", "reason": rejected[i]}
        elif i in used:
            entry["status"] = "used"
        else:
            entry["status"] = status
            if status == "not found":
                entry["reason"] = "board not found (whole board must be visible)"
        if i in view_rms:
            entry["rms_px"] = view_rms[i]
            entry["corners"] = int(len(obj[i]))
        views.append(entry)
    implausible = implausible_fit_message(det, K, rms, max_rms_px)
    if implausible:
        raise CalibrationError(implausible)
    camera = Camera.create(K, dist=dist, image_size=np.asarray(det.image_size, np.float64), model=model)
    return IntrinsicsResult(
        name=det.camera,
        camera=camera,
        rms_px=float(rms),
        model=model,
        distortion=distortion_used,
        views=views,
        std=std,
        coverage=coverage_grid(np.concatenate([img[i] for i in used]), det.image_size),
        rounds=rounds,
    )
