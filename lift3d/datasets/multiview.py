"""Multi-view image samples in learnable-triangulation's processed Human3.6M layout, batched ahead of use.

The layout (Iskakov et al. 2019, ``mvn/datasets/human36m.py``)::

    <h36m>/extra/human36m-multiview-labels-GTbboxes.npy     labels (see `lift3d.io.h36m_formats`)
    <h36m>/processed/S9/Posing-1/imageSequence/54138969/img_000001.jpg   full frames, ``frame_idx + 1``

`LTMultiViewDataset` reads it as learnable-triangulation's loader does: per table row and camera, the box
``bbox_by_camera_tlbr`` (all zeros: the view is missing), scaled with its integer ``scale_bbox``, crops the full
frame (parts outside the image are zero, like PIL's crop), resizes to the target size with ``cv2.INTER_AREA`` and
adjusts the camera as `crop_camera` then `resize_camera` do (pixel centres at integers; the original's resize
drops the half-pixel term). Unlike the original it converts BGR to RGB before the ImageNet normalisation.
With ``fast_decode`` (default) a JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling) when the crop
stays at least the target size: the box is rounded on that grid and the camera follows exactly (the crop moves
by at most f / 2 full-frame px; about 2.5x less decoding work at 128 px).

Joints come out in H36M-17 order (`lift3d.core.skeleton.H36M_17`; the file's own MPII-like order is permuted), world
mm. A sidecar ``<labels stem>.occlusion.npz`` (not part of the original layout; `make_synthetic_multiview`
writes it) adds per-view occlusion flags.

Splits follow the H36M protocol by subject (train S1, S5-S8; test S9, S11; S9's damaged takes dropped from the
test split as learnable-triangulation does), configurable. `LTMultiViewDataset.iterate` builds batches in a
background thread (`lift3d.datasets.prefetch`) and decodes the images in a thread pool (OpenCV releases the GIL).

`lift3d.synthetic.multiview_dataset.make_synthetic_multiview` renders the synthetic twin into this layout.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import jax
import numpy as np

from lift3d.core.skeleton import H36M_17, H36M_17_FROM_32
from lift3d.datasets.h36m import DAMAGED_SEQUENCES, TEST_SUBJECTS, TRAIN_SUBJECTS
from lift3d.datasets.prefetch import prefetch as read_ahead
from lift3d.errors import LTDataError
from lift3d.geometry.camera import Camera, project_points
from lift3d.io import h36m_formats as fmt
from lift3d.io.h36m_formats import H36MFormatError
from lift3d.io.npz import load_npz

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "LABELS_NAME", "H36M_17_FROM_LT", "LTMultiViewDataset", "scale_bbox",
    "crop_image", "occlusion_path_for", "key_bits", "open_lt_root", "lt_layout_dataset",
]  # fmt: skip

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
LABELS_NAME = "human36m-multiview-labels-GTbboxes.npy"
"""The labels file's name in ``<h36m>/extra/``."""
H36M_17_FROM_LT = np.array([fmt.LT_JOINTS_FROM_32.index(r) for r in H36M_17_FROM_32])
"""(17,) indices: H36M-17 joints from the labels' own (MPII-like) joint order, ``keypoints[:, H36M_17_FROM_LT]``."""


def key_bits(keys: jax.Array) -> np.ndarray:
    """The bits of `jax.random` keys (typed or legacy uint32), (*b, k) uint32, to seed numpy generators with."""
    typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
    return np.asarray(jax.random.key_data(keys) if typed else keys, np.uint32)


def occlusion_path_for(labels_path: str | os.PathLike) -> Path:
    """The occlusion sidecar beside a labels file: ``<stem>.occlusion.npz``."""
    p = Path(labels_path)
    return p.with_name(p.stem + ".occlusion.npz")


