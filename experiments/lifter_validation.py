"""One validation table per real trial for lifter checkpoints (issue 18 items 3-4): what generalises.

Run: ``.venv/bin/python experiments/lifter_validation.py --checkpoints shipped runs/lifter_prior/lifter ...
[--motion runs/trials/*.npz] [--blazepose DIR] [--out runs/lifter_validation.json]``

For each checkpoint (``shipped`` = `lift3d/checkpoints/lifter`):

- **twin**: the synthetic twin's test set (S9, S11, `experiments/lifter_synthetic.py`'s data), 2D as given;
- **projected**: real motion never trained on, placed in the Human3.6M rig and projected through S9's cameras
  (perfect 2D; `experiments/lifter_real_motion_eval.py`): DeepMimic's 5 validation clips and the 3D that
  `lift3d triangulate` gives for each Pose2Sim trial given with ``--motion``;
- **detections**: each view of each Pose2Sim trial lifted from its real OpenPose detections against the 4-view
  triangulation of the same detections (`experiments/lifter_pose2sim.py`, exact rays from the rig), and with
  ``--blazepose`` the same for the BlazePose keypoints `lift3d detect` wrote for the trial's videos.

P1 / P2 in mm (projected rows add N-MPJPE: P1 after the best scale, what knowing the person's size would give). No
checkpoint trained on any of these frames (DeepMimic's validation clips are held out by name,
the Pose2Sim trials never train a checkpoint scored here).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lifter_pose2sim  # noqa: E402
import lifter_real_motion_eval  # noqa: E402

TRIALS = ("single_BalancingTrial", "single_StaticTrial", "multi_StaticTrialParticipant2")
"""The Pose2Sim trials with real detections (multi_StaticTrialParticipant1 scores as single_StaticTrial, to 0.1 mm)."""


def _quiet(fn, argv):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(argv)


def twin_scores(checkpoint) -> dict:
    """The twin's test set (`experiments/lifter_synthetic.py`'s data, `lifter_synthetic_eval.py`'s first row):
    ``p1_mm``, ``p2_mm``, ``pck3d``, ``auc``."""
    from lift3d.predict.lifter import lift_rays, load_lifter
    from lift3d.train.lifter_trainer import evaluate, load_config, load_data

    _, test = load_data(load_config(Path(__file__).resolve().parent / "lifter_synthetic.py"))
    scalars, _ = evaluate(lift_rays(load_lifter(checkpoint), test.rays, min_visible=1, batch_size=4096), test)
    return scalars


def validate(checkpoint: str | None, motion: list[str], blazepose: str | None) -> dict:
    """The rows of one checkpoint: name -> (P1, P2) mm."""
    ck = [] if checkpoint is None else ["--checkpoint", checkpoint]
    rows = {}
    twin = twin_scores(checkpoint)
    rows["twin S9+S11 (2D as given)"] = (twin["p1_mm"], twin["p2_mm"])
    proj = _quiet(lifter_real_motion_eval.main, [*ck, *(["--motion", *motion] if motion else [])])["rows"]
    for name, r in proj.items():
        rows[f"projected {name}"] = (r["p1_mm"], r["p2_mm"], r["n_mpjpe_mm"])
    det = _quiet(lifter_pose2sim.main, [*ck, "--modes", "rig", "--trials", *TRIALS])["trials"]
    if blazepose:
        det |= {f"{Path(blazepose).name} (BlazePose)": _quiet(lifter_pose2sim.main, [
            *ck, "--modes", "rig", "--skeleton", "blazepose", "--trials", blazepose])["trials"][blazepose]}  # fmt: skip
    for trial, r in det.items():
        views = r["results"]["rig"].values()
        rows[f"detections {trial}"] = tuple(float(np.mean([v[k] for v in views])) for k in ("p1_mm", "p2_mm"))
    return rows


def main(argv=None) -> dict:
    """Print one markdown table (rows: validation sets; columns: checkpoints); returns the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", default=["shipped"], help="lifter folders or 'shipped'")
    parser.add_argument("--motion", nargs="*", default=[], help="the trials' 3D (lift3d triangulate output)")
    parser.add_argument("--blazepose", default=None, help="BlazePose keypoints of a trial's videos (lift3d detect)")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    table = {c: validate(None if c == "shipped" else c, args.motion, args.blazepose) for c in args.checkpoints}
    names = list(next(iter(table.values())))
    print("| validation set (P1 / P2 mm; projected: P1 / P2 / N-MPJPE) | " + " | ".join(args.checkpoints) + " |")
    print("|---|" + "---|" * len(args.checkpoints))
    for name in names:
        cells = [" / ".join(f"{x:.1f}" for x in table[c][name]) for c in args.checkpoints]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(table, indent=2) + "\n")
    return table


if __name__ == "__main__":
    main()
