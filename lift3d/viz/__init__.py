"""Look at results: Open3D scenes and renders, matplotlib plots, OpenCV overlays.

Import the submodule you need; none of them imports Open3D, matplotlib or OpenCV before a function needs it:

- `lift3d.viz.scene`: `build_scene` assembles a `Scene` from `Track`s and a `Rig`, out of the pieces of
  `lift3d.viz.skeleton_geometry` (skeletons and trajectories, moved in place per frame),
  `lift3d.viz.static_geometry` (camera frusta and names, floor grid, cuboids, volume heatmaps) and
  `lift3d.viz.colors` (palette, left/right shades, viridis).
- `lift3d.viz.viewpoints`: the camera a render looks through (`view_camera`, `look_at`).
- `lift3d.viz.offscreen`: headless renders through any lift3d `Camera`, matching `project_points`
  (`OffscreenRenderer`).
- `lift3d.viz.render`: PNG (`render_png`) and video (`render_video`) files with labels (`annotate`).
- `lift3d.viz.player`: the interactive window with playback (`show`, `Playback`, `has_display`).
- `lift3d.viz.plots`: reprojection error per camera and joint, MPJPE per action and joint, calibration coverage,
  error over time (PNG files of an exact size).
- `lift3d.viz.overlay`: reprojected skeletons and detections drawn on images and videos.

`lift3d.apps.view.run_view` is what `lift3d view` calls.
"""
