"""The learnable-triangulation trainer's dataset ``"real_videos"``: real frames with pseudo-labels + the synthetic set.

``LTConfig.dataset_options`` (pairs): ``labels`` (the labels ``.npz`` of `lift3d.datasets.video_frames`, e.g.
written by ``experiments/lt_real_videos_labels.py``), ``rig`` (default the labels' own rig file),
``image_size`` (crop side, default 64), ``test_frames`` ([start, stop) frame numbers held out, default (70,
100)), ``box_scale``, ``augment``, ``jitter``, ``rotate_deg``, ``color_jitter`` (`build_video_frames`),
``extra_labels`` (more labels files, e.g. another trial of the same rig, used for training only: all their frames),
``real_fraction`` (share
of training batches from the real frames, default 0.5; 1.0: no synthetic set) and ``synthetic`` (pairs: the
synthetic set's own options, `lift3d.synthetic.multiview_dataset.synthetic_multiview_dataset`).
"""

from __future__ import annotations

import dataclasses

from lift3d.datasets.video_frames import MixedDataset, VideoFramesDataset, build_video_frames, read_video_labels
from lift3d.errors import ConfigError

__all__ = ["real_videos_dataset"]

_FRAME_OPTIONS = ("box_scale", "augment", "jitter", "rotate_deg", "color_jitter", "seed")


def real_videos_dataset(config):
    """The dataset of a config naming ``"real_videos"`` (see the module doc).

    Raises:
        ConfigError: No ``labels`` option, or an unknown option.
        TrainingDataError: Bad labels, videos or rig (`build_video_frames`).
    """
    from lift3d.io.rigs import load_rig

    opts = dict(config.dataset_options)
    if "labels" not in opts:
        raise ConfigError("dataset 'real_videos' needs dataset_options ('labels', PATH) (a labels .npz written by "
                          "experiments/lt_real_videos_labels.py)")  # fmt: skip
    labels = opts.pop("labels")
    rig = load_rig(opts.pop("rig", None) or read_video_labels(labels)["rig"])
    size = int(opts.pop("image_size", 64))
    test = tuple(int(x) for x in opts.pop("test_frames", (70, 100)))
    fraction = float(opts.pop("real_fraction", 0.5))
    synthetic = tuple(opts.pop("synthetic", ()))
    frame_opts = {k: opts.pop(k) for k in _FRAME_OPTIONS if k in opts}
    extra = tuple(opts.pop("extra_labels", ()))
    if opts:
        raise ConfigError(f"dataset 'real_videos': unknown option(s) {sorted(opts)}")
    real = build_video_frames(labels, rig, image_size=size, test_frames=test, **frame_opts)
    if extra:
        more = [build_video_frames(p, load_rig(read_video_labels(p)["rig"]), image_size=size, test_frames=(0, 0),
                                   **frame_opts) for p in extra]  # fmt: skip
        real = VideoFramesDataset.concat([real, *more])
    if fraction >= 1.0:
        return real
    from lift3d.synthetic.multiview_dataset import synthetic_multiview_dataset

    syn_config = dataclasses.replace(config, dataset="synthetic_multiview",
                                     dataset_options=(("image_size", size), *synthetic))  # fmt: skip
    return MixedDataset(real, synthetic_multiview_dataset(syn_config), first_fraction=fraction)
