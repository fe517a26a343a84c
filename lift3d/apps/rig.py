"""`lift3d rig show` and `lift3d rig convert`: look at a rig file, or write it as anipose / Pose2Sim TOML."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from lift3d.apps.options import option

__all__ = ["RigShowConfig", "RigConvertConfig", "run"]


@dataclasses.dataclass(frozen=True)
class RigShowConfig:
    """Options of `lift3d rig show`."""

    rig: Path = option(positional=True, help="rig file")


@dataclasses.dataclass(frozen=True)
class RigConvertConfig:
    """Options of `lift3d rig convert`."""

    input: Path = option(positional=True, help="rig file to read")
    output: Path = option(positional=True, help="TOML file to write (atomically)")


def run(config: RigShowConfig | RigConvertConfig):
    """Print the camera table of a rig (show), or convert it to TOML (convert). Returns the rig."""
    from lift3d.io.atomic import check_output
    from lift3d.io.rig_toml import save_rig
    from lift3d.io.rigs import format_camera_table, load_rig

    if isinstance(config, RigShowConfig):
        rig = load_rig(config.rig)
        print(f"{config.rig}: {len(rig)} cameras")
        print(format_camera_table(rig))
        return rig
    check_output(config.output, (".toml",), hint=" (lift3d writes rigs as anipose / Pose2Sim TOML; it reads OpenCV "
                 "YAML / XML and Qualisys files but does not write them)")  # fmt: skip
    rig = load_rig(config.input)
    save_rig(rig, config.output)
    print(f"wrote {config.output}")
    return rig
