"""Synthetic multi-view person images: capsule bodies ray-cast into real cameras, with backgrounds and occluders.

`render_views(key, cameras, joints_mm, boxes_xyxy, size=S)` renders H36M-17 bodies into square crops of S x S
pixels: only the crop is rendered (its camera is `resize_camera(crop_camera(camera, box), (S, S))`), never the
full frame. Pixels cast rays (through the lens distortion when ``distort=True``) against the body's capsules
with an exact ray-capsule intersection, and a z-buffer keeps the nearest surface:

* **Body**: one capsule per H36M-17 bone (`LIMBS`, same order as ``H36M_17.edges``), radius in mm
  (`LIMB_RADII_MM`), a distinct colour per limb (`LIMB_COLOURS`, RGB), Lambert shading
  ``ambient + (1 - ambient) max(0, n . l)`` with a light direction drawn per view. The neck_nose -> head bone is
  a fat short capsule centred between the two joints (the head, an elongated sphere).
* **Background**: a two-colour linear gradient, low-frequency colour noise and random discs / boxes, pulled
  towards grey.
* **Occluders**: up to ``config.occluders`` striped discs or boxes per view, in front of everything (an object
  near the camera).
* **Camera effects**: a per-view gain on the limb colours, pixel noise, a Gaussian blur of random width.

Occlusion flags (per view, per joint): a joint is occluded when the ray from the camera centre through the joint
first meets a capsule the joint does not belong to (another limb), or when its projection lies under an
occluder. A joint is always inside its own capsules, so "first surface on its ray is one of its own limbs" means
visible.

Cost (about 3 ms per 128 px view, 5 ms at 160, 24 ms at 384 on one CPU core): each capsule is ray-cast only
inside a square window holding its image (one window side per call, from the projected bounding cubes of its
end spheres; the whole crop when S <= 64; `needed_window` / ``min_window`` share one side over many calls), then
z-buffered capsule after capsule; the lens distortion is solved on a 17 x 17 grid and interpolated; background
shapes and occluders are painted inside their own windows; pixel noise is a window of a fixed noise texture at
a random offset. All of it is one jitted program vmapped over views, written with separate x / y / z and colour
planes (XLA on CPU is several times slower on arrays with a minor axis of 3). Random numbers: one (k,) uniform
vector per view from numpy's PCG64 seeded with the view's key bits (threefry inside the program would add most
of a second to every compile); the blur runs in OpenCV on the host. The same keys render the same images.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

from lift3d.core.skeleton import H36M_17
from lift3d.datasets.multiview import key_bits
from lift3d.geometry import distortion
from lift3d.geometry.camera import Camera, crop_camera, project_points, resize_camera

__all__ = [
    "LIMBS", "LIMB_RADII_MM", "LIMB_COLOURS", "BACKGROUND", "OCCLUDER", "RenderConfig", "RenderedViews",
    "render_views", "needed_window",
]  # fmt: skip

LIMBS: tuple[tuple[int, int], ...] = tuple(H36M_17.edges)
"""The body primitives: one capsule per H36M-17 bone (joint a, joint b), in ``H36M_17.edges`` order."""

_RADII = {
    ("pelvis", "right_hip"): 75.0, ("right_hip", "right_knee"): 62.0, ("right_knee", "right_ankle"): 46.0,
    ("pelvis", "left_hip"): 75.0, ("left_hip", "left_knee"): 62.0, ("left_knee", "left_ankle"): 46.0,
    ("pelvis", "spine"): 105.0, ("spine", "thorax"): 110.0, ("thorax", "neck_nose"): 48.0,
    ("neck_nose", "head"): 82.0,
    ("thorax", "left_shoulder"): 55.0, ("left_shoulder", "left_elbow"): 44.0, ("left_elbow", "left_wrist"): 35.0,
    ("thorax", "right_shoulder"): 55.0, ("right_shoulder", "right_elbow"): 44.0,
    ("right_elbow", "right_wrist"): 35.0,
}  # fmt: skip
LIMB_RADII_MM = np.array([_RADII[H36M_17.joints[a], H36M_17.joints[b]] for a, b in LIMBS], np.float32)
"""Capsule radius of each limb, mm (scaled by `RenderConfig.radius_scale`)."""
_HEAD = LIMBS.index((H36M_17.index("neck_nose"), H36M_17.index("head")))
LIMB_COLOURS = np.array(
    [colorsys.hsv_to_rgb((k * 0.618034) % 1.0, 0.8 if k % 2 else 0.6, 0.95) for k in range(len(LIMBS))],
    np.float32,
) * 255.0  # fmt: skip
"""A distinct RGB colour per limb (0-255), hues spread by the golden ratio."""
_INCIDENT = np.zeros((17, len(LIMBS)), bool)  # joint j belongs to limb k
for _k, (_a, _b) in enumerate(LIMBS):
    _INCIDENT[_a, _k] = _INCIDENT[_b, _k] = True
BACKGROUND, OCCLUDER = -1, -2
"""Values of `RenderedViews.labels` for background and occluder pixels (others: the limb index)."""


@dataclasses.dataclass(frozen=True)
class RenderConfig:
    """What a rendered view looks like (hashable: a static argument of the jitted renderer).

    Attributes:
        radius_scale: Factor on `LIMB_RADII_MM`.
        ambient: Ambient share of the Lambert shading, in [0, 1].
        colour_gain: Per-view gain on the limb colours drawn from 1 +- this.
        background_shapes: Random discs / boxes painted on the background.
        background_noise: Amplitude (0-255 levels) of the low-frequency colour noise of the background.
        occluders: Occluder slots per view (each used with probability `occluder_prob`).
        occluder_prob: Probability that an occluder slot is used.
        occluder_size: (min, max) occluder diameter / side as a fraction of the crop side.
        blur_sigma: (min, max) Gaussian blur sigma in output pixels (5 x 5 kernel; below 0.05 none).
        pixel_noise: Standard deviation of the per-pixel grey noise (uniform, added before the blur), 0-255 levels.
        background_saturation: The background's colours are pulled towards grey by this factor (1: vivid).
    """

    radius_scale: float = 1.0
    ambient: float = 0.35
    colour_gain: float = 0.1
    background_shapes: int = 6
    background_noise: float = 30.0
    occluders: int = 2
    occluder_prob: float = 0.3
    occluder_size: tuple[float, float] = (0.12, 0.35)
    blur_sigma: tuple[float, float] = (0.3, 0.9)
    pixel_noise: float = 2.0
    background_saturation: float = 0.6


class RenderedViews(NamedTuple):
    """Rendered crops of n views.

    Attributes:
        images: (n, S, S, 3) uint8 RGB.
        labels: (n, S, S) int8: the limb index (`LIMBS`) seen at each pixel, `BACKGROUND` or `OCCLUDER`.
        occluded: (n, 17) bool: joint hidden behind another limb or an occluder.
        joints_2d: (n, 17, 2) float32 px in the crop (with distortion when rendered with it).
        cameras: The crop cameras, batch (n,), image size (S, S).
    """

    images: np.ndarray
    labels: np.ndarray
    occluded: np.ndarray
    joints_2d: np.ndarray
    cameras: Camera


def _capsule_hits(d: Array, a: Array, b: Array, r: Array) -> Array:
    """Distances along rays from the origin to capsules (exact ray casting; arguments broadcast).

    Args:
        d: Unit ray directions as three component arrays (dx, dy, dz), each (...).
        a, b: Capsule end points, (..., 3).
        r: Radii, (...).

    Returns:
        (...) distance to the first surface hit, +inf where missed (or behind the origin).
    """
    dx, dy, dz = d
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bax, bay, baz = b[..., 0] - ax, b[..., 1] - ay, b[..., 2] - az
    baba = bax * bax + bay * bay + baz * baz
    baoa = -(bax * ax + bay * ay + baz * az)
    # |ba x oa|^2 = baba oaoa - baoa^2, without the cancellation (oa = -a)
    cx, cy, cz = baz * ay - bay * az, bax * az - baz * ax, bay * ax - bax * ay
    rr = r * r
    bard = bax * dx + bay * dy + baz * dz
    rdoa = -(ax * dx + ay * dy + az * dz)
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = cx * cx + cy * cy + cz * cz - rr * baba
    h = qb * qb - qa * qc
    ok = qa > 1e-6 * baba
    t_cyl = (-qb - jnp.sqrt(jnp.maximum(h, 0.0))) / jnp.where(ok, qa, 1.0)
    y = baoa + t_cyl * bard
    t = jnp.where(ok & (h >= 0) & (y > 0) & (y < baba) & (t_cyl > 0), t_cyl, jnp.inf)
    for c in (a, b):  # the end spheres
        bs = -(c[..., 0] * dx + c[..., 1] * dy + c[..., 2] * dz)  # d . (o - c)
        hs = bs * bs - (jnp.sum(c * c, -1) - rr)
        ts = -bs - jnp.sqrt(jnp.maximum(hs, 0.0))
        t = jnp.minimum(t, jnp.where((hs >= 0) & (ts > 0), ts, jnp.inf))
    return t


def _primitives(joints_cam: Array, radius_scale: float) -> tuple[Array, Array, Array]:
    """Capsule end points (c, 3) and radii (c,) of a body in the camera frame."""
    idx_a, idx_b = np.array([a for a, _ in LIMBS]), np.array([b for _, b in LIMBS])
    a, b = joints_cam[idx_a], joints_cam[idx_b]
    # the head: a short capsule centred between neck_nose and head, along that bone
    mid, half = (a[_HEAD] + b[_HEAD]) / 2, (b[_HEAD] - a[_HEAD]) * 0.15
    a, b = a.at[_HEAD].set(mid - half), b.at[_HEAD].set(mid + half)
    return a, b, jnp.asarray(LIMB_RADII_MM) * radius_scale


class _Draws:
    """Hands out a view's uniform variates (a (k,) array) in order, scaled to [lo, hi)."""

    def __init__(self, u: Array):
        self.u, self.i = u, 0

    def __call__(self, shape=(), lo=0.0, hi=1.0) -> Array:
        size = int(np.prod(shape))
        if self.i + size > self.u.shape[0]:
            raise RuntimeError("multiview_render ran out of random draws")
        out = self.u[self.i : self.i + size].reshape(shape)
        self.i += size
        return lo + (hi - lo) * out


