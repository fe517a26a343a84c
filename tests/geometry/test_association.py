"""Cross-view person association and tracking: a synthetic rig with shuffled detections, and the real
Pose2Sim trials (a balancing subject with a bystander in two views; two participants plus bystanders)."""

import glob
import os
import re
import warnings

import numpy as np
import pytest
from rigs import look_at

from lift3d.geometry.association import (
    Association,
    associate,
    associate_sequence,
    select_tracks,
    track,
)
from lift3d.geometry.camera import Camera, project_points, stack_cameras
from lift3d.geometry.triangulation import triangulate_dlt

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "pose2sim_trials")

# a standing body of 25 joints (as many as BODY_25B, so that the synthetic and the real tests share one
# compilation), 1.7 m tall: x to the left of the person, y forward, z up (metres)
TEMPLATE = np.array([
    [0, 0, 1.70], [0, 0.09, 1.58], [0, 0, 1.45], [0.18, 0, 1.42], [-0.18, 0, 1.42], [0.22, 0, 1.12],
    [-0.22, 0, 1.12], [0.24, 0.05, 0.85], [-0.24, 0.05, 0.85], [0.1, 0, 0.95], [-0.1, 0, 0.95],
    [0.1, 0.03, 0.5], [-0.1, 0.03, 0.5], [0.1, 0, 0.08], [-0.1, 0, 0.08], [0.1, 0.15, 0.02],
    [-0.1, 0.15, 0.02], [0.03, 0.08, 1.62], [-0.03, 0.08, 1.62], [0.07, 0, 1.6], [-0.07, 0, 1.6],
    [0.1, -0.05, 0.03], [-0.1, -0.05, 0.03], [0.13, 0.13, 0.02], [-0.13, 0.13, 0.02],
])  # fmt: skip
J = len(TEMPLATE)
LEGS = np.array([11, 13, 15, 21, 23]), np.array([12, 14, 16, 22, 24])
T = 100  # frames: with 4 detection slots and 25 joints the synthetic and real captures share one compilation


def make_rig():
    """4 cameras on a ring of radius 5 m, 2 m high, looking at the middle of the volume."""
    cams = []
    for i in range(4):
        a = 2 * np.pi * i / 4 + 0.3
        R, t = look_at(np.array([5 * np.cos(a), 5 * np.sin(a), 2.0]), np.array([0.0, 0.0, 1.0]))
        K = np.array([[1400.0, 0, 960], [0, 1400, 540], [0, 0, 1]])
        cams.append(Camera.create(K, R=R, t=t, dist=[-0.1, 0.02, 0, 0, 0], image_size=[1920, 1080]))
    return stack_cameras(cams)


def body(height, position, heading, phase):
    """Joints (17, 3) of a walking body: the template scaled, legs swinging, rotated and placed."""
    X = TEMPLATE * (height / 1.7)
    X[LEGS[0], 1] += 0.25 * np.sin(phase)
    X[LEGS[1], 1] -= 0.25 * np.sin(phase)
    c, s = np.cos(heading - np.pi / 2), np.sin(heading - np.pi / 2)
    return X @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) + position


