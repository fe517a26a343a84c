"""The least-squares machinery of calibration: one Levenberg-Marquardt loop with robust weights
(`lsq`), the board bundle adjustment (`bundle`) and the cameras + free points one (`points_bundle`)."""
