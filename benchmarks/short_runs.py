"""Short captures: the wall time of a whole `lift3d triangulate` command on the real 100-frame trial, against
Pose2Sim's own triangulation of the same trial in the same run (issue 17 item 6).

lift3d: `lift3d triangulate --rig Calib.qca.txt --keypoints cam01_json ... cam04_json --skeleton body_25b --fps
60 -o OUT.trc` (robust triangulation with swap repair, refinement, outlier rejection, gap filling, Butterworth
filter, writing), timed as a process from outside:

- first use: the package copied to a temporary folder without its bytecode (Python compiles lift3d's modules
  as on the first run after installing; the site-packages' bytecode exists, as after `pip install`), no JAX
  compilation cache (`LIFT3D_JAX_CACHE=0`);
- warm: `--repeat` more runs of the installed package (best and median).

Each run also says whether JAX and `scipy.signal` were imported (a short capture takes the numpy path).

Pose2Sim (optional, its own environment as in `benchmarks/pose2sim_match.py`): `pose2sim_reference.py`, i.e. its
calibration conversion, person association and `triangulate_all` with the trial's settings (no filtering), timed
as a whole process, and its own timer of association + triangulation.

Usage: python benchmarks/short_runs.py [--repeat 5] [--pose2sim-python /tmp/p2senv/bin/python --pose2sim-path DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import machine_info  # sibling module: benchmarks/ is on sys.path when run as a script

import lift3d

ROOT = Path(__file__).resolve().parents[1]
TRIALS = ROOT.parent / "shared" / "data" / "pose2sim_trials"
PROBE = ("import sys\nfrom lift3d.cli import main\nstatus = main(sys.argv[1:])\n"
         "print('modules:', 'jax' in sys.modules, 'scipy.signal' in sys.modules, file=sys.stderr)\n"
         "sys.exit(status)")  # fmt: skip


def lift3d_run(args: list[str], env: dict) -> tuple[float, str]:
    """Wall time of one `lift3d` command in a fresh interpreter, and the modules line it printed."""
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(run.stderr[-3000:])
    line = next(x for x in run.stderr.splitlines() if x.startswith("modules:"))
    jax, signal = (w == "True" for w in line.split()[1:3])
    return seconds, f"jax imported: {jax}, scipy.signal imported: {signal}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pose2sim-python", type=Path)
    parser.add_argument("--pose2sim-path", type=Path)
    args = parser.parse_args()
    print(machine_info(lift3d=lift3d.__version__))
    trial = TRIALS / "single_BalancingTrial"
    out = Path(tempfile.mkdtemp(prefix="short_runs_"))
    cli = ["triangulate", "--rig", str(TRIALS / "Calib.qca.txt"), "--keypoints",
           *(str(trial / "pose" / f"cam0{i}_json") for i in range(1, 5)), "--skeleton", "body_25b", "--fps", "60",
           "-o", str(out / "balancing.trc")]  # fmt: skip

    fresh = out / "package"
    shutil.copytree(ROOT / "lift3d", fresh / "lift3d", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(fresh), "PYTHONDONTWRITEBYTECODE": "1", "LIFT3D_JAX_CACHE": "0"}
    first, modules = lift3d_run(cli, env)
    print(f"\nlift3d triangulate, 4 cameras x 100 frames: first use {first:.2f} s ({modules})")
    warm = [lift3d_run(cli, dict(os.environ))[0] for _ in range(args.repeat)]
    print(f"lift3d triangulate warm: best {min(warm):.2f} s, median {statistics.median(warm):.2f} s "
          f"({args.repeat} runs: {' '.join(f'{s:.2f}' for s in warm)})")  # fmt: skip

    if args.pose2sim_python is None:
        return
    env = {**os.environ, **({"PYTHONPATH": str(args.pose2sim_path)} if args.pose2sim_path else {})}
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        run = subprocess.run([str(args.pose2sim_python), str(ROOT / "benchmarks" / "pose2sim_reference.py"),
                              "--trial", str(trial), "--out", str(out / "p2s.npz")], capture_output=True, text=True,
                             env=env, check=True)  # fmt: skip
        times.append(time.perf_counter() - t0)
    print(f"Pose2Sim ({run.stdout.strip().splitlines()[-1]}): whole process best {min(times):.2f} s "
          f"({' '.join(f'{s:.2f}' for s in times)})")  # fmt: skip
    print(f"ratio Pose2Sim process / lift3d warm (best): {min(times) / min(warm):.1f}x")


if __name__ == "__main__":
    main()
