"""The broad pose prior: angles inside the limits, the families' defining shapes, bodies, seeds, floor."""

import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17
from lift3d.synthetic import pose_prior as pp
from lift3d.synthetic.twin import DOFS, LIMITS_DEG

J = H36M_17.index


def _only(family):
    return np.array([1.0 if f == family else 0.0 for f in pp.FAMILIES])


def test_same_seed_same_poses_and_inside_the_limits():
    a, b = pp.sample_poses(3, 500), pp.sample_poses(3, 500)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, pp.sample_poses(4, 500))
    assert a.shape == (500, 17, 3) and np.isfinite(a).all()
    angles, _ = pp.sample_angles(np.random.default_rng(0), 4000)
    deg = np.rad2deg(angles)
    assert (deg > LIMITS_DEG[:, 0]).all() and (deg < LIMITS_DEG[:, 1]).all()
    # the uniform family spans (nearly) each DOF's whole range
    uni = np.rad2deg(pp.sample_angles(np.random.default_rng(1), 4000, _only("uniform"))[0])
    span = (uni.max(0) - uni.min(0)) / (LIMITS_DEG[:, 1] - LIMITS_DEG[:, 0])
    assert (span > 0.75).all(), dict(zip(DOFS, span.round(2), strict=True))


def test_hip_flexion_is_limited_by_a_straight_knee():
    deg = np.rad2deg(pp.sample_angles(np.random.default_rng(2), 20000, _only("uniform"))[0])
    a, b = pp.HIP_KNEE_COUPLING
    for side in ("r", "l"):
        hip, knee = deg[:, DOFS.index(f"{side}_hip_flex")], deg[:, DOFS.index(f"{side}_knee")]
        assert (hip <= a + b * knee + 1e-6).all()
        assert hip[knee > 100].max() > 110  # a bent knee lets the hip flex fully


def test_floor_pelvis_and_families():
    pts = pp.sample_poses(0, 3000)
    lowest = pts[..., 2].min(-1)
    assert (lowest >= 0.05 - 1e-9).all() and (lowest <= 0.09 + 1e-9).all()
    np.testing.assert_allclose(pts[:, H36M_17.root, :2], 0.0, atol=1e-9)
    stand = pp.sample_poses(1, 2000, weights=_only("standing"))
    lying = pp.sample_poses(1, 2000, weights=_only("lying"))
    kneel = pp.sample_poses(1, 2000, weights=_only("kneeling"))
    up = lambda p: p[:, J("head"), 2] - p[:, J("pelvis"), 2]  # noqa: E731
    assert np.median(up(stand)) > 0.55 and np.median(np.abs(up(lying))) < 0.35
    knee_low = np.minimum(kneel[:, J("left_knee"), 2], kneel[:, J("right_knee"), 2])
    assert np.median(knee_low) < 0.2 < np.median(stand[:, J("left_knee"), 2])  # a knee on the floor
    bal = pp.sample_poses(2, 2000, weights=_only("balancing"))
    ankle_gap = np.abs(bal[:, J("left_ankle"), 2] - bal[:, J("right_ankle"), 2])
    assert np.median(ankle_gap) > 2 * np.median(np.abs(stand[:, J("left_ankle"), 2] - stand[:, J("right_ankle"), 2]))


def test_bodies_adults_children_and_symmetry():
    rng = np.random.default_rng(0)
    off = pp.sample_bodies(rng, 4000, child_fraction=0.5)
    bone = np.linalg.norm(off, axis=-1)
    for l, r in H36M_17.left_right:
        np.testing.assert_allclose(bone[:, l], bone[:, r])
    stature = bone[:, [3, 2, 7, 8, 9, 10]].sum(-1) + 90.0
    assert stature.min() >= 999 and stature.max() <= 2051
    adult, child = stature > 1500, stature < 1400
    leg_ratio = (bone[:, 2] + bone[:, 3]) / stature
    head_ratio = bone[:, 10] / stature
    assert leg_ratio[child].mean() < leg_ratio[adult].mean() and head_ratio[child].mean() > head_ratio[adult].mean()
    assert 0.33 < child.mean() < 0.47  # children are 1.0-1.5 m: 80 % of them under 1.4 m


def test_bad_weights():
    with pytest.raises(ValueError, match="non-negative"):
        pp.sample_angles(np.random.default_rng(0), 10, (1.0, 2.0))
    with pytest.raises(ValueError, match="non-negative"):
        pp.sample_angles(np.random.default_rng(0), 10, -_only("lying"))


def test_detector_definitions_place_nose_and_head_top():
    rng = np.random.default_rng(5)
    h36m = pp.sample_bodies(rng, 200, definitions="h36m")
    det = pp.sample_bodies(np.random.default_rng(5), 200, definitions="detector")
    # same draws, other joint placement: the nose sits higher and further forward, the hips closer together
    assert (np.linalg.norm(det[:, J("neck_nose")], axis=-1) > np.linalg.norm(h36m[:, J("neck_nose")], axis=-1)).all()
    assert (np.abs(det[:, J("left_hip"), 1]) < np.abs(h36m[:, J("left_hip"), 1])).all()
    np.testing.assert_allclose(det[:, J("left_shoulder"), 2], 0.0)  # thorax = mid-shoulders
    with pytest.raises(ValueError, match="joint definitions"):
        pp.sample_bodies(rng, 2, definitions="vicon")


def test_trainer_adds_prior_samples():
    import dataclasses

    from lift3d.train.lifter_trainer import LifterConfig, load_data

    base = LifterConfig(train_subjects=("S1",), test_subjects=("S9",), actions=("Walking",), trials=1,
                        frames_per_sequence=20)  # fmt: skip
    twin, _ = load_data(base)
    both, _ = load_data(dataclasses.replace(base, prior_poses=50, prior_views=3))
    assert len(both.points_camera) == len(twin.points_camera) + 150
    np.testing.assert_array_equal(both.points_camera[: len(twin.points_camera)], twin.points_camera)
    assert (both.points_camera[len(twin.points_camera) :, :, 2] > 0).all()  # in front of the virtual cameras
