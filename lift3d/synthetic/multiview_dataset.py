"""The synthetic multi-view image set: the twin rendered into learnable-triangulation's processed layout.

`make_synthetic_multiview` takes the synthetic twin's motion (`lift3d.synthetic.twin`), renders every view of
every frame with `lift3d.synthetic.multiview_render.render_views` and writes the result as a Human3.6M folder in
learnable-triangulation's layout (labels ``.npy``, full-size JPEG frames, an occlusion sidecar), which
`lift3d.datasets.multiview.LTMultiViewDataset` reads like the real thing. `synthetic_multiview_dataset` is the
learnable-triangulation trainer's dataset factory of that set (rendered once into a cache folder, then reused).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import jax
import numpy as np

from lift3d.core.skeleton import H36M_17
from lift3d.datasets.h36m import H36MDataset, h36m_cameras, write_learnable_triangulation_labels
from lift3d.datasets.multiview import H36M_17_FROM_LT, LABELS_NAME, LTMultiViewDataset, occlusion_path_for
from lift3d.datasets.multiview import scale_bbox as lt_scale_bbox
from lift3d.datasets.samples import default_cache_dir
from lift3d.geometry.camera import Camera
from lift3d.io import h36m_formats as fmt
from lift3d.io.atomic import atomic_write
from lift3d.synthetic.multiview_render import RenderConfig, needed_window, render_views
from lift3d.synthetic.twin import make_dataset, person_boxes

__all__ = ["make_synthetic_multiview", "synthetic_multiview_dataset", "write_frame"]


def _write_bytes(path: Path, data: bytes) -> None:
    """Atomic write without fsync (thousands of small images): a temp file beside `path`, then os.replace."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_frame(path: Path, render: np.ndarray, region, frame_wh, quality: int) -> None:
    """Write a full frame as JPEG: flat (the render's border colour), the render resized into `region`.

    Args:
        path: Destination ``.jpg`` (its folder must exist); written atomically (temp file, then rename).
        render: (s, s, 3) uint8 RGB crop.
        region: (left, top, right, bottom) full-frame px the crop covers (may extend past the frame).
        frame_wh: Frame (width, height), px.
        quality: JPEG quality.
    """
    import cv2

    w, h = (int(x) for x in frame_wh)
    border = np.concatenate([render[0], render[-1], render[:, 0], render[:, -1]])
    frame = np.empty((h, w, 3), np.uint8)
    frame[0] = np.rint(border.mean(0)).astype(np.uint8)[::-1]  # RGB -> BGR
    frame[1:] = frame[0]  # row by row: 30x faster than broadcasting the 3 values over the frame
    left, top, right, bottom = (int(x) for x in region)
    patch = cv2.resize(render[..., ::-1], (right - left, bottom - top), interpolation=cv2.INTER_LINEAR)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = patch[y0 - top : y1 - top, x0 - left : x1 - left]
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise OSError(f"{path}: JPEG encoding failed")
    _write_bytes(path, buf.tobytes())


