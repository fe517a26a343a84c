"""The end-to-end demo on the real Pose2Sim sample capture (`make demo` = `lift3d demo`).

Steps, each writing into the output folder:

1. the Qualisys calibration of the 4 cameras (camera table, ``cameras.json``);
2. intrinsics calibrated from the sample's checkerboard photos and compared with Qualisys (``calibration/``);
3. robust triangulation of the balancing trial with Butterworth filtering (``balancing.trc``, ``balancing.csv``,
   a per-joint summary; the bystander seen by two cameras is rejected) and plots of its reprojection errors;
4. one camera lifted to 3D with the shipped lifter and compared with the triangulation (``lifted_cam01.npz``);
5. pictures: Open3D renders of the scene (cameras, triangulated and lifted skeletons) as PNG, MP4 and GIF, and
   the reprojected skeletons drawn over each camera's scene photo;
6. ``report.html``: the numbers and pictures on one page.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

from lift3d.apps.options import option
from lift3d.apps.triangulate import TriangulateConfig, format_summary, triangulate_capture
from lift3d.datasets.samples import Sample, fetch_sample, sample_from_folder
from lift3d.io.atomic import OutputSet, atomic_write, check_output, write_json
from lift3d.io.rigs import format_camera_table, load_rig, rig_to_json_dict
from lift3d.viz.report_html import Section, write_html_report

__all__ = ["DemoConfig", "run", "run_demo"]

_STEPS = 6


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Options of `lift3d demo` (and the defaults of `run_demo`)."""

    out: Path = option(Path("demo_out"), help="output folder")
    sample: Path | None = option(
        None, help="use a folder laid out like the fetched sample (pose2sim_trials/, pose2sim_calibration/) "
        "instead of downloading, e.g. an offline copy",
    )  # fmt: skip


def run(config: DemoConfig) -> dict:
    """`lift3d demo`: run the demo (it prints its own progress and results)."""
    return run_demo(config.out, sample_dir=config.sample)


def _log(step: int, message: str) -> None:
    print(f"[{step}/{_STEPS}] {message}", file=sys.stderr, flush=True)


def _fmt(x, digits: int = 1) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _subject_keypoints(keypoint_dirs, rig, points_3d, skeleton: str):
    """Per view and frame, the detection closest to the reprojected subject: (t, v, j, 2) px, (t, v, j)."""
    from lift3d.geometry.camera import project_points
    from lift3d.io.keypoints import read_keypoints

    kp = read_keypoints(keypoint_dirs, format="openpose", skeleton=skeleton)
    cams = rig.match(kp.views).cameras
    t, j = points_3d.shape[:2]
    uv = np.asarray(project_points(cams, np.nan_to_num(points_3d).reshape(1, t * j, 3))).reshape(-1, t, j, 2)
    det = np.where(kp.confidence[..., None] > 0, kp.points, np.nan)  # (t, v, p, j, 2)
    gap = np.linalg.norm(det - np.moveaxis(uv, 0, 1)[:, :, None], axis=-1)  # (t, v, p, j)
    count = np.isfinite(gap).sum(-1)
    dist = np.where(count > 0, np.nansum(gap, -1) / np.maximum(count, 1), np.inf)
    slot = np.argmin(dist, axis=-1)[..., None, None]  # (t, v, 1, 1)
    pts = np.take_along_axis(det, slot[..., None], axis=2)[:, :, 0]
    conf = np.take_along_axis(kp.confidence, slot, axis=2)[:, :, 0]
    return pts, conf, kp.views