def scale_bbox(bbox_ltrb: np.ndarray, scale: float) -> np.ndarray:
    """learnable-triangulation's ``scale_bbox`` (integer arithmetic), vectorised.

    Args:
        bbox_ltrb: (..., 4) integer boxes (left, top, right, bottom), px.
        scale: Side factor.

    Returns:
        (..., 4) int64 boxes about the same integer centre.
    """
    b = np.asarray(bbox_ltrb, np.int64)
    size = np.trunc(scale * (b[..., 2:] - b[..., :2])).astype(np.int64)
    lo = (b[..., 2:] + b[..., :2]) // 2 - size // 2
    return np.concatenate([lo, lo + size], -1)


_lt_scale_bbox = scale_bbox  # LTMultiViewDataset's argument of the same name shadows it


def crop_image(image: np.ndarray, box_ltrb: Sequence[int]) -> np.ndarray:
    """Crop ``image[top:bottom, left:right]``; parts outside the image are zeros (as PIL's ``crop``).

    Args:
        image: (h, w, c) array.
        box_ltrb: Integer (left, top, right, bottom), px; may extend past the image.

    Returns:
        (bottom - top, right - left, c) array of the image's dtype.
    """
    left, top, right, bottom = (int(x) for x in box_ltrb)
    h, w = image.shape[:2]
    out = np.zeros((bottom - top, right - left, *image.shape[2:]), image.dtype)
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    if x1 > x0 and y1 > y0:
        out[y0 - top : y1 - top, x0 - left : x1 - left] = image[y0:y1, x0:x1]
    return out


def _rng(key: jax.Array, *stream: int) -> np.random.Generator:
    """A numpy generator seeded with a `jax.random` key's bits and stream numbers (no XLA compile per shape)."""
    return np.random.default_rng([*map(int, key_bits(key).ravel()), *stream])


def _pixel_affine(scale_xy: np.ndarray, offset_xy: np.ndarray) -> np.ndarray:
    """(..., 3, 3) matrices of u' = s u + o (the change of K for an image transform)."""
    a = np.zeros((*scale_xy.shape[:-1], 3, 3))
    a[..., 0, 0], a[..., 1, 1], a[..., 2, 2] = scale_xy[..., 0], scale_xy[..., 1], 1.0
    a[..., :2, 2] = offset_xy
    return a


@dataclasses.dataclass(frozen=True)
class _Split:
    rows: np.ndarray  # (n,) table rows, in this split's order


