"""Real video frames as learnable-triangulation samples: undistorted person crops, their cameras, 3D labels.

The labels of a capture (`write_video_labels` / `read_video_labels`, an ``.npz``) are 3D joints per frame (H36M-17,
world mm; e.g. a detector's keypoints triangulated robustly through the rig: pseudo-labels that agree across the
views by construction), the frame numbers, the view names, the rig file, one video per view and, per view, the
detector's own 2D joints (mapped to H36M-17), which place the crops where no label may be used (held-out frames,
inference).

A crop (`undistorted_crop`) is square around the person (`person_box`), resampled straight from the distorted full
frame through the lens model (one ``cv2.remap`` at 4x the output side, then ``INTER_AREA`` down): the crop is a
pinhole image whose camera is ``resize_camera(crop_camera(camera, box), size)`` without distortion, so the model's
projection matrices ``K' [R | t]`` are exact and the 2D labels are the 3D labels projected through them.

`VideoFramesDataset` holds the crops in memory and serves them as `lift3d.train.lt_trainer` expects (``images``,
``proj``, ``view_mask``, ``joints_3d``, ``joints_valid``, ``joints_2d``, ``pelvis``, ``sample_mask``, ``index``).
Frames of the test block never enter the training split (neither images nor labels); training crops are placed by
the reprojected labels with ``augment`` jittered copies (shift, scale, optional in-plane turn: the turn goes into
``K``), test crops by the detector's 2D joints. `VideoFramesDataset.concat` joins captures (e.g. another take of the
same rig, training only).
`MixedDataset` draws training batches from two datasets (e.g. these frames and the synthetic set) and tests on the
first one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import jax
import numpy as np

from lift3d.core.skeleton import H36M_17
from lift3d.errors import TrainingDataError
from lift3d.geometry.camera import Camera, crop_camera, project_points, resize_camera
from lift3d.io.atomic import atomic_write

__all__ = ["write_video_labels", "read_video_labels", "person_box", "undistorted_crop", "read_frames",
           "crop_videos", "VideoFramesDataset", "build_video_frames", "MixedDataset", "LABEL_FIELDS"]  # fmt: skip

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
LABEL_FIELDS = ("joints_3d_mm", "frames", "views", "detections_2d", "detections_conf", "rig", "videos")
"""The arrays of a labels ``.npz`` (``videos``: one path per view, in ``views`` order)."""
_SUPERSAMPLE = 4  # remap at 4x the crop side, then area-average down (a person is ~15 full-frame px per crop px)


def write_video_labels(path: str | os.PathLike, *, joints_3d_mm: np.ndarray, frames: Sequence[int],
                       views: Sequence[str], detections_2d: np.ndarray, detections_conf: np.ndarray, rig: str,
                       videos: Mapping[str, str]) -> Path:  # fmt: skip
    """Write a capture's labels (see the module doc).

    Args:
        path: Destination ``.npz``.
        joints_3d_mm: (t, 17, 3) H36M-17 world mm; NaN where unknown.
        frames: (t,) frame numbers of the videos (0-based).
        views: v view names (the videos' cameras).
        detections_2d: (t, v, 17, 2) a detector's H36M-17 joints per view, full-frame px; NaN where missing.
        detections_conf: (t, v, 17) their confidences.
        rig: The rig file.
        videos: View name -> video file.
    """
    path = Path(path)
    missing = [v for v in views if v not in videos]
    if missing:
        raise TrainingDataError(f"{path}: no video for view(s) {missing}")
    with atomic_write(path, "wb") as f:
        np.savez(f, joints_3d_mm=np.asarray(joints_3d_mm, np.float64), frames=np.asarray(frames, np.int64),
                 views=np.array(views), detections_2d=np.asarray(detections_2d, np.float64),
                 detections_conf=np.asarray(detections_conf, np.float64), rig=np.array(str(rig)),
                 videos=np.array([str(videos[v]) for v in views]))  # fmt: skip
    return path


def read_video_labels(path: str | os.PathLike) -> dict:
    """The labels `write_video_labels` wrote, shapes checked.

    Raises:
        TrainingDataError: A missing file or field, or arrays of the wrong shapes (naming the field).
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such labels file (experiments/lt_real_videos_labels.py writes one)")
    with np.load(path, allow_pickle=False) as z:
        lacking = [k for k in LABEL_FIELDS if k not in z.files]
        if lacking:
            raise TrainingDataError(f"{path}: labels lack field(s) {lacking}")
        out = {k: z[k] for k in LABEL_FIELDS}
    t, v = len(out["frames"]), len(out["views"])
    want = {"joints_3d_mm": (t, 17, 3), "detections_2d": (t, v, 17, 2), "detections_conf": (t, v, 17), "videos": (v,)}
    for k, shape in want.items():
        if out[k].shape != shape:
            raise TrainingDataError(f"{path}: field {k!r} has shape {out[k].shape}, expected {shape}")
    out["views"] = tuple(str(x) for x in out["views"])
    out["videos"] = tuple(str(x) for x in out["videos"])
    out["rig"] = str(out["rig"])
    return out


def person_box(points_2d: np.ndarray, scale: float = 1.25, min_side: float = 32.0) -> np.ndarray:
    """Square boxes around 2D joints: centred on their extent, side `scale` x its longer edge.

    Args:
        points_2d: (..., j, 2) px; NaN joints are ignored.
        scale: Side / the joints' longer extent.
        min_side: Smallest side, px.

    Returns:
        (..., 4) float (left, top, right, bottom) px; NaN where fewer than 2 joints are finite.
    """
    p = np.asarray(points_2d, np.float64)
    ok = np.isfinite(p).all(-1)
    with np.errstate(all="ignore"):
        lo = np.min(np.where(ok[..., None], p, np.inf), -2)
        hi = np.max(np.where(ok[..., None], p, -np.inf), -2)
        c, side = 0.5 * (lo + hi), np.maximum(scale * np.max(hi - lo, -1), min_side)
    box = np.concatenate([c - side[..., None] / 2, c + side[..., None] / 2], -1)
    return np.where((ok.sum(-1) >= 2)[..., None], box, np.nan)


def crop_K(camera: Camera, box: np.ndarray, size: int) -> np.ndarray:
    """(3, 3) intrinsics of the `size` x `size` pinhole crop of one camera's `box` (ltrb px)."""
    cam = resize_camera(crop_camera(camera, np.asarray(box, np.float64)), np.array([size, size], np.float64))
    return np.asarray(cam.K, np.float64)


def _spin(size: int, angle_deg: float) -> np.ndarray:
    """(3, 3) rotation of an S x S image's pixels about its centre by `angle_deg` (counter-clockwise on screen)."""
    a, c = np.radians(angle_deg), (size - 1) / 2.0
    rot = np.array([[np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return np.array([[1.0, 0, c], [0, 1, c], [0, 0, 1]]) @ rot @ np.array([[1.0, 0, -c], [0, 1, -c], [0, 0, 1]])


def undistorted_crop(image: np.ndarray, camera: Camera, box: np.ndarray, size: int,
                     angle_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A square pinhole crop of a distorted full frame, and its intrinsics.

    Args:
        image: (H, W, 3) uint8 full frame (any channel order; kept).
        camera: One camera (batch shape ()), the frame's lens model (pinhole or fisheye).
        box: (4,) (left, top, right, bottom) full-frame px of the crop (may leave the frame: black there).
        size: Output side S, px.
        angle_deg: The crop turned about its centre (augmentation); ``K`` then holds the turn (not upper
            triangular).

    Returns:
        ``(crop (S, S, 3) uint8, K (3, 3))``: ``K`` maps the camera frame to the crop's pixels, no distortion.
    """
    import cv2

    big = size * _SUPERSAMPLE
    K_big, K = crop_K(camera, box, big), crop_K(camera, box, size)
    if angle_deg:
        K_big, K = _spin(big, angle_deg) @ K_big, _spin(size, angle_deg) @ K
    K0, dist = np.asarray(camera.K, np.float64), np.asarray(camera.dist, np.float64)
    if camera.model == "fisheye":
        mx, my = cv2.fisheye.initUndistortRectifyMap(K0, dist[:4], np.eye(3), K_big, (big, big), cv2.CV_32FC1)
    else:
        mx, my = cv2.initUndistortRectifyMap(K0, dist, None, K_big, (big, big), cv2.CV_32FC1)
    crop = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), K


def read_frames(video: str | os.PathLike, frames: Sequence[int]) -> dict[int, np.ndarray]:
    """The BGR frames of one video at some frame numbers (0-based), decoded in one pass.

    Raises:
        VideoError: The video is missing or unreadable (`lift3d.io.videos`).
        TrainingDataError: A frame number past its end.
    """
    from lift3d.io.videos import open_frames

    want, out = set(int(f) for f in frames), {}
    last = max(want) if want else -1
    for index, image in open_frames(video).frames():
        if index in want:
            out[index] = image
        if index >= last:
            break
    lost = sorted(want - set(out))
    if lost:
        raise TrainingDataError(f"{video}: no frame {lost[0]} (the video has fewer frames than the labels)")
    return out


def crop_videos(cameras: Sequence[Camera], videos: Sequence[str | os.PathLike], frames: Sequence[int],
                boxes: np.ndarray, size: int, angles: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Undistorted square crops of several views' videos (`undistorted_crop`), each video decoded once.

    Args:
        cameras: v single cameras (batch shape ()), any units.
        videos: v video files (or image folders), in the cameras' order.
        frames: (n,) frame numbers (0-based).
        boxes: (n, a, v, 4) crop boxes (ltrb full-frame px); NaN: no crop (the view is masked).
        size: Crop side S, px.
        angles: (n, a, v) turns of the crops, degrees (None: none).

    Returns:
        ``(images (n, a, v, S, S, 3) uint8 RGB, K (n, a, v, 3, 3), view_mask (n, a, v))``.
    """
    n, a, v = boxes.shape[:3]
    angles = np.zeros((n, a, v)) if angles is None else np.asarray(angles, np.float64)
    mask = np.isfinite(boxes).all(-1)
    images = np.zeros((n, a, v, size, size, 3), np.uint8)
    K = np.tile(np.eye(3), (n, a, v, 1, 1))
    for k, (cam, video) in enumerate(zip(cameras, videos, strict=True)):
        decoded = read_frames(video, frames)
        for i, f in enumerate(frames):
            for c in np.flatnonzero(mask[i, :, k]):
                crop, K[i, c, k] = undistorted_crop(decoded[int(f)], cam, boxes[i, c, k], size, angles[i, c, k])
                images[i, c, k] = crop[..., ::-1]  # BGR -> RGB
        del decoded
    return images, K, mask


def _normalise(rgb_u8: np.ndarray) -> np.ndarray:
    return (rgb_u8.astype(np.float32) * (1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD


class VideoFramesDataset:
    """Crops of real frames with 3D labels, in memory, batched as the learnable-triangulation trainer wants.

    Args:
        images: (n, a, v, S, S, 3) uint8 RGB crops (a = copies per sample: the training jitter; 1 for tests).
        K: (n, a, v, 3, 3) the crops' intrinsics (no distortion).
        Rt: (v, 3, 4) or per sample (n, v, 3, 4) world (mm) -> camera.
        view_mask: (n, a, v) bool; False: no crop (the view is missing).
        joints_3d: (n, 17, 3) world mm (NaN where unknown).
        frames: (n,) frame numbers.
        train: (n,) bool: the training split; the others form the test split.
        name: Sample name in keys (``(name, "video", frame)``), one or one per sample.
        color_jitter: Brightness / contrast strength (1 +- s) of training batches; 0: none.
    """

    num_joints = 17
    skeleton = H36M_17

    def __init__(self, images, K, Rt, view_mask, joints_3d, frames, train, *, name: str | Sequence[str] = "video",
                 color_jitter: float = 0.0):  # fmt: skip
        self._images, self._K = np.asarray(images, np.uint8), np.asarray(K, np.float64)
        n = len(self._images)
        Rt = np.asarray(Rt, np.float64)
        self._Rt, self._mask = np.broadcast_to(Rt, (n, *Rt.shape[-3:])), np.asarray(view_mask, bool)
        self._joints = np.asarray(joints_3d, np.float32)
        self.frames = np.asarray(frames, np.int64)
        self.names = np.broadcast_to(np.asarray(name, str), (n,))
        self.color_jitter = float(color_jitter)
        self.image_size = tuple(self._images.shape[3:5])
        train = np.asarray(train, bool)
        self._splits = {True: np.flatnonzero(train), False: np.flatnonzero(~train)}

    @property
    def num_views(self) -> int:
        """v."""
        return self._Rt.shape[1]

    def keys(self, *, train: bool) -> list[tuple[str, str, int]]:
        """``(name, "video", frame)`` of a split, in order."""
        return [(str(self.names[r]), "video", int(self.frames[r])) for r in self._splits[train]]

    @property
    def test_keys(self) -> list[tuple[str, str, int]]:
        """Keys of the test split (indexed by the batches' ``index``)."""
        return self.keys(train=False)

    @classmethod
    def concat(cls, datasets: Sequence[VideoFramesDataset], *, color_jitter: float | None = None) -> VideoFramesDataset:
        """One dataset of several (same views, image size and copies); splits joined."""
        first = datasets[0]
        shapes = {d._images.shape[1:] for d in datasets}
        if len(shapes) != 1:
            raise TrainingDataError(f"cannot join video-frame datasets of crops {sorted(shapes)}")
        cat = lambda f: np.concatenate([f(d) for d in datasets])  # noqa: E731
        train = cat(lambda d: np.isin(np.arange(len(d._images)), d._splits[True]))
        return cls(cat(lambda d: d._images), cat(lambda d: d._K), cat(lambda d: d._Rt), cat(lambda d: d._mask),
                   cat(lambda d: d._joints), cat(lambda d: d.frames), train, name=cat(lambda d: d.names),
                   color_jitter=first.color_jitter if color_jitter is None else color_jitter)  # fmt: skip

    def split_frames(self, *, train: bool) -> np.ndarray:
        """Frame numbers of a split."""
        return self.frames[self._splits[train]]

    def joints_3d(self, *, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """(joints (n, 17, 3) mm, valid (n, 17)) of a split."""
        j = self._joints[self._splits[train]]
        return j, np.isfinite(j).all(-1)

    def get_batch(self, positions: Sequence[int], *, train: bool, rng: np.random.Generator | None = None) -> dict:
        """The samples at some positions of a split (-1: padding, a copy of the first with ``sample_mask`` False).

        Training batches take a random jittered copy of each sample (`rng`; copy 0 without one).
        """
        pos = np.asarray(positions, np.int64)
        valid = pos >= 0
        rows = self._splits[train][np.where(valid, pos, pos[valid][0])]
        a = self._images.shape[1]
        copy = rng.integers(0, a, len(rows)) if (train and rng is not None) else np.zeros(len(rows), np.int64)
        img, K, mask = self._images[rows, copy], self._K[rows, copy], self._mask[rows, copy].copy()
        images = _normalise(img)
        if train and rng is not None and self.color_jitter > 0:
            s = self.color_jitter
            gain = rng.uniform(1 - s, 1 + s, (len(rows), self.num_views, 1, 1, 1)).astype(np.float32)
            mean = images.mean((2, 3, 4), keepdims=True)
            images = (images - mean) * rng.uniform(1 - s, 1 + s, gain.shape).astype(np.float32) + mean * gain
        images[~mask] = 0.0
        proj = np.where(mask[..., None, None], K @ self._Rt[rows], 0.0)
        joints = self._joints[rows]
        h = np.concatenate([joints, np.ones((*joints.shape[:-1], 1), np.float32)], -1).astype(np.float64)
        x = np.einsum("bvik,bjk->bvji", proj, h)
        with np.errstate(all="ignore"):
            uv = x[..., :2] / x[..., 2:]
        uv = np.where(mask[..., None, None] & (x[..., 2:] > 0), uv, np.nan).astype(np.float32)
        return {"images": images, "proj": proj.astype(np.float32), "view_mask": mask, "joints_3d": joints,
                "joints_valid": np.isfinite(joints).all(-1), "joints_2d": uv,
                "pelvis": joints[:, H36M_17.index("pelvis")].copy(), "sample_mask": valid,
                "index": np.where(valid, pos, -1)}  # fmt: skip

    def iterate(self, key: jax.Array | None, batch_size: int, *, train: bool, epochs: int | None = None) -> Iterator:
        """Batches of a split: training shuffled per epoch (forever when `epochs` is None, full batches), the
        test split in order once, the last batch padded."""
        n = len(self._splits[train])
        if n == 0:
            raise TrainingDataError(f"{self.names[0] if len(self.names) else 'video'}: the "
                                    f"{'train' if train else 'test'} split is empty")  # fmt: skip
        if not train:
            for start in range(0, n, batch_size):
                p = np.arange(start, start + batch_size)
                yield self.get_batch(np.where(p < n, p, -1), train=False)
            return
        if key is None:
            raise ValueError("iterate(train=True) needs a key")
        bits = np.asarray(jax.random.key_data(key)).ravel().tolist()
        rng = np.random.default_rng([int(b) for b in bits])
        buf, epoch = np.zeros(0, np.int64), 0
        while True:
            while len(buf) < batch_size and (epochs is None or epoch < epochs):
                buf, epoch = np.concatenate([buf, rng.permutation(n)]), epoch + 1
            if len(buf) == 0:
                return
            out, buf = buf[:batch_size], buf[batch_size:]
            yield self.get_batch(np.concatenate([out, np.full(batch_size - len(out), -1)]), train=True, rng=rng)


def _check_views(where: str, rig_names: Sequence[str], views: Sequence[str], videos: Sequence[str]) -> list[int]:
    """Rig index of each labelled view; refuses views the rig lacks and rig cameras without a video."""
    lacking = [v for v in views if v not in rig_names]
    if lacking:
        raise TrainingDataError(f"{where}: labels for camera(s) {lacking} that the rig lacks (rig cameras: "
                                f"{list(rig_names)})")  # fmt: skip
    no_video = [n for n in rig_names if n not in views]
    if no_video:
        raise TrainingDataError(f"{where}: no video for rig camera(s) {no_video} (labelled views: {list(views)})")
    missing = [f"{v} ({p})" for v, p in zip(views, videos, strict=True) if not Path(p).exists()]
    if missing:
        raise TrainingDataError(f"{where}: video missing for rig camera(s) {', '.join(missing)}")
    return [list(rig_names).index(v) for v in views]


def build_video_frames(labels: str | os.PathLike, rig, *, image_size: int = 64,
                       test_frames: tuple[int, int] = (70, 100), box_scale: float = 1.25, augment: int = 4,
                       jitter: float = 0.08, rotate_deg: float = 0.0,
                       color_jitter: float = 0.2, seed: int = 0, videos: Sequence[str] | None = None,
                       name: str | None = None) -> VideoFramesDataset:  # fmt: skip
    """A `VideoFramesDataset` from a labels file, its rig and its videos.

    Args:
        labels: The labels ``.npz`` (`write_video_labels`).
        rig: A `lift3d.core.rig.Rig` holding the labels' views by name (any units).
        image_size: Crop side S, px.
        test_frames: [start, stop) frame numbers held out (the test split); never in the training split.
        box_scale: Crop side / the joints' extent.
        augment: Jittered crops per training sample (the first unjittered).
        jitter: Crop shift (x side) and log-scale spread of the jittered copies.
        rotate_deg: Spread (standard deviation, degrees) of the jittered copies' in-plane turn.
        color_jitter: Training brightness / contrast strength.
        seed: The jitter's seed.
        videos: One video per view (default the labels' own).
        name: The samples' name in keys (default the labels file's stem).

    Raises:
        TrainingDataError: Labels for a camera the rig lacks, a rig camera without a video, a missing video.
    """
    lab = read_video_labels(labels)
    views, vids = lab["views"], tuple(videos) if videos is not None else lab["videos"]
    idx = _check_views(str(labels), rig.names, views, vids)
    rig_mm = rig.to_units("mm")
    cams = [rig_mm.cameras[i] for i in idx]
    Rt = np.stack([np.concatenate([np.asarray(c.R), np.asarray(c.t)[:, None]], -1) for c in cams])
    frames, joints = lab["frames"], lab["joints_3d_mm"]
    train = (frames < test_frames[0]) | (frames >= test_frames[1])
    labelled = np.isfinite(joints).all(-1).sum(-1) >= 8
    keep = ~train | labelled  # unlabelled training frames are of no use
    frames, joints, train, det = frames[keep], joints[keep], train[keep], lab["detections_2d"][keep]
    a = max(int(augment), 1)
    proj2d = np.stack([np.asarray(project_points(c, np.nan_to_num(joints))) for c in cams], 1)  # (n, v, 17, 2)
    proj2d = np.where(np.isfinite(joints).all(-1)[:, None, :, None], proj2d, np.nan)
    base = np.where(train[:, None, None], person_box(proj2d, box_scale), person_box(det, box_scale))  # (n, v, 4)
    rng = np.random.default_rng(seed)
    boxes = np.repeat(base[:, None], a, 1)  # (n, a, v, 4)
    if a > 1:
        c, side = 0.5 * (boxes[..., :2] + boxes[..., 2:]), boxes[..., 2] - boxes[..., 0]
        c = c + rng.normal(0, jitter, c.shape) * side[..., None]
        side = side * np.exp(rng.normal(0, jitter, side.shape))
        jit = np.concatenate([c - side[..., None] / 2, c + side[..., None] / 2], -1)
        boxes[:, 1:] = np.where(train[:, None, None, None], jit, boxes)[:, 1:]
    angles = np.zeros(boxes.shape[:3])
    if a > 1 and rotate_deg:
        angles[:, 1:] = np.where(train[:, None, None], rng.normal(0, rotate_deg, angles.shape), 0.0)[:, 1:]
    test = ~train
    boxes[test, 1:] = np.nan  # one crop per test sample (copied below)
    images, K, mask = crop_videos(cams, vids, frames, boxes, image_size, angles)
    images[test, 1:], K[test, 1:], mask[test, 1:] = images[test, :1], K[test, :1], mask[test, :1]
    name = name or Path(labels).stem
    return VideoFramesDataset(images, K, Rt, mask, joints, frames, train, name=name, color_jitter=color_jitter)


class MixedDataset:
    """Training batches from two datasets (each batch from one of them), tests from the first.

    Args:
        first: The dataset tested on (e.g. `VideoFramesDataset`).
        second: Another dataset of the same views and image size (e.g. the synthetic set).
        first_fraction: Share of training batches drawn from `first`.
    """

    def __init__(self, first, second, first_fraction: float = 0.5):
        if tuple(first.image_size) != tuple(second.image_size):
            raise TrainingDataError(f"mixed datasets need one image size: {first.image_size} vs {second.image_size}")
        self.first, self.second, self.first_fraction = first, second, float(first_fraction)
        self.num_joints, self.image_size, self.skeleton = first.num_joints, tuple(first.image_size), first.skeleton

    @property
    def test_keys(self):
        """The first dataset's test keys."""
        return self.first.test_keys

    def keys(self, *, train: bool):
        """The first dataset's keys of a split."""
        return self.first.keys(train=train)

    def iterate(self, key: jax.Array | None, batch_size: int, *, train: bool) -> Iterator[dict]:
        """Test: the first dataset's test batches. Training: forever, each batch from `first` with probability
        `first_fraction` (drawn from `key`), else from `second`."""
        if not train:
            yield from self.first.iterate(key, batch_size, train=False)
            return
        k1, k2, k3 = jax.random.split(key, 3)
        a, b = self.first.iterate(k1, batch_size, train=True), self.second.iterate(k2, batch_size, train=True)
        rng = np.random.default_rng([int(x) for x in np.asarray(jax.random.key_data(k3)).ravel()])
        keys = ("images", "proj", "view_mask", "joints_3d", "joints_valid", "joints_2d", "pelvis")
        try:
            while True:
                batch = next(a if rng.random() < self.first_fraction else b)
                out = {k: batch[k] for k in keys}
                out["sample_mask"] = batch.get("sample_mask", np.ones(len(batch["images"]), bool))
                yield out
        finally:
            for it in (a, b):
                getattr(it, "close", lambda: None)()