def _uniforms(keys: Array, k: int) -> np.ndarray:
    """(n, k) uniform variates in [0, 1), row i from keys[i] only (numpy's PCG64 seeded with the key's bits:
    threefry inside the renderer would add most of a second to every compile)."""
    bits = key_bits(keys).reshape(len(keys), -1)
    return np.stack([np.random.default_rng(list(map(int, b))).random(k, np.float32) for b in bits])


def _num_draws(config: RenderConfig) -> int:
    return 3 + 3 + 7 + 75 + 8 * config.background_shapes + 11 * config.occluders + 3


def _paint_shape(planes: Array, centre: Array, half: Array, disc: Array, on: Array, win: int, size: int, fill):
    """Paint a disc or box (centre, half sizes (2,) px; nothing if not `on`) over planes (k, s, s), touching only
    the win x win window holding it (win > 2 max(half) + 1).

    Args:
        fill: ``fill(u, v) -> (k, len(v), len(u))`` values at window columns u and rows v (pixel coordinates).

    Returns:
        The planes, and the shape's mask in its window.
    """
    o = jnp.clip(jnp.floor(centre - half).astype(jnp.int32), 0, size - win)
    u = o[0] + jnp.arange(win, dtype=jnp.float32)
    v = o[1] + jnp.arange(win, dtype=jnp.float32)
    du, dv = (u - centre[0]) / half[0], (v - centre[1]) / half[1]
    in_disc = du[None, :] ** 2 + dv[:, None] ** 2 <= 1.0
    in_box = (jnp.abs(du) <= 1.0)[None, :] & (jnp.abs(dv) <= 1.0)[:, None]
    mask = jnp.where(disc, in_disc, in_box) & on
    cur = jax.lax.dynamic_slice(planes, (0, o[1], o[0]), (planes.shape[0], win, win))
    return jax.lax.dynamic_update_slice(planes, jnp.where(mask, fill(u, v), cur), (0, o[1], o[0])), mask