def make_synthetic_multiview(
    root: str | os.PathLike,
    *,
    subjects: Sequence[str] = ("S1", "S5", "S6", "S7", "S8", "S9", "S11"),
    frames_per_action: int = 20,
    image_size: int = 128,
    seed: int = 0,
    actions: Sequence[str] | None = None,
    trials: int = 2,
    frame_step: int = 10,
    bbox_scale: float = 1.2,
    render_margin: float = 1.25,
    distort: bool = False,
    config=None,
    jpeg_quality: int = 90,
    chunk: int = 16,
    num_threads: int = 2,
    progress: bool = False,
) -> Path:
    """Render the synthetic Human3.6M twin into learnable-triangulation's processed layout.

    Writes ``<root>/extra/human36m-multiview-labels-GTbboxes.npy`` (its schema; boxes are square person boxes
    `person_boxes` in full-image px), ``<root>/extra/...GTbboxes.occlusion.npz`` (``occluded`` (rows, v, 17)
    in H36M-17 order, plus ``subject_idx``, ``action_idx``, ``frame_idx`` to match the table) and
    ``<root>/processed/<S>/<Action-n>/imageSequence/<camera>/img_%06d.jpg``: full-size frames, flat outside
    the person; the crop ``scale_bbox(box, render_margin)`` is rendered at ``round(image_size *
    render_margin)`` px (`render_views`) and pasted in, so a loader with ``scale_bbox`` up to
    ``render_margin`` sees rendered pixels only and gets about ``image_size`` px of detail.

    Args:
        root: Destination (the ``Human3.6M`` folder: ``extra/`` and ``processed/`` go inside).
        subjects: Subjects (S1, S5-S9, S11).
        frames_per_action: Frames per take (per "<Action>-<n>").
        image_size: The intended crop side S, px.
        seed: Everything (motion, bodies, looks) follows from ``jax.random.key(seed)``.
        actions: Canonical action names (default all 15 of `lift3d.datasets.h36m.ACTIONS`).
        trials: Takes per action.
        frame_step: Frame numbers go 0, step, 2 step, ... of a 50 Hz take (the motion is sampled there).
        bbox_scale: Person box side / the joints' extent.
        render_margin: Rendered region side / box side.
        distort: Render through the H36M lens distortion (its coefficients go into the labels); default
            pinhole (the labels' ``dist`` are zero, as for undistorted images).
        config: `RenderConfig` of the looks (default `RenderConfig()`).
        jpeg_quality: JPEG quality.
        chunk: Table rows rendered per call.
        num_threads: JPEG encoding / writing threads.
        progress: Show a progress bar.

    Returns:
        The labels path.
    """
    config = RenderConfig() if config is None else config
    root = Path(root)
    k_motion, k_render = jax.random.split(jax.random.key(seed))
    ds = make_dataset(
        k_motion, subjects=subjects, trials=trials, frames_per_sequence=frames_per_action, fps=50.0 / frame_step,
        **({} if actions is None else {"actions": actions}),
    )  # fmt: skip
    rigs = dict(ds.rigs)
    if not distort:
        rigs = {
            s: dataclasses.replace(r, cameras=r.cameras.replace(dist=np.zeros_like(r.cameras.dist)))
            for s, r in rigs.items()
        }
    seqs = [dataclasses.replace(q, frames=q.frames * frame_step, points_2d=None, bboxes=None) for q in ds.sequences]
    ds = H36MDataset(seqs, rigs).with_projections()
    ds = H36MDataset(
        [dataclasses.replace(q, bboxes=person_boxes(q.points_2d, scale=bbox_scale)) for q in ds.sequences], rigs
    )
    labels_path = write_learnable_triangulation_labels(ds, root / "extra" / LABELS_NAME)
    labels = fmt.read_lt_labels(labels_path)
    table, cams, names = labels["table"], labels["cameras"], labels["camera_names"]
    n, v = len(table), len(names)
    frame_wh = {
        (si, c): h36m_cameras(s).cameras.image_size[h36m_cameras(s).index(name)]
        for si, s in enumerate(labels["subject_names"]) for c, name in enumerate(names)
    }  # fmt: skip
    joints = table["keypoints"][:, H36M_17_FROM_LT]
    boxes = lt_scale_bbox(table["bbox_by_camera_tlbr"][..., [1, 0, 3, 2]], render_margin)  # (n, v, 4) ltrb
    render_size = int(round(image_size * render_margin))
    occluded = np.zeros((n, v, 17), bool)
    folders: set[Path] = set()
    pending: list[concurrent.futures.Future] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="render", unit="sample")
    fold = jax.jit(jax.vmap(jax.random.fold_in, (None, 0)))

    def chunk_inputs(start: int):  # (keys, cameras, joints, boxes) of the views of rows start .. start + chunk
        rows = np.minimum(np.arange(start, start + chunk), n - 1)  # the last chunk padded: one compiled shape
        si = table["subject_idx"][rows].astype(np.int64)
        cam = Camera(
            K=cams["K"][si], dist=cams["dist"][si], R=cams["R"][si], t=cams["t"][si][..., 0],
            image_size=np.zeros((len(rows), v, 2)),
        )  # fmt: skip
        cam = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64).reshape(-1, *a.shape[2:]), cam)
        keys = fold(k_render, (rows[:, None] * v + np.arange(v)).ravel())
        return rows, keys, cam, np.repeat(joints[rows], v, 0), boxes[rows].reshape(-1, 4)

    # one window side for the whole set (each side compiles the renderer)
    window = max(
        needed_window(*chunk_inputs(start)[2:], size=render_size, config=config, distort=distort)
        for start in range(0, n, chunk)
    )
    with concurrent.futures.ThreadPoolExecutor(max(num_threads, 1)) as pool:
        for start in range(0, n, chunk):
            rows, keys, cam, chunk_joints, chunk_boxes = chunk_inputs(start)
            out = render_views(
                keys, cam, chunk_joints, chunk_boxes, size=render_size, config=config, distort=distort,
                min_window=window,
            )  # fmt: skip
            for q in pending:  # bound the memory: the previous chunk's writes are done before queuing more
                q.result()
            pending = []
            for i, r in enumerate(rows[: n - start]):
                occluded[r] = out.occluded[i * v : (i + 1) * v]
                s, a = labels["subject_names"][table["subject_idx"][r]], labels["action_names"][table["action_idx"][r]]
                for c in range(v):
                    folder = root / "processed" / s / a / "imageSequence" / names[c]
                    if folder not in folders:
                        folder.mkdir(parents=True, exist_ok=True)
                        folders.add(folder)
                    path = folder / f"img_{int(table['frame_idx'][r]) + 1:06d}.jpg"
                    args = (
                        path,
                        out.images[i * v + c],
                        boxes[r, c],
                        frame_wh[table["subject_idx"][r], c],
                        jpeg_quality,
                    )
                    pending.append(pool.submit(write_frame, *args))
            if bar is not None:
                bar.update(min(chunk, n - start))
        for q in pending:
            q.result()
    if bar is not None:
        bar.close()
    with atomic_write(occlusion_path_for(labels_path), "wb") as f:
        np.savez(
            f, occluded=occluded, subject_idx=table["subject_idx"], action_idx=table["action_idx"],
            frame_idx=table["frame_idx"], joint_names=np.array(H36M_17.joints),
        )  # fmt: skip
    return labels_path


