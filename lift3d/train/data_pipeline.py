"""Data for the lifter: per-(frame, camera) samples, deterministic batches, and on-device augmentation.

Training samples are the camera-frame 3D joints of every (frame, camera) of the training subjects plus the
world's up direction in that camera; the 2D input is made from them *inside* the jitted step (rays
``X/Z, Y/Z``, see `lift3d.models.lifter`), after augmentation. Test samples go the way real detections go:
the dataset's distorted pixels are undistorted through the subject's camera (`pixels_to_rays`).

Determinism (what makes a resumed run equal an uninterrupted one): the sample order of epoch ``e`` is a
permutation drawn from ``fold_in(data_key, e)`` and batch ``i`` of the epoch takes its slice, so the batch
of global step ``s`` is a function of (data_key, s) alone; augmentation and dropout keys are
``fold_in(key, s)``. A checkpoint therefore only needs the step and the base keys.

Augmentations (`augment`), all in the camera frame and all equivalent to a *different, plausible camera
looking at the same motion*, so the target stays exact:

- turn: rotate the body about the vertical through its root joint (the person faces another way; any
  angle is valid);
- elevation: rotate about the horizontal axis through the root perpendicular to the viewing ray, i.e. move
  the camera up or down on a sphere around the person (valid within the range of real camera heights);
- roll: rotate about the viewing ray (a rolled camera);
- distance: slide the person along the ray to its root (a camera closer or farther);
- flip: mirror x and swap left/right joints (the mirror image of a person is a person);
- 2D noise: Gaussian, std = `noise_std` x the pose's RMS radius in the image, so noise scales with the
  person's size in pixels as detector noise does;
- dropped joints: each joint missing with probability `drop_prob`, fed as the model feeds missing joints.

Detector patterns (off by default; they do change the input without changing the target, as real detectors do):

- occluded limbs: with probability `limb_drop_prob` one limb loses its distal joints (a wrist; an elbow and
  wrist; the whole arm or leg), as a body part hidden behind the torso or out of frame;
- left/right swaps: with probability `swap_prob` the 2D of one left/right pair (both legs, both arms, the
  wrists or the ankles) trade places, the most common gross error of 2D detectors;
- extremity noise: wrists, ankles and head get (1 + `extremity_noise`) times the noise of the other joints.

A rotation about the camera centre (pan / tilt of the real camera) is not used: the model's perspective
crop makes it nearly a no-op (it only adds a small virtual roll, which ``roll`` covers).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

from lift3d.core.skeleton import H36M_17
from lift3d.datasets.h36m import H36MDataset
from lift3d.datasets.motion_dataset import CameraRanges, camera_frame, complete_frames, rig_views, virtual_cameras
from lift3d.geometry.rotation import rodrigues_to_matrix
from lift3d.models.lifter import pixels_to_rays

__all__ = ["TrainSamples", "TestSamples", "train_samples", "test_samples", "batch_indices", "augment"]
__all__ += ["motion_train_samples", "motion_test_samples"]


@dataclasses.dataclass(frozen=True, eq=False)
class TrainSamples:
    """Training samples, one per (frame, camera).

    Attributes:
        points_camera: (m, j, 3) joints in the camera frame, mm, float32.
        up: (m, 3) the world's up direction in that camera frame (unit), float32.
    """

    points_camera: np.ndarray
    up: np.ndarray

    def __len__(self) -> int:
        return len(self.points_camera)


@dataclasses.dataclass(frozen=True, eq=False)
class TestSamples:
    """Test samples as a detector would give them.

    Attributes:
        rays: (m, j, 2) undistorted normalised 2D from the dataset's pixels.
        target: (m, j, 3) root-relative joints in the camera frame, mm.
        subject, action, camera: (m,) names; frame: (m,) frame numbers.
    """

    rays: np.ndarray
    target: np.ndarray
    subject: np.ndarray
    action: np.ndarray
    camera: np.ndarray
    frame: np.ndarray

    def __len__(self) -> int:
        return len(self.rays)


def _camera_up(ds: H36MDataset, subject_names, subject_idx: np.ndarray, camera_idx: np.ndarray) -> np.ndarray:
    ups = {s: np.asarray(ds.rigs[s].cameras.R)[:, :, 2] for s in subject_names}  # R @ e_z: world Z-up
    table = np.stack([ups[s] for s in subject_names])  # (subjects, v, 3)
    return table[subject_idx, camera_idx].astype(np.float32)


def train_samples(ds: H36MDataset) -> TrainSamples:
    """All (frame, camera) samples of a dataset for training.

    Args:
        ds: Dataset with rigs (world Z-up, mm), e.g. ``make_dataset(...).split("train")``.

    Returns:
        `TrainSamples`.
    """
    cs = ds.camera_samples()
    return TrainSamples(
        points_camera=np.ascontiguousarray(cs.points_3d_camera, np.float32),
        up=_camera_up(ds, cs.subjects, cs.subject, cs.camera),
    )


def test_samples(ds: H36MDataset, *, root_index: int = 0) -> TestSamples:
    """Test samples: the dataset's 2D pixels made into rays through each subject's cameras.

    Args:
        ds: Dataset with 2D (e.g. ``make_dataset(...).split("test")``).
        root_index: Root joint of the targets.

    Returns:
        `TestSamples`, rows in `camera_samples` order (frame-major, camera-minor).
    """
    cs = ds.camera_samples()
    v = len(cs.camera_names)
    uv = cs.points_2d.reshape(-1, v, 17, 2)
    rays = np.empty_like(uv)
    for k, s in enumerate(cs.subjects):
        rows = cs.subject[::v] == k
        pts = np.moveaxis(uv[rows], 1, 0).reshape(v, -1, 2)  # (v, n * 17, 2)
        r = np.asarray(pixels_to_rays(ds.rigs[s].cameras, pts))
        rays[rows] = np.moveaxis(r.reshape(v, -1, 17, 2), 0, 1)
    target = cs.points_3d_camera - cs.points_3d_camera[:, root_index : root_index + 1]
    return TestSamples(
        rays=rays.reshape(-1, 17, 2).astype(np.float32),
        target=target.astype(np.float32),
        subject=np.asarray(cs.subjects)[cs.subject],
        action=np.asarray(cs.actions)[cs.action],
        camera=np.asarray(cs.camera_names)[cs.camera],
        frame=cs.frame,
    )


def _motion_views(motions, seed: int, ranges: CameraRanges, rig):
    """Per take: complete frames, camera-frame joints (mm) and up, the frame numbers and camera names."""
    rng = np.random.default_rng(seed)
    ranges = CameraRanges() if ranges is None else ranges
    for name, points in motions.items():
        frames = np.flatnonzero(complete_frames(points))
        pts = points[frames]
        if len(pts) == 0:
            continue
        R, t = virtual_cameras(pts, rng, ranges)
        cams = [f"virtual_{k}" for k in range(ranges.num_views)]
        if rig is not None:
            Rr, tr = rig_views(rig, len(pts))
            R, t = np.concatenate([R, Rr], 1), np.concatenate([t, tr], 1)
            cams += list(rig.names)
        cam, up = camera_frame(pts, R, t)
        yield name, cam, up, frames, cams


def motion_train_samples(
    motions: dict[str, np.ndarray], *, seed: int = 0, ranges: CameraRanges | None = None, rig=None
) -> TrainSamples:
    """Training samples from 3D motion seen by virtual cameras (`lift3d.datasets.motion_dataset`).

    Args:
        motions: Take name -> (t, 17, 3) H36M-17 joints, metres, Z-up (frames with a missing joint are skipped).
        seed: Seed of the cameras' placement.
        ranges: Where the virtual cameras stand (default `CameraRanges()`).
        rig: Optional `Rig` whose cameras also see every frame (its world = the motions').

    Returns:
        `TrainSamples`, one per (frame, camera).
    """
    parts = list(_motion_views(motions, seed, ranges, rig))
    if not parts:
        raise ValueError("no complete frame to train on")
    return TrainSamples(
        points_camera=np.ascontiguousarray(np.concatenate([p[1] for p in parts]), np.float32),
        up=np.concatenate([p[2] for p in parts]).astype(np.float32),
    )


def motion_test_samples(
    motions: dict[str, np.ndarray], *, seed: int = 1, ranges: CameraRanges | None = None, rig=None,
    root_index: int = 0,
) -> TestSamples:  # fmt: skip
    """Test samples from 3D motion: perfect 2D (the joints projected through virtual cameras, no distortion).

    Args:
        motions, ranges, rig: As `motion_train_samples`.
        seed: Seed of the cameras' placement (another than training's: other viewpoints).
        root_index: Root joint of the targets.

    Returns:
        `TestSamples` (subject and action = the take's name, camera = ``virtual_<k>`` or the rig's name).
    """
    rays, target, names, cameras, frames = [], [], [], [], []
    for name, cam, _, fr, cams in _motion_views(motions, seed, ranges, rig):
        rays.append(cam[..., :2] / cam[..., 2:])
        target.append(cam - cam[:, root_index : root_index + 1])
        names += [name] * len(cam)
        cameras += cams * len(fr)
        frames.append(np.repeat(fr, len(cams)))
    if not rays:
        raise ValueError("no complete frame to test on")
    names_arr = np.asarray(names)
    return TestSamples(
        rays=np.concatenate(rays).astype(np.float32), target=np.concatenate(target).astype(np.float32),
        subject=names_arr, action=names_arr, camera=np.asarray(cameras), frame=np.concatenate(frames),
    )  # fmt: skip


def batch_indices(data_key: Array, step: int, num_samples: int, batch_size: int) -> np.ndarray:
    """Sample indices of the batch of global step `step` (shuffled epochs; a partial batch is dropped).

    Args:
        data_key: The run's data key.
        step: Global step (0-based).
        num_samples: Training samples m.
        batch_size: Batch size.

    Returns:
        (batch_size,) int64 indices.
    """
    per_epoch = num_samples // batch_size
    if per_epoch < 1:
        raise ValueError(f"batch size {batch_size} exceeds the {num_samples} training samples")
    epoch, i = divmod(step, per_epoch)
    perm = _permutation(data_key, epoch, num_samples)
    return perm[i * batch_size : (i + 1) * batch_size]


_PERM_CACHE: dict = {}


def _permutation(data_key: Array, epoch: int, n: int) -> np.ndarray:
    tag = (tuple(np.asarray(jax.random.key_data(data_key)).ravel().tolist()), epoch, n)
    if tag not in _PERM_CACHE:
        _PERM_CACHE.clear()  # one epoch at a time
        _PERM_CACHE[tag] = np.asarray(jax.random.permutation(jax.random.fold_in(data_key, epoch), n))
    return _PERM_CACHE[tag]


def _unit(x: Array) -> Array:
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-9)


def augment(
    key: Array,
    points_camera: Array,
    up: Array,
    *,
    root_index: int = 0,
    flip_permutation: np.ndarray | None = None,
    turn_deg: float = 0.0,
    elevation_deg: float = 0.0,
    roll_deg: float = 0.0,
    distance_range: tuple[float, float] = (1.0, 1.0),
    flip_prob: float = 0.0,
    noise_std: float = 0.0,
    drop_prob: float = 0.0,
    limb_drop_prob: float = 0.0,
    swap_prob: float = 0.0,
    extremity_noise: float = 0.0,
) -> tuple[Array, Array, Array]:
    """Augment a batch and make the model's 2D input (see the module doc for each augmentation).

    Args:
        key: Random key.
        points_camera: (b, j, 3) joints in the camera frame, mm (all in front of the camera).
        up: (b, 3) world up in the camera frame.
        root_index: Root joint.
        flip_permutation: (j,) left/right swap (default: H36M-17's).
        turn_deg: Body rotation about the vertical, uniform in +-turn_deg.
        elevation_deg: Camera elevation change, uniform in +-elevation_deg.
        roll_deg: Camera roll, uniform in +-roll_deg.
        distance_range: (lo, hi) factor on the root's distance, log-uniform.
        flip_prob: Probability of a mirror flip.
        noise_std: 2D noise std as a fraction of the pose's RMS radius in the image.
        drop_prob: Probability that a joint is missing.
        limb_drop_prob: Probability that one limb loses its distal joints (H36M-17 layouts only).
        swap_prob: Probability that one left/right pair's 2D is swapped (H36M-17 layouts only).
        extremity_noise: Extra noise factor of wrists, ankles and head (H36M-17 layouts only).

    Returns:
        ``(rays (b, j, 2), visible (b, j) bool, target (b, j, 3) root-relative mm)``.
    """
    b, j = points_camera.shape[:2]
    perm = H36M_17.flip_permutation() if flip_permutation is None else np.asarray(flip_permutation)
    ks = jax.random.split(key, 8)
    pts = jnp.asarray(points_camera, jnp.float32)
    up = _unit(jnp.asarray(up, jnp.float32))
    # mirror: x -> -x for points and up, left <-> right
    flip = jax.random.uniform(ks[0], (b,)) < flip_prob
    mirrored = pts[:, perm] * jnp.array([-1.0, 1.0, 1.0])
    pts = jnp.where(flip[:, None, None], mirrored, pts)
    up = jnp.where(flip[:, None], up * jnp.array([-1.0, 1.0, 1.0]), up)
    root = pts[:, root_index]
    rel = pts - root[:, None]
    ray = _unit(root)
    horizontal = _unit(jnp.cross(up, ray))

    def angle(k, deg):
        return jnp.deg2rad(deg) * jax.random.uniform(k, (b, 1), minval=-1.0, maxval=1.0)

    R = (
        rodrigues_to_matrix(ray * angle(ks[3], roll_deg))
        @ rodrigues_to_matrix(horizontal * angle(ks[2], elevation_deg))
        @ rodrigues_to_matrix(up * angle(ks[1], turn_deg))
    )
    rel = jnp.einsum("bik,bjk->bji", R, rel)
    lo, hi = distance_range
    scale = jnp.exp(jax.random.uniform(ks[4], (b, 1), minval=np.log(lo), maxval=np.log(hi)))
    pts = root[:, None] * scale[..., None] + rel
    z = jnp.maximum(pts[..., 2:], 1.0)  # the ranges used keep people metres in front; guard anyway
    rays = pts[..., :2] / z
    centred = rays - jnp.mean(rays, 1, keepdims=True)
    radius = jnp.sqrt(jnp.mean(jnp.sum(centred**2, -1), -1))
    noise_scale = noise_std * radius[:, None, None]
    if extremity_noise:
        noise_scale = noise_scale * jnp.asarray(1.0 + extremity_noise * _EXTREMITIES[:, None], jnp.float32)
    rays = rays + noise_scale * jax.random.normal(ks[5], rays.shape)
    visible = jax.random.uniform(ks[6], (b, j)) >= drop_prob
    if limb_drop_prob:  # extra keys from fold_in: the streams above stay those of runs without these options
        visible = visible & ~_occluded_limbs(jax.random.fold_in(key, 101), b, limb_drop_prob)
    if swap_prob:
        perm = _swap_permutations(jax.random.fold_in(key, 102), b, swap_prob)
        rays = jnp.take_along_axis(rays, perm[..., None], 1)
        visible = jnp.take_along_axis(visible, perm, 1)
    return rays, visible, rel


_J = H36M_17.index
_EXTREMITIES = np.isin(np.arange(17), [_J(n) for n in ("left_wrist", "right_wrist", "left_ankle", "right_ankle",
                                                        "head")]).astype(np.float32)  # fmt: skip
_LIMBS = np.array([[_J(f"{s}_{a}") for a in parts] for s in ("left", "right")
                   for parts in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))])  # fmt: skip
_PAIRS = (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"), ("wrist",), ("ankle",))
_SWAPS = np.tile(np.arange(17), (len(_PAIRS), 1))
for _k, _names in enumerate(_PAIRS):
    for _n in _names:
        _SWAPS[_k, _J(f"left_{_n}")], _SWAPS[_k, _J(f"right_{_n}")] = _J(f"right_{_n}"), _J(f"left_{_n}")


def _occluded_limbs(key: Array, b: int, prob: float) -> Array:
    """(b, 17) bool: the joints hidden in each sample (a limb from its hip/shoulder, knee/elbow or end on)."""
    k1, k2, k3 = jax.random.split(key, 3)
    on = jax.random.uniform(k1, (b,)) < prob
    limb = jax.random.randint(k2, (b,), 0, len(_LIMBS))
    start = jax.random.randint(k3, (b,), 0, 3)
    joints = jnp.asarray(_LIMBS)[limb]  # (b, 3)
    hidden = (jnp.arange(3)[None] >= start[:, None]) & on[:, None]  # (b, 3)
    return jnp.zeros((b, 17), bool).at[jnp.arange(b)[:, None], joints].set(hidden)


def _swap_permutations(key: Array, b: int, prob: float) -> Array:
    """(b, 17) int: the identity, or with probability `prob` one left/right pair swapped."""
    k1, k2 = jax.random.split(key)
    on = jax.random.uniform(k1, (b,)) < prob
    which = jax.random.randint(k2, (b,), 0, len(_SWAPS))
    return jnp.where(on[:, None], jnp.asarray(_SWAPS)[which], jnp.arange(17)[None])
