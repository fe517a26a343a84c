"""Synthetic board captures with known answers: a ring of cameras (a mocap room), a board moving through it.

- `ring_rig`: v cameras on a circle looking at the middle of the room, optionally jittered.
- `board_trajectory`: f board poses in the volume, each facing a random direction (so that over the capture
  every pair of neighbouring cameras shares views).
- `project_capture`: the corners each camera sees (projected + pixel noise, NaN where not seen): detections
  without images, for bundle-adjustment tests and benchmarks.
- `render_capture`: the images themselves, the printable board warped into each camera with
  `cv2.warpPerspective` (supersampled, lens distortion by `cv2.remap`, blur, sensor noise), for end-to-end
  tests of detection + intrinsics + extrinsics; `write_capture` saves them as `cam_k/frame_NNNN.png`.

World frame: z up, metres. Every stochastic function takes a `jax.random` key first.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import jax
import numpy as np

from lift3d.core.rig import Rig
from lift3d.geometry.camera import Camera
from lift3d.io.boards import Board, board_image

__all__ = ["ring_rig", "board_trajectory", "visible_corners", "project_capture", "render_capture"]
__all__ += ["write_capture", "board_poses_facing", "render_rig_capture"]


def _rng(key: jax.Array) -> np.random.Generator:
    """A numpy generator seeded from a JAX key's bits (host-side sampling; nothing for XLA to compile)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).astype(np.uint64).ravel().tolist())


def _split(key: jax.Array, num: int) -> list[jax.Array]:
    """Independent keys derived from one (like `jax.random.split`, without a compiled kernel)."""
    return [jax.random.key(int(s)) for s in _rng(key).integers(0, 2**31 - 1, num)]