_NOISE_PAD = 64


@functools.cache
def _noise_texture(size: int) -> np.ndarray:
    """A fixed uniform noise texture in [-0.5, 0.5), (size + 64, size + 64); views take windows of it."""
    return np.random.default_rng(0).random((size + _NOISE_PAD, size + _NOISE_PAD), np.float32) - 0.5


def _to_pixels(K: Array, dist: Array, xc: Array) -> Array:
    """Pixels (n, 2) of camera-frame points xc (n, 3) of one camera, through its distortion."""
    xy = distortion.distort(xc[:, :2] / xc[:, 2:3], dist)
    return jnp.stack([K[0, 0] * xy[:, 0] + K[0, 1] * xy[:, 1] + K[0, 2], K[1, 1] * xy[:, 1] + K[1, 2]], -1)


_GRID = 17  # undistortion is solved on a _GRID x _GRID grid over the crop and interpolated


def _hat(t: Array, n: int) -> Array:
    """Linear-interpolation weights (..., n) of positions t (...) on the grid 0 .. n - 1."""
    return jnp.maximum(0.0, 1.0 - jnp.abs(t[..., None] - jnp.arange(n, dtype=t.dtype)))


@functools.partial(jax.jit, static_argnames=("radius_scale",))
def _limb_boxes(K, dist, R, t, joints, *, radius_scale: float):
    """Pixel boxes (n, c, 4) (x0, y0, x1, y1) holding each capsule's image: the projected corners of cubes
    around its end spheres (a capsule lies inside the convex hull of the two cubes)."""

    def one(K, dist, R, t, joints):
        a, b, r = _primitives(joints @ R.T + t, radius_scale)
        corners = jnp.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], jnp.float32)
        pts = jnp.stack([a, b], 1)[:, :, None] + r[:, None, None, None] * corners  # (c, 2, 8, 3)
        uv = _to_pixels(K, dist, pts.reshape(-1, 3)).reshape(len(LIMBS), 16, 2)
        return jnp.concatenate([uv.min(1), uv.max(1)], -1)

    return jax.vmap(one)(K, dist, R, t, joints)


