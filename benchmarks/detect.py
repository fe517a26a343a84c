"""BlazePose speed and agreement: lift3d's `BlazePoseDetector` vs mediapipe 0.10.14's own ``mp.solutions.pose``.

Data: the real sample's 4 videos (``lift3d fetch pose2sim-videos``: video_SinglePerson, cam01..04, 100 frames
each, 1080x1920 and 1088x1920 px), decoded once into memory. Both sides run MediaPipe's legacy Pose pipeline
(person detector on the first frame, then landmark tracking; model_complexity 1, no landmark smoothing), one fresh
tracker per video; the time is the detector call only (ours includes the BGR -> RGB conversion, mediapipe's does
not), frames/s = 400 / total, best of ``--repeats``. mediapipe runs in its own environment (it pins numpy < 2 and
protobuf < 5): ``benchmarks/mediapipe_reference.py --time`` under ``--mediapipe-python`` (default
/tmp/mpenv/bin/python; its column is skipped, with a note, when absent). mediapipe's XNNPACK uses 1 thread on
desktop Linux and has no thread option in the legacy solution API; ours is timed with 1 and 2 interpreter threads.

Agreement: our landmarks (1 thread) against mediapipe's on all 400 frames, in px (lift3d's pixel-centre
convention on both sides), and the visibility difference.

Usage: python benchmarks/detect.py [--repeats 2] [--mediapipe-python /tmp/mpenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.datasets.samples import fetch_model_files, fetch_sample
from lift3d.io.videos import open_frames
from lift3d.predict.detectors.blazepose import BlazePoseDetector

HERE = Path(__file__).resolve().parent


def read_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video, (h, w, 3) BGR uint8."""
    return [image for _, image in open_frames(path).frames()]


def run_ours(videos: dict[str, list[np.ndarray]], threads: int, repeats: int) -> tuple[float, dict]:
    """Seconds for all videos (best of `repeats` per video) and the points/confidence of the last run."""
    detector = BlazePoseDetector(fetch_model_files("blazepose"), threads=threads)
    total, results = 0.0, {}
    for name, frames in videos.items():
        best = np.inf
        for _ in range(repeats):
            detector.reset()
            start = time.perf_counter()
            outs = [detector.detect(frame) for frame in frames]
            best = min(best, time.perf_counter() - start)
        total += best
        results[name] = outs
    return total, results


def run_mediapipe(python: str, folder: Path, count: int, repeats: int) -> dict | None:
    """mediapipe's timings and landmarks from the reference script in its own environment, or None."""
    if not Path(python).is_file():
        return None
    command = [python, str(HERE / "mediapipe_reference.py"), "--time", "--frames", str(count),
               "--repeats", str(repeats), "--videos", str(folder)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"note: mediapipe run failed ({done.stderr.strip().splitlines()[-1:]})", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def agreement(ours: dict, reference: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-landmark px distances, visibility differences, and frames where only one side found a person."""
    distances, visibility, mismatched = [], [], 0
    for name, outs in ours.items():
        ref = reference["videos"][name]
        for out, expected in zip(outs, ref["frames"], strict=True):
            if (out.points.shape[0] == 1) != (expected is not None):
                mismatched += 1
                continue
            if expected is None:
                continue
            expected = np.asarray(expected)
            pixels = expected[:, :2] * [ref["width"], ref["height"]] - 0.5
            distances.append(np.linalg.norm(out.points[0] - pixels, axis=1))
            visibility.append(np.abs(out.confidence[0] - expected[:, 2]))
    return np.concatenate(distances), np.concatenate(visibility), mismatched


def main() -> None:
    """Run both detectors on the 4 videos and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per video; the fastest counts")
    parser.add_argument(
        "--mediapipe-python",
        default="/tmp/mpenv/bin/python",
        help="interpreter of an environment with mediapipe==0.10.14 and opencv-python-headless",
    )
    args = parser.parse_args()

    import ai_edge_litert

    sample = fetch_sample("pose2sim-videos")
    paths = sample.videos("video_SinglePerson")
    videos = {path.name: read_frames(path) for path in paths}
    count = min(len(frames) for frames in videos.values())
    videos = {name: frames[:count] for name, frames in videos.items()}
    n = sum(len(frames) for frames in videos.values())
    print(machine_info(opencv=cv2.__version__, ai_edge_litert=getattr(ai_edge_litert, "__version__", "?")))
    sizes = ", ".join(f"{name} {f[0].shape[1]}x{f[0].shape[0]}" for name, f in videos.items())
    print(f"data: video_SinglePerson, {len(videos)} videos x {count} frames ({sizes}); best of {args.repeats}")

    rows = []
    ours_1 = None
    for threads in (1, 2):
        seconds, results = run_ours(videos, threads, args.repeats)
        ours_1 = ours_1 or results
        rows.append((f"lift3d BlazePoseDetector (ai-edge-litert, {threads} thread{'s' * (threads > 1)})", seconds))
    mp = run_mediapipe(args.mediapipe_python, paths[0].parent, count, args.repeats)
    if mp is None:
        note = f"mediapipe column skipped: no interpreter at {args.mediapipe_python} (see mediapipe_reference.py)"
    else:
        seconds = sum(t["seconds"] for t in mp["timings"].values())
        rows.append((f"mediapipe {mp['info']['mediapipe']} mp.solutions.pose (1 thread, its default)", seconds))
        note = f"mediapipe env: python {mp['info']['python']}, OpenCV {mp['info']['opencv']} (decoding only)"

    print()
    print("| detector | frames | time (s) | frames/s | ms/frame |")
    print("|---|---:|---:|---:|---:|")
    for label, seconds in rows:
        print(f"| {label} | {n} | {seconds:.2f} | {n / seconds:.1f} | {1e3 * seconds / n:.1f} |")
    print(note)
    if mp is not None:
        distances, visibility, mismatched = agreement(ours_1, mp)
        print(
            f"agreement over {len(distances) // 33} frames x 33 landmarks (lift3d 1 thread vs mediapipe): "
            f"mean {distances.mean():.3f} px, median {np.median(distances):.3f} px, "
            f"95th pct {np.percentile(distances, 95):.3f} px, 99th pct {np.percentile(distances, 99):.3f} px, "
            f"max {distances.max():.2f} px; visibility |diff| mean {visibility.mean():.4f}, max "
            f"{visibility.max():.3f}; frames with a person on one side only: {mismatched}"
        )


if __name__ == "__main__":
    main()