def _look_at(center: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World->camera rotation of a camera at `center` looking at `target`, image y down (world z up)."""
    z = target - center
    z = z / np.linalg.norm(z)
    y = -(np.array([0.0, 0.0, 1.0]) - z[2] * z)
    y = y / np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z])


def ring_rig(
    key: jax.Array,
    num_cameras: int = 4,
    *,
    radius_m: float = 2.0,
    height_m: float = 1.8,
    target: tuple[float, float, float] = (0.0, 0.0, 1.0),
    image_size: tuple[int, int] = (640, 480),
    fx_px: float = 600.0,
    dist: tuple[float, ...] = (-0.08, 0.05, 0.0, 0.0, 0.0),
    jitter: float = 1.0,
) -> Rig:
    """Cameras evenly spaced on a horizontal circle, looking at a common point.

    Args:
        key: Random key (jitter of positions, aim, focal lengths and principal points).
        num_cameras: v.
        radius_m: Circle radius, metres.
        height_m: Camera height, metres.
        target: The point the cameras look at, metres.
        image_size: (width, height), pixels.
        fx_px: Nominal focal length, pixels (each camera within +-5 % when jittered).
        dist: Distortion coefficients (k1, k2, p1, p2, k3) of every camera.
        jitter: Scale of the random perturbations (0: an exact ring).

    Returns:
        The rig (metres), cameras named "cam_1" ... .
    """
    rng = _rng(key)
    target = np.asarray(target, np.float64)
    w, h = image_size
    Ks, Rs, ts = [], [], []
    for i in range(num_cameras):
        a = 2 * np.pi * i / num_cameras + jitter * rng.uniform(-0.1, 0.1)
        c = np.array([radius_m * np.cos(a), radius_m * np.sin(a), height_m + jitter * rng.uniform(-0.2, 0.2)])
        R = _look_at(c, target + jitter * rng.uniform(-0.15, 0.15, 3))
        fx = fx_px * (1 + jitter * rng.uniform(-0.05, 0.05))
        fy = fx * (1 + jitter * rng.uniform(-0.002, 0.002))
        cx = (w - 1) / 2 + jitter * rng.uniform(-8, 8)
        cy = (h - 1) / 2 + jitter * rng.uniform(-8, 8)
        Ks.append(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]]))
        Rs.append(R)
        ts.append(-R @ c)
    cams = Camera.create(
        np.stack(Ks), R=np.stack(Rs), t=np.stack(ts), dist=np.asarray(dist), image_size=(w, h)
    )
    return Rig(names=tuple(f"cam_{i + 1}" for i in range(num_cameras)), cameras=cams, units="m")


def board_trajectory(
    key: jax.Array,
    num_frames: int,
    board: Board,
    *,
    center: tuple[float, float, float] = (0.0, 0.0, 1.0),
    spread_m: tuple[float, float, float] = (0.5, 0.5, 0.3),
    max_tilt_deg: float = 30.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Board poses moving through the volume, facing random horizontal directions with random tilts.

    Args:
        key: Random key.
        num_frames: f.
        board: The board (its size centres the poses).
        center: Middle of the volume, metres.
        spread_m: Half-extent of the uniform box of board centres, metres.
        max_tilt_deg: Largest tilt of the board's face away from horizontal and of its in-plane roll.

    Returns:
        (R, t): board->world rotations (f, 3, 3) and translations (f, 3), metres; the board's printed face
        looks along `-R[:, :, 2]` (board z points into the board, as OpenCV's convention).
    """
    rng = _rng(key)
    mid = board.object_points().mean(0)
    Rs, ts = [], []
    for _ in range(num_frames):
        yaw = rng.uniform(0, 2 * np.pi)
        pitch = np.deg2rad(rng.uniform(-max_tilt_deg, max_tilt_deg))
        roll = np.deg2rad(rng.uniform(-max_tilt_deg, max_tilt_deg))
        normal = np.array([np.cos(yaw) * np.cos(pitch), np.sin(yaw) * np.cos(pitch), np.sin(pitch)])
        z = -normal
        x = np.cross(np.array([0.0, 0.0, 1.0]), normal)
        x = x / np.linalg.norm(x)
        y = np.cross(z, x)
        c, s = np.cos(roll), np.sin(roll)
        x, y = c * x + s * y, -s * x + c * y
        R = np.stack([x, y, z], 1)
        p = np.asarray(center) + rng.uniform(-1, 1, 3) * np.asarray(spread_m)
        Rs.append(R)
        ts.append(p - R @ mid)
    return np.stack(Rs), np.stack(ts)


def visible_corners(
    rig: Rig,
    board: Board,
    board_R: np.ndarray,
    board_t: np.ndarray,
    *,
    margin_px: float = 10.0,
    max_view_angle_deg: float = 70.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact corner pixels and whether each camera sees the whole board face in each frame.

    Args:
        rig: The cameras, v.
        board: The board.
        board_R: Board->world rotations, shape (f, 3, 3).
        board_t: Board->world translations, shape (f, 3), metres.
        margin_px: Corners must lie this far inside the image.
        max_view_angle_deg: Largest angle between the board's face normal and the direction to the camera.

    Returns:
        (corners, seen): pixels, shape (v, f, n, 2) (distorted, exact), and a (v, f) bool mask.
    """
    X = np.einsum("fij,nj->fni", board_R, board.object_points()) + board_t[:, None]
    cams = rig.cameras
    out = []
    for i in range(len(rig)):
        R, t, K, d = (np.asarray(a)[i] for a in (cams.R, cams.t, cams.K, cams.dist))
        pts, _ = cv2.projectPoints(X.reshape(-1, 3), cv2.Rodrigues(R)[0], t, K, d)
        out.append(pts.reshape(X.shape[0], X.shape[1], 2))
    uv = np.stack(out)
    w, h = np.asarray(cams.image_size)[0]
    inside = ((uv >= margin_px) & (uv <= np.array([w, h]) - 1 - margin_px)).all(-1).all(-1)
    centres = rig.centers
    mid = X.mean(1)
    to_cam = centres[:, None] - mid[None]
    normal = -board_R[:, :, 2]
    cosang = np.einsum("vfi,fi->vf", to_cam, normal) / np.linalg.norm(to_cam, axis=-1)
    depth = np.einsum("vij,fnj->vfni", np.asarray(cams.R), X)[..., 2] + np.asarray(cams.t)[:, None, None, 2]
    seen = inside & (cosang > np.cos(np.deg2rad(max_view_angle_deg))) & (depth > 0).all(-1)
    return uv, seen


def project_capture(
    key: jax.Array,
    rig: Rig,
    board: Board,
    board_R: np.ndarray,
    board_t: np.ndarray,
    *,
    noise_px: float = 0.3,
    **visibility,
) -> np.ndarray:
    """Detections without images: projected corners plus Gaussian pixel noise, NaN where not seen.

    Args:
        key: Random key (noise).
        rig, board, board_R, board_t: See `visible_corners`.
        noise_px: Standard deviation of the noise per coordinate, pixels.
        **visibility: `margin_px`, `max_view_angle_deg` of `visible_corners`.

    Returns:
        Corners, shape (v, f, n, 2), pixels.
    """
    uv, seen = visible_corners(rig, board, board_R, board_t, **visibility)
    noise = _rng(key).normal(0.0, noise_px, uv.shape)
    return np.where(seen[..., None, None], uv + noise, np.nan)


def _distortion_map(camera: Camera, size: tuple[int, int], scale: int) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel of the distorted image (scaled by `scale`), where to sample the pinhole image.

    The map is computed at the camera's resolution (`cv2.undistortPoints`) and interpolated up: the distortion
    field is smooth, and this is `scale**2` times faster.
    """
    K = np.asarray(camera.K, np.float64)
    w, h = size
    grid = np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1)
    und = cv2.undistortPoints(grid.reshape(-1, 1, 2), K, np.asarray(camera.dist), P=K).reshape(h, w, 2)
    und = ((und + 0.5) * scale - 0.5).astype(np.float32)  # pixel centres at integers in the scaled image
    if scale == 1:
        return und[..., 0], und[..., 1]
    # sample the map at the scaled pixels' positions in the unscaled image
    xs = (np.arange(w * scale, dtype=np.float32) + 0.5) / scale - 0.5
    ys = (np.arange(h * scale, dtype=np.float32) + 0.5) / scale - 0.5
    mx, my = np.meshgrid(xs, ys)
    up = cv2.remap(und, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return up[..., 0], up[..., 1]


def render_capture(
    key: jax.Array,
    rig: Rig,
    board: Board,
    board_R: np.ndarray,
    board_t: np.ndarray,
    *,
    px_per_square: int = 40,
    supersample: int = 2,
    blur_sigma_px: float = 0.6,
    noise_std: float = 2.0,
    only_visible: bool = True,
) -> tuple[list[list[np.ndarray | None]], np.ndarray, np.ndarray]:
    """Render the board into every camera and frame.

    Args:
        key: Random key (noise, brightness).
        rig: The cameras (pinhole), v.
        board: The board.
        board_R: Board->world rotations, shape (f, 3, 3).
        board_t: Board->world translations, shape (f, 3), metres.
        px_per_square: Resolution of the board texture.
        supersample: Render at this factor, then average down (anti-aliasing).
        blur_sigma_px: Gaussian blur (optics, motion), pixels.
        noise_std: Sensor noise, grey levels (of 255).
        only_visible: Render only views where the whole board is seen (others None): fast tests.

    Returns:
        (images, corners, seen): images[v][f] grey uint8 (h, w) or None, the exact corners (v, f, n, 2)
        and the visibility mask (v, f).
    """
    uv, seen = visible_corners(rig, board, board_R, board_t)
    rng = _rng(key)
    margin_squares = 0.5
    tex = board_image(board, px_per_square=px_per_square, margin_squares=margin_squares)
    tex_f = 1.0 + tex.astype(np.float32) / 255.0
    s = board.square_size_m / px_per_square
    off = (0.5 - round(margin_squares * px_per_square) - px_per_square) * s
    if board.kind == "charuco":
        off = (0.5 - round(margin_squares * px_per_square)) * s - board.square_size_m
    A = np.array([[s, 0, off], [0, s, off], [0, 0, 1.0]])  # texture pixel -> board metres (z = 0)
    cams = rig.cameras
    w, h = (int(x) for x in np.asarray(cams.image_size)[0])
    W, H = w * supersample, h * supersample
    images: list[list[np.ndarray | None]] = []
    for i in range(len(rig)):
        cam = cams[i]
        K = np.asarray(cam.K, np.float64).copy()
        K[:2] *= supersample
        K[:2, 2] = (np.asarray(cam.K)[:2, 2] + 0.5) * supersample - 0.5
        mapx, mapy = _distortion_map(cam, (w, h), supersample)
        row = []
        for f in range(board_R.shape[0]):
            if only_visible and not seen[i, f]:
                row.append(None)
                continue
            Rc = np.asarray(cam.R) @ board_R[f]
            tc = np.asarray(cam.R) @ board_t[f] + np.asarray(cam.t)
            Hm = K @ np.stack([Rc[:, 0], Rc[:, 1], tc], 1) @ A
            depth_ok = (Rc @ np.array([0, 0, 0.0]) + tc)[2] > 0
            base = rng.uniform(60, 140)
            img = np.full((H, W), base, np.float32)
            if depth_ok:
                gain = rng.uniform(0.7, 1.0)
                # texture on [1, 2] and 0 outside the board: one warp gives both the board and its mask
                warped = cv2.warpPerspective(tex_f, Hm, (W, H), flags=cv2.INTER_LINEAR, borderValue=0.0)
                mask = np.clip(warped, 0.0, 1.0)
                img = img * (1 - mask) + (20 + 255 * np.clip(warped - 1, 0, 1) * gain * 0.85) * mask
            img = cv2.remap(img, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            if blur_sigma_px > 0:
                img = cv2.GaussianBlur(img, (0, 0), blur_sigma_px)
            img = img + rng.normal(0, noise_std, img.shape)
            row.append(np.clip(np.round(img), 0, 255).astype(np.uint8))
        images.append(row)
    return images, uv, seen


def write_capture(
    folder: str | os.PathLike, rig: Rig, images: list[list[np.ndarray | None]]
) -> dict[str, Path]:
    """Save rendered images as `folder/<camera>/frame_NNNN.png` (frames that are None are skipped).

    Args:
        folder: Output folder.
        rig: The rig (camera names).
        images: images[v][f] from `render_capture`.

    Returns:
        Camera name -> its folder.
    """
    out = {}
    for name, row in zip(rig.names, images, strict=True):
        d = Path(folder) / name
        d.mkdir(parents=True, exist_ok=True)
        for f, img in enumerate(row):
            if img is not None:
                cv2.imwrite(str(d / f"frame_{f:04d}.png"), img)
        out[name] = d
    return out


def board_poses_facing(
    key: jax.Array,
    rig: Rig,
    index: int,
    num_frames: int,
    board: Board,
    *,
    fill: float = 0.5,
    max_tilt_deg: float = 45.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Board poses close in front of one camera, as for an intrinsic calibration (tilted, all over the image).

    Args:
        key: Random key.
        rig: The rig.
        index: The camera.
        num_frames: f.
        board: The board.
        fill: Board width as a share of the image width (sets the distance).
        max_tilt_deg: Largest tilt of the board about its own x and y axes.

    Returns:
        (R, t): board->world rotations (f, 3, 3) and translations (f, 3), metres.
    """
    rng = _rng(key)
    cam = rig.cameras[index]
    K, Rw, tw = (np.asarray(a, np.float64) for a in (cam.K, cam.R, cam.t))
    w, h = np.asarray(cam.image_size)
    cols, rows = board.inner_corners
    distance = K[0, 0] * (cols + 1) * board.square_size_m / (fill * w)
    mid = board.object_points().mean(0)
    Rs, ts = [], []
    for _ in range(num_frames):
        u, v = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        ray = np.linalg.solve(K, [u, v, 1.0])
        z = ray / np.linalg.norm(ray)
        x = np.cross([0.0, 1.0, 0.0], z)
        x /= np.linalg.norm(x)
        base = np.stack([x, np.cross(z, x), z], 1)  # board facing the camera, upright
        tilt = np.deg2rad(rng.uniform(-max_tilt_deg, max_tilt_deg, 2))
        roll = rng.uniform(-np.pi, np.pi)
        Rcb = (
            base
            @ cv2.Rodrigues(np.array([tilt[0], tilt[1], 0.0]))[0]
            @ cv2.Rodrigues(np.array([0, 0, roll]))[0]
        )
        centre = z * distance * rng.uniform(0.9, 1.3)
        Rs.append(Rw.T @ Rcb)
        ts.append(Rw.T @ (centre - Rcb @ mid - tw))
    return np.stack(Rs), np.stack(ts)


def render_rig_capture(
    key: jax.Array,
    folder: str | os.PathLike,
    *,
    num_cameras: int = 4,
    intrinsic_views: int = 10,
    frames: int = 24,
    image_size: tuple[int, int] = (640, 480),
    board: Board | None = None,
) -> dict:
    """Render and save a synthetic calibration: close-up views per camera, then a capture of the whole rig.

    Args:
        key: Random key.
        folder: Output folder: `intrinsics/<camera>/frame_NNNN.png` and `extrinsics/<camera>/frame_NNNN.png`.
        num_cameras: v (a ring, see `ring_rig`).
        intrinsic_views: Close-up board poses per camera (`board_poses_facing`).
        frames: Board poses of the rig capture (`board_trajectory`).
        image_size: (width, height), pixels.
        board: The board (default: 8 x 5 inner corners, 70 mm).

    Returns:
        Dict: "rig" (the truth), "board", "board_R", "board_t" (rig capture poses), "seen" ((v, f) views
        rendered), "intrinsics" and "extrinsics" (camera name -> image folder).
    """
    folder = Path(folder)
    board = board or Board("checkerboard", (8, 5), 70.0, name="synthetic_8x5_70mm")
    keys = _split(key, 3 + 2 * num_cameras)
    rig = ring_rig(keys[0], num_cameras, image_size=image_size)
    intr_sources = {}
    for i, name in enumerate(rig.names):
        R, t = board_poses_facing(keys[3 + i], rig, i, intrinsic_views, board)
        one = rig.subset([name])
        imgs, _, _ = render_capture(keys[3 + num_cameras + i], one, board, R, t)
        intr_sources[name] = write_capture(folder / "intrinsics", one, imgs)[name]
    bR, bt = board_trajectory(keys[1], frames, board)
    imgs, _, seen = render_capture(keys[2], rig, board, bR, bt)
    ext_sources = write_capture(folder / "extrinsics", rig, imgs)
    return {
        "rig": rig,
        "board": board,
        "board_R": bR,
        "board_t": bt,
        "seen": seen,
        "intrinsics": intr_sources,
        "extrinsics": ext_sources,
    }
