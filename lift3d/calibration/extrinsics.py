"""Extrinsics of a rig from simultaneous board views: per-view poses, pairwise poses, a spanning tree.

1. `view_poses`: the board's pose in every camera and frame (`cv2.solvePnPGeneric` with IPPE, the better of
   the two planar solutions, refined by `cv2.solvePnPRefineLM`).
2. `pairwise_poses`: for every two cameras that saw the board in the same frames, the relative pose per
   frame, averaged robustly (rotations: chordal mean of the inliers around the medoid; translations: median).
3. `initial_rig`: a spanning tree over the camera graph that keeps the pairs with the most shared views
   (`scipy.sparse.csgraph.minimum_spanning_tree` on 1 / shared views), composed from the root camera;
   board poses in that world from the best view of each frame. A disconnected graph raises a message that
   names the groups of cameras.
4. World frames: `world_from_camera`, `world_from_board` re-express a rig in a chosen frame.

All poses are world->camera (x_cam = R X + t) or board->world, float64 numpy, metres.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cv2
import numpy as np
from scipy.sparse.csgraph import breadth_first_order, connected_components, minimum_spanning_tree
from scipy.spatial.transform import Rotation

from lift3d.errors import CalibrationError
from lift3d.geometry.camera import Camera
from lift3d.geometry.transforms import transform_cameras

__all__ = [
    "view_poses",
    "PairPose",
    "pairwise_poses",
    "camera_groups_message",
    "initial_rig",
    "world_from_camera",
    "world_from_board",
]

FLIP_YZ = np.diag([1.0, -1.0, -1.0])


def view_poses(
    cameras: Camera, corners: np.ndarray, object_points: np.ndarray, *, min_corners: int = 6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The board's pose in each camera and frame.

    Args:
        cameras: Cameras with intrinsics, batch shape (v,).
        corners: Detected corners, shape (v, f, n, 2), pixels, NaN where not seen.
        object_points: Board corners, shape (n, 3), metres.
        min_corners: Fewest corners for a pose.

    Returns:
        (R, t, rms): board->camera rotations (v, f, 3, 3) and translations (v, f, 3) (NaN where no pose),
        and the RMS reprojection error of each view (v, f), pixels (NaN where no pose).
    """
    v, f = corners.shape[:2]
    R = np.full((v, f, 3, 3), np.nan)
    t = np.full((v, f, 3), np.nan)
    rms = np.full((v, f), np.nan)
    K, D = np.asarray(cameras.K, np.float64), np.asarray(cameras.dist, np.float64)
    fisheye = cameras.model == "fisheye"
    for c in range(v):
        for j in range(f):
            ok = np.isfinite(corners[c, j]).all(1)
            if ok.sum() < min_corners:
                continue
            obj, img = object_points[ok], corners[c, j][ok].reshape(-1, 1, 2)
            if fisheye:  # PnP on undistorted points, then K only
                img = cv2.fisheye.undistortPoints(img, K[c], D[c, :4], P=K[c])
                dist = np.zeros(5)
            else:
                dist = D[c]
            try:
                n, rvecs, tvecs, errs = cv2.solvePnPGeneric(obj, img, K[c], dist, flags=cv2.SOLVEPNP_IPPE)
            except cv2.error:
                continue
            if not n:
                continue
            best = int(np.argmin(np.asarray(errs).ravel()))
            rvec, tvec = cv2.solvePnPRefineLM(obj, img, K[c], dist, rvecs[best], tvecs[best])
            proj, _ = cv2.projectPoints(obj, rvec, tvec, K[c], dist)
            R[c, j] = cv2.Rodrigues(rvec)[0]
            t[c, j] = tvec.ravel()
            rms[c, j] = np.sqrt(np.mean(np.sum((proj.reshape(-1, 2) - img.reshape(-1, 2)) ** 2, 1)))
    return R, t, rms


@dataclasses.dataclass(frozen=True)
class PairPose:
    """The robust relative pose of camera b with respect to camera a: x_b = R x_a + t.

    Attributes:
        a, b: Camera indices (a < b).
        R: Rotation, shape (3, 3).
        t: Translation, shape (3,), metres.
        shared: Frames both cameras saw the board in.
        inliers: Frames that agreed with the average.
        rotation_spread_deg: Median angle between the per-frame rotations and the average, degrees.
        translation_spread_m: Median distance between the per-frame translations and the average, metres.
    """

    a: int
    b: int
    R: np.ndarray
    t: np.ndarray
    shared: int
    inliers: int
    rotation_spread_deg: float
    translation_spread_m: float


