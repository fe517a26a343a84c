"""The synthetic Human3.6M twin: bodies, joint limits, motion, placement, determinism."""

import jax
import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17
from lift3d.datasets import h36m
from lift3d.synthetic import twin as syn

J = H36M_17.index


@pytest.fixture(scope="module")
def ds():
    # all subjects and actions; fps=5 stretches 40 frames over 8 s of motion (walkers go most of a loop)
    return syn.make_dataset(jax.random.key(11), trials=1, frames_per_sequence=40, fps=5.0)


def bone_lengths(points):
    parents = np.array(H36M_17.parents)
    return np.linalg.norm(points[..., 1:, :] - points[..., parents[1:], :], axis=-1)


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_shapes_and_names(ds):
    assert ds.subjects == h36m.SUBJECTS and ds.actions == h36m.ACTIONS
    assert len(ds) == 7 * 15 and ds.num_frames == 7 * 15 * 40
    s = ds.sequences[0]
    assert s.points_3d.shape == (40, 17, 3) and s.points_3d.dtype == np.float32
    assert s.points_2d.shape == (40, 4, 17, 2) and s.bboxes.shape == (40, 4, 4)
    two = syn.make_dataset(
        jax.random.key(0), subjects=["S5"], actions=["Eating"], trials=3, frames_per_sequence=2
    )
    assert [q.name for q in two] == ["Eating", "Eating 1", "Eating 2"]


def test_same_key_same_data_and_subsets_agree(ds):
    small = syn.make_dataset(
        jax.random.key(11),
        subjects=["S9"],
        actions=["Walking", "Sitting"],
        trials=1,
        frames_per_sequence=40,
        fps=5.0,
    )
    for s in small.sequences:
        ref = ds.select(subjects=["S9"], names=[s.name]).sequences[0]
        np.testing.assert_array_equal(s.points_3d, ref.points_3d)
        np.testing.assert_array_equal(s.points_2d, ref.points_2d)
    again = syn.make_dataset(
        jax.random.key(11),
        subjects=["S9"],
        actions=["Walking", "Sitting"],
        trials=1,
        frames_per_sequence=40,
        fps=5.0,
    )
    for a, b in zip(small.sequences, again.sequences, strict=True):
        np.testing.assert_array_equal(a.points_3d, b.points_3d)
    other = syn.make_dataset(
        jax.random.key(12), subjects=["S9"], actions=["Walking"], trials=1, frames_per_sequence=40
    )
    assert np.abs(other.sequences[0].points_3d - small.sequences[0].points_3d).max() > 10.0


def test_bones_constant_over_a_take_symmetric_and_per_subject(ds):
    per_subject = {}
    for s in ds.sequences:
        lengths = bone_lengths(s.points_3d.astype(np.float64))
        assert np.ptp(lengths, axis=0).max() < 0.01  # mm, float32 rounding only
        per_subject.setdefault(s.subject, []).append(lengths[0])
    for lengths in per_subject.values():
        lengths = np.array(lengths)  # (takes, 16): one body for all the subject's takes
        np.testing.assert_allclose(lengths, np.broadcast_to(lengths[0], lengths.shape), atol=0.01)
        L = dict(zip(H36M_17.joints[1:], lengths[0], strict=True))
        for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            assert L[f"left_{joint}"] == pytest.approx(L[f"right_{joint}"], abs=0.01)
        assert 380 < L["right_knee"] < 520 and 230 < L["left_elbow"] < 330  # thigh, upper arm (mm)
    totals = [round(float(np.sum(lengths[0]))) for lengths in per_subject.values()]
    assert len(set(totals)) == 7  # each subject has its own body


def test_angles_stay_inside_the_joint_limits():
    for action, style in syn.ACTION_STYLES.items():
        for seed in range(3):
            angles, heading, root = syn.make_sequence_angles(
                jax.random.key(seed), style, num_frames=300, fps=25.0
            )
            deg = np.rad2deg(angles)
            assert (deg > syn.LIMITS_DEG[:, 0]).all() and (deg < syn.LIMITS_DEG[:, 1]).all(), action
    sitting = np.rad2deg(
        syn.make_sequence_angles(jax.random.key(0), syn.ACTION_STYLES["Sitting"], num_frames=50)[0]
    )
    assert (
        sitting[:, syn.DOFS.index("r_knee")].mean() > 60
        and sitting[:, syn.DOFS.index("l_hip_flex")].mean() > 60
    )


