"""Frusta, camera names, cuboids and volumes follow the camera and volume conventions."""

import numpy as np
from viz.scenes import small_rig

from lift3d.geometry.camera import project_points


def test_static_geometry_follows_the_conventions():
    from lift3d.geometry.volume import cuboid_grid
    from lift3d.viz.static_geometry import camera_labels, cuboid_lines, frusta_lines, volume_points

    rig = small_rig()
    ls = frusta_lines(rig, size=0.5)
    pts = np.asarray(ls.points).reshape(3, 8, 3)
    assert np.allclose(pts[:, 0], rig.centers)
    for v in range(3):  # the 4 far corners are the image corners at depth 0.5 m
        uv = np.asarray(project_points(rig[v], pts[v, 1:5], apply_distortion=False))
        assert np.allclose(uv, [[-0.5, -0.5], [319.5, -0.5], [319.5, 239.5], [-0.5, 239.5]], atol=1e-3)
        depth = (pts[v, 1:5] - rig.centers[v]) @ np.asarray(rig.cameras.R[v])[2]
        assert np.allclose(depth, 0.5)
    labels = camera_labels(rig, up=(0, 0, 1), height=0.1, offset=0.3)
    assert len(labels) == 3
    for mesh, c in zip(labels, rig.centers, strict=True):
        v = np.asarray(mesh.vertices)
        assert np.isclose(v[:, 2].min(), c[2] + 0.3) and np.isclose(np.ptp(v[:, 2]), 0.1)
    box = np.asarray(cuboid_lines([1, 2, 3], 2.0).points)
    assert np.allclose(np.sort(box, 0)[[0, -1]], [[0, 1, 2], [2, 3, 4]])
    values = np.zeros((4, 5, 6))
    values[1, 2, 3], values[3, 4, 5] = 1.0, 0.5
    pc = volume_points(values, center=[0, 0, 1], size=2.0, threshold=0.4)
    grid = np.asarray(cuboid_grid(np.array([0.0, 0, 1]), side_mm=2.0, size=4))  # same convention (cube)
    assert np.allclose(np.asarray(pc.points)[0][0], grid[1, 0, 0, 0])
    assert len(pc.points) == 2 and np.allclose(np.asarray(pc.points)[1], [1, 1, 2])
