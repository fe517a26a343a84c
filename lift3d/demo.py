"""The end-to-end demo on the real Pose2Sim sample capture (`make demo` = `lift3d demo`).

It fetches the sample (or uses a local copy), loads the Qualisys calibration of its 4 cameras (camera table,
`cameras.json`), then triangulates the balancing trial robustly with Butterworth filtering (`balancing.trc`,
`balancing.csv`, a per-joint summary). Later steps (calibration, lifting, rendering, report) append to the same
output folder.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from lift3d.data.rig_io import format_camera_table, load_rig, rig_to_json_dict
from lift3d.data.samples import Sample, fetch_sample, sample_from_folder
from lift3d.fileio import write_json
from lift3d.pipelines.triangulate import format_summary, triangulate_capture

__all__ = ["run_demo"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_demo(
    out_dir: str | os.PathLike[str] = "demo_out", *, sample_dir: str | os.PathLike[str] | None = None
) -> dict:
    """Run the demo and write its outputs.

    Args:
        out_dir: Output folder (created).
        sample_dir: A folder laid out like the fetched sample (e.g. `../shared/data`); if None the sample is
            fetched from PyPI into the cache (once).

    Returns:
        A summary dict: sample root, output paths and timings in seconds.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    sample: Sample = sample_from_folder(sample_dir) if sample_dir is not None else fetch_sample("pose2sim")
    _log(f"[1/2] calibration: {sample.qca}")
    rig = load_rig(sample.qca)
    print(f"Pose2Sim sample: {len(rig)} cameras, Qualisys calibration ({sample.qca.name})")
    print(format_camera_table(rig))
    cameras_json = write_json(out / "cameras.json", {"source": str(sample.qca), **rig_to_json_dict(rig)})

    trial = sample.trial("single_BalancingTrial")
    cams = sorted(p for p in (trial / "pose").iterdir() if p.is_dir())
    _log(f"[2/2] triangulation: {trial.name}, {len(cams)} cameras (robust, refined, Butterworth 6 Hz)")
    result = triangulate_capture(
        rig, cams, skeleton="body_25b", fps=60.0, people=1, out=[out / "balancing.trc", out / "balancing.csv"]
    )
    print(f"\nBalancing trial: {len(result.frame_ids)} frames, one person (the bystander in cam01/cam02 rejected)")
    print(format_summary(result))
    elapsed = time.perf_counter() - start
    outputs = {"cameras": str(cameras_json), **{p.suffix[1:]: str(p) for p in result.outputs}}
    for path in outputs.values():
        print(f"wrote {path}")
    print(f"done in {elapsed:.1f} s")
    return {"sample": str(sample.root), "outputs": outputs, "seconds": elapsed}
