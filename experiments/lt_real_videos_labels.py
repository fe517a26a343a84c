"""Pseudo-labels of the sample's real videos for `experiments/lt_real_videos.py` (issue 19 item 3, "Real people").

1. `lift3d run`'s stages on ``video_SinglePerson`` (``lift3d fetch pose2sim-videos``: the balancing trial, 4 cameras
   x 100 frames, 60 fps): BlazePose in every view, sync, lift3d's robust triangulation (RANSAC + refinement, swap
   repair, outliers, Butterworth 6 Hz) -> 3D BlazePose-33 joints, mapped to H36M-17. These 3D points are the
   pseudo-labels; projecting them through the rig gives every view 2D labels that agree with each other (the
   crops of `lift3d.datasets.video_frames` project them through their own cameras).
2. The same trial's OpenPose BODY_25B keypoints (``../shared/data/pose2sim_trials/single_BalancingTrial``),
   triangulated by lift3d: the reference that `experiments/lt_real_videos_eval.py` measures against.

Writes ``OUT/labels.npz`` (`lift3d.datasets.video_frames.write_video_labels`: joints_3d_mm (t, 17, 3), frames,
views, detections_2d (t, v, 17, 2) and their confidences (the BlazePose joints mapped to H36M-17 per view, for the
crops at inference), rig, videos) and ``OUT/openpose_3d.npz`` (points_3d (t, 25, 3) m, BODY_25B, frames).

With ``--multi`` also ``OUT/labels_multi_pN.npz`` (`multi_person`): the other person of ``video_MultiPerson`` (same
rig), extra training frames; its balancing subject is the take of ``video_SinglePerson`` and is left out.

Usage: python experiments/lt_real_videos_labels.py [--out runs/lt_real_labels] [--multi]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from lift3d.apps.pipeline import RunConfig
from lift3d.apps.pipeline_stages import run_trial
from lift3d.apps.triangulate import triangulate_capture
from lift3d.core.skeleton import map_to_h36m
from lift3d.datasets.samples import fetch_sample, sample_from_folder
from lift3d.datasets.video_frames import write_video_labels
from lift3d.io.keypoints import read_keypoints
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/lt_real_labels"))
    parser.add_argument("--multi", action="store_true", help="also label video_MultiPerson's two people")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    trial = fetch_sample("pose2sim-videos").trial("video_SinglePerson")
    run_dir = args.out / "run"
    run_trial(trial, RunConfig(folder=trial), out=run_dir, progress=False, log=None)
    rig_path = trial / "calibration" / "Calib.qca.txt"
    rig = load_rig(rig_path)
    kp_npz = run_dir / "pose" / "keypoints.npz"
    res = triangulate_capture(rig, [kp_npz], format="npz", fps=60, progress=False)
    labels, conf = (np.asarray(x, np.float64) for x in map_to_h36m(res.points_3d[:, 0] * 1000.0, None, "blazepose"))
    labels[conf <= 0] = np.nan
    det = read_keypoints(kp_npz, format="npz")
    det2d, det_conf = (np.asarray(x, np.float64) for x in map_to_h36m(det.points[:, :, 0], det.confidence[:, :, 0],
                                                                      det.skeleton))  # fmt: skip
    if not np.array_equal(det.frame_ids, res.frame_ids):
        raise SystemExit(f"detections' frames {det.frame_ids[:3]}... differ from the 3D's {res.frame_ids[:3]}...")
    videos = {v: str(trial / "videos" / f"{v}.mp4") for v in det.views}
    write_video_labels(args.out / "labels.npz", joints_3d_mm=labels, frames=res.frame_ids, views=det.views,
                       detections_2d=det2d, detections_conf=det_conf, rig=str(rig_path), videos=videos)  # fmt: skip
    openpose = sample_from_folder(SHARED) if (SHARED / "pose2sim_trials").is_dir() else fetch_sample("pose2sim")
    op_dirs = sorted((openpose.trial("single_BalancingTrial") / "pose").iterdir())
    op = triangulate_capture(rig, op_dirs, skeleton="body_25b", fps=60, progress=False)
    np.savez(args.out / "openpose_3d.npz", points_3d=op.points_3d[:, 0], frames=op.frame_ids, skeleton="body_25b")
    print(f"labels: {len(labels)} frames x {len(det.views)} views ({', '.join(det.views)}), "
          f"{np.isfinite(labels).all(-1).mean() * 100:.1f} % of the joints labelled; "
          f"OpenPose 3D: {len(op.frame_ids)} frames; {time.perf_counter() - t0:.1f} s -> {args.out}")  # fmt: skip
    if args.multi:
        multi_person(args.out, rig, rig_path, labels)


def multi_person(out: Path, rig, rig_path: Path, single: np.ndarray) -> None:
    """``labels_multi_pN.npz``: the people of ``video_MultiPerson`` (same rig), for training only.

    One of them is the balancing subject in the very take of ``video_SinglePerson`` (its 3D lies within tens of mm
    of a frame there, offset by about one frame): that person is not written (`single`: the balancing labels, mm).

    The detections of a view are not assigned to people there, so each person's "detections" are its 3D labels
    projected through the rig (only the training crops, placed by the same projection, use them).
    """
    from lift3d.geometry.camera import project_points

    t0 = time.perf_counter()
    trial = fetch_sample("pose2sim-videos").trial("video_MultiPerson")
    run_trial(trial, RunConfig(folder=trial, people=2), out=out / "run_multi", progress=False, log=None)
    res = triangulate_capture(rig, [out / "run_multi" / "pose" / "keypoints.npz"], format="npz", fps=60, people=2,
                              progress=False)  # fmt: skip
    videos = {v: str(trial / "videos" / f"{v}.mp4") for v in rig.names}
    for p in range(res.points_3d.shape[1]):
        labels, conf = (np.asarray(x, np.float64) for x in map_to_h36m(res.points_3d[:, p] * 1000.0, None,
                                                                       "blazepose"))  # fmt: skip
        labels[conf <= 0] = np.nan
        # the same take as video_SinglePerson? (its frames would leak the held-out block)
        with np.errstate(all="ignore"):
            d = np.nanmean(np.linalg.norm(labels[:, None] - single[None], axis=-1), -1)  # (t multi, t single)
            near = float(np.nanmedian(np.nanmin(d, 1)))
        if near < 150.0:
            print(f"video_MultiPerson person {p + 1}: the balancing subject of video_SinglePerson (median "
                  f"{near:.0f} mm from its nearest frame there): not written, its frames would hold the held-out "
                  "block")  # fmt: skip
            continue
        det = np.stack([np.asarray(project_points(rig.cameras[v], np.nan_to_num(labels) / 1000.0))
                        for v in range(len(rig.names))], 1)  # fmt: skip
        det = np.where(np.isfinite(labels).all(-1)[:, None, :, None], det, np.nan)
        write_video_labels(out / f"labels_multi_p{p + 1}.npz", joints_3d_mm=labels, frames=res.frame_ids,
                           views=rig.names, detections_2d=det, detections_conf=np.isfinite(det[..., 0]) * 1.0,
                           rig=str(rig_path), videos=videos)  # fmt: skip
        full = np.isfinite(labels).all(-1).sum(-1) >= 8
        print(f"video_MultiPerson person {p + 1}: {full.sum()} of {len(labels)} frames with >= 8 joints")
    print(f"video_MultiPerson: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