class LTMultiViewDataset:
    """Learnable-triangulation's processed Human3.6M (or the synthetic set in its layout), batched.

    Batches (dicts of numpy arrays; b = batch size, v = views, j = 17 joints in H36M-17 order):
    ``images`` (b, v, H, W, 3) float32 RGB normalised with ImageNet mean / std; ``proj`` (b, v, 3, 4) float32
    ``K' [R | t]`` of the cropped and resized cameras (world mm; zeros for a missing view); ``view_mask``
    (b, v) bool; ``joints_3d`` (b, j, 3) float32 world mm; ``joints_valid`` (b, j) bool; ``joints_2d``
    (b, v, j, 2) float32 px in the crop (through the lens distortion; NaN where unknown); ``pelvis`` (b, 3)
    mm; ``occluded`` (b, v, j) bool (False when unknown); ``sample_mask`` (b,) bool (False on padding);
    ``index`` (b,) int64, the sample's position in its split (``test_keys[index]``; -1 on padding). A missing
    view has zero images (the normalised mean colour), zero ``proj``, NaN ``joints_2d``; a padding sample is a
    copy of the batch's first sample.

    Args:
        labels_path: The labels ``.npy``.
        root: The ``processed`` folder; default ``<labels folder>/../processed``.
        image_size: Output (H, W) or one side, px.
        train_subjects, test_subjects: The split (H36M protocol by default); subjects absent from the labels
            are skipped.
        every_n_train, every_n_test: Keep every n-th row of a split (learnable-triangulation's
            ``retain_every_n_frames_in_test``).
        scale_bbox: Box scale (learnable-triangulation's ``scale_bbox``; 1.0 in its Human3.6M configs).
        with_damaged_actions: Keep S9's damaged takes in the test split (learnable-triangulation drops them).
        occlusion_path: The occlusion sidecar; "auto": `occlusion_path_for(labels_path)` if it exists; None:
            no flags.
        missing_images: "error" (default) or "mask": a missing image file masks its view.
        color_jitter: Strength of the training colour jitter (brightness, contrast, saturation in 1 +- s);
            0 disables it.
        fast_decode: Decode JPEGs at a reduced scale where the crop allows (see the module docstring).
        num_threads: Image decoding threads.
        undistorted: Read ``imageSequence-undistorted/`` (learnable-triangulation's ``undistort_images``) and
            project the joints without the lens distortion.
    """

    def __init__(
        self,
        labels_path: str | os.PathLike,
        root: str | os.PathLike | None = None,
        *,
        image_size: int | tuple[int, int] = 128,
        train_subjects: Sequence[str] = TRAIN_SUBJECTS,
        test_subjects: Sequence[str] = TEST_SUBJECTS,
        every_n_train: int = 1,
        every_n_test: int = 1,
        scale_bbox: float = 1.0,
        with_damaged_actions: bool = False,
        occlusion_path: str | os.PathLike | None = "auto",
        missing_images: str = "error",
        color_jitter: float = 0.0,
        fast_decode: bool = True,
        num_threads: int = 2,
        undistorted: bool = False,
    ):
        if missing_images not in ("error", "mask"):
            raise ValueError(f"missing_images must be 'error' or 'mask', got {missing_images!r}")
        self.labels_path = Path(labels_path)
        self.root = self.labels_path.parent.parent / "processed" if root is None else Path(root)
        self.image_size = (image_size, image_size) if np.ndim(image_size) == 0 else tuple(int(s) for s in image_size)
        self.scale_bbox, self.missing_images = float(scale_bbox), missing_images
        self.color_jitter, self.fast_decode, self.num_threads = float(color_jitter), bool(fast_decode), num_threads
        labels = fmt.read_lt_labels(self.labels_path)
        self.subject_names, self.action_names = labels["subject_names"], labels["action_names"]
        self.camera_names = tuple(labels["camera_names"])
        table, cams = labels["table"], labels["cameras"]
        self._subject, self._action = table["subject_idx"].astype(np.int64), table["action_idx"].astype(np.int64)
        self._frame = table["frame_idx"].astype(np.int64)
        self._joints = table["keypoints"][:, H36M_17_FROM_LT].astype(np.float32)
        bbox = table["bbox_by_camera_tlbr"][..., [1, 0, 3, 2]].astype(np.int64)  # tlbr -> ltrb
        self._present = np.any(bbox != 0, -1)
        bad = self._present & np.any(bbox[..., 2:] <= bbox[..., :2], -1)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise H36MFormatError(
                f"{self.labels_path} [table row {r}, {self._where(r)}, camera {self.camera_names[c]}]: field "
                f"'bbox_by_camera_tlbr': empty box {table['bbox_by_camera_tlbr'][r, c].tolist()} (top, left, "
                "bottom, right); all zeros mark a missing view"
            )
        self._box = np.where(self._present[..., None], _lt_scale_bbox(bbox, self.scale_bbox), 0)
        self._cam_K = cams["K"].astype(np.float64)  # (subjects, v, 3, 3)
        self._cam_Rt = np.concatenate([cams["R"], cams["t"]], -1).astype(np.float64)  # (subjects, v, 3, 4)
        self._cam_dist = cams["dist"].astype(np.float64)
        self.undistorted = bool(undistorted)
        if self.undistorted:
            self._cam_dist = np.zeros_like(self._cam_dist)
        self._occluded = self._read_occlusion(occlusion_path, len(table))

        def rows_of(subjects, every, test):
            idx = [self.subject_names.index(s) for s in subjects if s in self.subject_names]
            mask = np.isin(self._subject, idx)
            if test and not with_damaged_actions:
                names = np.array([(s, a) in DAMAGED_SEQUENCES for s in self.subject_names for a in self.action_names])
                mask &= ~names.reshape(len(self.subject_names), -1)[self._subject, self._action]
            return np.flatnonzero(mask)[:: max(int(every), 1)]

        self._splits = {
            True: rows_of(train_subjects, every_n_train, False),
            False: rows_of(test_subjects, every_n_test, True),
        }
        if not (len(self._splits[True]) or len(self._splits[False])):
            raise ValueError(
                f"{self.labels_path}: no rows for subjects {list(train_subjects)} + {list(test_subjects)}; the "
                f"labels hold {self.subject_names}"
            )

    # ------------------------------------------------------------------------------------------------ info
    num_joints = 17
    skeleton = H36M_17

    @property
    def num_views(self) -> int:
        """Cameras v (the labels' ``camera_names``)."""
        return len(self.camera_names)

    @property
    def num_train(self) -> int:
        """Samples in the training split."""
        return len(self._splits[True])

    @property
    def num_test(self) -> int:
        """Samples in the test split."""
        return len(self._splits[False])

    def __len__(self) -> int:
        """The training split's size (the test split has ``len(test_keys)`` samples)."""
        return self.num_train

    def keys(self, *, train: bool) -> list[tuple[str, str, int]]:
        """(subject, action, frame_idx) of a split's samples, in order (train: table order, before shuffling)."""
        return [self._key(r) for r in self._splits[train]]

    @property
    def test_keys(self) -> list[tuple[str, str, int]]:
        """(subject, action, frame_idx) of the test samples, in the order `iterate(train=False)` yields them."""
        return self.keys(train=False)

    def _key(self, r: int) -> tuple[str, str, int]:
        return self.subject_names[self._subject[r]], self.action_names[self._action[r]], int(self._frame[r])

    def _where(self, r: int) -> str:
        s, a, f = self._key(r)
        return f"subject {s}, action {a}, frame_idx {f}"

    def image_path(self, row: int, view: int) -> Path:
        """The image of a table row and camera: ``<root>/<subject>/<action>/imageSequence/<camera>/img_%06d.jpg``
        of ``frame_idx + 1``."""
        s, a, f = self._key(row)
        return self.root / s / a / self.sequence_folder / self.camera_names[view] / f"img_{f + 1:06d}.jpg"

    @property
    def sequence_folder(self) -> str:
        """``imageSequence`` or ``imageSequence-undistorted``."""
        return "imageSequence-undistorted" if self.undistorted else "imageSequence"

    def joints_3d(self, *, train: bool) -> tuple[np.ndarray, np.ndarray]:
        """A split's ground truth: ``(joints (n, 17, 3) world mm, valid (n, 17) bool)``, in `keys` order."""
        joints = self._joints[self._splits[train]]
        return joints, np.all(np.isfinite(joints), -1)

    def check_camera_folders(self) -> None:
        """Fail unless every camera with a box has its image folder for every (subject, action) in the splits.

        Raises:
            LTDataError: Naming the camera(s), the first folder missing and the labels file.
        """
        rows = np.concatenate([self._splits[True], self._splits[False]])
        missing: dict[str, Path] = {}
        seen = set()
        for r in rows:
            s, a, _ = self._key(r)
            for c in np.flatnonzero(self._present[r]):
                name = self.camera_names[c]
                if (s, a, name) in seen or name in missing:
                    continue
                seen.add((s, a, name))
                folder = self.root / s / a / self.sequence_folder / name
                if not folder.is_dir():
                    missing[name] = folder
        if missing:
            first = next(iter(missing.values()))
            raise LTDataError(
                f"{self.labels_path}: labels for camera(s) {sorted(missing)} that the images under {self.root} "
                f"do not have (no folder {first}); the labels' cameras: {list(self.camera_names)}"
            )

    def _read_occlusion(self, path, n_rows: int) -> np.ndarray:
        auto = path == "auto"
        path = occlusion_path_for(self.labels_path) if auto else path
        if path is None or (auto and not Path(path).exists()):
            return np.zeros((n_rows, self.num_views, 17), bool)
        data = load_npz(path, H36MFormatError)
        for field in ("occluded", "frame_idx", "subject_idx", "action_idx"):
            if field not in data:
                raise H36MFormatError(f"{path}: field {field!r}: missing; the file holds {sorted(data)}")
        if data["occluded"].shape != (n_rows, self.num_views, 17):
            raise H36MFormatError(
                f"{path}: field 'occluded': expected shape {(n_rows, self.num_views, 17)} (table rows, cameras, "
                f"H36M-17 joints), got {data['occluded'].shape}"
            )
        for field, mine in (("subject_idx", self._subject), ("action_idx", self._action), ("frame_idx", self._frame)):
            if data[field].shape != mine.shape or np.any(data[field] != mine):
                r = int(np.argmax(data[field] != mine)) if data[field].shape == mine.shape else 0
                raise H36MFormatError(f"{path}: field {field!r}: does not match the labels' table (row {r})")
        return data["occluded"].astype(bool)

    # ---------------------------------------------------------------------------------------------- loading
    def _reduction(self, box: np.ndarray) -> np.ndarray:
        """JPEG decode reduction (1, 2, 4, 8) per view keeping the crop at least the target size."""
        if not self.fast_decode:
            return np.ones(box.shape[:-1], np.int64)
        side = np.minimum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])
        f = np.ones(box.shape[:-1], np.int64)
        for k in (2, 4, 8):
            f = np.where(side // k >= max(self.image_size), k, f)
        return f

    def _cameras(self, rows: np.ndarray):
        """Crop + resize cameras of rows (b,): decode factors, crop boxes on the decoded grid (b, v, 4), K
        (b, v, 3, 3) of the output images, proj (b, v, 3, 4), joints_2d (b, v, j, 2)."""
        box = self._box[rows]
        f = self._reduction(box)
        fb = f[..., None].astype(np.float64)
        box_f = np.where(f[..., None] > 1, np.rint(box / fb), box).astype(np.int64)
        wh = np.maximum(box_f[..., 2:] - box_f[..., :2], 1).astype(np.float64)
        out_wh = np.array(self.image_size[::-1], np.float64)
        reduce = _pixel_affine(np.broadcast_to(1.0 / fb, wh.shape), 0.5 / fb - 0.5)
        crop = _pixel_affine(np.ones_like(wh), -box_f[..., :2].astype(np.float64))
        s = out_wh / wh
        resize = _pixel_affine(s, 0.5 * s - 0.5)
        K = resize @ crop @ reduce @ self._cam_K[self._subject[rows]]
        Rt = self._cam_Rt[self._subject[rows]]
        present = self._present[rows]
        proj = np.where(present[..., None, None], K @ Rt, 0.0).astype(np.float32)
        # project with the lens distortion; (b v) flattened and padded to a power of two: few compiled shapes
        b, v = K.shape[:2]
        size = max(16, 1 << (b * v - 1).bit_length())

        def flat(a):
            a = a.reshape(b * v, *a.shape[2:])
            return np.concatenate([a, np.repeat(a[:1], size - b * v, 0)])

        cam = Camera(
            K=flat(K), dist=flat(self._cam_dist[self._subject[rows]]), R=flat(Rt[..., :3]), t=flat(Rt[..., 3]),
            image_size=np.broadcast_to(out_wh, (size, 2)),
        )  # fmt: skip
        joints = flat(np.broadcast_to(self._joints[rows][:, None], (b, v, 17, 3)))
        uv = np.asarray(project_points(cam, joints), np.float32)[: b * v].reshape(b, v, 17, 2)
        uv = np.where(present[..., None, None], uv, np.nan)
        return f, box_f, proj, uv

    def _load_view(self, row: int, view: int, f: int, box, jitter) -> np.ndarray | None:
        """One view as float32 (H, W, 3) normalised RGB, or None if its image is missing and masked."""
        import cv2

        path = self.image_path(row, view)
        where = f"{self._where(row)}, camera {self.camera_names[view]}"
        flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}[int(f)]  # fmt: skip
        image = cv2.imread(os.fspath(path), flag)
        if image is None:
            if not path.is_file():
                if self.missing_images == "mask":
                    return None
                raise LTDataError(f"{path}: image missing ({where}, table row {row}, labels {self.labels_path})")
            raise LTDataError(f"{path}: not a readable image ({where}, table row {row})")
        crop = crop_image(image, box)
        h, w = self.image_size
        if crop.shape[:2] != (h, w):
            crop = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
        rgb = crop[..., ::-1].astype(np.float32)
        if jitter is not None:  # brightness, contrast, saturation
            rgb *= jitter[0]
            rgb = (rgb - rgb.mean()) * jitter[1] + rgb.mean()
            grey = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
            rgb = grey[..., None] + (rgb - grey[..., None]) * jitter[2]
            np.clip(rgb, 0.0, 255.0, out=rgb)
        return (rgb * (1.0 / 255.0) - IMAGENET_MEAN) / IMAGENET_STD

    def get_batch(
        self, positions: Sequence[int], *, train: bool, key: jax.Array | None = None, step: int = 0, pool=None
    ) -> dict:
        """The samples at some positions of a split, as one batch (see the class docstring).

        Args:
            positions: (b,) positions in the split (``keys(train=...)`` order); -1 pads (a copy of the first
                sample with ``sample_mask`` False).
            train: Which split.
            key: Colour-jitter key (training only, when ``color_jitter > 0``); None: no jitter.
            step: The batch number (the jitter draws from the key and it).
            pool: An executor for decoding (default: decode in this thread).

        Returns:
            The batch.
        """
        positions = np.asarray(positions, np.int64)
        valid = positions >= 0
        if not valid.any():
            raise ValueError("get_batch needs at least one real sample")
        n = len(self._splits[train])
        if positions.max() >= n:
            raise IndexError(
                f"position {positions.max()} out of range: the {'train' if train else 'test'} split has {n}"
            )
        rows = self._splits[train][np.where(valid, positions, positions[valid][0])]
        b, v = len(rows), self.num_views
        f, box_f, proj, uv = self._cameras(rows)
        view_mask = self._present[rows].copy()
        jitter = None
        if key is not None and train and self.color_jitter > 0:
            s = self.color_jitter
            jitter = _rng(key, 1, step).uniform(1 - s, 1 + s, (b, v, 3)).astype(np.float32)
        images = np.zeros((b, v, *self.image_size, 3), np.float32)
        jobs = [(i, c) for i in range(b) for c in range(v) if view_mask[i, c]]
        args = [(rows[i], c, f[i, c], box_f[i, c], None if jitter is None else jitter[i, c]) for i, c in jobs]
        results = (
            pool.map(lambda a: self._load_view(*a), args) if pool is not None else (self._load_view(*a) for a in args)
        )
        for (i, c), img in zip(jobs, results, strict=True):
            if img is None:
                view_mask[i, c] = False
            else:
                images[i, c] = img
        proj[~view_mask], uv[~view_mask] = 0.0, np.nan
        joints = self._joints[rows]
        return {
            "images": images,
            "proj": proj,
            "view_mask": view_mask,
            "joints_3d": joints,
            "joints_valid": np.all(np.isfinite(joints), -1),
            "joints_2d": uv,
            "pelvis": joints[:, H36M_17.index("pelvis")].copy(),
            "occluded": self._occluded[rows] & view_mask[..., None],
            "sample_mask": valid,
            "index": np.where(valid, positions, -1),
        }

    # --------------------------------------------------------------------------------------------- iterating
    def _schedule(self, key, batch_size: int, train: bool, epochs: int | None) -> Iterator[np.ndarray]:
        n = len(self._splits[train])
        if n == 0:
            raise ValueError(f"{self.labels_path}: the {'train' if train else 'test'} split is empty")
        if not train:
            for start in range(0, n, batch_size):
                pos = np.arange(start, start + batch_size)
                yield np.where(pos < n, pos, -1)
            return
        buf, epoch = np.zeros(0, np.int64), 0
        while True:
            while len(buf) < batch_size and (epochs is None or epoch < epochs):
                perm = _rng(key, 0, epoch).permutation(n)
                buf, epoch = np.concatenate([buf, perm]), epoch + 1
            if len(buf) == 0:
                return
            out, buf = buf[:batch_size], buf[batch_size:]
            yield np.concatenate([out, np.full(batch_size - len(out), -1)])

    def iterate(
        self,
        key: jax.Array | None,
        batch_size: int,
        *,
        train: bool,
        epochs: int | None = None,
        prefetch: int = 2,
    ) -> Iterator[dict]:
        """Batches of a split.

        Training (``train=True``): the samples shuffled per epoch (epoch e: a permutation from numpy's PCG64
        seeded with the key's bits and e), epochs concatenated so every batch is full; infinite when ``epochs``
        is None, else ``epochs`` passes with the last batch padded (``sample_mask``). Colour jitter (if
        ``color_jitter``) draws from the key and the batch number. Test (``train=False``): the test split in
        order (`test_keys`), once, the last batch padded; ``key`` is unused.

        Args:
            key: A `jax.random` key (training).
            batch_size: Samples per batch.
            train: Which split, and whether to shuffle and jitter.
            epochs: Training passes (None: forever).
            prefetch: Batches prepared ahead by a background thread (bounded queue); 0: build each batch when
                asked, in the caller's thread. Both give the same batches.

        Yields:
            Batches (see the class docstring).
        """
        if train and key is None:
            raise ValueError("iterate(train=True) needs a key")
        schedule = self._schedule(key, int(batch_size), train, epochs)
        pool = concurrent.futures.ThreadPoolExecutor(self.num_threads) if self.num_threads > 1 else None

        def make(step: int, positions: np.ndarray) -> dict:
            return self.get_batch(positions, train=train, key=key if train else None, pool=pool, step=step)

        try:
            yield from read_ahead((make(step, pos) for step, pos in enumerate(schedule)), prefetch, name="lt-prefetch")
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


