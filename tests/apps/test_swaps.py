"""Left/right swaps of one camera's detector, in `lift3d triangulate` (issue 17): the mirrored view is given back to
its person (`add_mirrored_views`) and repaired (`repair_left_right_swaps`), by default; off when asked or when the
skeleton has no left/right pairs (said once)."""

import numpy as np
import pytest
from pipeline_dots import motion
from rigs import ring

from lift3d.apps.triangulate import triangulate_arrays
from lift3d.core.rig import Rig
from lift3d.core.skeleton import COCO_17, get_skeleton
from lift3d.geometry.association import add_mirrored_views, views_of_one_person
from lift3d.geometry.camera import project_points


@pytest.fixture(scope="module")
def mirrored_capture():
    """A COCO-17 figure in a 4-camera rig (1088 x 1920 px, 4 m away), 1 px noise, camera 2 mirrored on every third
    frame."""
    rng = np.random.default_rng(3)
    the_rig, truth = Rig(names=("c1", "c2", "c3", "c4"), cameras=ring(4), units="m"), motion(60)
    t, j = truth.shape[:2]
    uv = np.asarray(project_points(the_rig.cameras, truth.reshape(1, t * j, 3))).reshape(4, t, j, 2)
    uv = uv.transpose(1, 0, 2, 3) + rng.normal(0, 1.0, (t, 4, j, 2))
    flip = np.asarray(COCO_17.flip_permutation())
    mirrored = np.arange(t) % 3 == 0
    uv[mirrored, 2] = uv[mirrored, 2][:, flip]
    return the_rig, truth, uv[:, :, None].astype(np.float32), np.ones((t, 4, 1, j), np.float32), mirrored, flip


def test_a_mirrored_view_is_given_back_to_its_person(mirrored_capture):
    """As on the real sample's cam02, where the association left 28 mirrored frames out: each view a person lacks
    is offered again, mirrored; a mirrored detection joins, an unmirrored view or another person does not."""
    the_rig, truth, uv, conf, mirrored, flip = mirrored_capture
    t = len(truth)
    left_out = np.zeros((t, 1, 4), np.int32)
    left_out[mirrored, 0, 2] = -1  # the person without its mirrored view
    fixed = add_mirrored_views(the_rig.cameras, uv, conf, left_out, truth[:, None], flip)
    assert (fixed == 0).all()
    unmirrored = np.where(np.arange(t)[:, None, None] >= 0, left_out, left_out)
    unmirrored[~mirrored, 0, 2] = -1  # a view left out though not mirrored: not a swap, stays out
    again = add_mirrored_views(the_rig.cameras, uv, conf, unmirrored, truth[:, None], flip)
    assert (again[~mirrored, 0, 2] == -1).all()
    elsewhere = uv.copy()
    elsewhere[:, 2] += 400.0  # another person in view 2: not taken, mirrored or not
    assert (add_mirrored_views(the_rig.cameras, elsewhere, conf, left_out, truth[:, None], flip)[mirrored, 0, 2]
            == -1).all()  # fmt: skip


def test_triangulate_repairs_the_swaps_by_default(mirrored_capture):
    the_rig, truth, uv, conf, mirrored, flip = mirrored_capture
    kw = dict(joint_names=COCO_17.joints, fps=30.0, filter="none", progress=False, skeleton=COCO_17)
    on = triangulate_arrays(the_rig, uv, conf, **kw)
    off = triangulate_arrays(the_rig, uv, conf, swaps=False, **kw)
    assert (on.num_views[:, 0] == 4).all()  # every view used, the mirrored one repaired
    # without repair the mirrored view is dropped where its sides project apart (not from the side of the body)
    assert (off.num_views[mirrored, 0, 5:] <= 3).mean() > 0.4 and (off.num_views[~mirrored, 0] == 4).all()
    err_on = np.linalg.norm(on.points_3d[:, 0] - truth, axis=-1)
    assert np.nanmax(err_on) < 0.01  # 1 px noise at 4 m: millimetres
    assert not any("swap repair off" in n for n in on.notes)


def test_skeleton_without_pairs_says_repair_is_off_once(mirrored_capture):
    the_rig, truth, uv, conf, _, _ = mirrored_capture
    lone = get_skeleton("coco").__class__(name="mystery", joints=tuple(f"p{k}" for k in range(17)), edges=(),
                                          left_right=())
    res = triangulate_arrays(the_rig, uv, conf, joint_names=lone.joints, fps=30.0, filter="none", progress=False,
                             skeleton=lone, outliers=False)  # fmt: skip
    said = [n for n in res.notes if "swap repair off" in n]
    assert said == ["left/right swap repair off: skeleton 'mystery' has no left/right joint pairs"]


def test_someone_else_in_one_view_is_left_out(mirrored_capture):
    """One detection per view (no tuples to search: `views_of_one_person`): where camera 1 shows a bystander
    1.5 m away instead of the subject, that view is left out whole, even its joints that fall near the subject's."""
    the_rig, truth, uv, conf, mirrored, flip = mirrored_capture
    t = len(truth)
    other = np.asarray(project_points(the_rig.cameras, (truth + [1.5, 0.5, 0.0]).reshape(1, -1, 3)))
    other = other.reshape(4, t, -1, 2).transpose(1, 0, 2, 3)
    bystander = np.arange(t) % 4 == 1
    wrong = uv.copy()
    wrong[bystander, 1, 0] = other[bystander, 1]
    views = views_of_one_person(the_rig.cameras, wrong[:, :, 0], conf[:, :, 0], truth, flip_perm=flip)
    np.testing.assert_array_equal(views[:, 1], ~bystander)  # mirrored camera 2 stays the subject's
    assert views[:, [0, 2, 3]].all()
    res = triangulate_arrays(the_rig, wrong, conf, joint_names=COCO_17.joints, fps=30.0, filter="none",
                             progress=False, skeleton=COCO_17)  # fmt: skip
    assert (res.num_views[bystander, 0] <= 3).all() and (res.num_views[~bystander, 0] == 4).all()
    assert np.nanmax(np.linalg.norm(res.points_3d[:, 0] - truth, axis=-1)) < 0.01