def test_knees_and_elbows_bend_only_one_way(ds):
    pts = ds.arrays().points_3d.astype(np.float64)
    lateral = unit(pts[:, J("left_hip")] - pts[:, J("right_hip")])  # the body's left
    for side in ("left", "right"):
        thigh = pts[:, J(f"{side}_knee")] - pts[:, J(f"{side}_hip")]
        shin = pts[:, J(f"{side}_ankle")] - pts[:, J(f"{side}_knee")]
        bend = np.einsum("ni,ni->n", np.cross(unit(thigh), unit(shin)), lateral)
        assert bend.min() > -1e-4  # the shin swings backwards only: never a hyperextended knee
        flexion = np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", unit(thigh), unit(shin)), -1, 1)))
        assert flexion.max() < 150 and flexion.max() > 60  # sitting takes reach deep flexion
        upper = pts[:, J(f"{side}_elbow")] - pts[:, J(f"{side}_shoulder")]
        fore = pts[:, J(f"{side}_wrist")] - pts[:, J(f"{side}_elbow")]
        elbow = np.degrees(np.arccos(np.clip(np.einsum("ni,ni->n", unit(upper), unit(fore)), -1, 1)))
        assert elbow.max() < 145 and elbow.max() > 90


def test_elbow_flexes_forward_and_knee_backward_in_forward_kinematics():
    offsets = syn.REFERENCE_OFFSETS_MM
    angles = np.zeros((2, len(syn.DOFS)))
    angles[1, [syn.DOFS.index(d) for d in ("l_elbow", "r_elbow", "l_knee", "r_knee")]] = np.pi / 2
    pts = syn.forward_kinematics(angles, np.zeros(2), np.zeros((2, 3)), offsets)
    straight, bent = pts[0], pts[1]
    np.testing.assert_allclose(straight[J("left_wrist")], [-10, 150, 232 + 257 - 15 - 279 - 250], atol=1e-9)
    assert bent[J("left_wrist"), 0] - bent[J("left_elbow"), 0] == pytest.approx(
        250
    )  # forearm points forward (+x)
    assert bent[J("right_ankle"), 0] - bent[J("right_knee"), 0] == pytest.approx(-454)  # shin points backward


def test_people_stand_on_the_floor_in_the_capture_volume(ds):
    a = ds.arrays()
    ankles = a.points_3d[:, [J("left_ankle"), J("right_ankle")], 2].min(1)
    assert 70 < ankles.min() and ankles.max() < 110  # the lower ankle rests ~90 mm above z = 0
    assert (a.points_3d[..., 2] > 50).all()
    head = a.points_3d[:, J("head"), 2]
    assert head.max() > 1600 and head.min() < 1350  # standing and sitting heights
    root_xy = a.points_3d[:, 0, :2]
    assert np.linalg.norm(root_xy - np.asarray(syn.VOLUME_CENTER_MM), axis=-1).max() < 900


def test_motion_is_smooth_and_walkers_travel():
    walk = syn.make_dataset(
        jax.random.key(2), subjects=["S1"], actions=["Walking", "Waiting"], trials=1, frames_per_sequence=200
    )
    for s in walk.sequences:
        step = np.linalg.norm(np.diff(s.points_3d, axis=0), axis=-1)  # mm per frame at 50 Hz
        assert step.max() < 70, s.name  # < 3.5 m/s for every joint: no jumps
    travelled = lambda s: np.linalg.norm(np.diff(s.points_3d[:, 0, :2], axis=0), axis=-1).sum()  # noqa: E731
    walking, waiting = walk.sequences
    assert travelled(walking) > 1500 and travelled(waiting) < 500  # 4 s: ~0.85 m/s against standing


def test_every_camera_sees_every_joint(ds):
    a = ds.arrays()
    for k, subject in enumerate(ds.subjects):
        rows = a.subject == k
        wh = np.asarray(ds.rigs[subject].cameras.image_size)[None, :, None, :]
        uv = a.points_2d[rows]
        assert ((uv >= 0) & (uv <= wh - 1)).all(), subject
    cs = ds.camera_samples()
    assert (cs.points_3d_camera[..., 2] > 2500).all()


def test_boxes_are_square_and_hold_the_person(ds):
    a = ds.arrays()
    box, uv = a.bboxes, a.points_2d
    np.testing.assert_array_equal(box, np.round(box))
    np.testing.assert_array_equal(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])
    assert (uv[..., 0] >= box[..., None, 0]).all() and (uv[..., 0] <= box[..., None, 2]).all()
    assert (uv[..., 1] >= box[..., None, 1]).all() and (uv[..., 1] <= box[..., None, 3]).all()
    side = box[..., 2] - box[..., 0]
    assert side.min() > 150 and side.max() < 700  # a person 4.5-5.7 m away, f ~ 1145 px


def test_raw_32_layout_fillers():
    pts = (
        syn.make_dataset(
            jax.random.key(3), subjects=["S7"], actions=["Posing"], trials=1, frames_per_sequence=5
        )
        .sequences[0]
        .points_3d
    )
    raw = h36m.expand_17_to_32(pts)
    np.testing.assert_array_equal(raw[:, list(h36m.H36M_17_FROM_32)], pts)
    unused = np.delete(raw, list(h36m.H36M_17_FROM_32), axis=1)
    assert np.isfinite(unused).all()
    assert np.linalg.norm(unused[:, :, None] - pts[:, None], axis=-1).min() > 1.0
    assert np.linalg.norm(unused[:, :, None] - pts[:, None], axis=-1).min(-1).max() < 200  # near the body
