"""`OnnxPoseDetector`: a top-down pose model exported to ONNX (RTMPose-style), run by onnxruntime.

One person per image. The person box is the previous frame's keypoints' box enlarged 1.25 times while tracking
(`track`), else the `box` given, else the whole image; the box is widened to the model's aspect ratio and cut out
with an affine warp (scale and shift only, pixel centres at integer coordinates, zeros outside the image) to the
model's input, (1, 3, H, W) float32 RGB normalised as ``(pixel - mean) / std`` (RTMPose's ImageNet values by
default). Outputs are read from their shapes:

- SimCC (RTMPose): two outputs, x (1, K, W * s) and y (1, K, H * s), s the split ratio (2.0 for RTMPose; read
  from the shapes unless given); a joint is at bin / s in the input, its confidence the bin's value.
- Heatmaps (SimpleBaseline, HRNet, ViTPose): one output (1, K, h, w); a joint is at the heatmap's peak, moved a
  quarter pixel towards the higher neighbour, mapped by ``u_in = (u_hm + 0.5) W / w - 0.5``.

Confidences are clipped to [0, 1]; joints with confidence 0 are missing (NaN). The person's score is the mean
joint confidence; a person scoring below `min_score` is not reported (and tracking restarts from the box).
onnxruntime is imported when a detector is built (``pip install 'lift3d[video]'``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from lift3d.core.skeleton import Skeleton, get_skeleton
from lift3d.errors import DetectorError
from lift3d.predict.detectors.base import FrameDetections

__all__ = ["OnnxPoseDetector", "RTMPOSE_MEAN", "RTMPOSE_STD", "crop_transform"]

RTMPOSE_MEAN = (123.675, 116.28, 103.53)
"""RGB mean subtracted from 0-255 pixels (RTMPose / mmpose, ImageNet)."""
RTMPOSE_STD = (58.395, 57.12, 57.375)
"""RGB standard deviation the pixels are divided by (RTMPose / mmpose, ImageNet)."""
BOX_PADDING = 1.25  # the tracked box is the keypoints' box enlarged this many times (mmpose's bbox padding)
TRACK_MIN_JOINTS = 3  # joints above `track_confidence` needed to track the box


def crop_transform(box: Sequence[float], input_size: tuple[int, int]) -> np.ndarray:
    """The affine map from image pixels to model input pixels that fits `box` into the input, aspect kept.

    Pixel centres are at integer coordinates on both sides: the box's edges (x0, y0, x1, y1) map to the input's
    outer edges (-0.5 and W - 0.5) along the axis that limits, the box being widened on the other axis.

    Args:
        box: (x0, y0, x1, y1) image coordinates of the box's outer edges, px.
        input_size: (W, H) model input, px.

    Returns:
        (2, 3) float64 matrix M: ``[u_in, v_in] = M @ [u, v, 1]``.
    """
    x0, y0, x1, y1 = (float(b) for b in box)
    width, height = input_size
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    scale = min(width / bw, height / bh)  # input px per image px
    return np.array([[scale, 0.0, (width - 1) / 2 - scale * cx], [0.0, scale, (height - 1) / 2 - scale * cy]])


class OnnxPoseDetector:
    """A top-down pose model in an ONNX file (RTMPose-style SimCC, or heatmaps), one person per image.

    Attributes:
        skeleton: The joint layout of the model's K outputs.
        name: ``onnx:<file name>``.
        path: The model file.
        input_size: (W, H) of the model input, px.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        skeleton: str | Skeleton = "coco",
        input_size: tuple[int, int] | None = None,
        box: Sequence[float] | None = None,
        *,
        mean: Sequence[float] = RTMPOSE_MEAN,
        std: Sequence[float] = RTMPOSE_STD,
        split_ratio: float | None = None,
        track: bool = True,
        track_confidence: float = 0.3,
        min_score: float = 0.0,
        threads: int | None = None,
    ):
        """Load the model.

        Args:
            path: The ``.onnx`` file.
            skeleton: Joint layout of the outputs (a `lift3d.core.skeleton` name, e.g. ``"coco"``, ``"halpe_26"``).
            input_size: (W, H) model input, px, where the model's input shape leaves them open (else checked
                against it).
            box: (x0, y0, x1, y1) person box in image px, used when not tracking (default: the whole image).
            mean: RGB mean of 0-255 pixels subtracted before the model.
            std: RGB standard deviation divided by.
            split_ratio: SimCC bins per input pixel (None: from the output shapes).
            track: Crop around the previous frame's keypoints (enlarged `BOX_PADDING` times).
            track_confidence: Joints above this confidence define the tracked box.
            min_score: A person whose mean joint confidence is below this is not reported.
            threads: onnxruntime intra-op threads (None: its default, all cores).

        Raises:
            DetectorError: onnxruntime missing, no such file, a file that is not an ONNX model, or a model whose
                input or outputs are not those of a top-down pose model of `skeleton`.
        """
        try:
            import onnxruntime as ort
        except ImportError:
            raise DetectorError("the ONNX detector needs onnxruntime: pip install 'lift3d[video]'") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise DetectorError(f"{self.path}: no such ONNX model file")
        self.skeleton = get_skeleton(skeleton)
        self.name = f"onnx:{self.path.name}"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        try:
            self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DetectorError(f"{self.path}: not an ONNX model onnxruntime can load ({first[:200]})") from None
        self.input_size = self._check_input(input_size)
        self._outputs = [o.name for o in self._session.get_outputs()]
        if len(self._outputs) not in (1, 2):
            raise DetectorError(f"{self.path}: {len(self._outputs)} outputs; a pose model gives SimCC x and y "
                                "(2 outputs) or heatmaps (1 output)")  # fmt: skip
        self._mean = np.asarray(mean, np.float32).reshape(1, 1, 3)
        self._std = np.asarray(std, np.float32).reshape(1, 1, 3)
        self.box, self.split_ratio, self.track = box, split_ratio, track
        self.track_confidence, self.min_score = track_confidence, min_score
        self._previous: np.ndarray | None = None

    def _check_input(self, input_size: tuple[int, int] | None) -> tuple[int, int]:
        """(W, H) from the model's input shape and the caller's `input_size`."""
        inputs = self._session.get_inputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        if len(inputs) != 1 or len(shape) != 4 or shape[1] not in (3, "3"):
            raise DetectorError(f"{self.path}: input shape {shape if len(inputs) == 1 else len(inputs)}; a top-down "
                                "pose model takes one image (1, 3, H, W)")  # fmt: skip
        self._input = inputs[0].name
        fixed = tuple(int(s) if isinstance(s, int) and s > 0 else None for s in (shape[3], shape[2]))
        if input_size is None:
            if None in fixed:
                raise DetectorError(f"{self.path}: the input size is open ({shape}); pass input_size=(W, H)")
            return fixed
        size = (int(input_size[0]), int(input_size[1]))
        if any(f is not None and f != s for f, s in zip(fixed, size, strict=True)) or min(size) < 1:
            raise DetectorError(f"{self.path}: input_size {size} does not fit the model's input (W, H) = {fixed}")
        return size

    def reset(self) -> None:
        """Forget the tracked box (call before each new video)."""
        self._previous = None

    def _person_box(self, image_size: tuple[int, int]) -> tuple[float, float, float, float]:
        """The box to crop: around the previous keypoints while tracking, else `box`, else the whole image."""
        w, h = image_size
        if self.track and self._previous is not None:
            points, conf = self._previous
            ok = conf > self.track_confidence
            if ok.sum() >= TRACK_MIN_JOINTS:
                (x0, y0), (x1, y1) = points[ok].min(0), points[ok].max(0)
                cx, cy, half_w, half_h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
                half_w, half_h = max(half_w, 8.0) * BOX_PADDING, max(half_h, 8.0) * BOX_PADDING
                return cx - half_w, cy - half_h, cx + half_w, cy + half_h
        if self.box is not None:
            return tuple(float(b) for b in self.box)
        return -0.5, -0.5, w - 0.5, h - 0.5

    def detect(self, image: np.ndarray) -> FrameDetections:
        """Find the person in one image.

        Args:
            image: (h, w, 3) BGR uint8.

        Returns:
            At most one person: points (1, K, 2) image px, confidence (1, K) in [0, 1], score (1,).

        Raises:
            DetectorError: An image that is not (h, w, 3), or outputs that are neither SimCC nor heatmaps of the
                skeleton's K joints.
        """
        if image.ndim != 3 or image.shape[2] != 3:
            raise DetectorError(f"{self.name}: images must be (h, w, 3) BGR, got shape {image.shape}")
        width, height = self.input_size
        matrix = crop_transform(self._person_box((image.shape[1], image.shape[0])), self.input_size)
        crop = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        rgb = (crop[:, :, ::-1].astype(np.float32) - self._mean) / self._std
        blob = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None])
        try:
            outputs = self._session.run(self._outputs, {self._input: blob})
        except Exception as err:  # onnxruntime's own types
            raise DetectorError(f"{self.path}: the model failed on a {width}x{height} input: "
                                f"{str(err).strip()[:200]}") from None  # fmt: skip
        uv, conf = self._decode(outputs)
        inverse = cv2.invertAffineTransform(matrix)
        points = uv @ inverse[:, :2].T + inverse[:, 2]
        conf = np.clip(np.nan_to_num(conf, nan=0.0), 0.0, 1.0)
        points[conf <= 0] = np.nan
        score = float(conf.mean())
        if score < self.min_score or not np.any(conf > 0):
            self._previous = None
            return FrameDetections.empty(self.skeleton.num_joints)
        self._previous = (points, conf)
        return FrameDetections(points[None].astype(np.float32), conf[None].astype(np.float32),
                               np.array([score], np.float32))  # fmt: skip

    def _decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions (K, 2) in input px and their raw confidences (K,), from SimCC or heatmap outputs."""
        k = self.skeleton.num_joints
        width, height = self.input_size
        shapes = [tuple(np.shape(o)) for o in outputs]
        if len(outputs) == 2 and all(len(s) == 3 and s[:2] == (1, k) for s in shapes):
            sx, sy = outputs[0][0].astype(np.float64), outputs[1][0].astype(np.float64)
            ratio_x = self.split_ratio or sx.shape[1] / width
            ratio_y = self.split_ratio or sy.shape[1] / height
            ix, iy = sx.argmax(1), sy.argmax(1)
            rows = np.arange(k)
            uv = np.stack([ix / ratio_x, iy / ratio_y], axis=1)
            return uv, np.minimum(sx[rows, ix], sy[rows, iy])
        if len(outputs) == 1 and len(shapes[0]) == 4 and shapes[0][:2] == (1, k):
            return _heatmap_peaks(outputs[0][0].astype(np.float64), (width, height))
        raise DetectorError(f"{self.path}: outputs of shapes {shapes}; expected SimCC (1, {k}, W*s) and "
                            f"(1, {k}, H*s), or heatmaps (1, {k}, h, w), for skeleton {self.skeleton.name!r} "
                            f"({k} joints)")  # fmt: skip


def _heatmap_peaks(heatmaps: np.ndarray, input_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of (K, h, w) heatmaps in input px (quarter-pixel refined) and their values (K,)."""
    k, h, w = heatmaps.shape
    flat = heatmaps.reshape(k, -1).argmax(1)
    y, x = np.divmod(flat, w)
    rows = np.arange(k)
    value = heatmaps[rows, y, x]
    u, v = x.astype(np.float64), y.astype(np.float64)
    inside_x, inside_y = (x > 0) & (x < w - 1), (y > 0) & (y < h - 1)
    dx = heatmaps[rows, y, np.minimum(x + 1, w - 1)] - heatmaps[rows, y, np.maximum(x - 1, 0)]
    dy = heatmaps[rows, np.minimum(y + 1, h - 1), x] - heatmaps[rows, np.maximum(y - 1, 0), x]
    u += np.where(inside_x, 0.25 * np.sign(dx), 0.0)
    v += np.where(inside_y, 0.25 * np.sign(dy), 0.0)
    width, height = input_size
    uv = np.stack([(u + 0.5) * width / w - 0.5, (v + 0.5) * height / h - 0.5], axis=1)
    return uv, value