def _render_one(u, K, dist, R, t, joints, active, origins, *, size, window, config: RenderConfig):
    """One view (see `render_views`): planar float image (3, s, s) before blur, labels (s, s), occluded (17,),
    blur sigma. Written with separate x / y / z and colour planes: XLA on CPU fuses those into tight loops,
    while arrays with a minor axis of 3 are several times slower."""
    rnd = _Draws(u)
    n_limbs = len(LIMBS)
    coords = jnp.arange(size, dtype=jnp.float32)  # pixel centres at integers
    joints_cam = joints @ R.T + t
    a, b, radii = _primitives(joints_cam, config.radius_scale)
    light = jnp.array([0.0, -0.7, -0.7]) + rnd((3,), -0.5, 0.5)
    light = light / jnp.linalg.norm(light)
    # ---- rays of each capsule's window: normalised coordinates x, y of shape (c, w, w)
    win = jnp.arange(window, dtype=jnp.float32)
    rows, cols = origins[:, 1:] + win[None], origins[:, :1] + win[None]  # (c, w) pixel rows / columns
    y = (rows - K[1, 2]) / K[1, 1]
    x = (cols - K[0, 2]) / K[0, 0]
    x, y = jnp.broadcast_arrays(x[:, None, :] - (K[0, 1] / K[0, 0]) * y[:, :, None], y[:, :, None])
    # lens distortion: the undistortion's offset is smooth; solve it on a coarse grid and interpolate it
    # (below 0.01 px in 128 px crops of H36M's lenses; exactly zero without distortion)
    g = jnp.linspace(0.0, size - 1.0, _GRID)
    gy = (g - K[1, 2]) / K[1, 1]
    gx = (g[None, :] - K[0, 2]) / K[0, 0] - (K[0, 1] / K[0, 0]) * gy[:, None]
    g_xy = jnp.stack(jnp.broadcast_arrays(gx, gy[:, None]), -1).reshape(-1, 2)
    offset = (distortion.undistort(g_xy, dist, num_iters=8) - g_xy).reshape(_GRID, _GRID, 2)
    w_rows, w_cols = _hat(rows * ((_GRID - 1) / (size - 1)), _GRID), _hat(cols * ((_GRID - 1) / (size - 1)), _GRID)
    x = x + jnp.einsum("cyg,gh,cxh->cyx", w_rows, offset[..., 0], w_cols)
    y = y + jnp.einsum("cyg,gh,cxh->cyx", w_rows, offset[..., 1], w_cols)
    inv = jax.lax.rsqrt(x * x + y * y + 1.0)
    d = (x * inv, y * inv, inv)
    # ---- exact ray casting of each capsule in its window, with Lambert shading of its hits
    ac, bc, rc = a[:, None, None], b[:, None, None], radii[:, None, None]
    t_win = jnp.where(active[:, None, None], _capsule_hits(d, ac, bc, rc), jnp.inf)  # (c, w, w)
    tt = jnp.where(jnp.isfinite(t_win), t_win, 0.0)
    pa = [tt * d[i] - ac[..., i] for i in range(3)]  # hit point - a
    ba = [bc[..., i] - ac[..., i] for i in range(3)]
    s = sum(pa[i] * ba[i] for i in range(3)) / jnp.maximum(sum(v * v for v in ba), 1e-9)
    s = jnp.clip(s, 0.0, 1.0)
    n_dot_l = sum((pa[i] - s * ba[i]) * light[i] for i in range(3)) / rc  # normal = (p - axis point) / r
    shade_win = config.ambient + (1.0 - config.ambient) * jnp.clip(n_dot_l, 0.0, 1.0)

    def zbuffer(carry, x):  # capsule after capsule, only inside its window
        depth, id_shade = carry  # id_shade = limb index + 0.999 shade: one buffer less to carry
        tw, sw, o, k = x
        cur = jax.lax.dynamic_slice(depth, (o[1], o[0]), (window, window))
        closer = tw < cur
        depth = jax.lax.dynamic_update_slice(depth, jnp.where(closer, tw, cur), (o[1], o[0]))
        cur = jax.lax.dynamic_slice(id_shade, (o[1], o[0]), (window, window))
        id_shade = jax.lax.dynamic_update_slice(id_shade, jnp.where(closer, k + 0.999 * sw, cur), (o[1], o[0]))
        return (depth, id_shade), None

    init = (jnp.full((size, size), jnp.inf), jnp.zeros((size, size)))
    limb_ids = jnp.arange(n_limbs, dtype=jnp.float32)
    (depth, id_shade), _ = jax.lax.scan(zbuffer, init, (t_win, shade_win, origins, limb_ids))
    winner = jnp.floor(id_shade).astype(jnp.int32)
    shade = (id_shade - winner) / 0.999
    body = jnp.isfinite(depth)
    gain = 1.0 + rnd((3,), -config.colour_gain, config.colour_gain)
    limb_rgb = jnp.asarray(LIMB_COLOURS.T) * gain[:, None]  # (3, c)
    # ---- background (separable): gradient + low-frequency colour noise + shapes, muted towards grey
    c0, c1 = rnd((3,), 0.0, 255.0), rnd((3,), 0.0, 255.0)
    angle = rnd((), 0.0, 2 * np.pi)
    ramp = (coords - size / 2) / size
    g = jnp.clip(0.5 + ramp[None, :] * jnp.cos(angle) + ramp[:, None] * jnp.sin(angle), 0.0, 1.0)
    m = _hat(jnp.linspace(0.0, 4.0, size), 5)  # (s, 5): bilinear upsampling of a 5 x 5 grid
    coarse = rnd((3, 5, 5), -1.0, 1.0) * (config.background_noise * np.sqrt(3.0))
    bg = c0[:, None, None] + g * (c1 - c0)[:, None, None] + jnp.einsum("yi,cij,xj->cyx", m, coarse, m)
    if config.background_shapes:
        n, win = config.background_shapes, min(size, int(np.ceil(0.4 * size)) + 2)
        centre, half = rnd((n, 2), 0.0, size), rnd((n, 2), 0.025 * size, 0.2 * size)
        disc, colours = rnd((n,)) < 0.5, rnd((n, 3), 0.0, 255.0)
        for i in range(n):  # painter's order, each shape inside its window
            fill = lambda u, v, c=colours[i]: jnp.broadcast_to(c[:, None, None], (3, len(v), len(u)))  # noqa: E731
            bg, _ = _paint_shape(bg, centre[i], half[i], disc[i], True, win, size, fill)
    bg = 127.5 + config.background_saturation * (bg - 127.5)
    img = jnp.where(body, limb_rgb[:, winner] * shade, bg)  # (3, s, s)
    labels = jnp.where(body, winner, BACKGROUND)
    # ---- the joints: first surface along the ray through each joint (all capsules), and the occluders
    dj = joints_cam / jnp.linalg.norm(joints_cam, axis=-1, keepdims=True)
    hits_j = _capsule_hits(tuple(dj[None, :, i] for i in range(3)), a[:, None], b[:, None], radii[:, None])  # (c, 17)
    hits_j = jnp.where(active[:, None], hits_j, jnp.inf)
    first = jnp.argmin(hits_j, 0)
    behind_limb = jnp.isfinite(jnp.min(hits_j, 0)) & ~jnp.asarray(_INCIDENT)[jnp.arange(17), first]
    under_occluder = jnp.zeros(17, bool)
    if config.occluders:
        n, (lo, hi) = config.occluders, config.occluder_size
        centre, half = rnd((n, 2), 0.0, size), rnd((n, 2), 0.5 * lo * size, 0.5 * hi * size)
        disc, used = rnd((n,)) < 0.5, rnd((n,)) < config.occluder_prob
        colours, freq, phase = rnd((n, 3), 0.0, 255.0), rnd((n,), 0.1, 0.6), rnd((n,), 0.0, 6.0)
        win = min(size, int(np.ceil(hi * size)) + 2)
        planes = jnp.concatenate([img, labels[None].astype(jnp.float32)])  # colour and label painted together

        def striped(u, v, i):  # sin(f (u + v / 2) + phase) stripes in the occluder's colour, label OCCLUDER
            stripes = 0.8 + 0.2 * jnp.sin(freq[i] * (u[None, :] + 0.5 * v[:, None]) + phase[i])
            return jnp.concatenate([colours[i][:, None, None] * stripes, jnp.full((1, len(v), len(u)), OCCLUDER)])

        for i in range(n):  # painter's order, each occluder inside its window
            fill = functools.partial(striped, i=i)
            planes, _ = _paint_shape(planes, centre[i], half[i], disc[i], used[i], win, size, fill)
        img, labels = planes[:3], planes[3].astype(jnp.int32)
        uvj = _to_pixels(K, dist, joints_cam)  # (17, 2): the same tests at the joints' projections
        rel = (uvj[None] - centre[:, None]) / half[:, None]
        inside = jnp.where(disc[:, None], jnp.sum(rel**2, -1) <= 1.0, jnp.all(jnp.abs(rel) <= 1.0, -1))
        under_occluder = jnp.any(inside & used[:, None], 0)
    offset = (rnd((2,)) * _NOISE_PAD).astype(jnp.int32)
    if config.pixel_noise:  # a window of a fixed noise texture at a random offset (cheaper than any hash)
        texture = jnp.asarray(_noise_texture(size))
        noise = jax.lax.dynamic_slice(texture, (offset[1], offset[0]), (size, size))
        img = img + (config.pixel_noise * np.sqrt(12.0)) * noise
    sigma = rnd((), *config.blur_sigma)
    occluded = (behind_limb | under_occluder) & jnp.any(_INCIDENT & active[None], 1)
    return img, labels.astype(jnp.int8), occluded, sigma