def open_lt_root(root: str | os.PathLike, **kwargs) -> LTMultiViewDataset:
    """`LTMultiViewDataset` of a learnable-triangulation Human3.6M root, its layout checked first.

    ``root`` holds ``extra/human36m-multiview-labels-GTbboxes.npy`` and ``processed/<subject>/<action>/
    imageSequence[-undistorted]/<camera>/img_%06d.jpg`` (optionally the occlusion sidecar beside the labels).

    Args:
        root: The dataset root.
        **kwargs: `LTMultiViewDataset` keywords (``image_size``, ``undistorted``, ``every_n_train``, ...).

    Raises:
        LTDataError: The root, the labels file, the images folder or a labelled camera's images are missing.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise LTDataError(f"dataset root {root}: no such folder (expected extra/{LABELS_NAME} and processed/)")
    labels, images = root / "extra" / LABELS_NAME, root / "processed"
    if not labels.is_file():
        raise LTDataError(f"dataset root {root}: labels file missing: {labels}")
    if not images.is_dir():
        raise LTDataError(f"dataset root {root}: images folder missing: {images} (<subject>/<action>/imageSequence/)")
    dataset = LTMultiViewDataset(labels, images, **kwargs)
    if dataset.missing_images == "error":
        dataset.check_camera_folders()
    return dataset


def lt_layout_dataset(config) -> LTMultiViewDataset:
    """The learnable-triangulation trainer's dataset ``"h36m_lt"``: `open_lt_root` of ``root`` in its options.

    Args:
        config: An `lift3d.train.lt_config.LTConfig`; ``dataset_options`` (pairs) hold ``root`` (required) and
            `LTMultiViewDataset` keywords (``image_size``, default 384, the paper's crop).

    Raises:
        LTDataError: No ``root`` option, or see `open_lt_root`.
    """
    opts = dict(config.dataset_options)
    if "root" not in opts:
        raise LTDataError("dataset 'h36m_lt' needs a root: dataset_options=(('root', PATH), ...) or --data PATH")
    return open_lt_root(opts.pop("root"), **{"image_size": 384, **opts})
