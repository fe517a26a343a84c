"""Motion (units) and the Z-up <-> Y-up converters, without files."""

import numpy as np

from lift3d.core.motion import Motion, yup_to_zup, zup_to_yup


def test_axis_converters_are_inverse_proper_rotations():
    points = np.random.default_rng(0).normal(size=(5, 4, 3))
    np.testing.assert_array_equal(yup_to_zup(zup_to_yup(points)), points)
    np.testing.assert_array_equal(zup_to_yup(points)[..., 1], points[..., 2])  # up: Z becomes Y
    R = zup_to_yup(np.eye(3)).T
    assert np.isclose(np.linalg.det(R), 1.0)


def test_to_units():
    pts = np.arange(6.0).reshape(1, 2, 3)
    m = Motion(pts, ("a", "b"), 50.0, "m", np.array([0]), np.array([0.0]))
    mm = m.to_units("mm")
    assert mm.units == "mm" and mm.num_frames == 1
    np.testing.assert_allclose(mm.points, pts * 1000)
    np.testing.assert_allclose(mm.to_units("m").points, pts)
