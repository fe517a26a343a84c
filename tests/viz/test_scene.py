"""build_scene and the moving geometry: missing joints hidden, tracks overlaid, left/right shades."""

import numpy as np
import pytest
from viz.scenes import POSE, walking

from lift3d.core.skeleton import H36M_17
from lift3d.viz.colors import PALETTE, side_colors
from lift3d.viz.scene import Track, build_scene
from lift3d.viz.skeleton_geometry import SkeletonGeometry


def test_scene_hides_missing_joints_and_overlays_tracks():
    geom = SkeletonGeometry(H36M_17, 17, bones="cylinder")
    pts = POSE.copy()
    wrist = H36M_17.index("left_wrist")
    pts[wrist] = np.nan
    geom.update(pts)
    sv = np.asarray(geom.geometries[0].vertices).reshape(17, -1, 3)
    assert np.ptp(sv[wrist], axis=0).max() == 0  # collapsed sphere
    assert np.allclose(sv[0].mean(0), POSE[0], atol=1e-3)
    cv = np.asarray(geom.geometries[1].vertices).reshape(len(H36M_17.edges), -1, 3)
    for e, (a, b) in enumerate(H36M_17.edges):
        extent = np.ptp(cv[e], axis=0).max()
        assert (extent == 0) == (wrist in (a, b))
    scene = build_scene([Track(walking(), H36M_17, name="a"), Track(walking(3) * 1000, H36M_17, name="b", units="mm")])
    assert scene.num_frames == 6 and [n for n, _ in scene.legend()] == ["a", "b"]
    assert not np.allclose(scene.legend()[0][1], scene.legend()[1][1])
    scene.set_frame(4)  # beyond track b: its person is hidden, not an error
    with pytest.raises(IndexError):
        scene.set_frame(6)
    jc, bc = side_colors(H36M_17, 17, PALETTE[1])
    assert not np.allclose(jc[H36M_17.index("left_hip")], jc[H36M_17.index("right_hip")])
    assert np.allclose(jc[H36M_17.index("pelvis")], PALETTE[1])
