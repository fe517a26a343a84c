"""Reading OpenPose JSON folders: lift3d's reader (one process, and its process pool) against a plain
`json.load` loop (how Pose2Sim reads them) in the same run (issue 17 item 4: an hour at 8 cameras is 1.7 M files).

Writes `--frames` frames x `--views` cameras of OpenPose BODY_25B files (`write_openpose`, one or two people per
frame, the real trial's numbers moved about) into a temporary folder, then times:

- `json.load` of every file + one `np.array` per person (Pose2Sim's reading, no checks);
- `read_openpose` in this process (the pool switched off);
- `read_openpose` with its process pool (the default for this many files);

each the best of `--repeat`, after one untimed pass that warms the page cache; µs per file and the projection to
one hour at 60 fps for the same number of cameras.

Usage: python benchmarks/read_openpose.py [--frames 6000] [--views 8] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import best_time, machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

import lift3d
import lift3d.io.keypoints_openpose as openpose
from lift3d.io.keypoints_openpose import read_openpose, write_openpose


def write_capture(root: Path, frames: int, views: int, seed: int = 0) -> None:
    """Synthetic OpenPose folders: 25 joints, one person, a second one in every third frame."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(200, 1800, (1, 1, 25, 2))
    cameras = {}
    for v in range(views):
        pts = base + rng.normal(0, 30, (frames, 2, 25, 2))
        conf = rng.uniform(0.3, 1.0, (frames, 2, 25))
        conf[np.arange(frames) % 3 != 0, 1] = 0.0  # the second person only in every third frame
        cameras[f"cam{v + 1:02d}"] = (np.arange(frames), pts, conf)
    write_openpose(root, cameras)


def plain_json(folders: list[Path]) -> int:
    n = 0
    for d in folders:
        for f in sorted(d.glob("*.json")):
            with open(f) as fh:
                for person in json.load(fh)["people"]:
                    np.array(person["pose_keypoints_2d"], dtype=np.float64)
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=6000)
    parser.add_argument("--views", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(machine_info(lift3d=lift3d.__version__))
    root = Path(tempfile.mkdtemp(prefix="read_openpose_"))
    try:
        t0 = time.perf_counter()
        write_capture(root, args.frames, args.views)
        folders = sorted(p for p in root.iterdir() if p.is_dir())
        files = args.frames * args.views
        written = time.perf_counter() - t0
        print(f"\n{files} files ({args.views} cameras x {args.frames} frames) written in {written:.1f} s")
        plain_json(folders)  # page cache
        hour = 60 * 60 * 60 * args.views
        rows = [("json.load loop (Pose2Sim's reading)", best_time(lambda: plain_json(folders), args.repeat))]
        limit = openpose._PARALLEL_MIN_FILES
        openpose._PARALLEL_MIN_FILES = 10**12
        read = lambda: read_openpose(folders, skeleton="body_25b")  # noqa: E731
        rows.append(("read_openpose, one process", best_time(read, args.repeat)))
        openpose._PARALLEL_MIN_FILES = limit
        rows.append(("read_openpose, process pool", best_time(read, args.repeat)))
        print(f"\n| reader | s | µs per file | one hour at 60 fps, {args.views} cameras (projected) |")
        print("|---|---|---|---|")
        for name, s in rows:
            print(f"| {name} | {s:.2f} | {s / files * 1e6:.1f} | {s / files * hour:.0f} s |")
        print(f"\nratio json.load loop / lift3d pool: {rows[0][1] / rows[2][1]:.2f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