def make_scene(seed=0, t=T, noise_px=1.5):
    """3 walkers seen by all 4 views + a bystander seen by views 0 and 1; detections shuffled in 4 slots.

    Returns:
        cameras, points (t, v, 4, j, 2), confidence (t, v, 4, j), slot identities (t, v, 4) (-1 = empty),
        ground-truth 3D (t, 4, j, 3) (person 3 is the bystander).
    """
    rng = np.random.default_rng(seed)
    cams = make_rig()
    walkers = [(1.2, [-1.5, -1.2], 0.0), (1.7, [1.5, 1.2], np.pi), (1.85, [0.8, -0.6], np.pi / 2)]
    X = np.zeros((t, 4, J, 3))
    for f in range(t):
        for k, (h, start, heading) in enumerate(walkers):  # 1 m in 100 frames
            pos = np.array([*start, 0.0]) + 0.01 * f * np.array([np.cos(heading), np.sin(heading), 0])
            X[f, k] = body(h, pos, heading, 0.15 * f + k)
        X[f, 3] = body(1.6, np.array([3.0, -2.5, 0.0]), 2.0, 0.0)
    uv = np.asarray(project_points(cams, X.reshape(t, 1, -1, 3))).reshape(t, 4, 4, J, 2)  # (t, v, person)
    uv = uv + rng.normal(0, noise_px, uv.shape)
    visible = np.ones((4, 4), bool)
    visible[2:, 3] = False  # the bystander is only in views 0 and 1
    points = np.full((t, 4, 4, J, 2), np.nan)
    conf = np.zeros((t, 4, 4, J))
    ids = np.full((t, 4, 4), -1)
    for f in range(t):
        for v in range(4):
            slots = rng.permutation(4)
            for k in range(4):
                if visible[v, k]:
                    points[f, v, slots[k]] = uv[f, v, k]
                    conf[f, v, slots[k]] = rng.uniform(0.5, 1.0, J)
                    ids[f, v, slots[k]] = k
    return cams, points.astype(np.float32), conf.astype(np.float32), ids, X  # float32, like the readers


def groups(assoc: Association, ids: np.ndarray) -> list[set]:
    """Per frame, the people found as frozensets of (view, true identity)."""
    out = []
    for f in range(assoc.assignment.shape[0]):
        people = set()
        for k in range(assoc.num_people):
            a = assoc.assignment[f, k]
            if (a >= 0).any():
                people.add(frozenset((v, int(ids[f, v, a[v]])) for v in range(a.size) if a[v] >= 0))
        out.append(people)
    return out


def truth(ids: np.ndarray) -> list[set]:
    t, v, _ = ids.shape
    return [{frozenset((u, k) for u in range(v) if (ids[f, u] == k).any()) for k in np.unique(ids[f])
             if k >= 0} for f in range(t)]


# ------------------------------------------------------------------------------------------ synthetic


@pytest.mark.parametrize("backend", ["jax", "numpy"])
@pytest.mark.parametrize("method", ["exhaustive", "pairs"])
@pytest.mark.parametrize("noise_px", [0.0, 2.0])
def test_associate_recovers_groups_of_shuffled_detections(method, noise_px, backend):
    cams, points, conf, ids, X = make_scene(noise_px=noise_px)
    a = associate(cams, points, conf, method=method, backend=backend)
    assert a.assignment.shape == (T, 8, 4) and a.points_2d.shape == (T, 8, 4, J, 2)
    assert groups(a, ids) == truth(ids)  # every person whole and pure, the bystander a 2-view person
    # gathered detections are the assigned ones; the 3D is the DLT of them, close to the truth
    f, k = 5, 0
    v = np.flatnonzero(a.assignment[f, k] >= 0)
    np.testing.assert_array_equal(a.points_2d[f, k, v], points[f, v, a.assignment[f, k, v]])
    assert np.isnan(a.points_2d[f, k][a.assignment[f, k] < 0]).all()
    person = ids[f, v[0], a.assignment[f, k, v[0]]]
    assert np.abs(a.points_3d[f, k] - X[f, person]).max() < (1e-6 if noise_px == 0 else 0.05)
    assert (a.error_px[a.num_views > 0] < 3 * noise_px + 1e-3).all()
    assert (np.sort(a.num_views, 1)[:, ::-1][:, :4] == [4, 4, 4, 2]).all() and (a.num_views[:, 4:] == 0).all()


