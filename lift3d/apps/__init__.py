"""The jobs users run, one module each: a frozen ``Config`` dataclass and ``run(config)``.

Each app reads files, calls the library and writes and prints results; this is the only layer that does so
on the user's behalf. Every option is a field of the app's Config, with its type, default and help written
once (`lift3d.apps.options`); `lift3d.cli` builds each subcommand from those fields.

==========================  ===============================================  ============================
command                     Config                                           module
==========================  ===============================================  ============================
lift3d triangulate          `TriangulateConfig`                              `lift3d.apps.triangulate`
lift3d calibrate intrinsics `IntrinsicsConfig`                               `lift3d.apps.calibrate`
lift3d calibrate extrinsics `ExtrinsicsConfig`                               `lift3d.apps.calibrate`
lift3d calibrate refine     `RefineConfig`                                   `lift3d.apps.refine`
lift3d lift                 `LiftConfig`                                     `lift3d.apps.lift`
lift3d view                 `ViewConfig`                                     `lift3d.apps.view`
lift3d eval                 `EvaluateConfig`                                 `lift3d.apps.evaluate`
lift3d train lifter         `TrainLifterConfig`                              `lift3d.apps.train`
lift3d train algebraic /    `TrainTriangulationConfig` (model set by the     `lift3d.apps.train`
volumetric                  subcommand)
lift3d synthetic            `SyntheticConfig`                                `lift3d.apps.synthetic`
lift3d demo                 `DemoConfig`                                     `lift3d.apps.demo`
lift3d fetch                `FetchConfig`                                    `lift3d.apps.fetch`
lift3d rig show / convert   `RigShowConfig` / `RigConvertConfig`             `lift3d.apps.rig`
==========================  ===============================================  ============================

From Python, ``run(Config(...))`` does what the command does; the job functions they wrap
(`triangulate_capture`, `calibrate_intrinsics`, `run_refine`, `run_lift`, `run_view`, `run_demo`) take the same
options as keywords, with the Config's defaults.
"""