def _write_gif(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    with atomic_write(path, "wb") as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def run_demo(
    out_dir: str | os.PathLike[str] = DemoConfig.out, *, sample_dir: str | os.PathLike[str] | None = None
) -> dict:
    """Run the demo and write its outputs (see the module doc).

    Args:
        out_dir: Output folder (created).
        sample_dir: A folder laid out like the fetched sample (e.g. `../shared/data`); if None the sample is
            fetched from PyPI into the cache (once).

    Returns:
        A summary dict: sample root, output paths, the headline numbers and the time taken, s.

    Raises:
        OutputError: `out_dir` cannot be written (checked before any work). The outputs are written as one
            set: on an error or Ctrl-C none of them is, and every earlier file in `out_dir` stays as it was.
    """
    start = time.perf_counter()
    out_dir = check_output(out_dir, folder=True)
    sample: Sample = sample_from_folder(sample_dir) if sample_dir is not None else fetch_sample("pose2sim")
    d = _Demo(out_dir, sample)
    with OutputSet():
        d.rig = _cameras(d)
        _intrinsics(d)
        cams, result, subject = _triangulation(d)
        lift, lifted_m = _lift(d, cams, result)
        _pictures(d, result, lift, lifted_m, subject)
        summary = _report(d, start)
    for path in summary["outputs"].values():
        print(f"wrote {path}")
    print(f"done in {summary['seconds']:.1f} s; open {summary['outputs']['report']}")
    return summary


@dataclasses.dataclass
class _Demo:
    """What the steps share: the output folder, the sample, its rig, and what the report collects."""

    out: Path
    sample: Sample
    rig: object = None
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    numbers: dict[str, object] = dataclasses.field(default_factory=dict)
    sections: list[Section] = dataclasses.field(default_factory=list)


def _cameras(d: _Demo):
    """1. the reference calibration: camera table and cameras.json; returns the rig."""
    out, sample, outputs, sections = d.out, d.sample, d.outputs, d.sections
    _log(1, f"Qualisys calibration: {sample.qca}")
    rig = load_rig(sample.qca)
    table = format_camera_table(rig)
    print(f"Pose2Sim sample: {len(rig)} cameras, Qualisys calibration ({sample.qca.name})\n{table}")
    outputs["cameras"] = str(write_json(out / "cameras.json", {"source": str(sample.qca), **rig_to_json_dict(rig)}))
    sections.append(Section("Cameras", [f"{len(rig)} synchronised portrait cameras, Qualisys calibration "
                                        f"({sample.qca.name})."], preformatted=[table]))  # fmt: skip
    return rig


def _intrinsics(d: _Demo) -> None:
    """2. intrinsics from the checkerboard photos, against Qualisys."""
    from lift3d.apps.demo_steps import compare_intrinsics, format_intrinsics_table
    from lift3d.viz import plots

    out, sample, rig, outputs, numbers, sections = d.out, d.sample, d.rig, d.outputs, d.numbers, d.sections
    photos = sample.calibration / "intrinsics" if sample.calibration is not None else None
    if photos is not None and photos.is_dir():
        _log(2, f"intrinsics from the checkerboard photos in {photos}")
        cmp = compare_intrinsics(photos, rig, out / "calibration")
        print("\nIntrinsics from checkerboards vs Qualisys\n" + format_intrinsics_table(cmp))
        coverage = plots.plot_calibration_coverage(cmp.report["cameras"], out / "calibration" / "coverage.png")
        errs = [abs(r["fx_err_pct"]) for r in cmp.rows if r["fx_err_pct"] is not None]
        numbers["fx_error_pct_max"] = max(errs) if errs else None
        outputs.update(intrinsics=str(cmp.rig_path), coverage=str(coverage))
        rows = [(r["camera"], f"{r['views_used']} / {r['views_found']}", _fmt(r["fx"]), _fmt(r["fx_ref"]),
                 _fmt(r["fx_err_pct"], 2) + " %", _fmt(r["rms_px"], 3), ", ".join(r["unusable"]) or "-")
                for r in cmp.rows]  # fmt: skip
        sections.append(Section(
            "Intrinsics from checkerboard photos",
            ["Each camera calibrated from its 4 x 7 checkerboard photos (60 mm squares); fx against the Qualisys "
             "calibration. Photos where the whole board is not found are named."],
            tables=[("", ["camera", "views", "fx (px)", "Qualisys fx (px)", "fx error", "RMS (px)", "unusable"], rows)],
            images=[(coverage, "Where the board corners fell in each image (coverage)")],
        ))  # fmt: skip
    else:
        _log(2, "no checkerboard photos in this sample: intrinsics step skipped")


def _triangulation(d: _Demo):
    """3. robust triangulation of the balancing trial, with its error plots.

    Returns:
        (camera folders, the result, (keypoints, confidences, views, matched rig, raw 3D) of the subject).
    """
    from lift3d.viz import plots

    out, sample, rig, outputs, numbers, sections = d.out, d.sample, d.rig, d.outputs, d.numbers, d.sections
    trial = sample.trial("single_BalancingTrial")
    cams = sorted(p for p in (trial / "pose").iterdir() if p.is_dir())
    _log(3, f"triangulation: {trial.name}, {len(cams)} cameras (robust, refined, Butterworth 6 Hz)")
    result = triangulate_capture(
        rig, cams, skeleton="body_25b", fps=60.0, people=1, out=[out / "balancing.trc", out / "balancing.csv"]
    )
    summary = format_summary(result)
    print(f"\nBalancing trial: {len(result.frame_ids)} frames, one person (the bystander in cam01/cam02 rejected)")
    print(summary)
    outputs.update({p.suffix[1:]: str(p) for p in result.outputs})
    raw = np.asarray(result.raw_points_3d[:, 0], np.float64)  # (t, j, 3) m, before filtering
    kp, conf, views = _subject_keypoints(cams, rig, raw, "body_25b")
    matched = rig.match(views)
    errors = plots.reprojection_errors(matched, raw, kp, conf,
                                       min_confidence=TriangulateConfig.min_confidence)  # (t, v, j) px; fmt: skip
    numbers["reprojection_px"] = float(np.nanmean(result.error_px[:, 0]))
    numbers["cameras_used"] = float(np.nanmean(np.where(result.num_views[:, 0] > 0, result.num_views[:, 0], np.nan)))
    seen = np.isfinite(errors).sum(0)
    mean_errors = np.where(seen > 0, np.nansum(errors, 0) / np.maximum(seen, 1), np.nan)  # (v, j) px
    heat = plots.plot_reprojection_heatmap(mean_errors, out / "reprojection_per_camera_joint.png",
                                           views=matched.names, joints=result.joint_names)  # fmt: skip
    over_time = plots.plot_error_over_time(result.error_px, out / "reprojection_over_time.png", fps=result.fps,
                                           frame_ids=result.frame_ids, joint_names=result.joint_names)  # fmt: skip
    sections.append(Section(
        "Triangulation of the balancing trial",
        [f"{len(result.frame_ids)} frames at {result.fps:g} Hz, OpenPose BODY_25B in 4 views; robust triangulation "
         f"(RANSAC over views, refinement on the distorted reprojection error), gaps up to 10 frames filled, "
         f"Butterworth 6 Hz. Mean reprojection error {numbers['reprojection_px']:.1f} px over the cameras kept "
         f"({numbers['cameras_used']:.2f} cameras a joint on average); Pose2Sim's own run on this trial reported "
         f"10.3 px. Outputs: balancing.trc (OpenSim), balancing.csv."],
        preformatted=[summary],
        images=[(heat, "Mean reprojection error per camera and joint (all detections of the subject, px)"),
                (over_time, "Reprojection error over time")],
    ))  # fmt: skip
    return cams, result, (kp, conf, views, matched, raw)


def _lift(d: _Demo, cams, result):
    """4. one view lifted with the shipped lifter, against the triangulation; returns (lift, lifted 3D in m)."""
    from lift3d.apps.demo_steps import lift_one_view
    from lift3d.viz import plots

    out, rig, outputs, numbers, sections = d.out, d.rig, d.outputs, d.numbers, d.sections
    _log(4, f"lifting {cams[0].name} (one camera) with the shipped lifter")
    lift = lift_one_view(cams[0], rig, result)
    print(f"\nLifted {lift.view} vs triangulation ({lift.frames} frames, H36M-17): MPJPE {lift.mpjpe_mm:.1f} mm, "
          f"P-MPJPE {lift.p_mpjpe_mm:.1f} mm")  # fmt: skip
    numbers.update(lift_mpjpe_mm=lift.mpjpe_mm, lift_p_mpjpe_mm=lift.p_mpjpe_mm)
    pelvis = lift.triangulated_pelvis_m  # (t, 3) m: where the lifted, root-relative pose is drawn
    lifted_m = lift.lifted_world / 1000.0 + pelvis[:, None]
    lifted_path = out / f"lifted_{lift.view}.npz"
    with atomic_write(lifted_path, "wb") as f:
        np.savez_compressed(f, points_3d=lifted_m.astype(np.float32), joint_names=np.asarray(lift.joint_names),
                            frame_ids=result.frame_ids, units=np.asarray("m"), fps=np.asarray(result.fps),
                            p_mpjpe_mm=lift.p_mpjpe_mm, mpjpe_mm=lift.mpjpe_mm)  # fmt: skip
    outputs["lifted"] = str(lifted_path)
    per_joint = plots.plot_mpjpe(
        {"per_joint": {"p2": dict(zip(lift.joint_names, lift.per_joint_mm.tolist(), strict=True))},
         "per_action": {"balancing": {"p2": lift.p_mpjpe_mm}}, "average": {"p2": lift.p_mpjpe_mm}},
        out / f"lift_vs_triangulation_{lift.view}.png", protocol="p2",
        title=f"{lift.view} lifted vs triangulated: P-MPJPE (mm)",
    )  # fmt: skip
    sections.append(Section(
        f"One view lifted to 3D ({lift.view})",
        [f"The shipped lifter (a residual MLP trained on the synthetic Human3.6M twin) lifts {lift.view}'s "
         f"detections of the subject alone. Against the 4-view triangulation mapped to the same 17 joints: "
         f"MPJPE {lift.mpjpe_mm:.1f} mm (pelvis-aligned, world axes), P-MPJPE {lift.p_mpjpe_mm:.1f} mm, over "
         f"{lift.frames} frames. The triangulation is itself detector-based, not ground truth."],
        images=[(per_joint, "P-MPJPE per joint")],
    ))  # fmt: skip
    return lift, lifted_m


def _pictures(d: _Demo, result, lift, lifted_m, subject) -> None:
    """5. pictures: Open3D renders (PNG, MP4, GIF) and the 2D overlays."""
    rig, outputs, sections = d.rig, d.outputs, d.sections
    mid, scene_png, cam_png, video, gif = _renders(d, result, lift, lifted_m)
    overlay_png = _overlays(d, result, subject, mid)
    outputs.update(scene=str(scene_png), scene_camera=str(cam_png), video=str(video), gif=str(gif),
                   overlays=str(overlay_png))  # fmt: skip
    sections.append(Section(
        "Pictures",
        ["Open3D, rendered headless: the 4 cameras, the triangulated skeleton (BODY_25B) and the lifted one "
         f"(H36M-17, placed at the triangulated pelvis). balancing.mp4 holds all {len(result.frame_ids)} frames.",
         "2D overlays: the triangulated skeleton reprojected into each camera (lines) and the subject's "
         "detections (rings joined to their reprojection), drawn over the camera's scene photo from the "
         "calibration session (no video of this trial ships with the sample, so the person is not in it)."],
        images=[(gif, "The trial (every 3rd frame)"), (scene_png, f"Frame {int(result.frame_ids[mid])}"),
                (cam_png, f"The same frame seen from {rig.names[0]}"), (overlay_png, "Reprojection overlays"),
                (video, "Video (MPEG-4)")],
    ))  # fmt: skip


def _renders(d: _Demo, result, lift, lifted_m):
    """The scene rendered headless: a frame (3/4 view and from the first camera), the video and a GIF."""
    from lift3d.core.skeleton import H36M_17, get_skeleton
    from lift3d.viz.offscreen import OffscreenRenderer
    from lift3d.viz.render import render_png, render_video
    from lift3d.viz.scene import Track, build_scene
    from lift3d.viz.viewpoints import view_camera

    out, rig = d.out, d.rig
    _log(5, "rendering (Open3D, headless) and drawing the 2D overlays")
    scene = build_scene([Track(result.points_3d, get_skeleton("body_25b"), "triangulated", result.units),
                         Track(lifted_m, H36M_17, f"lifted {lift.view}", "m")], rig)  # fmt: skip
    mid = len(result.frame_ids) // 2
    renderer = OffscreenRenderer(scene)
    scene_png = render_png(scene, out / "scene.png", frame=mid, frame_ids=result.frame_ids, fps=result.fps,
                           renderer=renderer)  # fmt: skip
    cam_png = render_png(scene, out / f"scene_from_{rig.names[0]}.png", frame=mid, camera=rig.names[0],
                         image_size=(544, 960), frame_ids=result.frame_ids, fps=result.fps,
                         renderer=renderer)  # fmt: skip
    video = render_video(scene, out / "balancing.mp4", fps=result.fps, image_size=(640, 480),
                         frame_ids=result.frame_ids, progress=True)  # fmt: skip
    cam = view_camera(scene, (480, 360))
    gif_frames = []
    for i in range(0, len(result.frame_ids), 3):
        scene.set_frame(i)
        gif_frames.append(renderer.render(cam))
    gif = _write_gif(gif_frames, out / "balancing.gif", fps=result.fps / 3)
    renderer.close()
    return mid, scene_png, cam_png, video, gif


def _overlays(d: _Demo, result, subject, mid: int) -> Path:
    """The triangulated skeleton reprojected over each camera's scene photo, tiled into one PNG."""
    import cv2

    from lift3d.core.skeleton import get_skeleton
    from lift3d.viz import overlay

    out, sample = d.out, d.sample
    kp, conf, views, matched, raw = subject
    tiles, names = [], []
    ext_dir = sample.calibration / "extrinsics" if sample.calibration is not None else None
    skel = get_skeleton("body_25b")
    for i, view in enumerate(views):
        photo = ext_dir / f"{view}_ext.png" if ext_dir is not None else None
        cam_i = matched.cameras[i]
        if photo is not None and photo.is_file():
            image = cv2.imread(str(photo))
        else:  # no scene photo: a grey canvas of the camera's size
            w, h = (int(x) for x in np.asarray(cam_i.image_size))
            image = np.full((h, w, 3), 90, np.uint8)
        overlay.draw_reprojection(image, cam_i, raw[mid], skel, keypoints=kp[mid, i], confidence=conf[mid, i],
                                  min_confidence=TriangulateConfig.min_confidence)  # fmt: skip
        tiles.append(image)
        names.append(f"{view}  frame {int(result.frame_ids[mid])}")
    overlay_png = out / "overlays.png"
    with atomic_write(overlay_png, "wb") as f:
        f.write(cv2.imencode(".png", overlay.tile_images(tiles, cols=4, height=720, labels=names))[1].tobytes())
    return overlay_png


def _report(d: _Demo, start: float) -> dict:
    """6. the report: report.html and summary.json; returns the summary."""
    out, sample, outputs, numbers, sections = d.out, d.sample, d.outputs, d.numbers, d.sections
    elapsed = time.perf_counter() - start
    _log(6, "report")
    report = write_html_report(
        out / "report.html", "lift3d demo: the Pose2Sim sample capture", sections,
        intro=f"Sample: {sample.root} (BSD-3-Clause, Pose2Sim). Made by `lift3d demo` in {elapsed:.0f} s.",
    )  # fmt: skip
    outputs["report"] = str(report)
    write_json(out / "summary.json", {"sample": str(sample.root), "outputs": outputs, "numbers": numbers,
                                      "seconds": elapsed})  # fmt: skip
    return {"sample": str(sample.root), "outputs": outputs, "numbers": numbers, "seconds": elapsed}
