"""The capsule renderer: determinism, shapes, colours where the joints project, occlusion flags."""

import jax
import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17
from lift3d.geometry.camera import camera_center, project_points, stack_cameras
from lift3d.synthetic import multiview_render as mr
from lift3d.synthetic.twin import make_dataset

# 8 views of 60 px, pinhole, default looks: the same compiled renderer as tests/test_lt_dataset.py's set
SIZE, N = 60, 8
J = H36M_17.index


@pytest.fixture(scope="module")
def scene():
    ds = make_dataset(jax.random.key(3), subjects=["S1"], actions=["Directions"], trials=1, frames_per_sequence=2)
    seq, rig = ds.sequences[0], ds.rigs["S1"]
    cams = stack_cameras([rig.cameras[c] for c in range(4)] * 2)
    cams = cams.replace(dist=np.zeros_like(cams.dist))
    joints = np.repeat(seq.points_3d, 4, axis=0)  # view i: frame i // 4, camera i % 4
    return cams, joints.astype(np.float32)


def boxes_around(cams, points, side):
    """Square boxes (n, 4) of `side` full-image px centred at the projections of points (n, 3)."""
    uv = np.asarray(project_points(cams, points[:, None]))[:, 0]
    return np.concatenate([uv - side / 2, uv + side / 2], -1)


def person_boxes(cams, joints):
    uv = np.asarray(project_points(cams, joints))
    centre, side = (uv.min(1) + uv.max(1)) / 2, 1.5 * np.max(uv.max(1) - uv.min(1), -1, keepdims=True)
    return np.concatenate([centre - side / 2, centre + side / 2], -1)


def test_shapes_and_determinism(scene):
    cams, joints = scene
    boxes = person_boxes(cams, joints)
    a = mr.render_views(jax.random.key(0), cams, joints, boxes, size=SIZE, distort=False)
    b = mr.render_views(jax.random.key(0), cams, joints, boxes, size=SIZE, distort=False)
    assert a.images.shape == (N, SIZE, SIZE, 3) and a.images.dtype == np.uint8
    assert a.labels.shape == (N, SIZE, SIZE) and a.labels.dtype == np.int8
    assert a.occluded.shape == (N, 17) and a.occluded.dtype == bool
    assert a.joints_2d.shape == (N, 17, 2) and a.cameras.batch_shape == (N,)
    for x, y in zip(a[:4], b[:4], strict=True):
        np.testing.assert_array_equal(x, y)
    # every view shows the body, and a view depends on its own key only (here: views in reverse order)
    assert np.all(np.any(a.labels >= 0, axis=(1, 2)))
    keys = jax.random.split(jax.random.key(0), N)
    rev = mr.render_views(keys[::-1], cams[::-1], joints[::-1], boxes[::-1], size=SIZE, distort=False)
    np.testing.assert_array_equal(rev.images, a.images[::-1])
    np.testing.assert_array_equal(rev.occluded, a.occluded[::-1])
    c = mr.render_views(jax.random.key(1), cams, joints, boxes, size=SIZE, distort=False)
    assert np.mean(c.images != a.images) > 0.5
    # the joints' pixels are the crop cameras' projections, all inside the person crops
    np.testing.assert_allclose(a.joints_2d, np.asarray(project_points(a.cameras, joints)), atol=1e-3)
    assert np.all((a.joints_2d > 0) & (a.joints_2d < SIZE - 1))


def test_bad_shapes(scene):
    cams, joints = scene
    with pytest.raises(ValueError, match="joints"):
        mr.render_views(jax.random.key(0), cams, joints[:, :5], np.zeros((N, 4)), size=SIZE)


