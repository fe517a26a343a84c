"""Tests for lift3d.core.skeleton: layouts, left/right handling and the mapping to H36M-17."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from lift3d.core import skeleton as sk
from lift3d.core.skeleton import (
    BLAZEPOSE_33,
    BODY_25,
    BODY_25B,
    COCO_17,
    H36M_17,
    H36M_17_FROM_32,
    HALPE_26,
    SKELETONS,
    get_skeleton,
    map_to_h36m,
    to_h36m_weights,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
H36M_JSON = DATA / "h36m_cameras.json"
OPENPOSE_JSON = DATA / "pose2sim_trials/single_BalancingTrial/pose/cam01_json/cam01.0000.json"

ALL = list(SKELETONS.values())
ids = [s.name for s in ALL]


def test_registry_and_counts():
    assert set(SKELETONS) == {"h36m", "coco", "body_25", "body_25b", "halpe_26", "blazepose"}
    counts = {H36M_17: 17, COCO_17: 17, BODY_25: 25, BODY_25B: 25, HALPE_26: 26, BLAZEPOSE_33: 33}
    for skel, n in counts.items():
        assert skel.num_joints == n == len(skel.joints)
        assert SKELETONS[skel.name] is skel


@pytest.mark.parametrize("skel", ALL, ids=ids)
def test_structure(skel):
    assert len(set(skel.joints)) == skel.num_joints
    assert all(j == j.lower() and " " not in j for j in skel.joints)
    for a, b in (*skel.edges, *skel.left_right):
        assert 0 <= a < skel.num_joints and 0 <= b < skel.num_joints and a != b
    # every lateral joint is in exactly one pair, and each pair is left_x -> right_x
    lateral = [j for j in skel.joints if j.startswith(("left_", "right_"))]
    assert 2 * len(skel.left_right) == len(lateral)
    for left, right in skel.left_right:
        name = skel.joints[left]
        assert name.startswith("left_")
        assert skel.joints[right] == "right_" + name.removeprefix("left_")
    # every joint is on some bone
    assert {i for e in skel.edges for i in e} == set(range(skel.num_joints))


@pytest.mark.parametrize("skel", ALL, ids=ids)
def test_flip_permutation(skel):
    perm = skel.flip_permutation()
    assert sorted(perm) == list(range(skel.num_joints))
    np.testing.assert_array_equal(perm[perm], np.arange(skel.num_joints))
    for i, p in enumerate(perm):
        name = skel.joints[i]
        if name.startswith("left_"):
            assert skel.joints[p] == "right_" + name[5:]
        elif name.startswith("right_"):
            assert skel.joints[p] == "left_" + name[6:]
        else:
            assert p == i


def test_exact_orders():
    assert BODY_25.joints[:9] == (
        "nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
        "left_shoulder", "left_elbow", "left_wrist", "mid_hip",
    )  # fmt: skip
    assert BODY_25.joints[15:] == (
        "right_eye", "left_eye", "right_ear", "left_ear",
        "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
    )  # fmt: skip
    assert BODY_25B.joints[:17] == COCO_17.joints == HALPE_26.joints[:17]
    assert BODY_25B.joints[17:19] == ("upper_neck", "head_top")
    assert BODY_25B.joints[19:] == BODY_25.joints[19:]
    assert HALPE_26.joints[17:] == (
        "head_top", "neck", "mid_hip", "left_big_toe", "right_big_toe",
        "left_small_toe", "right_small_toe", "left_heel", "right_heel",
    )  # fmt: skip
    assert COCO_17.index("right_ankle") == 16 and COCO_17.index("left_eye") == 1
    b = BLAZEPOSE_33
    assert b.index("nose") == 0 and b.index("right_eye_outer") == 6 and b.index("left_ear") == 7
    assert b.index("left_shoulder") == 11 and b.index("left_hip") == 23
    assert b.index("left_heel") == 29 and b.index("right_foot_index") == 32


def test_h36m_matches_json():
    ref = json.loads(H36M_JSON.read_text())
    assert list(H36M_17.joints) == ref["joints_17"]
    assert list(H36M_17.parents) == ref["parents_17"]
    assert list(H36M_17_FROM_32) == ref["joints_17_from_32"]


def test_parents():
    for skel in (BODY_25, HALPE_26):  # trees rooted at mid_hip
        parents = skel.parents
        assert parents[skel.index("mid_hip")] == -1 and parents.count(-1) == 1
        assert parents[skel.index("left_knee")] == skel.index("left_hip")
        assert parents[skel.index("head_top" if "head_top" in skel else "nose")] == skel.index("neck")
    assert COCO_17.parents is None and BLAZEPOSE_33.parents is None and BODY_25B.parents is None


def test_index_and_errors():
    assert BODY_25B.index("left_hip") == 11
    np.testing.assert_array_equal(BODY_25B.indices(["left_hip", "right_hip"]), [11, 12])
    with pytest.raises(KeyError, match="body_25b.*mid_hip.*valid names.*left_hip"):
        BODY_25B.index("mid_hip")
    with pytest.raises(KeyError, match="coco"):
        COCO_17.indices(["nose", "head_top"])
    with pytest.raises(TypeError):
        COCO_17.indices("nose")
    with pytest.raises(KeyError, match="unknown skeleton 'body_99'.*body_25b"):
        get_skeleton("body_99")
    assert get_skeleton("BODY-25B") is BODY_25B and get_skeleton("h36m_17") is H36M_17
    assert get_skeleton(COCO_17) is COCO_17
    with pytest.raises(ValueError, match="body_25"):
        map_to_h36m(np.zeros((3, 17, 2)), None, "body_25")


@pytest.mark.parametrize("skel", ALL, ids=ids)
def test_weights(skel):
    w = to_h36m_weights(skel)
    assert w.shape == (17, skel.num_joints)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert (w != 0).any(axis=1).all()  # every H36M joint is covered
    mapping = sk.H36M_MAPPINGS[skel.name]
    assert set(mapping) == set(H36M_17.joints)
    for joint in ("left_hip", "right_knee", "left_wrist", "right_shoulder"):  # limbs map 1:1
        assert w[H36M_17.index(joint), skel.index(joint)] == 1.0
    if skel is H36M_17:
        np.testing.assert_array_equal(w, np.eye(17))


def _random_pose(skel, shape=(), d=2, seed=0):
    rng = np.random.default_rng(seed)
    kp = rng.uniform(0, 1000, (*shape, skel.num_joints, d)).astype(np.float32)
    conf = rng.uniform(0.1, 1.0, (*shape, skel.num_joints)).astype(np.float32)
    return kp, conf


def test_map_body25b_pelvis_and_masking():
    s, h = BODY_25B, H36M_17
    kp, conf = _random_pose(s)
    out, oconf = map_to_h36m(kp, conf, s)
    out, oconf = np.asarray(out), np.asarray(oconf)
    assert out.shape == (17, 2) and oconf.shape == (17,)
    lh, rh = s.index("left_hip"), s.index("right_hip")
    np.testing.assert_allclose(out[h.index("pelvis")], (kp[lh] + kp[rh]) / 2, rtol=1e-6)
    assert oconf[h.index("pelvis")] == min(conf[lh], conf[rh])
    np.testing.assert_array_equal(out[h.index("head")], kp[s.index("head_top")])
    np.testing.assert_array_equal(out[h.index("neck_nose")], kp[s.index("nose")])
    np.testing.assert_array_equal(out[h.index("left_knee")], kp[s.index("left_knee")])
    assert np.isfinite(out).all() and (oconf > 0).all()

    # a NaN hip: pelvis and spine are invalid, everything not depending on the left hip stays valid
    for bad_kp, bad_conf in ((np.nan, conf[lh]), (kp[lh, 0], 0.0), (kp[lh, 0], np.nan)):
        kp2, conf2 = kp.copy(), conf.copy()
        kp2[lh, 0], conf2[lh] = bad_kp, bad_conf
        out2, oconf2 = (np.asarray(a) for a in map_to_h36m(kp2, conf2, s))
        bad = {h.index(j) for j in ("pelvis", "spine", "left_hip")}
        for i in range(17):
            if i in bad:
                assert np.isnan(out2[i]).all() and oconf2[i] == 0
            else:
                assert np.isfinite(out2[i]).all() and oconf2[i] > 0
                np.testing.assert_array_equal(out2[i], out[i])


@pytest.mark.parametrize("skel", ALL, ids=ids)
def test_map_batched_matches_single(skel):
    kp, conf = _random_pose(skel, shape=(5, 4), d=2, seed=1)
    nose = skel.index("neck_nose" if skel is H36M_17 else "nose")
    conf[2, 3, nose] = 0.0  # nose missing in one frame
    out, oconf = map_to_h36m(kp, conf, skel)
    assert out.shape == (5, 4, 17, 2) and oconf.shape == (5, 4, 17)
    single, sconf = map_to_h36m(kp[2, 3], conf[2, 3], skel)
    np.testing.assert_allclose(out[2, 3], single, rtol=1e-6)
    np.testing.assert_array_equal(oconf[2, 3], sconf)
    assert np.isnan(np.asarray(single)[H36M_17.index("neck_nose")]).all()
    # 3-D, no confidence: everything valid with confidence 1
    kp3, _ = _random_pose(skel, shape=(3,), d=3)
    out3, conf3 = map_to_h36m(kp3, None, skel.name)
    assert out3.shape == (3, 17, 3) and np.isfinite(out3).all()
    np.testing.assert_array_equal(conf3, 1.0)
    np.testing.assert_allclose(out3, np.einsum("kj,njd->nkd", to_h36m_weights(skel), kp3), rtol=1e-5)


def test_map_under_jit():
    kp, conf = _random_pose(BODY_25, shape=(7,))
    f = jax.jit(map_to_h36m, static_argnames="skeleton")
    out, oconf = f(kp, conf, skeleton=BODY_25)
    ref, rconf = map_to_h36m(kp, conf, BODY_25)
    np.testing.assert_allclose(out, ref, rtol=1e-6)
    np.testing.assert_array_equal(oconf, rconf)


def test_map_real_openpose_body25b():
    people = json.loads(OPENPOSE_JSON.read_text())["people"]
    raw = np.array([p["pose_keypoints_2d"] for p in people], dtype=np.float32).reshape(len(people), 25, 3)
    out, conf = (np.asarray(a) for a in map_to_h36m(raw[..., :2], raw[..., 2], BODY_25B))
    assert out.shape == (len(people), 17, 2)
    h = H36M_17
    complete = [i for i in range(len(people)) if (raw[i, :, 2] > 0).all()]
    assert complete, "expected at least one fully detected person"
    for i in complete:
        assert np.isfinite(out[i]).all() and (conf[i] > 0).all()
        pelvis, head = out[i, h.index("pelvis")], out[i, h.index("head")]
        assert head[1] < out[i, h.index("thorax"), 1] < out[i, h.index("spine"), 1] < pelvis[1]  # y down
        lx, rx = out[i, h.index("left_hip"), 0], out[i, h.index("right_hip"), 0]
        assert (lx - pelvis[0]) * (rx - pelvis[0]) < 0
        assert out[i, h.index("left_ankle"), 1] > out[i, h.index("left_knee"), 1] > pelvis[1]
        np.testing.assert_allclose(pelvis, raw[i, [11, 12], :2].mean(0), rtol=1e-6)
    # OpenPose writes undetected joints as (0, 0, 0): they, and what derives from them, are masked
    for i in range(len(people)):
        missing = raw[i, :, 2] == 0
        if missing[BODY_25B.indices(["left_hip", "right_hip"])].any():
            assert conf[i, h.index("pelvis")] == 0 and np.isnan(out[i, h.index("pelvis")]).all()