def _robust_pose(Rs: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Robust average of poses: medoid rotation, inliers within 3x the median angle (>= 1 degree) and 3x the
    median translation distance (>= 1 cm), chordal mean rotation and median translation of the inliers."""
    rot = Rotation.from_matrix(Rs)
    if len(Rs) > 200:  # the medoid of a sample is good enough
        pick = np.linspace(0, len(Rs) - 1, 200).astype(int)
    else:
        pick = np.arange(len(Rs))
    sample = rot[pick]
    dists = np.stack([(sample[i].inv() * sample).magnitude() for i in range(len(pick))])
    medoid = sample[int(np.argmin(dists.sum(1)))]
    ang = (medoid.inv() * rot).magnitude()
    tmed = np.median(ts, 0)
    dt = np.linalg.norm(ts - tmed, axis=1)
    keep = (ang <= max(3 * np.median(ang), np.deg2rad(1.0))) & (dt <= max(3 * np.median(dt), 0.01))
    if not keep.any():
        keep = ang <= np.median(ang)
    R = rot[keep].mean().as_matrix()
    return R, np.median(ts[keep], 0), keep


def pairwise_poses(R_view: np.ndarray, t_view: np.ndarray) -> dict[tuple[int, int], PairPose]:
    """Relative poses of every pair of cameras that saw the board in the same frames.

    Args:
        R_view: Board->camera rotations, shape (v, f, 3, 3), NaN where no pose.
        t_view: Board->camera translations, shape (v, f, 3).

    Returns:
        (a, b) -> PairPose for a < b with at least one shared frame.
    """
    v = R_view.shape[0]
    valid = np.isfinite(t_view).all(-1)
    out = {}
    for a in range(v):
        for b in range(a + 1, v):
            shared = np.flatnonzero(valid[a] & valid[b])
            if shared.size == 0:
                continue
            Ra, ta, Rb, tb = R_view[a, shared], t_view[a, shared], R_view[b, shared], t_view[b, shared]
            Rab = Rb @ np.swapaxes(Ra, 1, 2)  # x_b = Rab x_a + tab
            tab = tb - np.einsum("fij,fj->fi", Rab, ta)
            R, t, keep = _robust_pose(Rab, tab)
            ang = np.rad2deg(Rotation.from_matrix(Rab @ R.T).magnitude())
            out[(a, b)] = PairPose(
                a=a,
                b=b,
                R=R,
                t=t,
                shared=int(shared.size),
                inliers=int(keep.sum()),
                rotation_spread_deg=float(np.median(ang)),
                translation_spread_m=float(np.median(np.linalg.norm(tab - t, axis=1))),
            )
    return out


def camera_groups_message(names: Sequence[str], shared: np.ndarray) -> str | None:
    """None if the cameras form one connected graph of shared board views, else a message naming the groups.

    Args:
        names: Camera names, length v.
        shared: Shared-view counts, shape (v, v).

    Returns:
        E.g. "cameras {cam1, cam2} share no board views with {cam3, cam4}", or None.
    """
    n, labels = connected_components(shared > 0, directed=False)
    if n == 1:
        return None
    groups = ["{" + ", ".join(names[i] for i in np.flatnonzero(labels == g)) + "}" for g in range(n)]
    if n == 2:
        return f"cameras {groups[0]} share no board views with {groups[1]}"
    return f"the cameras fall into {n} groups that share no board views: {', '.join(groups)}"


def initial_rig(
    cameras: Camera,
    R_view: np.ndarray,
    t_view: np.ndarray,
    view_rms: np.ndarray,
    names: Sequence[str],
    *,
    root: int = 0,
) -> tuple[Camera, np.ndarray, np.ndarray, dict]:
    """Initial camera poses (world = the root camera's frame) and board poses from single views.

    Args:
        cameras: Cameras with intrinsics, batch shape (v,).
        R_view, t_view, view_rms: From `view_poses`, shapes (v, f, 3, 3), (v, f, 3), (v, f).
        names: Camera names (for errors).
        root: The camera at the world origin.

    Returns:
        (cameras, board_R, board_t, info): the cameras with poses, board->world poses (f, 3, 3), (f, 3) (NaN
        for frames no camera saw), and info with "shared" (v, v view counts), "tree" (edges as (a, b)) and
        "pairs" (the `PairPose`s).

    Raises:
        CalibrationError: A camera saw no board, or the cameras form groups that share no views.
    """
    v, f = t_view.shape[:2]
    valid = np.isfinite(t_view).all(-1)
    none = [names[i] for i in range(v) if not valid[i].any()]
    if none:
        raise CalibrationError(f"camera(s) {', '.join(none)}: no board pose in any frame (no usable view)")
    shared = np.einsum("af,bf->ab", valid.astype(int), valid.astype(int))
    np.fill_diagonal(shared, 0)
    msg = camera_groups_message(names, shared)
    if msg:
        raise CalibrationError(msg + ": film the board where both groups see it at the same time")
    pairs = pairwise_poses(R_view, t_view)
    weights = np.zeros((v, v))
    for (a, b), pp in pairs.items():
        weights[a, b] = 1.0 / pp.shared + 1e-6 * pp.rotation_spread_deg  # most shared views, then agreement
    tree = minimum_spanning_tree(weights).toarray()
    tree = tree + tree.T
    order, pred = breadth_first_order(tree > 0, root, directed=False)
    R = np.zeros((v, 3, 3))
    t = np.zeros((v, 3))
    R[root] = np.eye(3)
    edges = []
    for c in order[1:]:
        p = pred[c]
        if (p, c) in pairs:
            Rpc, tpc = pairs[(p, c)].R, pairs[(p, c)].t
        else:  # stored as c -> p: invert
            Rcp, tcp = pairs[(c, p)].R, pairs[(c, p)].t
            Rpc, tpc = Rcp.T, -Rcp.T @ tcp
        R[c] = Rpc @ R[p]
        t[c] = Rpc @ t[p] + tpc
        edges.append((int(min(p, c)), int(max(p, c))))
    # board->world from the view with the smallest error in each frame
    rms = np.where(valid, view_rms, np.inf)
    best = np.argmin(rms, axis=0)
    seen = valid.any(0)
    fr = np.arange(f)
    Rc, tc = R[best], t[best]
    board_R = np.einsum("fji,fjk->fik", Rc, R_view[best, fr])
    board_t = np.einsum("fji,fj->fi", Rc, t_view[best, fr] - tc)
    board_R[~seen], board_t[~seen] = np.nan, np.nan
    return cameras.replace(R=R, t=t), board_R, board_t, {"shared": shared, "tree": edges, "pairs": pairs}


def world_from_camera(cameras: Camera, board_R, board_t, index: int):
    """Re-express a rig and board poses so that camera `index` is at the origin with identity rotation.

    Args:
        cameras: Cameras, batch shape (v,).
        board_R, board_t: Board->world poses, shapes (f, 3, 3), (f, 3).
        index: The reference camera.

    Returns:
        (cameras, board_R, board_t) in the new world.
    """
    Rk, tk = np.asarray(cameras.R)[index], np.asarray(cameras.t)[index]
    return _transform(cameras, board_R, board_t, Rk.T, -Rk.T @ tk)


def world_from_board(cameras: Camera, board_R, board_t, frame: int):
    """Re-express a rig so that the board of one frame defines the world.

    Origin at the board's first inner corner, x along its rows (increasing column), y and z flipped from the
    board's own axes so that z points out of the printed face, towards the cameras that see it (up for a
    board lying face up on the floor); y = z x x.

    Args:
        cameras: Cameras, batch shape (v,).
        board_R, board_t: Board->world poses, shapes (f, 3, 3), (f, 3).
        frame: Index of the board pose that defines the world.

    Returns:
        (cameras, board_R, board_t) in the new world.
    """
    if not np.isfinite(board_t[frame]).all():
        raise CalibrationError(f"frame {frame}: no board pose there to define the world")
    return _transform(cameras, board_R, board_t, board_R[frame] @ FLIP_YZ, board_t[frame])


def _transform(cameras: Camera, board_R, board_t, R_new, t_new):
    """New world W' with X_old = R_new X_new + t_new, i.e. X_new = R_new^T X_old - R_new^T t_new."""
    Q = np.asarray(R_new, np.float64).T
    cams = transform_cameras(cameras, 1.0, Q, -Q @ np.asarray(t_new, np.float64))
    bR = np.einsum("ji,fjk->fik", R_new, board_R)
    bt = np.einsum("ji,fj->fi", R_new, board_t - t_new)
    return cams, bR, bt
