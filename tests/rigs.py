"""Synthetic rigs shared by tests (imported as `from rigs import ring, look_at`: pytest puts tests/ on the path)."""

import numpy as np

from lift3d.geometry.camera import Camera, stack_cameras


def look_at(center, target):
    """World -> camera (R, t) of a camera at `center` (3,) looking at `target` (3,), x horizontal (world z up)."""
    z = target - center
    z = z / np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    R = np.stack([x, np.cross(z, x), z])
    return R, -R @ center


def ring(v=4, radius=4.0, model="pinhole"):
    """Cameras on a ring looking at (0, 0, 1), portrait 1088 x 1920 px, mild distortion of the lens `model`
    ("pinhole" or "fisheye")."""
    ang = np.linspace(0, 2 * np.pi, v, endpoint=False) + 0.3
    C = np.stack([radius * np.cos(ang), radius * np.sin(ang), 1.5 + 0.3 * np.sin(3 * ang)], -1)
    R = np.array([look_at(c, np.array([0, 0, 1.0]))[0] for c in C])
    K = np.tile(np.array([[1650.0, 0, 540], [0, 1650, 960], [0, 0, 1]]), (v, 1, 1))
    dist = [0.05, -0.02, 0.01, 0.0, 0.0] if model == "fisheye" else [-0.05, 0.14, 0, 0, 0]
    return Camera.create(
        K, R=R, t=-np.einsum("vij,vj->vi", R, C), dist=np.tile(dist, (v, 1)),
        image_size=np.tile([1088.0, 1920.0], (v, 1)), model=model,
    )  # fmt: skip


def jittered_ring(rng, v, target, *, angle_noise=0.2, dist=(-0.12, 0.05, 1e-3, -5e-4, 0.0), model="pinhole"):
    """v portrait cameras (1088 x 1920 px) on a ring of radius ~4 m around `target` (3,), each with its own
    position, aim, focal length and mild distortion drawn from `rng`."""
    cams = []
    for i in range(v):
        a = 2 * np.pi * i / v + rng.normal(0, angle_noise)
        center = target + [4 * np.cos(a), 4 * np.sin(a), rng.uniform(0.2, 1.5)]
        R, t = look_at(center, target + rng.normal(0, 0.2, 3))
        f = rng.uniform(1300, 1800)
        K = np.array([[f, 0, 540 + rng.normal(0, 5)], [0, f * 1.002, 960 + rng.normal(0, 5)], [0, 0, 1]])
        d = None if dist is None else np.asarray(dist) * rng.uniform(0.8, 1.2, len(dist))
        cams.append(Camera.create(K, R=R, t=t, dist=d, image_size=[1088, 1920], model=model))
    return stack_cameras(cams)
