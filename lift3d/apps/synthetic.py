"""`lift3d synthetic`: write the synthetic Human3.6M twin in the real dataset's file layouts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from lift3d.apps.options import check_options, default_of, option
from lift3d.datasets.h36m_dataset import SUBJECTS
from lift3d.errors import ConfigError
from lift3d.io.atomic import OutputSet, check_output
from lift3d.synthetic import twin

__all__ = ["SyntheticConfig", "run"]

Layout = Literal["videopose3d", "martinez", "learnable"]


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Options of `lift3d synthetic`."""

    out: Path = option(help="output folder")
    layout: tuple[Layout, ...] = option(
        ("videopose3d",), comma=True, help="comma-separated: videopose3d, martinez, learnable"
    )
    subjects: tuple[str, ...] = option(
        default_of(twin.make_dataset, "subjects"), comma=True, choices=SUBJECTS, unique=True,
        help="comma-separated subjects",
    )  # fmt: skip
    frames: int = option(
        default_of(twin.make_dataset, "frames_per_sequence"), ge=1, help="frames per take (50 Hz)"
    )
    trials: int = option(default_of(twin.make_dataset, "trials"), ge=1, help="takes per action")
    seed: int = option(0, help="random seed")

    def __post_init__(self):
        check_options(self)


def run(config: SyntheticConfig):
    """Generate the twin and write each layout (all of them, or on an error none); print what was written.
    Returns the dataset."""
    import jax

    check_output(config.out, folder=True)  # refused before any work
    ds = twin.make_dataset(
        jax.random.key(config.seed),
        subjects=list(config.subjects),
        trials=config.trials,
        frames_per_sequence=config.frames,
    )
    writers = {
        "videopose3d": lambda: twin.write_videopose3d(ds, config.out),
        "martinez": lambda: twin.write_martinez(ds, config.out),
        "learnable": lambda: twin.write_learnable_triangulation_labels(
            ds, config.out / "human36m-multiview-labels-GTbboxes.npy"
        ),
    }
    for layout in config.layout:
        if layout not in writers:
            raise ConfigError(f"unknown layout {layout!r}; choose from {', '.join(writers)}")
    with OutputSet():
        written = {layout: writers[layout]() for layout in config.layout}
    for layout, what in written.items():
        print(f"{layout}: {what}")
    print(f"{ds.num_frames} poses of {len(ds.subjects)} subjects, {len(ds.sequences)} takes -> {config.out}")
    return ds