def test_bystander_in_two_views_does_not_replace_a_view_of_the_walkers():
    """With only 2 views of agreement a wrong pair can look consistent: views come first in the greedy."""
    cams, points, conf, ids, _ = make_scene(noise_px=2.0)
    a = associate(cams, points, conf, min_views=3)  # the bystander cannot form a person at all
    assert all(len(g) == 3 and all(len(p) == 4 for p in g) for g in groups(a, ids))
    # a walker missing from view 0 stays a 3-view person: the bystander's view-0 detection is not taken
    gone = ids[:20, 0] == 0
    p2, c2, ids2 = points.copy(), conf.copy(), ids.copy()
    p2[:20, 0][gone], c2[:20, 0][gone], ids2[:20, 0][gone] = np.nan, 0, -1
    assert groups(associate(cams, p2, c2), ids2) == truth(ids2)
    # a lax gate accepts wrong 2-view pairs, yet every walker still comes whole: more views come first
    lax = associate(cams, points, conf, max_error_px=1e4)
    assert all({p for p in g if len(p) == 4} == {p for p in t if len(p) == 4}
               for g, t in zip(groups(lax, ids), truth(ids), strict=True))


def test_associate_sequence_keeps_identities_and_picks_complete_tracks():
    cams, points, conf, ids, X = make_scene(noise_px=2.0)
    s = associate_sequence(cams, points, conf, people=3)
    assert s.num_people == 3 and (s.num_views == 4).all()
    for k in range(3):
        who = {int(ids[f, v, s.assignment[f, k, v]]) for f in range(T) for v in range(4)}
        assert len(who) == 1 and who != {3}  # one identity per slot over all frames, never the bystander
        assert len(set(s.track_id[:, k])) == 1
    everyone = associate_sequence(cams, points, conf)
    assert everyone.num_people == 4 and (everyone.num_views[:, 3] == 2).all()  # the bystander ranks last
    single = associate_sequence(cams, points, conf, people=1)
    assert single.points_3d.shape == (T, 1, J, 3) and (single.num_views == 4).all()


def test_associate_without_confidence_is_exact_on_exact_data():
    cams, points, conf, ids, X = make_scene(noise_px=0.0)
    a = associate(cams, points, None)  # confidence 1 wherever a point is finite
    assert groups(a, ids) == truth(ids)
    assert (a.confidence[a.assignment >= 0] == 1).all() and (a.confidence[a.assignment < 0] == 0).all()
    k = a.assignment[:, :, 0] >= 0  # people seen in view 0: the 3 walkers and the bystander
    person = ids[np.arange(T)[:, None], 0, np.maximum(a.assignment[:, :, 0], 0)]
    np.testing.assert_allclose(a.points_3d[k], X[np.arange(T)[:, None], person][k], atol=1e-4)


def test_track_links_shuffled_people_and_handles_gaps_and_new_tracks():
    _, _, _, _, X = make_scene(t=12)
    X = X[:, :3].copy()  # the 3 walkers
    rng = np.random.default_rng(1)
    slots = np.stack([rng.permutation(4) for _ in range(12)])  # 4 slots per frame, one always empty
    P = np.full((12, 4, J, 3), np.nan)
    for f in range(12):
        P[f, slots[f, :3]] = X[f]
    P[[4, 5], slots[[4, 5], 1]] = np.nan  # walker 1 unseen on frames 4 and 5
    ids = track(P, max_distance=0.3, max_gap=3)
    assert (ids[np.arange(12)[:, None], slots[:, 3:]] == -1).all()
    for k in range(3):
        seen = ids[np.arange(12), slots[:, k]]
        seen = seen[seen >= 0]
        assert (seen == seen[0]).all()  # one identity, continued across the gap
    assert ids.max() == 2
    ids_short = track(P, max_distance=0.3, max_gap=1)  # a gap longer than max_gap starts a new track
    assert ids_short.max() == 3 and ids_short[6, slots[6, 1]] == 3
    P[np.arange(8, 12), slots[8:, 2]] += np.array([2.0, 0, 0])  # a jump beyond the gate: somebody else
    ids_jump = track(P, max_distance=0.3, max_gap=3)
    assert ids_jump[7, slots[7, 2]] != ids_jump[8, slots[8, 2]] == ids_jump[11, slots[11, 2]]


