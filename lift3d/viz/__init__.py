"""Look at results: Open3D scenes and renders, matplotlib plots, OpenCV overlays.

Import the submodule you need; none of them imports Open3D, matplotlib or OpenCV before a function needs it:

- `lift3d.viz.scene`: Open3D geometry (skeletons, camera frusta, floor grid, trajectories, cuboids, volume
  heatmaps) assembled by `build_scene` from `Track`s and a `Rig`.
- `lift3d.viz.render`: headless PNG (`render_png`) and video (`render_video`), renders through any lift3d
  `Camera` that match `project_points` (`OffscreenRenderer`), and the interactive player (`show`).
- `lift3d.viz.plots`: reprojection error per camera and joint, MPJPE per action and joint, calibration coverage,
  error over time (PNG files of an exact size).
- `lift3d.viz.overlay`: reprojected skeletons and detections drawn on images and videos.

`lift3d.apps.view.run_view` is what `lift3d view` calls.
"""
