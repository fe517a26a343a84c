"""Checks that input fits the job before (and after) a 3D result is built from it, so good-looking numbers are
never silently wrong.

- `check_keypoints`: confidences outside [0, 1], coordinates outside the rig's images, a skeleton that does not
  fit the files (refused, naming the file, camera and frame; or warned).
- `skeleton_mismatch`: left and right limbs of wildly different lengths, the sign of joints read in another
  skeleton's order (e.g. BODY_25B files read as BODY_25, both 25 joints).
- `CameraUsage`: per camera, how many of its detections a triangulation used, their reprojection error and
  depth; `CameraUsage.notes` names cameras that were (almost) never used, or that the points fall behind.
- `nothing_found_message`: why a capture gave no 3D point at all.

Rig checks are `lift3d.core.rig.Rig.check`. Warnings are `lift3d.errors.InputWarning` (one line, saying what to
do); every check returns the warnings it gave, for a command's summary.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from lift3d.core.keypoints import Keypoints2D
from lift3d.core.rig import Rig
from lift3d.core.skeleton import SKELETONS, Skeleton
from lift3d.errors import CaptureInputError, InputWarning, KeypointFileError
from lift3d.geometry.camera import Camera
from lift3d.geometry.numpy_camera import camera_params, project

__all__ = ["check_keypoints", "skeleton_mismatch", "CameraUsage", "format_camera_table", "nothing_found_message"]

CONFIDENCE_TOLERANCE = 1e-3  # confidences up to 1 + this pass (float rounding of detectors)
IMAGE_MARGIN = 0.05  # detections this far outside the image (share of its size) still count as inside
MAX_SKELETON_ASYMMETRY = 1.8  # typical left/right limb length ratio above which a skeleton does not fit
_LIMBS = (("shoulder", "elbow", "upper arm"), ("elbow", "wrist", "forearm"), ("hip", "knee", "thigh"),
          ("knee", "ankle", "shin"))  # fmt: skip
_MAX_FRAMES = 2000  # frames sampled for the skeleton check
_ERROR_BINS = np.concatenate([[0.0], np.logspace(-3, 7, 1001), [np.inf]])  # px: medians to about 2 %, flat memory


def _view_where(kp: Keypoints2D, v: int) -> str:
    source = kp.source[v] if len(kp.source) == kp.num_views else (kp.source[0] if kp.source else "keypoints")
    return f"{source} (camera {kp.views[v]!r})"


def _warn(notes: list[str], message: str) -> None:
    notes.append(message)
    warnings.warn(message, InputWarning, stacklevel=3)


def _check_confidence(kp: Keypoints2D) -> None:
    conf = np.asarray(kp.confidence)
    for v in range(kp.num_views):
        c = conf[:, v]
        bad = np.isfinite(c) & ((c < 0) | (c > 1 + CONFIDENCE_TOLERANCE))
        if not bad.any():
            continue
        t, p, j = np.unravel_index(int(np.argmax(bad)), bad.shape)
        top = float(np.nanmax(c))
        fix = f"divide them by {top:.3g} (the camera's largest)" if top > 1 else "clip them to [0, 1]"
        raise KeypointFileError(
            f"{_view_where(kp, v)}: confidence {float(c[t, p, j]):.4g} in frame {int(kp.frame_ids[t])} (person "
            f"{p + 1}, joint {kp.skeleton.joints[j]!r}), and {int(bad.sum())} of {int(np.isfinite(c).sum())} of "
            "this camera's confidences, are outside [0, 1]: lift3d weighs cameras by confidence, so a camera on "
            f"another scale outweighs the others; give confidences as probabilities ({fix})"
        )


def _check_in_image(kp: Keypoints2D, rig: Rig, notes: list[str]) -> None:
    sizes = np.asarray(rig.cameras.image_size, np.float64).reshape(len(rig), -1)
    for v in range(kp.num_views):
        if sizes.shape[1] != 2 or not (np.isfinite(sizes[v]).all() and (sizes[v] > 0).all()):
            continue
        w, h = sizes[v]
        valid = kp.confidence[:, v] > 0
        pts = np.asarray(kp.points[:, v])[valid]
        if len(pts) == 0:
            continue
        mx, my = IMAGE_MARGIN * w, IMAGE_MARGIN * h
        inside = (pts[:, 0] >= -mx) & (pts[:, 0] <= w + mx) & (pts[:, 1] >= -my) & (pts[:, 1] <= h + my)
        lo, hi = pts.min(0), pts.max(0)
        ranges = f"x {lo[0]:.4g} to {hi[0]:.4g}, y {lo[1]:.4g} to {hi[1]:.4g} px"
        size = f"{w:.0f}x{h:.0f} px image ({rig.names[v]!r} in the rig)"
        if not inside.any() or (np.abs(pts) <= 1.0).all():
            hint = ("they look normalised to [0, 1]: multiply them by the image size" if (np.abs(pts) <= 1.0).all()
                    else "they were detected in another resolution or belong to another camera; check that the "
                    "keypoint folders and the rig's cameras match, and the rig's image size")  # fmt: skip
            raise CaptureInputError(f"{_view_where(kp, v)}: all {len(pts)} detected joints lie outside its {size} "
                                    f"({ranges}): {hint}")  # fmt: skip
        if inside.mean() < 0.5:
            _warn(notes, f"{_view_where(kp, v)}: {100 * (1 - inside.mean()):.0f} % of its {len(pts)} detected "
                         f"joints lie outside its {size} ({ranges}): check that the keypoints belong to this camera "
                         "and its image size")  # fmt: skip


def _asymmetry(points: np.ndarray, skeleton: Skeleton) -> dict[str, float]:
    """Typical left / right length ratio (>= 1) per limb, over detections where both limbs are seen."""
    out = {}
    for a, b, limb in _LIMBS:
        names = [f"{side}_{x}" for side in ("left", "right") for x in (a, b)]
        if not all(n in skeleton for n in names):
            continue
        la, lb, ra, rb = skeleton.indices(names)
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.linalg.norm(points[..., la, :] - points[..., lb, :], axis=-1)
            right = np.linalg.norm(points[..., ra, :] - points[..., rb, :], axis=-1)
            r = np.abs(np.log(left / right))
        r = r[np.isfinite(r)]
        if len(r) >= 10:
            out[limb] = float(np.exp(np.median(r)))
    return out


def skeleton_mismatch(kp: Keypoints2D) -> tuple[float, dict[str, float], str | None] | None:
    """How badly the keypoints' skeleton fits its files, from left / right limb symmetry in the images.

    With the right skeleton, the upper arms, forearms, thighs and shins of one detection have similar image
    lengths (typically within 1.2-1.6x, foreshortening included); joints read in another skeleton's order pair
    unrelated joints and give ratios of 2-4x.

    Args:
        kp: The keypoints.

    Returns:
        None when it cannot be judged (fewer than two limb pairs seen 10 times) or fits; else (typical ratio,
        ratio per limb, the name of a registered skeleton with as many joints that fits, or None).
    """
    step = max(1, kp.num_frames // _MAX_FRAMES)
    points = np.asarray(kp.points[::step], np.float64)
    limbs = _asymmetry(points, kp.skeleton)
    if len(limbs) < 2:
        return None
    score = float(np.exp(np.mean(np.log(list(limbs.values())))))
    if score <= MAX_SKELETON_ASYMMETRY:
        return None
    better = None
    for name, other in SKELETONS.items():
        if other.num_joints == kp.skeleton.num_joints and other.name != kp.skeleton.name:
            alt = _asymmetry(points, other)
            if len(alt) >= 2 and np.exp(np.mean(np.log(list(alt.values())))) < min(1.5, score / 1.3):
                better = name
    return score, limbs, better


def _check_skeleton(kp: Keypoints2D, notes: list[str]) -> None:
    found = skeleton_mismatch(kp)
    if found is None:
        return
    score, limbs, better = found
    where = kp.source[0] if kp.source else "the keypoints"
    ratios = ", ".join(f"{limb} {r:.1f}x" for limb, r in limbs.items())
    message = (f"skeleton {kp.skeleton.name!r} does not fit the joints of {where} and the other cameras: left and "
               f"right limbs differ in length by {score:.1f}x ({ratios}; about 1.2x when the joint order is "
               "right)")  # fmt: skip
    if better is not None:
        raise CaptureInputError(f"{message}; skeleton {better!r} fits: pass --skeleton {better}")
    _warn(notes, f"{message}: check --skeleton")


def check_keypoints(kp: Keypoints2D, rig: Rig | None = None) -> list[str]:
    """Refuse keypoints that would silently give wrong 3D; warn about suspicious ones.

    Refused: a confidence outside [0, 1] (`KeypointFileError` naming file, camera, frame, joint: a camera on
    another scale outweighs the others); every detection of a camera outside the rig's image of it, or
    coordinates normalised to [0, 1] (`CaptureInputError`); a skeleton whose limbs pair up unrelated joints
    when another registered skeleton with as many joints fits (`CaptureInputError` naming both; a wrong joint
    count is refused by the readers). Warned (`InputWarning`): a camera with most detections outside its image,
    a skeleton that fits badly with no better one.

    Args:
        kp: The keypoints (views matched to `rig` when one is given).
        rig: The rig whose image sizes bound the coordinates (cameras in the order of `kp.views`); None skips
            the image check.

    Returns:
        The warnings given, one line each.
    """
    notes: list[str] = []
    _check_confidence(kp)
    if rig is not None:
        _check_in_image(kp, rig, notes)
    _check_skeleton(kp, notes)
    return notes


@dataclasses.dataclass
class CameraUsage:
    """Per camera, what a triangulation made of its detections (filled block by block with `add`).

    Attributes:
        names: Camera names.
        frames_seen: (v,) frames where the camera detected anyone (a joint at or above the threshold).
        frames_used: (v,) frames where the triangulation of a kept person used the camera.
        detections: (v,) detections of the kept people offered to the triangulation.
        used: (v,) of those, the ones the triangulation kept (the camera was an inlier).
        behind: (v,) detections whose triangulated point lies behind the camera.
        errors: (v, bins) histogram of the reprojection errors of its detections against the triangulated
            points (log-spaced bins, px), for the median in flat memory.
    """

    names: tuple[str, ...]
    frames_seen: np.ndarray = dataclasses.field(init=False)
    frames_used: np.ndarray = dataclasses.field(init=False)
    detections: np.ndarray = dataclasses.field(init=False)
    used: np.ndarray = dataclasses.field(init=False)
    behind: np.ndarray = dataclasses.field(init=False)
    errors: np.ndarray = dataclasses.field(init=False)

    def __post_init__(self):
        v = len(self.names)
        self.frames_seen, self.frames_used, self.detections, self.used, self.behind = (
            np.zeros(v, np.int64) for _ in range(5)
        )
        self.errors = np.zeros((v, len(_ERROR_BINS) - 1), np.int64)

    def add(self, cameras: Camera, detected, points_3d, points_2d, confidence, views_used) -> None:
        """Count one block of b frames and P kept people (n = b P).

        Args:
            cameras: The rig's cameras (v,).
            detected: (b, v) bool, the camera detected anyone in the frame.
            points_3d: (n, j, 3) triangulated points (NaN where none).
            points_2d: (n, v, j, 2) the kept people's detections, px.
            confidence: (n, v, j) their confidences (0 = not offered).
            views_used: (n, v, j) bool, views the triangulation kept.
        """
        detected = np.asarray(detected, bool)
        b, v = detected.shape
        X = np.asarray(points_3d, np.float64)
        seen = np.asarray(confidence) > 0
        used = np.asarray(views_used, bool) & seen
        got = seen & np.isfinite(X).all(-1)[:, None]
        uv, z = project(camera_params(cameras), np.nan_to_num(X)[:, None], cameras.model == "fisheye")
        with np.errstate(invalid="ignore"):
            err = np.linalg.norm(uv - np.asarray(points_2d, np.float64), axis=-1)
        self.frames_seen += detected.sum(0)
        self.frames_used += (used.reshape(b, -1, v, used.shape[-1]).any((1, 3)) & detected).sum(0)
        self.detections += seen.sum((0, 2))
        self.used += used.sum((0, 2))
        self.behind += (got & (z <= 0)).sum((0, 2))
        for k in range(v):
            e = err[:, k][got[:, k] & (z[:, k] > 0)]
            self.errors[k] += np.histogram(e[np.isfinite(e)], _ERROR_BINS)[0]

    def table(self) -> list[dict]:
        """One row per camera: name, frames_seen, frames_used, detections, used, used_fraction (of the
        detections offered), behind_fraction, median_error_px."""
        rows = []
        for k, name in enumerate(self.names):
            n = int(self.detections[k])
            rows.append({
                "name": name, "frames_seen": int(self.frames_seen[k]), "frames_used": int(self.frames_used[k]),
                "detections": n, "used": int(self.used[k]),
                "used_fraction": self.used[k] / n if n else float("nan"),
                "behind_fraction": self.behind[k] / n if n else float("nan"),
                "median_error_px": _median(self.errors[k]),
            })  # fmt: skip
        return rows

    def notes(self, threshold_px: float, *, warn: bool = True) -> list[str]:
        """Cameras the triangulation (almost) never used, or that the points fall behind.

        A camera that detected someone in at least 10 frames is named when it was used in under 20 % of them
        while the other cameras were used in over half of theirs (its detections never fit the others': a
        wrong pose, or another camera's keypoints), when its median reprojection error exceeds 5 x
        `threshold_px`, or when over half of the points it saw are behind it.

        Args:
            threshold_px: The triangulation's inlier threshold, px.
            warn: Also give each note as an `InputWarning`.

        Returns:
            One line per camera named.
        """
        rows = self.table()
        share = [r["frames_used"] / r["frames_seen"] if r["frames_seen"] >= 10 else np.nan for r in rows]
        out = []
        for k, row in enumerate(rows):
            if row["frames_seen"] < 10:
                continue
            others = [x for i, x in enumerate(share) if i != k and np.isfinite(x)]
            unused = share[k] < 0.2 and bool(others) and float(np.median(others)) > 0.5
            far = row["median_error_px"] > 5 * threshold_px
            behind = row["behind_fraction"] > 0.5
            if not (unused or far or behind):
                continue
            message = f"camera {row['name']!r} was used in {row['frames_used']} of the {row['frames_seen']} frames "
            message += "where it detected someone"
            if np.isfinite(row["median_error_px"]):
                message += f" (median reprojection error {row['median_error_px']:.0f} px"
                message += f", {100 * row['behind_fraction']:.0f} % of the points behind it)" if behind else ")"
            message += (": its calibration (pose, image size) or its keypoints do not fit the other cameras; "
                        "check its entry in the rig, and that its keypoints are of this camera and in sync")
            out.append(message)
        if warn:
            for message in out:
                warnings.warn(message, InputWarning, stacklevel=2)
        return out


def format_camera_table(rows) -> str:
    """`CameraUsage.table` as text: frames where the camera saw someone and where it was used, the kept people's
    detections offered and the share used, their median reprojection error, the share of points behind it.

    Args:
        rows: `CameraUsage.table()` (or a result's copy of it).

    Returns:
        A plain-text table ("" without rows).
    """
    if not rows:
        return ""
    pct = lambda x: f"{100 * x:.0f} %" if np.isfinite(x) else "-"  # noqa: E731
    lines = [f"{'camera':<16}{'frames seen':>12}{'used':>6}{'detections':>11}{'used':>7}{'error (px)':>11}"
             f"{'behind':>8}"]  # fmt: skip
    for row in rows:
        err = f"{row['median_error_px']:.1f}" if np.isfinite(row["median_error_px"]) else "-"
        lines.append(f"{row['name']:<16}{row['frames_seen']:>12}{row['frames_used']:>6}{row['detections']:>11}"
                     f"{pct(row['used_fraction']):>7}{err:>11}{pct(row['behind_fraction']):>8}")  # fmt: skip
    return "\n".join(lines)


def _median(counts: np.ndarray) -> float:
    """The median of a histogram over `_ERROR_BINS` (geometric middle of its bin; NaN when empty)."""
    total = counts.sum()
    if total == 0:
        return float("nan")
    k = int(np.searchsorted(np.cumsum(counts), total / 2))
    lo, hi = _ERROR_BINS[k], _ERROR_BINS[k + 1]
    return float(np.sqrt(lo * hi) if lo > 0 and np.isfinite(hi) else (hi if lo == 0 else lo))


def nothing_found_message(confidence, min_confidence: float, people: int) -> str:
    """Why a capture gave no 3D point: no detections, or none confident enough in two cameras.

    Args:
        confidence: (t, v, p, j) confidences as read (may be a memory map; read in blocks).
        min_confidence: The threshold used.
        people: People asked for.

    Returns:
        One line saying what was found and what to do.
    """
    t, v = confidence.shape[:2]
    detected = above = 0
    top = 0.0
    for s in range(0, t, 4096):
        c = np.nan_to_num(np.asarray(confidence[s : s + 4096], np.float64))
        detected += int((c > 0).sum())
        above += int((c >= min_confidence).sum())
        top = max(top, float(c.max(initial=0.0)))
    if detected == 0:
        return f"no person was detected in any of the {t} frames of the {v} cameras: nothing to triangulate"
    return (
        f"no 3D point: of {detected} detected joints in {t} frames and {v} cameras, {above} reach the confidence "
        f"threshold {min_confidence:g} (highest {top:.3g}), and no joint is seen by two cameras at once"
        + (f" for the {people} people asked for" if people > 1 else "")
        + ": check the keypoints (detector output, --skeleton) or lower --min-confidence"
    )
