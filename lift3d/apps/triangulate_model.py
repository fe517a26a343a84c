"""`lift3d triangulate --model WORKDIR --videos ...`: a trained algebraic model (learnable triangulation) end to end
on a rig's videos.

The detector's keypoints (`--keypoints`, e.g. `lift3d detect`'s) only place each view's crop; the model sees the
crops and their projection matrices and gives the 3D joints (Human3.6M's 17) through its learned-confidence DLT
(`lift3d.predict.lt_videos.triangulate_videos`). Written with the motion writers; no outlier rules, gap filling or
filter (the model's output as it is).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from lift3d.core.keypoints import match_views
from lift3d.core.skeleton import H36M_17, get_skeleton, map_to_h36m
from lift3d.errors import CaptureInputError
from lift3d.io.atomic import OutputSet
from lift3d.io.keypoints import read_keypoints
from lift3d.io.motion import write_motion
from lift3d.io.rigs import load_rig

__all__ = ["triangulate_with_model"]


def triangulate_with_model(config) -> dict:  # noqa: ANN001 (a TriangulateConfig: the app above imports this one)
    """Run `config.model` on `config.videos` (one per keypoint camera, in their order); write `config.out`.

    Returns:
        {"points_3d": (t, 17, 3) rig units, "weights": (t, v, 17), "frames": (t,), "views": names, "outputs": paths}.
    """
    from lift3d.predict.lt_videos import triangulate_videos
    from lift3d.train.lt_eval import load_model

    if config.fps is None and config.out:
        raise CaptureInputError("--model: pass --fps (the motion files record the frame rate)")
    rig = load_rig(config.rig)
    kp = read_keypoints(list(config.keypoints), format=config.format,
                        skeleton=get_skeleton(config.skeleton) if config.skeleton else None)  # fmt: skip
    if len(config.videos) != len(kp.views):
        raise CaptureInputError(f"--videos: {len(config.videos)} videos for the {len(kp.views)} keypoint cameras "
                                f"{list(kp.views)}: give one video per camera, in their order")  # fmt: skip
    video_of = dict(zip(kp.views, config.videos, strict=True))
    kp, rig = match_views(kp, rig)
    model_dir = Path(config.model)
    model, meta = load_model(model_dir / "model" if (model_dir / "model").is_dir() else model_dir)
    size = dict(meta["config"].get("dataset_options", ())).get("image_size", 64)
    points, conf = (np.asarray(a, np.float64) for a in map_to_h36m(kp.points[:, :, 0], kp.confidence[:, :, 0],
                                                                    kp.skeleton))  # fmt: skip
    points = np.where(conf[..., None] > 0, points, np.nan)
    res = triangulate_videos(model, rig, [video_of[v] for v in kp.views], kp.frame_ids, points, views=rig.names,
                             image_size=size)  # fmt: skip
    outputs = []
    with OutputSet():
        for path in map(Path, config.out):
            outputs.append(write_motion(path, res.points_3d, joint_names=H36M_17.joints, fps=config.fps or kp.fps,
                                        units=rig.units, frame_ids=res.frames, y_up=config.y_up))  # fmt: skip
    found = np.isfinite(res.points_3d[..., 0])
    print(f"model {model_dir}: {len(res.frames)} frames, {len(rig.names)} cameras, {int(found.sum())} of "
          f"{found.size} joints triangulated")  # fmt: skip
    for k, name in enumerate(rig.names):
        print(f"{name:<12} mean learned weight {float(res.weights[:, k].mean()):.3f}")
    for path in outputs:
        print(f"wrote {path}")
    fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(res)}  # not `asdict`: it deep-copies arrays
    return fields | {"outputs": tuple(outputs)}