@functools.partial(jax.jit, static_argnames=("size", "window", "config"))
def _render_batch(u, K, dist, R, t, joints, active, origins, *, size, window, config):
    fn = functools.partial(_render_one, size=size, window=window, config=config)
    return jax.vmap(fn, in_axes=(0, 0, 0, 0, 0, 0, None, 0))(u, K, dist, R, t, joints, active, origins)


def _windows(args, size: int, radius_scale: float, min_window: int = 0) -> tuple[int, np.ndarray]:
    """Window side and per-capsule window origins (n, c, 2) (x, y) of a call (`args` as `_render_batch`'s)."""
    n = args[0].shape[0]
    if size <= 64:  # small crops: one window, the whole crop (culling would not pay for its compiles)
        return size, np.zeros((n, len(LIMBS), 2), np.int32)
    boxes = np.asarray(_limb_boxes(*args, radius_scale=radius_scale))
    boxes = np.clip(np.nan_to_num(boxes, nan=0.0), -1.0, size + 1.0)
    needed = 16 * int(np.ceil((np.max(boxes[..., 2:] - boxes[..., :2]) + 3) / 16))
    window = int(min(size, max(needed, min_window)))
    return window, np.clip(np.floor(boxes[..., :2]).astype(np.int32) - 1, 0, size - window)


