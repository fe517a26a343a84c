"""`lift3d rig align`: the world frame from the people (floor z = 0 under the feet, z up, x forward).

Reads a rig and the 3D result of `lift3d triangulate` made with it (TRC / CSV / C3D / npz, in the rig's world),
finds the floor from the foot contacts and the axes from the body (`lift3d.geometry.ground.align_ground`), and
writes the rig re-expressed in that world (`lift3d.geometry.transforms.transform_cameras`: the images do not
change, so triangulating again with it puts the feet on z = 0), optionally the motion too. Axes: z up (the
floor's normal, towards the head), x forward, y = z x x (left); origin: the contacts' centroid on the floor
(``--origin contacts``) or the old origin dropped onto the floor (``--origin keep``: only the height and the
tilt change).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lift3d.apps.options import check_options, default_of, option
from lift3d.geometry.ground import align_ground

__all__ = ["RigAlignConfig", "run", "FORWARD_HELP"]

FORWARD_HELP = (
    "walk: the pelvis' direction of travel (the old x axis when it travels under --min-travel); "
    "x: the old x axis; camera:NAME: where camera NAME looks"
)


def _check_forward(value: str) -> str:
    if value in ("walk", "x") or (value.startswith("camera:") and len(value) > 7):
        return value
    raise ValueError(f"expected walk, x or camera:NAME, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RigAlignConfig:
    """Options of `lift3d rig align`."""

    rig: Path = option(positional=True, help="rig file (the one the motion was triangulated with)")
    motion: Path = option(help="3D joints triangulated with RIG (.trc, .csv, .c3d, .npz), in its Z-up world")
    output: Path = option(short="-o", help="aligned rig to write (TOML)")
    motion_out: Path | None = option(None, help="also write the motion in the new world (.trc, .csv, .c3d, .npz)")
    forward: str = option("walk", check=_check_forward, metavar="walk|x|camera:NAME", help=FORWARD_HELP)
    origin: str = option(
        "contacts", choices=("contacts", "keep"), help="contacts: their centroid on the floor; keep: old origin's x, y"
    )
    fps: float | None = option(None, gt=0, help="frame rate, for files without one (CSV)")
    max_speed: float = option(
        default_of(align_ground, "max_speed"), gt=0, help="m/s: a foot joint faster than this is not in contact"
    )
    min_spread: float = option(
        default_of(align_ground, "min_spread"),
        gt=0,
        help="m: contacts spread less across a direction fix no tilt along it",
    )
    min_travel: float = option(
        default_of(align_ground, "min_travel"),
        gt=0,
        help="m: the pelvis must travel this far to give the forward direction",
    )

    def __post_init__(self):
        check_options(self)


def run(config: RigAlignConfig):
    """Align the rig's world on the floor under the feet; write the rig (and motion). Returns the alignment."""
    import numpy as np

    from lift3d.core.motion import yup_to_zup, zup_to_yup
    from lift3d.errors import MotionFileError
    from lift3d.geometry.ground import apply_frame
    from lift3d.geometry.transforms import transform_cameras
    from lift3d.io.atomic import OutputSet
    from lift3d.io.motion import read_motion, write_motion
    from lift3d.io.rig_toml import save_rig
    from lift3d.io.rigs import load_rig

    with OutputSet() as outputs:
        outputs.add(config.output, (".toml",))
        if config.motion_out is not None:
            outputs.add(config.motion_out, (".trc", ".csv", ".c3d", ".npz"))
        rig = load_rig(config.rig)
        motion = read_motion(config.motion, **({"fps": config.fps} if config.motion.suffix.lower() == ".csv" else {}))
        points = motion.to_units("m").points
        points = yup_to_zup(points) if motion.y_up else points
        metres = rig.to_units("m")
        forward = None
        if config.forward.startswith("camera:"):
            forward = np.asarray(metres[config.forward[7:]].R)[2]  # the optical axis in the world
        try:
            result = align_ground(
                points, motion.joint_names, fps=motion.fps, forward=forward, walk=config.forward == "walk",
                origin=config.origin, max_speed=config.max_speed, min_spread=config.min_spread,
                min_travel=config.min_travel,
            )  # fmt: skip
        except ValueError as err:
            raise MotionFileError(f"{config.motion}: {err}") from None
        frame = result.frame
        cameras = transform_cameras(metres.cameras, 1.0, frame.rotation, frame.translation)
        metadata = {**rig.metadata, "world": f"lift3d rig align: feet of {config.motion.name} on z = 0"}
        aligned = dataclasses.replace(metres, cameras=cameras, metadata=metadata)
        save_rig(aligned, config.output, units=rig.units)
        if config.motion_out is not None:
            moved = apply_frame(frame, points)
            moved = zup_to_yup(moved) if motion.y_up else moved
            write_motion(
                config.motion_out, moved / {"m": 1.0, "mm": 1e-3}[motion.units], joint_names=motion.joint_names,
                fps=motion.fps, units=motion.units, error=motion.error, ncams=motion.ncams, score=motion.score,
                y_up=bool(motion.y_up), frame_ids=motion.frame_ids,
            )  # fmt: skip
    print(format_alignment(result))
    for path in outputs.written:
        print(f"wrote {path}")
    return result


def format_alignment(result) -> str:
    """A few lines: contacts, floor fit, tilt, axes, contact heights in the new world."""
    import numpy as np

    from lift3d.geometry.ground import apply_frame

    plane, frame = result.plane, result.frame
    height = apply_frame(frame, result.contacts)[:, 2] * 1000.0
    inlier = plane.weights > 0
    source = {"walk": "walking direction", "given": "given direction", "old x": "old x axis"}[result.forward_source]
    return "\n".join([
        f"floor: {len(height)} foot contacts ({inlier.sum()} inliers), normal from "
        + {"plane": "the contacts' plane", "line": "the contacts' line + the body's up",
           "body": "the body's up (contacts too compact to tilt)"}[plane.mode],
        f"up (old world): [{', '.join(f'{v:.4f}' for v in plane.normal)}], tilt from the old z: "
        f"{result.tilt_deg:.2f} deg; floor {plane.offset * 1000:.1f} mm along it",
        f"forward: {source}; origin (old world, m): [{', '.join(f'{v:.3f}' for v in frame.origin)}]",
        f"contact heights after (mm): median {np.median(height):.1f}, 95th percentile of |h| "
        f"{np.percentile(np.abs(height), 95):.1f} (inliers {np.percentile(np.abs(height[inlier]), 95):.1f})",
    ])  # fmt: skip
