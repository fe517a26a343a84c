"""Synthetic rigs shared by tests (imported as `from rigs import ring, look_at`: pytest puts tests/ on the path)."""

import numpy as np

from lift3d.geometry.camera import Camera


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
