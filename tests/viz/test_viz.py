"""lift3d.viz and lift3d.apps.view: headless Open3D renders that agree with project_points, videos, plots, overlays."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lift3d.apps.view import canonical_joint_name, run_view, skeleton_for_names
from lift3d.calibration.intrinsics import coverage_grid
from lift3d.core.rig import Rig
from lift3d.core.skeleton import H36M_17
from lift3d.geometry.camera import Camera, project_points
from lift3d.io.motion import write_motion, zup_to_yup
from lift3d.io.rigs import load_rig
from lift3d.viz import overlay, plots, render
from lift3d.viz.scene import PALETTE, SkeletonGeometry, Track, build_scene, side_colors

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RIG_TOML = SHARED / "pose2sim_trials" / "Calib_qualisys_from_v0.4.15.toml"
needs_shared = pytest.mark.skipif(not RIG_TOML.is_file(), reason="../shared/data is not present")

_POSE = {  # a standing person, metres, Z up, facing -y
    "pelvis": (0, 0, 0.95), "right_hip": (-0.12, 0, 0.93), "right_knee": (-0.13, 0.02, 0.52),
    "right_ankle": (-0.14, 0.05, 0.08), "left_hip": (0.12, 0, 0.93), "left_knee": (0.13, 0.02, 0.52),
    "left_ankle": (0.14, 0.05, 0.08), "spine": (0, 0.01, 1.2), "thorax": (0, 0, 1.45), "neck_nose": (0, -0.08, 1.55),
    "head": (0, -0.02, 1.7), "left_shoulder": (0.19, 0, 1.43), "left_elbow": (0.32, 0, 1.17),
    "left_wrist": (0.38, -0.08, 0.92), "right_shoulder": (-0.19, 0, 1.43), "right_elbow": (-0.32, 0, 1.17),
    "right_wrist": (-0.38, -0.08, 0.92),
}  # fmt: skip
POSE = np.array([_POSE[j] for j in H36M_17.joints], float)


def walking(t=6):
    """(t, 17, 3) the pose moving 10 cm a frame along x, with the left wrist missing in frame 1."""
    pts = POSE[None] + np.arange(t)[:, None, None] * np.array([0.1, 0, 0])
    pts[1, H36M_17.index("left_wrist")] = np.nan
    return pts


def small_rig(size=(320, 240)) -> Rig:
    cams = []
    for a in (0.0, 2.0, 4.0):
        eye = np.array([3.5 * np.sin(a), -3.5 * np.cos(a), 1.6])
        cams.append(render.look_at(eye, [0, 0, 0.9], image_size=size, fov_deg=50))
    return Rig.from_cameras(["front", "left", "back"], cams, units="m")


@pytest.fixture(scope="module")
def offscreen():
    """Skip only where Open3D truly cannot open an offscreen context (no EGL driver)."""
    import open3d as o3d

    vis = o3d.visualization.Visualizer()
    with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
        ok = vis.create_window(visible=False, width=32, height=32)
    if not ok:
        pytest.skip("Open3D cannot open an EGL offscreen context: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri")
    vis.destroy_window()


def _blobs(img: np.ndarray, min_area: int = 3) -> np.ndarray:
    mask = (img.min(-1) > 128).astype(np.uint8)
    n, _, stats, centroids = cv2.connectedComponentsWithStats(mask)
    return centroids[1:][stats[1:, cv2.CC_STAT_AREA] >= min_area]


# ---------------------------------------------------------------------------------------------- renders


def test_png_is_not_blank_and_shows_the_person(offscreen, tmp_path):
    rig = small_rig()
    scene = build_scene([Track(walking(), H36M_17, name="walk")], rig, trajectories=["left_ankle"])
    path = render.render_png(scene, tmp_path / "f.png", frame=2, image_size=(320, 240))
    img = cv2.imread(str(path))[..., ::-1]
    assert img.shape == (240, 320, 3)
    background = (img == 255).all(-1)
    assert 0.01 < (~background).mean() < 0.6
    base = np.round(255 * PALETTE[0])  # the person's colour (lit, so allow shading)
    hue = np.abs(img.astype(float) / np.maximum(img.max(-1, keepdims=True), 1) - base / base.max()).max(-1)
    assert ((hue < 0.15) & ~background).sum() > 30


def _render_points(camera: Camera, points: np.ndarray, rig=None) -> np.ndarray:
    scene = build_scene([Track(points[None], None, colors=np.ones((1, 3)))], rig, floor=False, frusta=rig is not None,
                        joint_radius=0.02)  # fmt: skip
    with render.OffscreenRenderer(scene, background=(0, 0, 0), lighting=False) as r:
        return r.render(camera)


GRID = np.stack(np.meshgrid([-0.7, 0, 0.7], [-0.5, 0, 0.5], [0.0], indexing="ij"), -1).reshape(-1, 3)


@pytest.mark.parametrize(
    "model, dist", [("pinhole", (-0.25, 0.08, 0.004, -0.003, 0.0)), ("fisheye", (0.08, -0.03, 0.01, 0.0, 0.0))]
)
def test_render_through_a_camera_lands_where_project_points_says(offscreen, model, dist):
    """Off-centre principal point, fx != fy, skew and lens distortion: blob centroids within 0.5 px."""
    pose = render.look_at([0.4, -3.0, 0.5], [0, 0, 0], (0, 0, 1), image_size=(320, 240))
    K = np.array([[290.0, 1.5, 171.3], [0, 305.0, 104.8], [0, 0, 1]])
    cam = Camera.create(K, R=pose.R, t=pose.t, dist=dist, image_size=(320, 240), model=model)
    X = GRID[:, [0, 2, 1]]  # in the plane facing the camera
    img = _render_points(cam, X)
    assert img.shape == (240, 320, 3)
    uv = np.asarray(project_points(cam, X), float)
    found = _blobs(img)
    assert len(found) == len(X)
    d = np.linalg.norm(found[:, None] - uv[None], axis=-1)
    assert d.min(1).max() < 0.5  # every blob sits on a projected joint...
    assert sorted(d.argmin(1).tolist()) == list(range(len(X)))  # ...and every joint has its blob
    centred = render.look_at([0.4, -3.0, 0.5], [0, 0, 0], (0, 0, 1), image_size=(320, 240))  # the fast path
    uv = np.asarray(project_points(centred, X), float)
    d = np.linalg.norm(_blobs(_render_points(centred, X))[:, None] - uv[None], axis=-1)
    assert d.min(1).max() < 0.5


@needs_shared
def test_render_from_a_real_rig_camera_hides_its_own_frustum(offscreen):
    rig = load_rig(RIG_TOML)  # Qualisys cameras, portrait, with distortion
    X = np.array([[0.0, 0.0, 0.5], [0.3, 0.3, 1.0], [-0.3, 0.2, 1.5]])
    scene = build_scene([Track(X[None], None, colors=np.ones((1, 3)))], rig, floor=False, joint_radius=0.02)
    cam = render.view_camera(scene, (272, 480), camera="cam_02")
    assert tuple(np.asarray(cam.image_size)) == (272, 480)
    with render.OffscreenRenderer(scene, background=(0, 0, 0), lighting=False) as r:
        img = r.render(cam)
    uv = np.asarray(project_points(cam, X), float)
    found = _blobs(img)
    d = np.linalg.norm(found[:, None] - uv[None], axis=-1)
    assert d.min(0).max() < 1.0
    assert img[:, 0].max() < 200 and img[0].max() < 200  # no frustum of cam_02 framing the image


def test_video_has_every_frame(offscreen, tmp_path):
    scene = build_scene([Track(walking(5), H36M_17)], small_rig())
    path = render.render_video(scene, tmp_path / "v.mp4", fps=10, image_size=(161, 120))
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    assert len(frames) == 5
    assert frames[0].shape == (120, 160, 3)  # odd width cropped to even
    assert np.abs(frames[0].astype(int) - frames[4].astype(int)).mean() > 0.5  # the person moved
    assert not list(tmp_path.glob(".*tmp*"))


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


def test_static_geometry_follows_the_conventions():
    from lift3d.geometry.volume import cuboid_grid
    from lift3d.viz.scene import camera_labels, cuboid_lines, frusta_lines, volume_points

    rig = small_rig()
    ls = frusta_lines(rig, size=0.5)
    pts = np.asarray(ls.points).reshape(3, 8, 3)
    assert np.allclose(pts[:, 0], rig.centers)
    for v in range(3):  # the 4 far corners are the image corners at depth 0.5 m
        uv = np.asarray(project_points(rig[v], pts[v, 1:5], apply_distortion=False))
        assert np.allclose(uv, [[-0.5, -0.5], [319.5, -0.5], [319.5, 239.5], [-0.5, 239.5]], atol=1e-3)
        depth = (pts[v, 1:5] - rig.centers[v]) @ np.asarray(rig.cameras.R[v])[2]
        assert np.allclose(depth, 0.5)
    labels = camera_labels(rig, up=(0, 0, 1), height=0.1, offset=0.3)
    assert len(labels) == 3
    for mesh, c in zip(labels, rig.centers, strict=True):
        v = np.asarray(mesh.vertices)
        assert np.isclose(v[:, 2].min(), c[2] + 0.3) and np.isclose(np.ptp(v[:, 2]), 0.1)
    box = np.asarray(cuboid_lines([1, 2, 3], 2.0).points)
    assert np.allclose(np.sort(box, 0)[[0, -1]], [[0, 1, 2], [2, 3, 4]])
    values = np.zeros((4, 5, 6))
    values[1, 2, 3], values[3, 4, 5] = 1.0, 0.5
    pc = volume_points(values, center=[0, 0, 1], size=2.0, threshold=0.4)
    grid = np.asarray(cuboid_grid(np.array([0.0, 0, 1]), side_mm=2.0, size=4))  # same convention (cube)
    assert np.allclose(np.asarray(pc.points)[0][0], grid[1, 0, 0, 0])
    assert len(pc.points) == 2 and np.allclose(np.asarray(pc.points)[1], [1, 1, 2])


def test_playback_clock():
    play = render.Playback(10, fps=10)
    assert not play.tick(now=5.0) and play.frame == 0
    play.toggle(now=0.0)
    assert play.tick(now=0.35) and play.frame == 3
    assert play.tick(now=1.25) and play.frame == 2  # wrapped
    play.step(-1)
    assert not play.playing and play.frame == 1
    play.step(-3)
    assert play.frame == 8


@pytest.mark.skipif(shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (interactive window test)")
def test_interactive_window_under_xvfb(tmp_path):
    code = (
        "import numpy as np; from lift3d.viz import render; from lift3d.viz.scene import Track, build_scene;"
        "s = build_scene([Track(np.random.default_rng(0).normal(size=(4, 5, 3)))], labels=True);"
        "render.show(s, close_after_s=0.5, window_size=(320, 240)); print('closed')"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run(["xvfb-run", "-a", sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "closed" in out.stdout


# ------------------------------------------------------------------------------------------------- view


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
    cam = render.view_camera(build_scene([], rig), (272, 480), camera="cam_01")
    uv = np.asarray(project_points(cam, pts[2]))
    drawn = np.abs(img.astype(int) - 255).max(-1) > 60
    inside = [drawn[max(0, int(v) - 2) : int(v) + 3, max(0, int(u) - 2) : int(u) + 3].any() for u, v in uv]
    assert np.mean(inside) > 0.9
    with pytest.raises(ValueError, match=r"frame 99 .*walk\.trc.*10\.\.13"):
        run_view(trc, png=tmp_path / "x.png", frame=99)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(render.RendererUnavailable, match="--png"):
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
    from lift3d.io.rigs import save_rig

    trc = write_motion(tmp_path / "w.trc", walking(3), joint_names=H36M_17.joints, fps=50, frame_ids=np.arange(3))
    rig = save_rig(small_rig(), tmp_path / "rig.toml")
    png = tmp_path / "out" / "f.png"
    assert main(["view", str(trc), "--rig", str(rig), "--png", str(png), "--frame", "1", "--size", "320,240"]) == 0
    assert _png_size(png) == (320, 240) and f"wrote {png}" in capsys.readouterr().out
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


# ------------------------------------------------------------------------------------------------ plots


def _png_size(path) -> tuple[int, int]:
    img = cv2.imread(str(path))
    return img.shape[1], img.shape[0]


def test_plots_write_pngs_of_the_requested_size(tmp_path):
    rig = small_rig()
    X = walking(4)
    uv = np.array(project_points(rig.cameras, X[:, None]))  # (t, v, j, 2)
    uv[:, 1, :, 0] += 2.0  # camera "left" is 2 px off
    conf = np.ones(uv.shape[:3])
    conf[0, 0, 0] = 0
    err = plots.reprojection_errors(rig, X, uv, conf)
    assert err.shape == (4, 3, 17)
    assert np.isnan(err[0, 0, 0]) and np.isnan(err[1, :, H36M_17.index("left_wrist")]).all()
    assert np.nanmax(np.abs(err[:, 0])) < 1e-3 and np.allclose(np.nanmean(err[:, 1]), 2.0, atol=1e-3)
    p = plots.plot_reprojection_heatmap(err, tmp_path / "h.png", views=rig.names, joints=H36M_17.joints,
                                        size=(640, 360))  # fmt: skip
    assert _png_size(p) == (640, 360)
    report = {
        "per_action": {"Walking": {"p1": 41.0, "p2": 30.0}, "Sitting": {"p1": 60.5, "p2": 44.0}},
        "per_joint": {"p1": {j: float(i) for i, j in enumerate(H36M_17.joints)}},
        "average": {"p1": 50.75, "p2": 37.0},
    }
    assert _png_size(plots.plot_mpjpe(report, tmp_path / "m.png", size=(500, 420))) == (500, 420)
    with pytest.raises(ValueError, match="p9"):
        plots.plot_mpjpe(report, tmp_path / "x.png", protocol="p9")
    rng = np.random.default_rng(0)
    cov = {f"cam{i}": coverage_grid(rng.uniform(0, [1088, 1920], (60, 2)), (1088, 1920)) for i in range(3)}
    cov["cam9"] = {"coverage": cov["cam0"], "rms_px": 0.42}
    assert _png_size(plots.plot_calibration_coverage(cov, tmp_path / "c.png", size=(600, 300))) == (600, 300)
    e = err[:, 1]  # (t, j): camera "left"
    p = plots.plot_error_over_time(e[:, None], tmp_path / "t.png", fps=50, frame_ids=np.arange(4) + 7,
                                   joint_names=H36M_17.joints, size=(700, 300))  # fmt: skip
    assert _png_size(p) == (700, 300)
    with pytest.raises(ValueError, match="joint names"):
        plots.plot_error_over_time(e, tmp_path / "t.png", joint_names=["a"])


# ---------------------------------------------------------------------------------------------- overlays


def test_overlay_draws_at_the_projected_joints():
    cam = small_rig()[0]
    img = np.zeros((240, 320, 3), np.uint8)
    kp = np.asarray(project_points(cam, POSE)) + np.array([3.0, 4.0])
    kp[0] = np.nan
    out, err = overlay.draw_reprojection(img, cam, POSE, H36M_17, keypoints=kp, color=(1.0, 1.0, 1.0),
                                         keypoint_color=(1.0, 0, 0), radius=3, thickness=1)  # fmt: skip
    assert out is img
    assert np.isnan(err[0]) and np.allclose(err[1:], 5.0, atol=1e-3)
    uv = np.asarray(project_points(cam, POSE))
    # joint dots (centre, or lighter / darker shades of the joint colour) cover every projected joint
    for u, v in uv:
        assert img[int(round(v)), int(round(u))].max() > 100
    ring = kp[5]  # detections are red rings of radius 5 around the offset positions
    assert img[int(round(ring[1])) - 5 : int(round(ring[1])) + 6, int(round(ring[0])) + 5, 2].max() > 150
    assert img[:, : int(uv[:, 0].min()) - 12].max() == 0  # nothing drawn far away
    behind = np.asarray(project_points(cam, POSE))  # points behind the camera are not drawn
    blank = np.zeros_like(img)
    C = np.asarray(cam.R).T @ -np.asarray(cam.t)
    overlay.draw_reprojection(blank, cam, 2 * C - POSE, H36M_17)
    assert blank.max() == 0 and behind.shape == (17, 2)


def test_overlay_video_and_tiles(tmp_path):
    cam = small_rig()[0]
    src = tmp_path / "in.avi"
    with overlay.video_writer(src, 10, (320, 240)) as w:
        for _ in range(4):
            w.write(np.full((240, 320, 3), 40, np.uint8))
    pts = walking(3)
    out = overlay.overlay_video(src, tmp_path / "out.mp4", cam, pts, H36M_17, frame_ids=[1, 2, 3])
    cap = cv2.VideoCapture(str(out))
    frames = [f for ok, f in iter(lambda: cap.read(), (False, None)) if ok]
    cap.release()
    assert len(frames) == 4
    assert np.abs(frames[0].astype(int) - 40).max() < 20  # frame 0 has no pose: unchanged
    u, v = np.asarray(project_points(cam, pts[1]))[H36M_17.index("pelvis")]
    patch = frames[2][int(v) - 2 : int(v) + 3, int(u) - 2 : int(u) + 3].astype(int)
    assert np.abs(patch - 40).max() > 60
    small = cam.replace(image_size=np.array([100.0, 100.0]))
    with pytest.raises(ValueError, match="320x240"):
        overlay.overlay_video(src, tmp_path / "bad.mp4", small, pts)
    assert not (tmp_path / "bad.mp4").exists()
    mosaic = overlay.tile_images([frames[0], frames[1][:, :160], frames[2]], height=100, labels=["a", "b", "c"])
    assert mosaic.shape == (200, 133 + 67, 3)  # 2 columns: (tile 1 over tile 3), tile 2


def test_viz_imports_stay_light():
    code = (
        "import sys, lift3d.apps.view, lift3d.viz.scene, lift3d.viz.render, lift3d.viz.plots, lift3d.viz.overlay;"
        "heavy = [m for m in ('cv2', 'open3d', 'matplotlib') if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
