"""Baseline for `lift3d eval`: triangulate the synthetic twin's noisy 2D with the triangulation engine.

Writes the twin's test subjects in VideoPose3D's layout and a predictions file, then evaluate with
`lift3d eval`. Run from the repository root:

    .venv/bin/python experiments/h36m_twin_triangulation_baseline.py --out runs/twin_baseline
    .venv/bin/lift3d eval --pred runs/twin_baseline/pred_dlt.npz --data runs/twin_baseline --protocol p1,p2,abs,pck
"""

import argparse
from pathlib import Path

import jax
import numpy as np

from lift3d.eval.h36m_eval import save_predictions
from lift3d.geometry.triangulation import triangulate_sequence
from lift3d.synthetic import twin as synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=250, help="frames per take")
    parser.add_argument("--noise-px", type=float, default=2.0, help="Gaussian 2D noise per coordinate")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    ds = synthetic.make_dataset(jax.random.key(args.seed), subjects=("S9", "S11"), frames_per_sequence=args.frames)
    synthetic.write_videopose3d(ds, args.out)
    rng = np.random.default_rng(args.seed)
    points, subjects, names, frames = [], [], [], []
    for seq in ds.sequences:
        uv = seq.points_2d + rng.normal(0.0, args.noise_px, seq.points_2d.shape).astype(np.float32)
        rig = ds.rigs[seq.subject]  # millimetres
        points.append(triangulate_sequence(rig.cameras, uv, method="dlt").points_3d)
        subjects += [seq.subject] * len(seq)
        names += [seq.name] * len(seq)
        frames.append(seq.frames)
    path = save_predictions(
        args.out / "pred_dlt.npz", np.concatenate(points), subject=subjects, action=names, frame=np.concatenate(frames)
    )
    print(f"wrote {path}: {len(subjects)} poses, 4-view DLT of 2D with {args.noise_px} px noise")


if __name__ == "__main__":
    main()
