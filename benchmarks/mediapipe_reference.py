"""MediaPipe's own Pose solution on the real sample's videos: the reference fixture and its speed.

Runs in a separate environment holding mediapipe 0.10.14 (never lift3d's; no lift3d import here)::

    python3.11 -m venv /tmp/mpenv && /tmp/mpenv/bin/pip install mediapipe==0.10.14 opencv-python-headless
    /tmp/mpenv/bin/python benchmarks/mediapipe_reference.py --frames 30 \
        --out tests/data/blazepose/mediapipe_0.10.14_reference.json      # the test fixture
    /tmp/mpenv/bin/python benchmarks/mediapipe_reference.py --frames 100 --time   # timings + landmarks, JSON

The settings are those `lift3d.predict.detectors.blazepose.BlazePoseDetector` reproduces:
``Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False, enable_segmentation=False)``, one
per video. It is built as ``Pose`` builds itself (same graph, side packets and calculator options, through
``SolutionBase``), observing two more of the graph's own outputs: the regions of interest (ROI) from the
detection and from the previous landmarks, so the fixture also records the ROI each frame's landmarks came
from (exact float32 values), which lets the test check the landmark stage frame by frame apart from tracking.
Landmarks are MediaPipe's normalised x, y and the visibility, rounded to 5 decimals; a frame without a person
is null. The md5 of the decoded frames is stored so the test can tell a decoder difference from a detector
difference. MediaPipe's XNNPACK runs one thread on desktop Linux (its default).
"""

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np
from mediapipe.python.solution_base import SolutionBase
from mediapipe.python.solutions import pose as mp_pose

VIDEOS = Path("~/.cache/lift3d/pose2sim-0.10.49/pose2sim_trials/video_SinglePerson/videos").expanduser()
NAMES = ("cam01.mp4", "cam02.mp4", "cam03.mp4", "cam04.mp4")


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    """The first `count` frames of a video, (h, w, 3) BGR uint8 each."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < count:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    if not frames:
        sys.exit(f"{path}: no frames could be read")
    return frames


def make_pose():
    """``mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False,
    enable_segmentation=False)``, built as its ``__init__`` does, also observing the graph's ROI outputs."""
    return SolutionBase(
        binary_graph_path=mp_pose._BINARYPB_FILE_PATH,
        side_inputs={"model_complexity": 1, "smooth_landmarks": False, "enable_segmentation": False,
                     "smooth_segmentation": False, "use_prev_landmarks": True},
        calculator_params={
            "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": 0.5,
            "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator.threshold": 0.5,
        },
        outputs=["pose_landmarks", "pose_rect_from_detection", "pose_rect_from_landmarks"],
    )  # fmt: skip


def _rect(rect) -> list[float] | None:
    return None if rect is None else [rect.x_center, rect.y_center, rect.width, rect.height, rect.rotation]


def run_video(frames: list[np.ndarray]) -> tuple[list, list, float]:
    """MediaPipe's landmarks per frame (33 [x, y, visibility], or None), the ROI each came from (x_center,
    y_center, width, height, rotation, normalised; or None), and the seconds spent in ``process``.

    A fresh graph per call; the time counts ``process`` only (not the BGR -> RGB conversion).
    """
    pose = make_pose()
    out, rois, spent = [], [], 0.0
    previous = None  # the ROI the landmarks of the last frame give for this one
    try:
        for frame in frames:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            start = time.perf_counter()
            result = pose.process({"image": rgb})
            spent += time.perf_counter() - start
            roi = _rect(result.pose_rect_from_detection) or previous
            previous = _rect(result.pose_rect_from_landmarks)
            if result.pose_landmarks is None:
                out.append(None)
                rois.append(None)
            else:
                out.append([[round(lm.x, 5), round(lm.y, 5), round(lm.visibility, 5)]
                            for lm in result.pose_landmarks.landmark])  # fmt: skip
                rois.append(roi)
    finally:
        pose.close()
    return out, rois, spent


def main() -> None:
    """Parse the arguments, run MediaPipe on each video, write the fixture and/or print timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30, help="frames per video (from the first)")
    parser.add_argument("--videos", type=Path, default=VIDEOS, help="folder holding cam01..04.mp4")
    parser.add_argument("--out", type=Path, help="write the reference landmarks here (JSON)")
    parser.add_argument("--time", action="store_true", help="print timings and landmarks as JSON on stdout")
    parser.add_argument("--repeats", type=int, default=1, help="runs per video; the fastest is reported")
    args = parser.parse_args()

    reference = {
        "mediapipe": mp.__version__,
        "settings": "Pose(static_image_mode=False, model_complexity=1, smooth_landmarks=False, "
        "enable_segmentation=False)",
        "format": "per video: frames[i] = null or 33 x [x, y, visibility], x and y normalised (MediaPipe's); "
        "rois[i] = the ROI frames[i] came from, [x_center, y_center, width, height, rotation rad] (float32 values)",
        "videos": {},
    }
    timings = {}
    for name in NAMES:
        frames = read_frames(args.videos / name, args.frames)
        landmarks, rois, spent = run_video(frames)
        for _ in range(args.repeats - 1):
            spent = min(spent, run_video(frames)[2])
        digest = hashlib.md5(b"".join(f.tobytes() for f in frames)).hexdigest()
        height, width = frames[0].shape[:2]
        reference["videos"][name] = {"width": width, "height": height, "frames_md5": digest, "frames": landmarks,
                                     "rois": rois}  # fmt: skip
        timings[name] = {"frames": len(frames), "seconds": spent}
        print(f"{name}: {len(frames)} frames, {len(frames) / spent:.1f} frames/s, "
              f"{sum(f is None for f in landmarks)} without a person", file=sys.stderr)  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
        print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)", file=sys.stderr)
    if args.time:
        info = {"mediapipe": mp.__version__, "opencv": cv2.__version__, "python": platform.python_version(),
                "cpu_count": os.cpu_count()}  # fmt: skip
        print(json.dumps({"info": info, "timings": timings, "videos": reference["videos"]}))


if __name__ == "__main__":
    main()
