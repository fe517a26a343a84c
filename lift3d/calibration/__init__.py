"""Camera calibration: boards, intrinsics per camera, extrinsics of whole rigs, bundle adjustment, reports.

OpenCV detects the boards and solves each camera; lift3d builds the rig, optimises it and reports on it.
Importing this package imports nothing heavy; import the modules:

- `boards`: board specs (`calib/boards/*.toml`, `load_board`), corner detection (`detect_board`,
  `detect_in_source` over image folders, glob patterns or videos), printable boards (`write_board_image`).
- `intrinsics`: `calibrate_camera` (pinhole or fisheye, bad-image rejection, coverage).
- `extrinsics`: per-view board poses, pairwise poses, the spanning-tree initial rig, world frames.
- `bundle`: `bundle_adjust` (robust Levenberg-Marquardt with the Schur complement, or scipy).
- `pipeline`: `calibrate_intrinsics` and `calibrate_extrinsics`, files in, rig TOML + JSON report out.
- `synthetic_board`: rings of cameras, board trajectories, projected or rendered captures with known answers.

Every failure raises `lift3d.errors.CalibrationError` (a `ValueError`) with one clear line.
"""