def _inputs(cameras: Camera, joints_mm: ArrayLike, boxes_xyxy: ArrayLike, size: int, distort: bool):
    """The crop cameras and the renderer's array arguments (K, dist, R, t, joints) of a call."""
    if cameras.model != "pinhole":
        raise ValueError(f"render_views supports pinhole cameras, got {cameras.model!r}")
    joints = np.asarray(joints_mm, np.float32)
    n = len(joints)
    if joints.shape != (n, 17, 3) or cameras.batch_shape != (n,) or np.shape(boxes_xyxy) != (n, 4):
        raise ValueError(
            f"render_views needs cameras (n,), joints (n, 17, 3) and boxes (n, 4); got {cameras.batch_shape}, "
            f"{joints.shape} and {np.shape(boxes_xyxy)}"
        )
    if not distort:
        cameras = cameras.replace(dist=np.zeros(np.shape(cameras.dist)))
    crop = _crop_cameras(cameras, jnp.asarray(boxes_xyxy, jnp.float32), int(size))
    args = [jnp.asarray(x, jnp.float32) for x in (crop.K, crop.dist, crop.R, crop.t)] + [jnp.asarray(joints)]
    return crop, args


def needed_window(
    cameras: Camera,
    joints_mm: ArrayLike,
    boxes_xyxy: ArrayLike,
    *,
    size: int,
    config: RenderConfig = RenderConfig(),
    distort: bool = True,
) -> int:
    """The window side `render_views` would use for these views (pass the maximum over many calls as their
    ``min_window``: one compile for all). Arguments as `render_views`."""
    _, args = _inputs(cameras, joints_mm, boxes_xyxy, size, distort)
    return _windows(args, int(size), config.radius_scale)[0]


