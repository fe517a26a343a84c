"""lift3d.apps.view (`lift3d view`): joint names to skeletons, renders of TRC / npz files with their rig."""

import cv2
import numpy as np
import pytest
from viz.scenes import RIG_TOML, needs_shared, png_size, small_rig, walking

from lift3d.apps.view import canonical_joint_name, run_view, skeleton_for_names
from lift3d.core.motion import zup_to_yup
from lift3d.core.skeleton import H36M_17
from lift3d.errors import RendererUnavailable
from lift3d.geometry.camera import project_points
from lift3d.io.motion import write_motion
from lift3d.io.rigs import load_rig
from lift3d.viz import viewpoints
from lift3d.viz.colors import PALETTE
from lift3d.viz.scene import build_scene


def test_skeleton_from_joint_names():
    assert skeleton_for_names(H36M_17.joints) is H36M_17
    assert [canonical_joint_name(n) for n in ("RKnee", "LBigToe", "Hip", "r_ankle", "head")] == [
        "right_knee", "left_big_toe", "mid_hip", "right_ankle", "head_top"]  # fmt: skip
    names = ["Hip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Neck", "Nose", "Marker"]
    sk = skeleton_for_names(names)
    assert sk.num_joints == len(names)
    edges = {frozenset((names[a], names[b])) for a, b in sk.edges}
    assert frozenset(("RHip", "RKnee")) in edges and frozenset(("LKnee", "LAnkle")) in edges
    assert (names.index("LHip"), names.index("RHip")) in sk.left_right
    assert skeleton_for_names(["a", "b", "c"]) is None


@needs_shared
def test_view_renders_a_yup_trc_with_its_rig(offscreen, tmp_path, monkeypatch):
    """A Pose2Sim-style Y-up TRC is recognised as such, aligned with the Z-up rig and rendered."""
    rig = load_rig(RIG_TOML)
    pts = walking(4) + np.array([-0.3, 0, 0])
    trc = write_motion(tmp_path / "walk.trc", pts, joint_names=H36M_17.joints, fps=50, y_up=True,
                       frame_ids=np.arange(10, 14))  # fmt: skip
    with pytest.warns(UserWarning, match="Y-up"):
        out = run_view(trc, rig=RIG_TOML, png=tmp_path / "v.png", frame=12, image_size=(200, 150))
    img = cv2.imread(out["png"])
    assert img.shape == (150, 200, 3) and (img < 250).any(-1).mean() > 0.01
    # the same through cam_01: the skeleton's pixels are where the rig's camera projects it
    out = run_view(trc, rig=rig, png=tmp_path / "c.png", frame=12, camera="cam_01", image_size=(272, 480), labels=False,
                   y_up=True)  # fmt: skip
    img = cv2.imread(out["png"])
    cam = viewpoints.view_camera(build_scene([], rig), (272, 480), camera="cam_01")
    uv = np.asarray(project_points(cam, pts[2]))
    drawn = np.abs(img.astype(int) - 255).max(-1) > 60
    inside = [drawn[max(0, int(v) - 2) : int(v) + 3, max(0, int(u) - 2) : int(u) + 3].any() for u, v in uv]
    assert np.mean(inside) > 0.9
    with pytest.raises(ValueError, match=r"frame 99 .*walk\.trc.*10\.\.13"):
        run_view(trc, png=tmp_path / "x.png", frame=99)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(RendererUnavailable, match="--png"):
        run_view(trc)


def test_view_overlays_several_files_on_their_frame_numbers(offscreen, tmp_path):
    pts = walking(4)
    a = write_motion(tmp_path / "tri.c3d", pts, joint_names=H36M_17.joints, fps=50, units="m", frame_ids=np.arange(4))
    b = write_motion(tmp_path / "lift.npz", (pts + [0, 0.6, 0]) * 1000, joint_names=H36M_17.joints, fps=50,
                     units="mm", frame_ids=np.arange(2, 6))  # fmt: skip
    out = run_view([a, b], rig=small_rig(), png=tmp_path / "o.png", frame=3, image_size=(320, 240), labels=False)
    assert out["frames"] == 6 and out["notes"] == []
    img = cv2.imread(out["png"])[..., ::-1].astype(float)
    for colour in PALETTE[:2]:  # both results drawn, each in its own colour (shaded by the lights)
        c = colour / colour.max()
        assert (np.abs(img / np.maximum(img.max(-1, keepdims=True), 1) - c).max(-1) < 0.12).sum() > 20


def test_view_command_writes_a_png_and_names_a_bad_frame(offscreen, tmp_path, capsys):
    from lift3d.cli import main
    from lift3d.io.rig_toml import save_rig

    trc = write_motion(tmp_path / "w.trc", walking(3), joint_names=H36M_17.joints, fps=50, frame_ids=np.arange(3))
    rig = save_rig(small_rig(), tmp_path / "rig.toml")
    png = tmp_path / "out" / "f.png"
    assert main(["view", str(trc), "--rig", str(rig), "--png", str(png), "--frame", "1", "--size", "320,240"]) == 0
    assert png_size(png) == (320, 240) and f"wrote {png}" in capsys.readouterr().out
    assert main(["view", str(trc), "--png", str(png), "--frame", "99"]) == 2
    assert "w.trc" in capsys.readouterr().err


def test_view_places_a_root_relative_lift_at_the_triangulated_pelvis(tmp_path):
    from lift3d.apps.view import load_tracks

    pts = walking(3)  # (t, 17, 3) m, H36M-17: joint 0 is the pelvis
    trc = write_motion(tmp_path / "tri.trc", pts, joint_names=H36M_17.joints, fps=50, frame_ids=np.arange(3))
    rel = (pts - pts[:, :1]) * 1000.0  # what `lift3d lift` writes: root-relative, mm, (t, v, p, j, 3)
    np.savez(tmp_path / "lift.npz", points_3d=rel[:, None, None], points_3d_world=rel[:, None, None],
             joint_names=np.asarray(H36M_17.joints), views=np.asarray(["cam01"]), frame_ids=np.arange(3),
             frame=np.asarray("camera, root-relative"), fps=np.asarray(50.0), units=np.asarray("mm"))  # fmt: skip
    tracks, frame_ids, fps, up, notes = load_tracks([trc, tmp_path / "lift.npz"])
    hips = [H36M_17.index("left_hip"), H36M_17.index("right_hip")]
    expected = rel / 1000.0 + pts[:, hips].mean(1)[:, None]
    np.testing.assert_allclose(tracks[1].metres()[:, 0], expected, atol=1e-6)
    assert any("root-relative" in n for n in notes)


def test_view_without_rig_guesses_up(tmp_path):
    from lift3d.apps.view import load_tracks

    trc = write_motion(tmp_path / "w.trc", zup_to_yup(walking(3)), joint_names=H36M_17.joints, fps=50)
    tracks, frame_ids, fps, up, notes = load_tracks([trc])
    assert np.allclose(up, [0, 1, 0]) and fps == 50 and list(frame_ids) == [0, 1, 2]
