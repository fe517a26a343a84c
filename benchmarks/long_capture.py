"""Long-capture benchmark: 1 hour, 8 cameras, 60 fps, 25 joints through the chunked `lift3d triangulate` path.

A synthetic capture (216 000 frames by default) is generated block by block straight into `.npy` files (the
generator holds one block at a time), which the pipeline then reads block by block (`--reader blocks`, a minimal
lazy array; `--reader memmap` maps the files instead, and the mapped pages read then count in the RSS too).
The capture: one person walking on a circle of 1.5 m radius with swinging limbs (25 joints, BODY_25B names),
8 cameras on a ring of 4-5 m (1920 x 1080 px, f ~ 1400 px, mild distortion), exact projection + 1 px noise,
confidence uniform in 0.5-1, 2 % of the observations missing (NaN, confidence 0) and 1 % gross outliers
(50-200 px). The arrays go through `lift3d.apps.triangulate.triangulate_arrays` (what `lift3d triangulate`
runs after reading the files: association, tracking, robust triangulation and refinement per block of 2048
frames, gap filling, Butterworth filter, writers) and the result is written as .npz. Printed: the time (and
per stage), the peak resident memory (`resource.getrusage(...).ru_maxrss`, the whole process, generator
included) and the 3D error against the truth.

With `--json` the capture is also written as OpenPose JSON folders (one file per camera and frame, as OpenPose
and Pose2Sim write them; the rig as a TOML) and the whole command is timed from the files: `triangulate_capture`
(what `lift3d triangulate` runs: reading with its process pool, then the same pipeline), in a fresh process
(`ru_maxrss` of that process and of its reading workers).

Usage: python benchmarks/long_capture.py [--minutes 60] [--fps 60] [--views 8] [--workdir /tmp/lift3d_long]
    [--method ransac] [--no-refine] [--reader blocks|memmap] [--json] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import jax
import numpy as np
from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

from lift3d.apps.triangulate import triangulate_arrays
from lift3d.core.rig import Rig
from lift3d.core.skeleton import BODY_25B
from lift3d.geometry.camera import Camera


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_rig(v: int, rng: np.random.Generator) -> Rig:
    """v landscape cameras on a ring of 4-5 m around the walking area, 1.2-2.5 m high, looking at its centre."""
    cams = []
    for i in range(v):
        a = 2 * np.pi * i / v + rng.normal(0, 0.1)
        r = rng.uniform(4.0, 5.0)
        center = np.array([r * np.cos(a), r * np.sin(a), rng.uniform(1.2, 2.5)])
        z = np.array([0.0, 0.0, 0.9]) - center
        z /= np.linalg.norm(z)
        x = np.cross(z, [0, 0, 1.0])
        x /= np.linalg.norm(x)
        R = np.stack([x, np.cross(z, x), z])
        f = rng.uniform(1350, 1450)
        K = np.array([[f, 0, 960], [0, f, 540], [0, 0, 1]])
        dist = [rng.uniform(-0.08, -0.02), rng.uniform(0.0, 0.05), 0.0, 0.0, 0.0]
        cams.append(Camera.create(K, R=R, t=-R @ center, dist=dist, image_size=[1920, 1080]))
    return Rig.from_cameras([f"cam{i + 1:02d}" for i in range(v)], cams, units="m")


def body_template(rng: np.random.Generator) -> np.ndarray:
    """(25, 3) a standing pose in a body frame (x right, y forward, z up), metres, BODY_25B joint order."""
    layout = {  # name: (x, y, z)
        "nose": (0, 0.1, 1.62), "left_eye": (0.03, 0.08, 1.66), "right_eye": (-0.03, 0.08, 1.66),
        "left_ear": (0.07, 0.0, 1.63), "right_ear": (-0.07, 0.0, 1.63), "left_shoulder": (0.19, 0, 1.42),
        "right_shoulder": (-0.19, 0, 1.42), "left_elbow": (0.24, 0, 1.14), "right_elbow": (-0.24, 0, 1.14),
        "left_wrist": (0.26, 0.05, 0.88), "right_wrist": (-0.26, 0.05, 0.88), "left_hip": (0.1, 0, 0.95),
        "right_hip": (-0.1, 0, 0.95), "left_knee": (0.1, 0.02, 0.52), "right_knee": (-0.1, 0.02, 0.52),
        "left_ankle": (0.1, 0, 0.08), "right_ankle": (-0.1, 0, 0.08), "upper_neck": (0, 0, 1.55),
        "head_top": (0, 0.02, 1.75), "left_big_toe": (0.1, 0.15, 0.02), "left_small_toe": (0.15, 0.12, 0.02),
        "left_heel": (0.1, -0.05, 0.03), "right_big_toe": (-0.1, 0.15, 0.02),
        "right_small_toe": (-0.15, 0.12, 0.02), "right_heel": (-0.1, -0.05, 0.03),
    }  # fmt: skip
    pose = np.array([layout[name] for name in BODY_25B.joints], np.float64)
    return pose * rng.uniform(0.95, 1.05)


def truth(template: np.ndarray, frames: np.ndarray, fps: float) -> np.ndarray:
    """(b, 25, 3) world positions at the given frame numbers: walking on a circle, limbs swinging at 0.9 Hz."""
    time_s = frames / fps
    heading = 2 * np.pi * time_s / 20.0  # one lap of the 1.5 m circle every 20 s
    names = BODY_25B.joints
    swing = np.zeros((len(frames), len(names), 3))
    phase = 2 * np.pi * 0.9 * time_s
    for k, name in enumerate(names):
        side = 1.0 if name.startswith("left") else -1.0 if name.startswith("right") else 0.0
        gain = 0.25 if any(p in name for p in ("ankle", "toe", "heel", "wrist")) else 0.12 if any(
            p in name for p in ("knee", "elbow")) else 0.0
        arm = -1.0 if any(p in name for p in ("wrist", "elbow")) else 1.0
        swing[:, k, 1] = gain * side * arm * np.sin(phase)  # forward / backward
        swing[:, k, 2] = 0.03 * np.abs(np.sin(phase))  # a little bounce
    body = template[None] + swing
    c, s = np.cos(heading + np.pi / 2), np.sin(heading + np.pi / 2)  # face along the circle
    rot = np.stack([np.stack([c, -s, 0 * c], -1), np.stack([s, c, 0 * c], -1),
                    np.stack([0 * c, 0 * c, 1 + 0 * c], -1)], -2)  # (b, 3, 3)  # fmt: skip
    root = np.stack([1.5 * np.cos(heading), 1.5 * np.sin(heading), np.zeros_like(heading)], -1)
    return np.einsum("bik,bjk->bji", rot, body) + root[:, None]


def project(rig: Rig, X: np.ndarray) -> np.ndarray:
    """(b, j, 3) -> (b, v, j, 2) distorted px (OpenCV model, k1, k2 only), float64 numpy."""
    cams = rig.cameras
    R, t, K, d = (np.asarray(a, np.float64) for a in (cams.R, cams.t, cams.K, cams.dist))
    pc = np.einsum("vik,bjk->bvji", R, X) + t[None, :, None]
    x, y = pc[..., 0] / pc[..., 2], pc[..., 1] / pc[..., 2]
    r2 = x * x + y * y
    radial = 1 + r2 * (d[None, :, None, 0] + r2 * d[None, :, None, 1])
    u = K[None, :, None, 0, 0] * x * radial + K[None, :, None, 0, 2]
    w = K[None, :, None, 1, 1] * y * radial + K[None, :, None, 1, 2]
    return np.stack([u, w], -1)


class NpyBlocks:
    """A read-only `.npy` array whose slices along the first axis are read from the file on demand.

    Unlike `np.load(path, mmap_mode="r")`, reading does not map the file, so the pages read do not stay in the
    process's resident set: the peak RSS measures what the pipeline itself holds.
    """

    def __init__(self, path: Path):
        with open(path, "rb") as f:
            major, _ = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            self.shape, fortran, self.dtype = read_header(f)
            self.offset = f.tell()
        if fortran:
            raise ValueError(f"{path}: Fortran order is not supported")
        self.path, self.ndim = path, len(self.shape)
        self.row = int(np.prod(self.shape[1:])) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop, step = key.indices(self.shape[0])
        if step != 1:
            raise IndexError("only contiguous slices of frames")
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * self.row)
            data = np.fromfile(f, self.dtype, (stop - start) * self.row // self.dtype.itemsize)
        return data.reshape((stop - start, *self.shape[1:]))


def _npy_writer(path: Path, shape: tuple[int, ...]):
    """An open file with the .npy header of a float32 C-order array written; the caller appends the data."""
    f = open(path, "wb")  # noqa: SIM115 (closed by the caller)
    np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return f


def generate(workdir: Path, rig: Rig, template: np.ndarray, t: int, fps: float, seed: int, block: int = 8192):
    """Write points.npy (t, v, 1, j, 2) and confidence.npy (t, v, 1, j) float32, one block of frames at a time."""
    v, j = len(rig.names), template.shape[0]
    pts, conf = _npy_writer(workdir / "points.npy", (t, v, 1, j, 2)), _npy_writer(workdir / "confidence.npy",
                                                                                  (t, v, 1, j))  # fmt: skip
    for n, s in enumerate(range(0, t, block)):
        rng = np.random.default_rng([seed, n])
        frames = np.arange(s, min(s + block, t))
        uv = project(rig, truth(template, frames, fps))
        uv += rng.normal(0, 1.0, uv.shape)
        c = rng.uniform(0.5, 1.0, uv.shape[:-1])
        bad = rng.random(c.shape) < 0.01
        uv[bad] += rng.choice([-1, 1], (bad.sum(), 2)) * rng.uniform(50, 200, (bad.sum(), 2))
        missing = rng.random(c.shape) < 0.02
        uv[missing], c[missing] = np.nan, 0.0
        pts.write(uv.astype("<f4").tobytes())
        conf.write(c.astype("<f4").tobytes())
    pts.close()
    conf.close()


def write_json(workdir: Path, rig: Rig, block: int = 8192) -> list[Path]:
    """points.npy / confidence.npy as OpenPose BODY_25B JSON folders ``<cam>_json/<cam>_<frame:012d>.json``
    (a missing joint 0, 0, 0) and the rig as ``rig.toml``; the folders."""
    import orjson

    from lift3d.io.rig_toml import save_rig

    save_rig(rig, workdir / "rig.toml")
    points, conf = NpyBlocks(workdir / "points.npy"), NpyBlocks(workdir / "confidence.npy")
    folders = [workdir / f"{name}_json" for name in rig.names]
    for f in folders:
        f.mkdir(exist_ok=True)
    for s in range(0, len(points), block):
        uv, c = points[s : s + block], conf[s : s + block]
        xyc = np.concatenate([np.nan_to_num(uv), c[..., None]], -1).round(3)  # (b, v, 1, j, 3)
        for k in range(len(uv)):
            for v, folder in enumerate(folders):
                person = {"person_id": [-1], "pose_keypoints_2d": xyc[k, v, 0].ravel().tolist()}
                doc = {"version": 1.3, "people": [person]}
                (folder / f"{rig.names[v]}_{s + k:012d}.json").write_bytes(orjson.dumps(doc))
    return folders


def from_files(workdir: Path, folders: list[Path], fps: float, method: str, refine: bool) -> None:
    """`triangulate_capture` from the JSON files in a fresh process; its time, memory and stages."""
    code = (
        "import resource, sys, time\n"
        "from lift3d.apps.triangulate import triangulate_capture\n"
        "t0 = time.perf_counter()\n"
        f"triangulate_capture({str(workdir / 'rig.toml')!r}, {[str(f) for f in folders]!r}, skeleton='body_25b',"
        f" fps={fps}, method={method!r}, refine={refine}, out=[{str(workdir / 'files3d.npz')!r}], progress=False)\n"
        "self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "print(f'{time.perf_counter() - t0:.1f} {self:.0f} {children:.0f}')\n"
    )
    import subprocess

    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    seconds, rss, workers = run.stdout.split()[-3:]
    print(f"\nfrom the JSON files (triangulate_capture, fresh process): {seconds} s in the call, {wall:.1f} s "
          f"with Python's start; peak RSS {rss} MB (reading workers {workers} MB each at most)")


def time_stages() -> dict[str, float]:
    """Wrap the stages `triangulate_arrays` calls with timers; returns the dict they fill (seconds)."""
    import lift3d.apps.triangulate as app

    stages = {"association + tracking": "_people", "triangulation": "_triangulate_people", "outliers": "_reject",
              "gap filling": "fill_gaps", "filter": "filter_trajectories", "bone fit": "_fit_bones",
              "writing": "_write"}  # fmt: skip
    times = dict.fromkeys(stages, 0.0)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                times[name] += time.perf_counter() - t0
        return wrapper

    for name, attr in stages.items():
        setattr(app, attr, timed(name, getattr(app, attr)))
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=60.0)
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--method", default="ransac", choices=["ransac", "dlt", "pose2sim"])
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--workdir", default="/tmp/lift3d_long")
    ap.add_argument("--keep", action="store_true", help="keep the generated arrays and the output")
    ap.add_argument("--reader", choices=["blocks", "memmap"], default="blocks",
                    help="read the .npy files block by block (default) or memory-map them")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="also time the command from OpenPose JSON files")
    args = ap.parse_args(argv)
    print(machine_info(jax=jax.__version__, numpy=np.__version__), flush=True)
    t = int(round(args.minutes * 60 * args.fps))
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    rig, template = make_rig(args.views, rng), body_template(rng)
    print(f"capture: {t} frames ({args.minutes:g} min at {args.fps:g} fps), {args.views} cameras, "
          f"{template.shape[0]} joints, 1 person; method {args.method}, refine {not args.no_refine}", flush=True)
    t0 = time.perf_counter()
    generate(workdir, rig, template, t, args.fps, args.seed)
    t_gen = time.perf_counter() - t0
    print(f"generated {t} frames in {t_gen:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB", flush=True)
    if args.reader == "memmap":  # the mapped pages read count in the RSS (file-backed, reclaimable)
        points = np.load(workdir / "points.npy", mmap_mode="r")
        confidence = np.load(workdir / "confidence.npy", mmap_mode="r")
    else:
        points, confidence = NpyBlocks(workdir / "points.npy"), NpyBlocks(workdir / "confidence.npy")
    stage_times = time_stages()
    t0 = time.perf_counter()
    result = triangulate_arrays(
        rig, points, confidence, joint_names=BODY_25B.joints, fps=args.fps, out=[workdir / "capture3d.npz"],
        method=args.method, refine=not args.no_refine, progress=sys.stderr.isatty(),
    )  # fmt: skip
    t_tri = time.perf_counter() - t0
    rss = peak_rss_mb()
    # accuracy against the truth, block by block (flat memory here too)
    errors, finite = [], 0
    for s in range(0, t, 8192):
        frames = np.arange(s, min(s + 8192, t))
        d = np.linalg.norm(result.raw_points_3d[frames, 0] - truth(template, frames, args.fps), axis=-1)
        finite += np.isfinite(d).sum()
        errors.append(np.nanmean(d) * len(frames))
    mean_mm = 1000 * sum(errors) / t
    n = t * template.shape[0]
    print(f"\ntriangulate_arrays: {t_tri:.1f} s ({n / t_tri:,.0f} points/s, {t / t_tri:,.0f} frames/s, "
          f"association + tracking + robust triangulation + refinement + gap filling + filter + npz writer)")
    print("time per stage: " + ", ".join(f"{name} {sec:.1f} s" for name, sec in stage_times.items()))
    print(f"peak RSS (whole process): {rss:.0f} MB (target < 2048 MB: {'met' if rss < 2048 else 'MISSED'})")
    print(f"raw 3D error vs truth: mean {mean_mm:.2f} mm over {finite / n:.2%} triangulated joints; "
          f"mean reprojection error {np.nanmean(result.error_px):.2f} px; output {result.outputs[0]} "
          f"({result.outputs[0].stat().st_size / 1e6:.0f} MB)")
    print(f"load average after: {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
    if args.json:
        t0 = time.perf_counter()
        folders = write_json(workdir, rig)
        print(f"\nwrote {t * args.views} OpenPose JSON files in {time.perf_counter() - t0:.0f} s", flush=True)
        from_files(workdir, folders, args.fps, args.method, not args.no_refine)
        print(f"load average after: {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min)")
    if not args.keep:
        shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
