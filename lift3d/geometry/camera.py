"""The `Camera` pytree and the functions that move points between world, camera and image.

Conventions (stated once for the whole project): OpenCV camera frame (+x right, +y down, +z forward),
`x_cam = R @ X_world + t`, pixel centres at integer coordinates, distortion (k1, k2, p1, p2, k3).
A batch of cameras is one `Camera` whose arrays carry leading axes, e.g. `K` of shape (v, 3, 3) for a rig
of v views; every function broadcasts those leading axes against the points' leading axes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from lift3d.geometry import distortion
from lift3d.geometry.lazy_jax import after_import, jit, jnp

if TYPE_CHECKING:
    from jax import Array
    from jax.typing import ArrayLike

__all__ = [
    "Camera",
    "stack_cameras",
    "world_to_camera",
    "camera_to_world",
    "camera_center",
    "projection_matrix",
    "camera_from_projection",
    "project_points",
    "undistort_points",
    "pixel_to_normalized",
    "normalized_to_pixel",
    "crop_camera",
    "resize_camera",
]

CameraModel = Literal["pinhole", "fisheye"]


@dataclasses.dataclass(frozen=True)
class Camera:
    """An immutable camera (or batch of cameras sharing leading axes `*b`).

    Attributes:
        K: Intrinsic matrices, shape (*b, 3, 3), pixels.
        dist: Distortion coefficients, shape (*b, 5): (k1, k2, p1, p2, k3) for the pinhole model,
            (k1, k2, k3, k4, 0) for the fisheye model.
        R: World-to-camera rotations, shape (*b, 3, 3).
        t: World-to-camera translations, shape (*b, 3), world units (the rig's metadata says which).
        image_size: Image (width, height), shape (*b, 2), pixels.
        model: "pinhole" or "fisheye"; static (not traced) and shared by the whole batch.
    """

    K: ArrayLike
    dist: ArrayLike
    R: ArrayLike
    t: ArrayLike
    image_size: ArrayLike
    model: CameraModel = "pinhole"

    @classmethod
    def create(
        cls,
        K: ArrayLike,
        *,
        R: ArrayLike | None = None,
        t: ArrayLike | None = None,
        dist: ArrayLike | None = None,
        image_size: ArrayLike | None = None,
        model: CameraModel = "pinhole",
    ) -> Camera:
        """Build a camera with defaults (identity pose, no distortion) as float64 numpy arrays.

        Args:
            K: Intrinsics, shape (*b, 3, 3).
            R: World-to-camera rotation, shape (*b, 3, 3); identity if omitted.
            t: World-to-camera translation, shape (*b, 3); zero if omitted.
            dist: 0, 4 or 5 coefficients, shape (*b, k); zero-padded to 5.
            image_size: (width, height), shape (*b, 2); `2 * principal point` if omitted.
            model: "pinhole" or "fisheye".

        Returns:
            The camera.
        """
        if model not in ("pinhole", "fisheye"):
            raise ValueError(f"camera model must be 'pinhole' or 'fisheye', got {model!r}")
        K = np.asarray(K, dtype=np.float64)
        batch = K.shape[:-2]
        R = np.broadcast_to(np.eye(3) if R is None else np.asarray(R, np.float64), (*batch, 3, 3))
        t = np.broadcast_to(np.zeros(3) if t is None else np.asarray(t, np.float64), (*batch, 3))
        dist = np.zeros((*batch, 0)) if dist is None else np.asarray(dist, np.float64)
        if dist.shape[-1] > 5:
            raise ValueError(f"at most 5 distortion coefficients are supported, got {dist.shape[-1]}")
        dist = np.concatenate([dist, np.zeros((*dist.shape[:-1], 5 - dist.shape[-1]))], -1)
        dist = np.broadcast_to(dist, (*batch, 5))
        if image_size is None:
            image_size = 2.0 * K[..., :2, 2]
        image_size = np.broadcast_to(np.asarray(image_size, np.float64), (*batch, 2))
        return cls(K=K, dist=dist, R=np.array(R), t=np.array(t), image_size=np.array(image_size), model=model)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """Leading axes `*b` shared by all fields."""
        return tuple(np.shape(self.K)[:-2])

    def __len__(self) -> int:
        if not self.batch_shape:
            raise TypeError("len() of an unbatched Camera")
        return self.batch_shape[0]

    def __getitem__(self, index) -> Camera:
        """Index the leading axes, e.g. `rig_cameras[2]` or `cameras[:, 0]`."""
        return self.map(lambda a: a[index])

    def map(self, fn) -> Camera:
        """A camera whose arrays are `fn(array)` (`jax.tree_util.tree_map` without needing JAX), e.g.
        `cameras.map(lambda a: xp.asarray(a, dtype))`."""
        return dataclasses.replace(self, **{name: fn(getattr(self, name)) for name in _DATA_FIELDS})

    def replace(self, **changes) -> Camera:
        """A copy with some fields replaced (`dataclasses.replace`)."""
        return dataclasses.replace(self, **changes)

    @property
    def center(self) -> Array:
        """Camera centres in world coordinates, shape (*b, 3)."""
        return camera_center(self)


_DATA_FIELDS = ("K", "dist", "R", "t", "image_size")
# a pytree once JAX is imported (by anyone): numpy-only work never imports it
after_import("jax", lambda jax: jax.tree_util.register_dataclass(Camera, data_fields=list(_DATA_FIELDS),
                                                                 meta_fields=["model"]))


def stack_cameras(cameras: Sequence[Camera], axis: int = 0) -> Camera:
    """Stack cameras of one model into a batch with a new leading axis.

    Args:
        cameras: Cameras with equal batch shapes and the same `model`.
        axis: Where the new axis goes.

    Returns:
        A batched camera, e.g. shape (v,) for a rig.
    """
    models = {c.model for c in cameras}
    if len(models) != 1:
        raise ValueError(f"cannot stack cameras of different models: {sorted(models)}")
    fields = {name: [getattr(c, name) for c in cameras] for name in _DATA_FIELDS}
    is_np = all(isinstance(a, np.ndarray) for arrays in fields.values() for a in arrays)
    stack = np.stack if is_np else jnp.stack
    return dataclasses.replace(cameras[0], **{name: stack(arrays, axis=axis) for name, arrays in fields.items()})


def world_to_camera(camera: Camera, points: ArrayLike) -> Array:
    """Transform world points into each camera's frame: `R @ X + t`.

    Args:
        camera: Cameras, batch shape (*b).
        points: World points, shape (*b, n, 3) (broadcast against *b).

    Returns:
        Camera-frame points, shape (*b, n, 3).
    """
    R, t = jnp.asarray(camera.R), jnp.asarray(camera.t)
    return jnp.einsum("...ij,...nj->...ni", R, jnp.asarray(points)) + t[..., None, :]


def camera_to_world(camera: Camera, points: ArrayLike) -> Array:
    """Transform camera-frame points back to the world: `R^T @ (x - t)`.

    Args:
        camera: Cameras, batch shape (*b).
        points: Camera-frame points, shape (*b, n, 3).

    Returns:
        World points, shape (*b, n, 3).
    """
    R, t = jnp.asarray(camera.R), jnp.asarray(camera.t)
    return jnp.einsum("...ji,...nj->...ni", R, jnp.asarray(points) - t[..., None, :])


def camera_center(camera: Camera) -> Array:
    """Camera centres `C = -R^T t` in world coordinates.

    Args:
        camera: Cameras, batch shape (*b).

    Returns:
        Centres, shape (*b, 3), world units.
    """
    R, t = jnp.asarray(camera.R), jnp.asarray(camera.t)
    return -jnp.einsum("...ji,...j->...i", R, t)


def projection_matrix(camera: Camera) -> Array:
    """Pinhole projection matrices `P = K [R | t]` (distortion not included).

    Args:
        camera: Cameras, batch shape (*b).

    Returns:
        Projection matrices, shape (*b, 3, 4).
    """
    K, R, t = jnp.asarray(camera.K), jnp.asarray(camera.R), jnp.asarray(camera.t)
    return K @ jnp.concatenate([R, t[..., None]], -1)


def camera_from_projection(P: ArrayLike, image_size: ArrayLike | None = None) -> Camera:
    """Pinhole cameras (no distortion) whose `projection_matrix` is `P` up to scale (the inverse of it).

    Splits `P[:, :3] = K R` by a batched RQ decomposition: `K K^T = M M^T`, so `K` is the flipped Cholesky
    factor of the flipped `M M^T`; then `R = K^-1 M`, `t = K^-1 P[:, 3]`. The sign of `P` is chosen so that
    `det(R) = +1`.

    Args:
        P: Projection matrices, shape (*b, 3, 4), with a full-rank left 3 x 3 block.
        image_size: (width, height), shape (*b, 2), px; None: twice the principal point.

    Returns:
        `Camera` (float64 numpy) with batch shape (*b), `K[..., 2, 2] = 1`, zero distortion.
    """
    P = np.asarray(P, np.float64)
    P = P * np.sign(np.linalg.det(P[..., :3]))[..., None, None]
    M, flip = P[..., :3], np.eye(3)[::-1]
    L = np.linalg.cholesky(flip @ M @ np.swapaxes(M, -1, -2) @ flip)
    K = flip @ L @ flip
    K = K / K[..., 2:3, 2:3]
    Rt = np.linalg.solve(K, P)
    scale = np.cbrt(np.linalg.det(Rt[..., :3]))[..., None, None]  # 1 up to rounding; P was known up to scale
    Rt = Rt / scale
    return Camera.create(K=K, R=Rt[..., :3], t=Rt[..., 3], image_size=image_size)


def normalized_to_pixel(camera: Camera, xy: ArrayLike) -> Array:
    """Apply the intrinsic matrix (with skew) to normalised coordinates.

    Args:
        camera: Cameras, batch shape (*b).
        xy: Normalised coordinates, shape (*b, n, 2).

    Returns:
        Pixel coordinates, shape (*b, n, 2).
    """
    K = jnp.asarray(camera.K)[..., None, :, :]
    xy = jnp.asarray(xy)
    u = K[..., 0, 0] * xy[..., 0] + K[..., 0, 1] * xy[..., 1] + K[..., 0, 2]
    v = K[..., 1, 1] * xy[..., 1] + K[..., 1, 2]
    return jnp.stack([u, v], -1)


def pixel_to_normalized(camera: Camera, uv: ArrayLike) -> Array:
    """Invert the intrinsic matrix (no distortion handling; see `undistort_points`).

    Args:
        camera: Cameras, batch shape (*b).
        uv: Pixel coordinates, shape (*b, n, 2).

    Returns:
        Normalised coordinates, shape (*b, n, 2).
    """
    K = jnp.asarray(camera.K)[..., None, :, :]
    uv = jnp.asarray(uv)
    y = (uv[..., 1] - K[..., 1, 2]) / K[..., 1, 1]
    x = (uv[..., 0] - K[..., 0, 2] - K[..., 0, 1] * y) / K[..., 0, 0]
    return jnp.stack([x, y], -1)


@functools.partial(jit, static_argnames=("apply_distortion",))
def project_points(camera: Camera, points: ArrayLike, *, apply_distortion: bool = True) -> Array:
    """Project world points to pixels, with the camera's lens distortion (equals `cv2.projectPoints`).

    Points behind a camera are projected by the same formula (as OpenCV does); check
    `world_to_camera(...)[..., 2] > 0` where that matters.

    Args:
        camera: Cameras, batch shape (*b).
        points: World points, shape (*b, n, 3) (broadcast against *b).
        apply_distortion: If False, project with the pinhole model only.

    Returns:
        Pixel coordinates, shape (*b, n, 2).
    """
    xc = world_to_camera(camera, points)
    xy = xc[..., :2] / xc[..., 2:3]
    if apply_distortion:
        dist = jnp.asarray(camera.dist)
        xy = (
            distortion.distort_fisheye(xy, dist)
            if camera.model == "fisheye"
            else distortion.distort(xy, dist)
        )
    return normalized_to_pixel(camera, xy)


@functools.partial(jit, static_argnames=("normalized", "num_iters"))
def undistort_points(
    camera: Camera, uv: ArrayLike, *, normalized: bool = False, num_iters: int = 12
) -> Array:
    """Remove lens distortion from pixel coordinates (as `cv2.undistortPoints` with `P = K`).

    Args:
        camera: Cameras, batch shape (*b).
        uv: Distorted pixel coordinates, shape (*b, n, 2).
        normalized: Return normalised coordinates `(X/Z, Y/Z)` instead of ideal-pinhole pixels.
        num_iters: Newton steps of the inverse.

    Returns:
        Undistorted coordinates, shape (*b, n, 2): pixels of the same K, or normalised.
    """
    xy = pixel_to_normalized(camera, uv)
    dist = jnp.asarray(camera.dist)
    if camera.model == "fisheye":
        xy = distortion.undistort_fisheye(xy, dist, num_iters=num_iters)
    else:
        xy = distortion.undistort(xy, dist, num_iters=num_iters)
    return xy if normalized else normalized_to_pixel(camera, xy)


def crop_camera(camera: Camera, box_xyxy: ArrayLike) -> Camera:
    """The camera of an image cropped to a box: the principal point shifts, the size shrinks.

    Args:
        camera: Cameras, batch shape (*b).
        box_xyxy: Crop boxes (left, top, right, bottom) in pixels, shape (*b, 4); the crop's pixel
            (0, 0) is the original pixel (left, top), and its size is (right - left, bottom - top).

    Returns:
        The cropped cameras (same pose and distortion).
    """
    box = jnp.asarray(box_xyxy)
    K = jnp.asarray(camera.K)
    shift = jnp.zeros_like(K).at[..., 0, 2].set(box[..., 0]).at[..., 1, 2].set(box[..., 1])
    return camera.replace(K=K - shift, image_size=box[..., 2:] - box[..., :2])


def resize_camera(camera: Camera, new_size: ArrayLike) -> Camera:
    """The camera of a resized image (pixel centres at integers: `u' = (u + 0.5) s - 0.5`).

    Args:
        camera: Cameras, batch shape (*b).
        new_size: New (width, height), shape (*b, 2) or (2,).

    Returns:
        The resized cameras (same pose and distortion).
    """
    new_size = jnp.asarray(new_size, dtype=jnp.result_type(camera.K))
    scale = new_size / jnp.asarray(camera.image_size)
    K = jnp.asarray(camera.K)
    sx, sy = scale[..., 0], scale[..., 1]
    row0 = K[..., 0, :] * sx[..., None]
    row1 = K[..., 1, :] * sy[..., None]
    row0 = row0.at[..., 2].set((K[..., 0, 2] + 0.5) * sx - 0.5)
    row1 = row1.at[..., 2].set((K[..., 1, 2] + 0.5) * sy - 0.5)
    K = jnp.stack([row0, row1, K[..., 2, :]], -2)
    return camera.replace(K=K, image_size=jnp.broadcast_to(new_size, jnp.shape(camera.image_size)))