@functools.partial(jax.jit, static_argnames=("size",))
def _crop_cameras(cameras: Camera, boxes: Array, size: int) -> Camera:
    return resize_camera(crop_camera(cameras, boxes), jnp.array([size, size], jnp.float32))


def render_views(
    key: Array,
    cameras: Camera,
    joints_mm: ArrayLike,
    boxes_xyxy: ArrayLike,
    *,
    size: int,
    config: RenderConfig = RenderConfig(),
    distort: bool = True,
    limbs: ArrayLike | None = None,
    min_window: int = 0,
) -> RenderedViews:
    """Render bodies into square crops of their views.

    Args:
        key: A `jax.random` key (view i uses ``jax.random.split(key, n)[i]``), or (n,) keys, one per view; a
            view's pixels depend on its key only.
        cameras: Full-image cameras, batch (n,), world units mm (pinhole model).
        joints_mm: (n, 17, 3) world joints in H36M-17 order, mm (in front of the cameras).
        boxes_xyxy: (n, 4) crop regions (left, top, right, bottom) in full-image px; a region is stretched
            to S x S (square regions keep the aspect).
        size: Output side S, px.
        config: Looks (`RenderConfig`).
        distort: Render through the cameras' lens distortion (else the pinhole model K [R | t]).
        limbs: Optional (len(LIMBS),) bool: which limbs to draw (default all).
        min_window: Lower bound on the side of the square window each capsule is ray-cast in (by default the
            smallest multiple of 16 px holding every capsule of this call; each new side compiles the renderer
            anew: many calls can share one with `needed_window`).

    Returns:
        `RenderedViews` (numpy arrays, crop cameras).
    """
    import cv2

    size = int(size)
    crop, args = _inputs(cameras, joints_mm, boxes_xyxy, size, distort)
    joints, n = np.asarray(args[-1]), len(args[-1])
    window, origins = _windows(args, size, config.radius_scale, min_window)
    active = np.ones(len(LIMBS), bool) if limbs is None else np.asarray(limbs, bool)
    single = np.shape(key) == () if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else np.shape(key) == (2,)
    keys = jax.random.split(key, n) if single else key
    if len(keys) != n:
        raise ValueError(f"render_views needs one key or {n} keys, got keys of shape {np.shape(keys)}")
    images, labels, occluded, sigma = _render_batch(
        jnp.asarray(_uniforms(keys, _num_draws(config))), *args, jnp.asarray(active), jnp.asarray(origins),
        size=size, window=window, config=config,
    )  # fmt: skip
    images, sigma = np.ascontiguousarray(np.moveaxis(np.asarray(images), 1, -1)), np.asarray(sigma)
    out = np.empty(images.shape, np.uint8)
    for i in range(n):  # per view (cv2's separable blur is ~20x faster than XLA's on CPU)
        img = cv2.GaussianBlur(images[i], (5, 5), float(sigma[i])) if sigma[i] > 0.05 else images[i]
        out[i] = np.clip(np.rint(img), 0, 255)
    uv = project_points(crop, joints, apply_distortion=distort)
    cams = jax.tree_util.tree_map(np.asarray, crop)
    return RenderedViews(out, np.asarray(labels), np.asarray(occluded), np.asarray(uv, np.float32), cams)