def test_select_tracks_orders_by_completeness():
    cams, points, conf, ids, _ = make_scene()
    a = associate(cams, points, conf)
    tid = track(a.points_3d)
    two = select_tracks(a, tid, people=2)
    assert (two.num_views == 4).all() and two.track_id.shape == (T, 2)
    many = select_tracks(a._replace(track_id=tid), people=6)
    assert (many.num_views[:, 4:] == 0).all() and (many.assignment[:, 4:] == -1).all()
    assert np.isnan(many.points_3d[:, 4:]).all() and (many.track_id[:, 4:] == -1).all()
    with pytest.raises(ValueError, match="track_ids"):
        select_tracks(a)
    with pytest.raises(ValueError, match="track_ids"):
        select_tracks(a, tid[:5])


def test_associate_rejects_malformed_input():
    cams, points, conf, _, _ = make_scene()
    with pytest.raises(ValueError, match="points_2d"):
        associate(cams, points[:, :, 0], conf)
    with pytest.raises(ValueError, match="confidence"):
        associate(cams, points, conf[..., :5])
    with pytest.raises(ValueError, match="batch shape"):
        associate(cams[:3], points, conf)
    with pytest.raises(ValueError, match="min_views"):
        associate(cams, points, conf, min_views=5)
    with pytest.raises(ValueError, match="max_people"):
        associate(cams, points, conf, max_people=0)
    with pytest.raises(ValueError, match="method"):
        associate(cams, points, conf, method="magic")
    with pytest.raises(ValueError, match="backend"):
        associate(cams, points, conf, backend="cupy")
    with pytest.raises(ValueError, match="points_3d"):
        track(np.zeros((3, 2, 5)))


# ------------------------------------------------------------------------------------------ real data


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def load_trial(name):
    """Qualisys rig and the OpenPose detections of a trial, views ordered like the rig (cam_01 <-> cam01)."""
    from lift3d.io.keypoints import read_keypoints
    from lift3d.io.rigs import load_rig

    rig = load_rig(os.path.join(DATA, "Calib_qualisys_from_v0.4.15.toml"))
    kp = read_keypoints(sorted(glob.glob(os.path.join(DATA, name, "pose", "cam*_json"))), format="openpose",
                        skeleton="body_25b")
    by_name = {_norm(v): v for v in kp.views}
    return rig, kp.select_views([by_name[_norm(n)] for n in rig.names])


def body_height(X, joints):
    """Standing height (m) from segment lengths, median over frames: head top-neck, neck-mid hip, femur,
    shank, ankle-heel (independent of the pose)."""
    J = {n: X[:, i] for i, n in enumerate(joints)}
    d = lambda a, b: np.linalg.norm(a - b, axis=-1)  # noqa: E731
    mean_lr = lambda a, b: (d(J["left_" + a], J["left_" + b]) + d(J["right_" + a], J["right_" + b])) / 2  # noqa: E731
    h = (d(J["head_top"], J["upper_neck"]) + d(J["upper_neck"], (J["left_hip"] + J["right_hip"]) / 2)
         + mean_lr("hip", "knee") + mean_lr("knee", "ankle") + mean_lr("ankle", "heel"))
    return float(np.nanmedian(h))


needs_data = pytest.mark.skipif(not os.path.isdir(DATA), reason="shared Pose2Sim data not present")