@pytest.mark.parametrize("limb", [("left_hip", "left_knee"), ("right_elbow", "right_wrist"), ("neck_nose", "head")])
@pytest.mark.parametrize("distort", [False, True])
def test_single_limb_lands_on_its_colour(scene, limb, distort):
    cams, joints = scene
    if distort:  # the real lenses: rays through the distortion, joints projected with it
        from lift3d.datasets.h36m import h36m_cameras

        cams = cams.replace(dist=np.tile(h36m_cameras("S1").cameras.dist, (2, 1)))
    k = mr.LIMBS.index((J(limb[0]), J(limb[1])))
    mid = joints[:, [J(limb[0]), J(limb[1])]].mean(1)
    boxes = boxes_around(cams, mid, side=120.0)  # zoom on the limb: its capsule is several px thick
    only = np.arange(len(mr.LIMBS)) == k
    out = mr.render_views(jax.random.key(5), cams, joints, boxes, size=SIZE, limbs=only, distort=distort)
    uv = np.asarray(project_points(out.cameras, mid[:, None], apply_distortion=distort))[:, 0]
    px = np.rint(uv).astype(int)
    labels = out.labels[np.arange(N), px[:, 1], px[:, 0]]
    checked = 0
    for i in range(N):
        if labels[i] == mr.OCCLUDER:  # a random occluder over the limb: nothing to check in this view
            continue
        assert labels[i] == k, f"view {i}: the projected limb centre shows {labels[i]}, not limb {k}"
        rgb = out.images[i, px[i, 1], px[i, 0]].astype(float)
        ref = mr.LIMB_COLOURS[k]
        cos = rgb @ ref / np.linalg.norm(rgb) / np.linalg.norm(ref)
        assert cos > 0.97, f"view {i}: pixel {rgb} is not limb {k}'s colour {ref}"
        assert 0.2 * np.linalg.norm(ref) < np.linalg.norm(rgb) < 1.15 * np.linalg.norm(ref)  # shaded, not bg
        checked += 1
    assert checked >= 5
    # other limbs are not drawn: no other label appears
    assert set(np.unique(out.labels)) <= {k, mr.BACKGROUND, mr.OCCLUDER}


def test_joint_behind_a_limb_is_occluded(scene):
    cams, joints = scene
    joints = joints.copy()
    # put the right forearm across the ray from camera 0 to the head, 1 m in front of the head (frame 0)
    centre = np.asarray(camera_center(cams[0]))
    head = joints[0, J("head")].astype(np.float64)
    ray = (head - centre) / np.linalg.norm(head - centre)
    across = np.cross(ray, [0.0, 0.0, 1.0])
    across /= np.linalg.norm(across)
    p = head - 1000.0 * ray
    for i in range(4):  # frame 0 in all four views
        joints[i, J("right_elbow")] = p - 120.0 * across
        joints[i, J("right_wrist")] = p + 120.0 * across
    boxes = boxes_around(cams, joints[:, J("head")], side=300.0)
    out = mr.render_views(jax.random.key(7), cams, joints, boxes, size=SIZE, distort=False)
    px = np.rint(out.joints_2d[0, J("head")]).astype(int)
    forearm = mr.LIMBS.index((J("right_elbow"), J("right_wrist")))
    assert out.labels[0, px[1], px[0]] in (forearm, mr.OCCLUDER)
    assert out.occluded[0, J("head")]
    # seen from the camera facing camera 0 the most, the forearm is behind the head
    rays = head - np.asarray(camera_center(cams[:4]))
    other = int(np.argmin(rays @ ray / np.linalg.norm(rays, axis=-1)))
    px2 = np.rint(out.joints_2d[other, J("head")]).astype(int)
    assert out.labels[other, px2[1], px2[0]] == mr.LIMBS.index((J("neck_nose"), J("head")))
    assert not out.occluded[other, J("head")]


def test_occlusion_flags_agree_with_the_image(scene):
    """Where an occluder covers a joint's pixel (and its neighbours) the joint is flagged; where the joint's
    pixel and neighbours show one of its own limbs and no occluder, it is not."""
    cams, joints = scene
    keys = jax.random.split(jax.random.key(11), N)
    boxes = boxes_around(cams, joints[:, J("spine")], side=700.0)
    incident = np.array([[j in limb for limb in mr.LIMBS] for j in range(17)])
    hidden = visible = 0
    for rep in range(2):
        out = mr.render_views(jax.random.split(keys[rep], N), cams, joints, boxes, size=SIZE, distort=False)
        for i in range(N):
            for j in range(17):
                x, y = np.rint(out.joints_2d[i, j]).astype(int)
                if not (1 <= x < SIZE - 1 and 1 <= y < SIZE - 1):
                    continue
                patch = out.labels[i, y - 1 : y + 2, x - 1 : x + 2]
                if np.all(patch == mr.OCCLUDER):
                    assert out.occluded[i, j], f"view {i}: joint {H36M_17.joints[j]} under an occluder"
                    hidden += 1
                elif np.all((patch >= 0) & incident[j][np.maximum(patch, 0)]):
                    assert not out.occluded[i, j], f"view {i}: joint {H36M_17.joints[j]} is visible"
                    visible += 1
    assert hidden >= 2 and visible >= 25
