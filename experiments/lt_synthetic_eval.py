"""The learnable-triangulation experiment table on the synthetic multi-view image set's test subjects (S9, S11).

Run (after training the three runs of ``experiments/lt_synthetic.py``, see experiments/RESULTS.md):
``.venv/bin/python experiments/lt_synthetic_eval.py --runs runs`` with ``runs/lt_alg_noconf``, ``runs/lt_alg``
and ``runs/lt_vol`` holding finished runs of the variants ``algebraic_noconf``, ``algebraic`` and ``volumetric``.
Other runs: ``--alg lt_alg_short:algebraic_short --vol lt_vol_init:volumetric_init --noconf none`` (``RUN:VARIANT``
under ``--runs``; without a no-confidence run the argmax rows use the ``--alg`` run's backbone).

Rows (Iskakov et al. 2019, Table 1's protocol on our data):

- **argmax + RANSAC**: the classic baseline. Hard argmax of the heatmaps of ``algebraic_noconf``'s backbone
  (its 2D part is trained like a 2D pose network: soft-argmax L1 in px plus the 3D loss), then
  `triangulate_ransac` on the crops' pinhole cameras (all view pairs, inlier threshold ``--ransac-px``,
  default 4 crop px = one heatmap cell).
- **argmax + DLT**: the same keypoints, every view weighed 1 (shows what RANSAC adds).
- **algebraic, no confidences** / **algebraic**: soft-argmax + (confidence-weighted) DLT, end to end.
- **algebraic, its confidences set to 1**: the ``algebraic`` run's network with every view weighed 1 (what its
  learned confidences add, on the same keypoints).
- **volumetric (softmax)**: cuboid centred on the true pelvis (the training protocol), and on the pelvis
  predicted by the ``algebraic`` run (the paper's test protocol).

Columns: MPJPE relative to the pelvis (P1) and absolute, PCK3D@150 mm, and the relative MPJPE of joints
occluded in at least one view vs visible in all (the renderer's occlusion labels).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

_RUNS = {"noconf": ("lt_alg_noconf", "algebraic_noconf"), "alg": ("lt_alg", "algebraic"),
         "vol": ("lt_vol", "volumetric")}  # fmt: skip
_CONFIG_FILE = Path(__file__).with_name("lt_synthetic.py")


def _load(run: Path, variant: str, *, confidences: bool = True):
    from flax import nnx

    from lift3d.train.lt_eval import load_model
    from lift3d.train.lt_trainer import load_config

    model, meta = load_model(run / "model")
    if not confidences:
        model.use_confidences = False  # static: the head's output is left unused, every view weighs 1
    config = load_config(f"{_CONFIG_FILE}:{variant}")
    graphdef, params, stats = nnx.split(model, nnx.Param, nnx.BatchStat)
    return config, (graphdef, params, stats), meta


def keypoints_baseline(weights, dataset, config, *, ransac_px: float) -> dict[str, dict]:
    """Scalars of hard-argmax keypoints triangulated by RANSAC and by a plain DLT over the test set.

    ``res["ransac"]["argmax_error_px"]``: the mean 2D error of the argmax keypoints, crop px.
    """
    import jax

    from lift3d.geometry.camera import camera_from_projection
    from lift3d.geometry.triangulation import triangulate_dlt, triangulate_ransac
    from lift3d.train.lt_eval import predict_keypoints_2d, score_predictions

    out = {k: [] for k in ("ransac", "dlt", "gt", "valid", "occluded", "px")}
    for batch in dataset.iterate(jax.random.key(config.data_seed), config.eval_batch_size, train=False):
        keep = np.asarray(batch.get("sample_mask", np.ones(len(batch["images"]), bool)), bool)
        kp, _ = predict_keypoints_2d(*weights, batch)
        out["px"].append(np.linalg.norm(kp - np.asarray(batch["joints_2d"]), axis=-1)[keep].ravel())
        present = np.asarray(batch["view_mask"], bool)
        proj = np.asarray(batch["proj"], np.float64)
        proj = np.where(present[..., None, None], proj, proj[present][0])  # a missing view: any camera, no points
        cams = camera_from_projection(proj, np.broadcast_to(np.asarray(dataset.image_size[::-1], float),
                                                            (*proj.shape[:2], 2)))  # fmt: skip
        conf = np.isfinite(kp[..., 0]).astype(np.float32)
        X_r, _ = triangulate_ransac(jax.random.key(0), cams, kp, conf, threshold_px=ransac_px, undistort=False)
        X_d, _ = triangulate_dlt(cams, kp, conf, undistort=False)
        out["ransac"].append(np.asarray(X_r)[keep])
        out["dlt"].append(np.asarray(X_d)[keep])
        out["gt"].append(np.asarray(batch["joints_3d"], np.float32)[keep])
        out["valid"].append(np.asarray(batch["joints_valid"], bool)[keep])
        out["occluded"].append((np.asarray(batch["occluded"], bool) & present[..., None]).any(1)[keep])
    gt, valid, occ = (np.concatenate(out[k]) for k in ("gt", "valid", "occluded"))
    res = {k: score_predictions(np.concatenate(out[k]), gt, valid, occ) for k in ("ransac", "dlt")}
    px = np.concatenate(out["px"])
    res["ransac"]["argmax_error_px"] = float(np.nanmean(px))
    return res


def main(argv=None) -> dict:
    """Print the markdown table; returns {row: scalars}."""
    from lift3d.train.lt_eval import evaluate
    from lift3d.train.lt_trainer import make_dataset

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder holding the three run folders")
    parser.add_argument("--ransac-px", type=float, default=4.0, help="RANSAC inlier threshold, crop px")
    parser.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON here")
    for key, (run, variant) in _RUNS.items():
        parser.add_argument(f"--{key}", default=f"{run}:{variant}", help=f"RUN:VARIANT under --runs ({key}; "
                            "--noconf none: no such run)")  # fmt: skip
    args = parser.parse_args(argv)

    specs = {k: getattr(args, k).partition(":")[::2] for k in _RUNS if getattr(args, k) != "none"}
    loaded = {k: _load(args.runs / run, variant) for k, (run, variant) in specs.items()}
    base_key = "noconf" if "noconf" in loaded else "alg"
    dataset = make_dataset(loaded[base_key][0])
    rows = {}
    base = keypoints_baseline(loaded[base_key][1], dataset, loaded[base_key][0], ransac_px=args.ransac_px)
    rows["argmax + RANSAC"], rows["argmax + DLT (all views)"] = base["ransac"], base["dlt"]
    loaded["alg_ones"] = _load(args.runs / specs["alg"][0], specs["alg"][1], confidences=False)
    for key, name in (("noconf", "algebraic, no confidences"), ("alg_ones", "algebraic, its confidences set to 1"),
                      ("alg", "algebraic, learned confidences"),
                      ("vol", "volumetric (softmax), cuboid at true pelvis")):  # fmt: skip
        if key in loaded:
            config, weights, _ = loaded[key]
            rows[name] = evaluate(*weights, dataset, config)["scalars"]
    centres = args.runs / specs["alg"][0] / "predictions_test.npz"
    config = dataclasses.replace(loaded["vol"][0], center_predictions=str(centres))
    rows["volumetric (softmax), cuboid at algebraic's pelvis"] = evaluate(*loaded["vol"][1], dataset, config)["scalars"]

    steps = {k: v[2].get("step") for k, v in loaded.items()}
    print(f"test samples: {rows['argmax + RANSAC']['num_samples']}; training steps: {steps}")
    print("| method | MPJPE rel (mm) | MPJPE abs (mm) | PCK3D@150 | occluded joints (mm) | visible joints (mm) |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['mpjpe_rel_mm']:.1f} | {r['mpjpe_abs_mm']:.1f} | {100 * r['pck3d']:.1f} % | "
              f"{r['mpjpe_rel_occluded_mm']:.1f} | {r['mpjpe_rel_visible_mm']:.1f} |")  # fmt: skip
    occ = rows["argmax + RANSAC"]
    print(f"joints occluded in >= 1 view: {occ['num_occluded_joints']}, visible in all: {occ['num_visible_joints']}; "
          f"argmax keypoints' mean 2D error: {occ['argmax_error_px']:.2f} crop px")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
