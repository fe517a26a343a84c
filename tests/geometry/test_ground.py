"""The floor from foot contacts (`lift3d.geometry.ground`) on synthetic walkers with a known floor."""

import numpy as np
import pytest

from lift3d.geometry.ground import align_ground, apply_frame, fit_ground_plane, foot_contacts, ground_joints

NAMES = ("left_hip", "right_hip", "head_top", "left_heel", "left_big_toe", "right_heel", "right_big_toe")
FPS = 60.0


def _walker(seconds=4.0, y=0.0, lean_deg=0.0, step=0.7):
    """(t, 7, 3) metres: a gait on the floor z = 0 along +x (toes touch z = 0, heels 3 cm above)."""
    t = np.arange(int(seconds * FPS)) / FPS

    def foot(shift, side):
        cycle, phase = np.divmod(t + shift, 1.0)
        s = np.clip((phase - 0.5) / 0.5, 0, 1)
        x = (cycle + 3 * s**2 - 2 * s**3) * step + (step / 2 if shift else 0.0)
        z = np.where(phase < 0.5, 0.0, 0.12 * np.sin(np.pi * s))
        return x, np.full_like(t, y + side), z

    lx, ly, lz = foot(0.0, 0.1)
    rx, ry, rz = foot(0.5, -0.1)
    px = 0.5 * (lx + rx) + 0.1
    lean = np.radians(lean_deg)
    head = np.stack([px, y + 0.7 * np.sin(lean) + 0 * t, 0.9 + 0.7 * np.cos(lean) + 0 * t], -1)
    pts = [np.stack([px, y + 0.1 + 0 * t, 0.9 + 0 * t], -1), np.stack([px, y - 0.1 + 0 * t, 0.9 + 0 * t], -1), head]
    for fx, fy, fz in ((lx, ly, lz), (rx, ry, rz)):
        pts += [np.stack([fx, fy, fz + 0.03], -1), np.stack([fx + 0.2, fy, fz], -1)]
    return np.stack(pts, 1)


def _rotation(axis, deg):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.radians(deg)
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def _angle(a, b):
    return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


@pytest.mark.parametrize("people", [1, 2])
def test_known_floor_is_recovered(people):
    rng = np.random.default_rng(0)
    walkers = [_walker(y=0.0, lean_deg=5.0 * (people - 1)), _walker(y=1.5, lean_deg=-3.0)][:people]
    points = np.stack(walkers, 1) + rng.normal(0, 0.003, (len(walkers[0]), people, len(NAMES), 3))
    q, d = _rotation([0.3, -1.0, 0.4], 12.0), np.array([0.3, -0.2, 1.1])
    moved = points @ q.T + d  # the floor z = 0 is now tilted by 12 degrees and shifted
    result = align_ground(moved if people == 2 else moved[:, 0], NAMES, fps=FPS)
    assert result.plane.mode == ("plane" if people == 2 else "line")  # one straight walk: the contacts are a line
    true_up = q[:, 2]
    assert _angle(result.plane.normal, true_up) < 0.5
    assert abs(result.plane.offset - true_up @ d) < 0.005  # the floor's height
    assert _angle(result.frame.rotation[0], q[:, 0]) < 2.0  # forward: the direction of travel (+x)
    back = apply_frame(result.frame, moved)
    toes = back[..., [4, 6], 2]
    assert np.median(toes[toes < 0.02]) == pytest.approx(0.0, abs=0.005)
    np.testing.assert_allclose(np.linalg.det(result.frame.rotation), 1.0)
    assert result.tilt_deg == pytest.approx(_angle(true_up, np.eye(3)[2]), abs=0.5)


def test_contacts_are_still_and_low():
    points = _walker()
    roles = ground_joints(NAMES)
    assert roles.feet == ((3, 4), (5, 6)) and roles.hips == (0, 1)
    contacts, frames, tracks = foot_contacts(points, roles.feet, [0, 0, 1.0], fps=FPS)
    assert len(contacts) > 100 and np.all(tracks == 0)
    np.testing.assert_allclose(contacts[:, 2], 0.0, atol=1e-9)  # the toes (lowest) of feet in stance
    speed = np.linalg.norm(np.gradient(points, axis=0), axis=-1) * FPS
    assert np.all(speed[frames].min(-1) <= 0.25)


def test_plane_fit_is_robust_and_falls_back_to_up():
    rng = np.random.default_rng(1)
    xy = rng.uniform(-1, 1, (200, 2))
    plane = np.c_[xy, 0.05 * xy[:, 0] + rng.normal(0, 0.002, 200)]
    plane[:20, 2] += 0.3  # outliers: a foot on a step
    fit = fit_ground_plane(plane, [0, 0, 1.0])
    assert fit.mode == "plane" and _angle(fit.normal, np.array([-0.05, 0, 1.0])) < 0.3
    assert np.all(fit.weights[:20] == 0)
    spot = rng.normal(0, 0.02, (50, 3))  # someone standing still: the body's up, the contacts' height
    fit = fit_ground_plane(spot + [0, 0, 0.4], [0.1, 0, 1.0])
    assert fit.mode == "body" and _angle(fit.normal, np.array([0.1, 0, 1.0])) < 1e-9
    assert fit.offset == pytest.approx(0.4 / np.linalg.norm([0.1, 0, 1.0]), abs=0.01)
    with pytest.raises(ValueError, match="no foot contacts"):
        fit_ground_plane(np.zeros((0, 3)), [0, 0, 1.0])
    with pytest.raises(ValueError, match="no foot"):
        ground_joints(["nose", "left_hip"])
