"""Score a lifter checkpoint on real human motion placed in the Human3.6M rig and projected (perfect 2D).

Run: ``.venv/bin/python experiments/lifter_real_motion_eval.py [--checkpoint DIR] [--motion FILE ...]
[--deepmimic DIR] [--subject S9] [--out runs/lifter_real_motion.json]``

Motion: DeepMimic's validation clips (`lift3d.datasets.deepmimic.VALIDATION_CLIPS`; ``lift3d fetch deepmimic``,
skipped when not fetched) and any motion file given with ``--motion`` (e.g. the 3D of ``lift3d triangulate`` on
the Pose2Sim trials; joints mapped to H36M-17 and made Z-up by `lift3d.datasets.motion_dataset.read_motions`).

Placing: each take is moved (no rotation) so that the median of its pelvis path is at the twin's capture-volume
centre (`lift3d.synthetic.twin.VOLUME_CENTER_MM`) and the 2nd percentile of its ankle heights at
`ANKLE_HEIGHT_MM`, then projected through the 4 cameras of one Human3.6M subject (distortion included) and made
into rays as a detector's pixels would be (`lift3d.train.data_pipeline.test_samples`). Frames with a missing
joint are left out. P1 = MPJPE after root alignment, P2 = P-MPJPE, N = N-MPJPE (scale aligned), camera frame, mm,
over every frame and camera.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def place_in_h36m(points_m: np.ndarray) -> np.ndarray:
    """(t, 17, 3) metres Z-up -> (t, 17, 3) mm in the H36M world, at the twin's volume centre, feet on its floor."""
    from lift3d.core.skeleton import H36M_17
    from lift3d.synthetic.twin import ANKLE_HEIGHT_MM, VOLUME_CENTER_MM

    mm = points_m * 1000.0
    ankles = mm[:, [H36M_17.index("left_ankle"), H36M_17.index("right_ankle")], 2]
    shift = np.array([*VOLUME_CENTER_MM, ANKLE_HEIGHT_MM]) - [
        *np.median(mm[:, H36M_17.root, :2], axis=0), np.percentile(ankles, 2)
    ]  # fmt: skip
    return mm + shift


def score(lifter, motions: dict[str, np.ndarray], subject: str) -> dict[str, dict]:
    """P1 / P2 (mm) of each take, perfect 2D through `subject`'s cameras."""
    from lift3d.core.skeleton import H36M_17
    from lift3d.datasets.h36m import H36MDataset, Sequence, h36m_cameras
    from lift3d.datasets.motion_dataset import complete_frames
    from lift3d.eval import metrics
    from lift3d.predict.lifter import lift_rays
    from lift3d.train.data_pipeline import test_samples

    rows = {}
    for name, pts in motions.items():
        pts = pts[complete_frames(pts)]
        seq = Sequence(subject, name, np.arange(len(pts)), place_in_h36m(pts).astype(np.float32))
        ds = H36MDataset([seq], {subject: h36m_cameras(subject)}).with_projections()
        test = test_samples(ds, root_index=H36M_17.root)
        pred = lift_rays(lifter, test.rays)
        rows[name] = {
            "p1_mm": float(metrics.mpjpe(pred, test.target, root=H36M_17.root)),
            "p2_mm": float(metrics.p_mpjpe(pred, test.target, root=H36M_17.root)),
            "n_mpjpe_mm": float(metrics.n_mpjpe(pred, test.target, root=H36M_17.root)),
            "frames": len(pts),
            "poses": len(test),
        }
    return rows


def main(argv=None) -> dict:
    """Print a markdown table of P1 / P2 per take; returns the numbers."""
    from lift3d.datasets import deepmimic, samples
    from lift3d.datasets.motion_dataset import read_motions
    from lift3d.predict.lifter import load_lifter

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="lifter folder (default: the shipped one)")
    parser.add_argument("--motion", type=Path, nargs="*", default=[], help="motion files (TRC, C3D, CSV, npz)")
    parser.add_argument("--deepmimic", default=None, help="DeepMimic folder (default: the fetched one, if any)")
    parser.add_argument("--subject", default="S9", help="whose Human3.6M cameras see the motion")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)

    motions: dict[str, np.ndarray] = {}
    folder = args.deepmimic or samples.cached_model_files("deepmimic")
    if folder is not None:
        clips = deepmimic.load_clips(folder, deepmimic.VALIDATION_CLIPS)
        motions |= {f"deepmimic/{k}": m.points for k, m in clips.items()}
    for path in args.motion:
        motions |= {f"motion/{k}": v for k, v in read_motions(path).items()}
    if not motions:
        parser.error("no motion: fetch DeepMimic (`lift3d fetch deepmimic`) or give --motion FILE")
    lifter = load_lifter(args.checkpoint)
    rows = score(lifter, motions, args.subject)
    print(f"| take ({args.subject}'s cameras, perfect 2D) | frames | P1 (mm) | P2 (mm) |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in rows.items():
        print(f"| {name} | {r['frames']} | {r['p1_mm']:.1f} | {r['p2_mm']:.1f} |")
    groups = {g: [r for k, r in rows.items() if k.startswith(g)] for g in ("deepmimic/", "motion/")}
    for g, rs in groups.items():
        if rs:  # pose-weighted means over the group's takes
            w = np.array([r["poses"] for r in rs], float)
            p1, p2, n = (float(np.average([r[k] for r in rs], weights=w)) for k in ("p1_mm", "p2_mm", "n_mpjpe_mm"))
            print(f"| **{g}all** | {sum(r['frames'] for r in rs)} | {p1:.1f} | {p2:.1f} |")
            rows[f"{g}all"] = {"p1_mm": p1, "p2_mm": p2, "n_mpjpe_mm": n}
    result = {"checkpoint": str(lifter.path) if hasattr(lifter, "path") else args.checkpoint, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
