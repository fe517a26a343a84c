"""Multi-view triangulation: the linear DLT, robust view selection, refinement, whole sequences, fixed-rig kernels.

Modules: `linear` (the confidence-weighted DLT over numpy or jax.numpy, reprojection errors), `robust` (RANSAC
over view pairs, a jitted variant of Pose2Sim's camera removal, left/right swap repair), `pose2sim` (Pose2Sim's
own triangulation and gap filling, reproduced to float64 rounding), `refine` (per-point Levenberg-Marquardt),
`fixed_rig` (a rig compiled into fast structure-of-arrays kernels) and `sequence` (`triangulate_sequence`:
chunked captures on the fastest backend that applies: float64 numpy for short ones, which never imports JAX).
The public names are re-exported here.
"""

from lift3d.geometry.triangulation.fixed_rig import make_triangulator, newton_steps_for
from lift3d.geometry.triangulation.linear import TriangulationInfo, reprojection_error, triangulate_dlt
from lift3d.geometry.triangulation.pose2sim import interpolate_pose2sim, triangulate_pose2sim_exact
from lift3d.geometry.triangulation.refine import refine_points
from lift3d.geometry.triangulation.robust import (
    SwapRepair,
    repair_left_right_swaps,
    triangulate_pose2sim,
    triangulate_ransac,
)
from lift3d.geometry.triangulation.sequence import (
    SequenceResult,
    choose_backend,
    fixed_rig_applies,
    triangulate_sequence,
)

__all__ = [
    "TriangulationInfo", "SwapRepair", "SequenceResult", "triangulate_dlt", "reprojection_error",
    "refine_points", "triangulate_ransac", "triangulate_pose2sim", "repair_left_right_swaps",
    "triangulate_pose2sim_exact", "interpolate_pose2sim",
    "triangulate_sequence", "fixed_rig_applies", "choose_backend", "make_triangulator", "newton_steps_for",
]