@needs_data
def test_real_balancing_trial_single_person_ignores_the_bystander():
    rig, kp = load_trial("single_BalancingTrial")
    assert kp.points.shape[2] == 3  # an extra empty detection slot changes nothing (and shares a compilation)
    points = np.concatenate([kp.points, np.full_like(kp.points[:, :, :1], np.nan)], 2)
    conf = np.concatenate([kp.confidence, np.zeros_like(kp.confidence[:, :, :1])], 2)
    s = associate_sequence(rig.cameras, points, conf, people=1)
    assert np.mean(s.num_views[:, 0] == 4) >= 0.98
    # the chosen cam01 / cam02 detection is the one consistent with cam03 + cam04 (one detection each)
    present = (kp.confidence > 0).any(-1)  # (t, v, p)
    assert (present[:, 2:].sum(-1) == 1).all()
    t = np.arange(kp.num_frames)[:, None]
    lone = present[:, 2:].argmax(-1)  # (t, 2)
    lone_uv = np.full_like(kp.points[:, :, 0], np.nan)
    lone_uv[:, 2:] = kp.points[t, [2, 3], lone]
    lone_c = np.zeros_like(kp.confidence[:, :, 0])
    lone_c[:, 2:] = kp.confidence[t, [2, 3], lone]
    # and the plain confidence-weighted DLT of the chosen detections gives the README's 13.7 px (>= 0.3)
    uv, c = s.points_2d[:, 0], s.confidence[:, 0]
    both_c = np.stack([np.where(c >= 0.3, c, 0), lone_c])
    X, info = triangulate_dlt(rig.cameras, np.stack([uv, lone_uv]), both_c)
    proj = np.asarray(project_points(rig.cameras, np.asarray(X)[:, :, None]))  # (2, t, v, j, 2)
    err = np.linalg.norm(proj[0] - uv, axis=-1)[np.asarray(info.views_used)[0]]
    assert abs(err.mean() - 13.7) < 0.5
    assert abs(np.nanmean(s.error_px) - 13.7) < 0.5
    gap = np.linalg.norm(kp.points[:, :2] - proj[1][:, :2, None], axis=-1)  # (t, 2, p, j)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # empty detection slots
        dist = np.where(present[:, :2], np.nanmedian(gap, -1), np.inf)
    chosen = np.take_along_axis(dist, s.assignment[:, 0, :2, None], -1)[..., 0]  # (t, 2)
    assert (chosen < 60).all()  # consistent on every frame; the bystander is hundreds of px away
    assert ((dist < 60).sum(-1) <= 2).all()  # (cam01 splits the subject in two detections on one frame)
    assert np.mean(s.assignment[:, 0, :2] == dist.argmin(-1)) > 0.99


@needs_data
@pytest.mark.parametrize("method", ["exhaustive", "pairs"])
def test_numpy_and_jax_backends_agree_on_real_detections(method):
    """The two backends run the same code on different array modules: same groups, same 3D to float32."""
    rig, kp = load_trial("multi_Participants1-2")
    frames = slice(0, 24)
    a = [associate(rig.cameras, kp.points[frames], kp.confidence[frames], method=method, backend=backend)
         for backend in ("numpy", "jax")]
    assert a[0].num_people >= 4 and (a[0].num_views[:, :2] >= 3).all()
    np.testing.assert_array_equal(a[0].assignment, a[1].assignment)
    np.testing.assert_array_equal(a[0].num_views, a[1].num_views)
    np.testing.assert_allclose(a[0].points_3d, a[1].points_3d, atol=1e-4)  # metres
    np.testing.assert_allclose(a[0].error_px, a[1].error_px, atol=1e-3)


@needs_data
def test_real_two_participants_come_out_as_two_consistent_tracks():
    rig, kp = load_trial("multi_Participants1-2")
    assert 2 <= (kp.confidence > 0).any(-1).sum(-1).min() and (kp.confidence > 0).any(-1).sum(-1).max() == 4
    s = associate_sequence(rig.cameras, kp.points, kp.confidence, people=2)
    assert s.num_people == 2 and (s.num_views >= 3).all() and np.mean(s.num_views == 4) > 0.98
    # one participant's 2D was made by projection (confidence exactly 1), the other is detector output:
    # each track holds one kind on every frame and view, so identities never swap
    projected = np.all((s.confidence == 1) | (s.confidence == 0), -1) & (s.assignment >= 0)  # (t, 2, v)
    kinds = [projected[:, k][s.assignment[:, k] >= 0] for k in range(2)]
    assert sorted([bool(kinds[0].all()), bool(kinds[1].all())]) == [False, True]
    assert not kinds[0].any() or not kinds[1].any()
    step = np.nanmedian(np.linalg.norm(np.diff(s.points_3d, axis=0), axis=-1), -1)  # (t-1, 2)
    assert step.max() < 0.1
    heights = sorted(body_height(s.points_3d[:, k], kp.skeleton.joints) for k in range(2))
    np.testing.assert_allclose(heights, [1.21, 1.72], atol=0.1)
    assert (s.error_px < 25).all()
