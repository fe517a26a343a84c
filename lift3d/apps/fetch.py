"""`lift3d fetch`: download a public sample capture (or model files) into the cache and print where they are."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from lift3d.apps.options import option

__all__ = ["FetchConfig", "run"]


@dataclasses.dataclass(frozen=True)
class FetchConfig:
    """Options of `lift3d fetch`."""

    name: Literal["pose2sim", "pose2sim-videos", "blazepose", "deepmimic"] = option(
        "pose2sim", positional=True,
        help="pose2sim: OpenPose JSON + calibration photos; pose2sim-videos: 4-camera videos; "
        "blazepose: the detector's model files (from the mediapipe wheel); "
        "deepmimic: DeepMimic's 15 humanoid motion clips + URDF (from the pybullet wheel, zlib)",
    )
    cache: Path | None = option(None, help="cache folder (default: $LIFT3D_CACHE or ~/.cache/lift3d)")


def run(config: FetchConfig):
    """Fetch (or find in the cache) the sample; print its root, trials and calibration (or the model folder)."""
    from lift3d.datasets.samples import fetch_deepmimic, fetch_model_files, fetch_sample

    if config.name == "deepmimic":
        folder = fetch_deepmimic(cache_dir=config.cache)
        clips = sorted(p.stem.removeprefix("humanoid3d_") for p in (folder / "motions").glob("humanoid3d_*.txt"))
        print(f"motions: {folder / 'motions'} ({', '.join(clips)})")
        print(f"body: {folder / 'humanoid.urdf'}; licence: {folder / 'LICENSE.txt'}")
        return folder
    if config.name == "blazepose":
        folder = fetch_model_files(config.name, cache_dir=config.cache)
        print(f"models: {folder} ({', '.join(sorted(p.name for p in folder.iterdir() if not p.name.startswith('.')))})")
        return folder

    sample = fetch_sample(config.name, cache_dir=config.cache)
    print(f"sample: {sample.root}")
    print(f"trials: {', '.join(sample.trial_names)}")
    for trial in sample.trial_names:
        if videos := sample.videos(trial):
            print(f"videos of {trial}: {', '.join(str(v) for v in videos)}")
    print(f"calibration: {sample.qca}")
    return sample