def synthetic_multiview_dataset(config) -> LTMultiViewDataset:
    """The dataset of a learnable-triangulation config named ``"synthetic_multiview"`` (rendered once, then reused).

    ``config.dataset_options`` (pairs) may hold ``root`` (folder of the rendered set, default
    ``$LIFT3D_CACHE/lt_synthetic_<size>``, else ``~/.cache/lift3d/...``), ``image_size`` (crop side, px, default
    64), ``subjects``, ``frames_per_action``, ``trials``, ``seed`` (passed to `make_synthetic_multiview` the first
    time), and any `LTMultiViewDataset` keyword (``every_n_train``, ``color_jitter``, ...).

    Args:
        config: An `lift3d.train.lt_config.LTConfig`.

    Returns:
        The dataset; the set is written (atomically per file) when its labels file does not exist yet.
    """
    opts = dict(config.dataset_options)
    size = int(opts.pop("image_size", 64))
    render = {k: opts.pop(k) for k in ("subjects", "frames_per_action", "trials", "seed") if k in opts}
    root = Path(opts.pop("root", default_cache_dir() / f"lt_synthetic_{size}"))
    labels = root / "extra" / "human36m-multiview-labels-GTbboxes.npy"
    if not labels.exists():
        labels = make_synthetic_multiview(root, image_size=size, progress=True, **render)
    return LTMultiViewDataset(labels, image_size=size, **opts)
