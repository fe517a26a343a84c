"""The numpy side of MediaPipe's legacy Pose graph (0.10.14), calculator by calculator, for `BlazePoseDetector`.

Coordinates are MediaPipe's: normalised to the image, continuous (pixel (i, j) covers [i, i + 1), so the
pixel position is ``x * width``; lift3d's pixel-centre convention is that minus 0.5). A region of interest (ROI,
"rect") is MediaPipe's ``NormalizedRect``: (5,) float32 ``(x_center, y_center, width, height, rotation)``, the
sizes normalised by the image's width and height (a square in pixels has ``width * W == height * H``), the
rotation in rad, clockwise on screen (y down).

The graph's arithmetic is float32 and so is this module's, in MediaPipe's order of operations: the tracking
loop (landmarks -> next ROI -> crop -> landmarks) feeds every rounding difference back, and float64 here lets
the landmarks drift from mediapipe's by pixels over a hundred frames. The calculators each function mirrors are
named in its docstring.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = [
    "DETECTOR_SIZE",
    "LANDMARK_SIZE",
    "FRAME_INTERVAL_US",
    "ssd_anchors",
    "decode_detections",
    "weighted_nms",
    "whole_image_rect",
    "crop_transform",
    "warp_fixed_point",
    "remove_letterbox",
    "alignment_rect",
    "transform_rect",
    "object_scale",
    "refine_from_heatmap",
    "project_from_rect",
    "OneEuroFilter",
]

DETECTOR_SIZE = 224  # pose_detection.tflite input, px
LANDMARK_SIZE = 256  # pose_landmark_full.tflite input, px
FRAME_INTERVAL_US = 33333  # mp.solutions' simulated timestamps: one frame every 33333 us
_STRIDES = (8, 16, 32, 32, 32)
_SCORE_CLIP = np.float32(100.0)
_NUM_KEYPOINTS = 4
_F = np.float32


def ssd_anchors(input_size: int = DETECTOR_SIZE) -> np.ndarray:
    """Anchor centres of the pose detector (MediaPipe's ``SsdAnchorsCalculator``, pose_detection options).

    Five layers, strides (8, 16, 32, 32, 32), aspect ratio 1 plus the interpolated-scale anchor (default 1.0),
    anchor offset 0.5, fixed anchor size (w = h = 1): layers of equal stride are merged, so each cell of the
    28x28 and 14x14 grids holds 2 anchors and each cell of the 7x7 grid 6.

    Args:
        input_size: The detector's square input side, px.

    Returns:
        (2254, 2) float32 anchor centres (x, y), normalised to [0, 1] of the input.
    """
    out = []
    layer = 0
    while layer < len(_STRIDES):
        last = layer
        while last < len(_STRIDES) and _STRIDES[last] == _STRIDES[layer]:
            last += 1
        cells = int(np.ceil(input_size / _STRIDES[layer]))
        grid = (np.arange(cells, dtype=np.float32) + _F(0.5)) * (_F(1.0) / _F(cells))
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        out.append(np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), 2 * (last - layer), axis=0))
        layer = last
    return np.concatenate(out).astype(np.float32)


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, min_score: float, size: int = DETECTOR_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, keypoints and scores above `min_score` (``TensorsToDetectionsCalculator``, pose options).

    Raw values are (x, y, w, h, kx0, ky0, ..., kx3, ky3) in input px relative to the anchor
    (``reverse_output_order``, scales 224); scores are sigmoid(clip(raw, -100, 100)). Boxes with negative or
    NaN size are dropped, as MediaPipe drops them.

    Args:
        raw_boxes: (n, 12) detector regression output.
        raw_scores: (n,) detector logits.
        anchors: (n, 2) anchor centres from `ssd_anchors`, normalised.
        min_score: Lowest kept score in [0, 1] (MediaPipe's ``min_detection_confidence``).
        size: The detector's input side, px.

    Returns:
        (m, 4) float32 boxes (xmin, ymin, xmax, ymax), (m, 4, 2) float32 keypoints (x, y), both normalised to
        the letterboxed input, and (m,) float32 scores.
    """
    with np.errstate(over="ignore"):
        logits = np.clip(raw_scores.astype(np.float32), -_SCORE_CLIP, _SCORE_CLIP)
        scores = (_F(1.0) / (_F(1.0) + np.exp(-logits))).astype(np.float32)
    raw = raw_boxes.astype(np.float32).reshape(len(raw_boxes), 2 + _NUM_KEYPOINTS, 2)
    scale = _F(size)
    wh = raw[:, 1] / scale
    centre = raw[:, 0] / scale + anchors
    boxes = np.concatenate([centre - wh / _F(2), centre + wh / _F(2)], axis=1)
    keypoints = raw[:, 2:] / scale + anchors[:, None, :]
    keep = (scores >= _F(min_score)) & np.all(wh >= 0, axis=1)  # NaN sizes compare False
    return boxes[keep], keypoints[keep], scores[keep]


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, min_suppression: float = 0.3, max_count: int = 1
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression (``NonMaxSuppressionCalculator``), its first `max_count` clusters.

    The best-scoring box and every remaining box overlapping it by IoU > `min_suppression` are averaged, weighted
    by score (float32 sums in descending score order, as MediaPipe adds them); the result keeps the best score.
    The cluster's boxes are removed and the next best box starts the next cluster. The Pose graph keeps cluster 0;
    several people (`BlazePoseDetector(max_people=n)`) take the first n.

    Args:
        boxes: (m, 4) boxes (xmin, ymin, xmax, ymax), normalised.
        keypoints: (m, k, 2) keypoints, normalised.
        scores: (m,) scores in [0, 1].
        min_suppression: IoU above which a box joins the best box's cluster.
        max_count: Most clusters returned.

    Returns:
        Up to `max_count` clusters, best first: (4,) float32 box, (k, 2) float32 keypoints and the score.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order].astype(np.float32)
    clusters = []
    while len(scores) and len(clusters) < max_count:
        ref = boxes[0]
        lo = np.maximum(boxes[:, :2], ref[:2])
        hi = np.minimum(boxes[:, 2:], ref[2:])
        inter = np.prod(np.clip(hi - lo, 0.0, None), axis=1)
        areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
        union = areas + areas[0] - inter
        iou = np.where(np.all(hi > lo, axis=1) & (union > 0), inter / np.where(union > 0, union, 1.0), 0.0)
        members = iou > min_suppression
        members[0] = True
        weights = scores[members]
        total = np.cumsum(weights, dtype=np.float32)[-1]  # cumsum adds in order, as MediaPipe's loop
        box = np.cumsum(boxes[members] * weights[:, None], axis=0, dtype=np.float32)[-1] / total
        points = np.cumsum(keypoints[members] * weights[:, None, None], axis=0, dtype=np.float32)[-1] / total
        clusters.append((box, points, float(scores[0])))
        boxes, keypoints, scores = boxes[~members], keypoints[~members], scores[~members]
    return clusters


def whole_image_rect() -> np.ndarray:
    """The whole image as a rect (``ImageToTensorCalculator`` without a ROI input).

    Returns:
        (5,) float32 normalised rect (0.5, 0.5, 1, 1, 0).
    """
    return np.array([0.5, 0.5, 1.0, 1.0, 0.0], np.float32)


def crop_transform(rect: np.ndarray, height: int, width: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The map from image px to model input px for a rect, and its letterbox padding (``ImageToTensor``).

    The rect in pixels is grown along its short side to the input's square aspect (``PadRoi``), then its
    ``cv::boxPoints`` (float32 corners) are mapped to the input's corners (0, size) (0, 0) (size, 0)
    (size, size) by ``cv::getPerspectiveTransform``: corner to corner, no half-pixel shift.

    Args:
        rect: (5,) float32 normalised rect.
        height: Image height, px.
        width: Image width, px.
        size: Square input side, px.

    Returns:
        (3, 3) float64 perspective matrix (affine in fact), image px -> input px, and (4,) float32 letterbox
        padding (left, top, right, bottom) as fractions of the input.
    """
    rect = np.asarray(rect, np.float32)
    cx, cy = rect[0] * _F(width), rect[1] * _F(height)
    w, h = rect[2] * _F(width), rect[3] * _F(height)
    aspect = h / w
    pad_x = pad_y = _F(0.0)
    if _F(1.0) > aspect:  # PadRoi with tensor aspect 1: grow the height
        pad_y = (_F(1.0) - aspect) / _F(2.0)
        h = w
    else:
        pad_x = (_F(1.0) - _F(1.0) / aspect) / _F(2.0)
        w = h
    corners = _box_points(cx, cy, w, h, _F(float(rect[4] * _F(180.0)) / np.pi))
    target = np.array([[0, size], [0, 0], [size, 0], [size, size]], np.float32)
    return _perspective_transform(corners, target), np.array([pad_x, pad_y, pad_x, pad_y], np.float32)


def _box_points(cx, cy, w, h, angle) -> np.ndarray:
    """``cv::RotatedRect::points`` as OpenCV 3.4 / 4.x compute it, in float32 (OpenCV 5's rounds otherwise)."""
    rad = float(angle) * np.pi / 180.0
    b, a = _F(np.cos(rad)) * _F(0.5), _F(np.sin(rad)) * _F(0.5)
    p0 = (cx - a * h - b * w, cy + b * h - a * w)
    p1 = (cx + a * h - b * w, cy - b * h - a * w)
    p2 = (_F(2) * cx - p0[0], _F(2) * cy - p0[1])
    p3 = (_F(2) * cx - p1[0], _F(2) * cy - p1[1])
    return np.array([p0, p1, p2, p3], np.float32)


def _perspective_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``cv::getPerspectiveTransform`` (8x8 system, OpenCV's own LU with partial pivoting, in double)."""
    a = np.zeros((8, 8))
    a[:4, 0], a[:4, 1], a[:4, 2] = src[:, 0], src[:, 1], 1.0
    a[4:, 3], a[4:, 4], a[4:, 5] = src[:, 0], src[:, 1], 1.0
    a[:4, 6], a[:4, 7] = -src[:, 0] * dst[:, 0], -src[:, 1] * dst[:, 0]  # float32 products, as in C++
    a[4:, 6], a[4:, 7] = -src[:, 0] * dst[:, 1], -src[:, 1] * dst[:, 1]
    b = np.concatenate([dst[:, 0], dst[:, 1]]).astype(np.float64)
    for i in range(8):  # OpenCV's LUImpl
        k = i + int(_first_max(np.abs(a[i:, i])))
        if k != i:
            a[[i, k], i:] = a[[k, i], i:]
            b[[i, k]] = b[[k, i]]
        d = -1.0 / a[i, i]
        alpha = a[i + 1 :, i] * d
        a[i + 1 :, i + 1 :] += alpha[:, None] * a[i, i + 1 :]
        b[i + 1 :] += alpha * b[i]
    x = np.zeros(8)
    for i in range(7, -1, -1):
        acc = b[i]
        for k in range(i + 1, 8):
            acc -= a[i, k] * x[k]
        x[i] = acc / a[i, i]
    return np.append(x, 1.0).reshape(3, 3)


def _first_max(values: np.ndarray) -> int:
    """Index of the first strictly largest value, scanning as OpenCV's pivot search does."""
    best = 0
    for j in range(1, len(values)):
        if values[j] > values[best]:
            best = j
    return best


def _invert3(m: np.ndarray) -> np.ndarray:
    """``cv::invert`` of a 3x3 double matrix (DECOMP_LU takes the cofactor formula for 3x3)."""
    det = m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]) - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
    det = det + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
    d = 1.0 / det
    return np.array([
        [(m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]) * d, (m[0, 2] * m[2, 1] - m[0, 1] * m[2, 2]) * d,
         (m[0, 1] * m[1, 2] - m[0, 2] * m[1, 1]) * d],
        [(m[1, 2] * m[2, 0] - m[1, 0] * m[2, 2]) * d, (m[0, 0] * m[2, 2] - m[0, 2] * m[2, 0]) * d,
         (m[0, 2] * m[1, 0] - m[0, 0] * m[1, 2]) * d],
        [(m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]) * d, (m[0, 1] * m[2, 0] - m[0, 0] * m[2, 1]) * d,
         (m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]) * d],
    ])  # fmt: skip


@functools.lru_cache(maxsize=4)
def _pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(size, size) float64 block start x, offset in the block and y of every output pixel (cached).

    OpenCV's warpPerspective works in blocks 64 px wide (for outputs of 16 rows and more) and adds the offset
    within the block last; the rounding of the source coordinate depends on that order.
    """
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    start = np.floor(xs / 64) * 64
    grids = (start, xs - start, ys)
    for grid in grids:
        grid.flags.writeable = False
    return grids


def warp_fixed_point(image: np.ndarray, transform: np.ndarray, size: int, border: int) -> np.ndarray:
    """``cv::warpPerspective`` as the OpenCV inside mediapipe 0.10.14 does it (before OpenCV 4.11).

    Source coordinates are rounded to 1/32 px and interpolated bilinearly in fixed point (``cv2.remap`` on
    16-bit maps); OpenCV 4.11+ interpolates at full precision, which moves the models' outputs by a fraction of
    a pixel, enough to let the tracked ROI drift from MediaPipe's.

    Args:
        image: (h, w, 3) uint8 image.
        transform: (3, 3) image px -> output px (as from `crop_transform`).
        size: Output side, px.
        border: OpenCV border mode (``cv2.BORDER_CONSTANT`` with 0, or ``cv2.BORDER_REPLICATE``).

    Returns:
        (size, size, 3) uint8 warped image.
    """
    m = _invert3(np.asarray(transform, np.float64))
    start, offset, ys = _pixel_grid(size)
    w = m[2, 0] * start + m[2, 1] * ys + m[2, 2] + m[2, 0] * offset
    w = np.where(w != 0, 32.0 / np.where(w != 0, w, 1.0), 0.0)
    x = np.rint((m[0, 0] * start + m[0, 1] * ys + m[0, 2] + m[0, 0] * offset) * w)
    y = np.rint((m[1, 0] * start + m[1, 1] * ys + m[1, 2] + m[1, 0] * offset) * w)
    x = np.clip(x, -(2**31), 2**31 - 1).astype(np.int64)
    y = np.clip(y, -(2**31), 2**31 - 1).astype(np.int64)
    whole = np.stack([np.clip(x >> 5, -32768, 32767), np.clip(y >> 5, -32768, 32767)], axis=-1).astype(np.int16)
    fraction = ((y & 31) * 32 + (x & 31)).astype(np.uint16)
    return cv2.remap(image, whole, fraction, cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def remove_letterbox(points: np.ndarray, padding: np.ndarray) -> np.ndarray:
    """Points on a letterboxed input back to the unpadded rect (``*LetterboxRemovalCalculator``).

    Args:
        points: (..., 2) float32 (x, y) normalised to the padded input.
        padding: (4,) float32 (left, top, right, bottom).

    Returns:
        (..., 2) float32 (x, y) normalised to the rect.
    """
    left, top, right, bottom = np.asarray(padding, np.float32)
    lo = np.array([left, top], np.float32)
    span = np.array([_F(1.0) - (left + right), _F(1.0) - (top + bottom)], np.float32)
    return ((np.asarray(points, np.float32) - lo) / span).astype(np.float32)


def alignment_rect(
    centre: np.ndarray, scale_point: np.ndarray, height: int, width: int, target_angle: float = 90.0
) -> np.ndarray:
    """The rect from two alignment points (``AlignmentPointsRectsCalculator``).

    Centred on `centre`, side twice the distance to `scale_point` (px), turned so that the centre ->
    scale-point vector points at `target_angle` (90 deg: up).

    Args:
        centre: (2,) normalised centre point (x, y).
        scale_point: (2,) normalised scale and rotation point (x, y).
        height: Image height, px.
        width: Image width, px.
        target_angle: Direction of centre -> scale point after rotation, degrees counter-clockwise from +x.

    Returns:
        (5,) float32 normalised rect, square in pixels, rotation in [-pi, pi).
    """
    fw, fh = _F(width), _F(height)
    x0, y0 = _F(centre[0]) * fw, _F(centre[1]) * fh
    x1, y1 = _F(scale_point[0]) * fw, _F(scale_point[1]) * fh
    box = _F(np.sqrt(_F((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0))) * 2.0)
    target = _F(np.pi * target_angle / 180.0)
    rotation = float(target - _F(np.arctan2(-float(y1 - y0), float(x1 - x0))))  # atan2f: the double one, rounded
    rotation = _F(rotation - 2 * np.pi * np.floor((rotation + np.pi) / (2 * np.pi)))
    return np.array([x0 / fw, y0 / fh, box / fw, box / fh, rotation], np.float32)


def transform_rect(rect: np.ndarray, height: int, width: int, scale: float = 1.25) -> np.ndarray:
    """Scale a rect about its centre, squared on its long side (``RectTransformationCalculator``, square_long).

    Args:
        rect: (5,) float32 normalised rect.
        height: Image height, px.
        width: Image width, px.
        scale: Scale of both sides (1.25 for Pose).

    Returns:
        (5,) float32 normalised rect.
    """
    out = np.array(rect, np.float32)
    fw, fh = _F(width), _F(height)
    long_side = max(out[2] * fw, out[3] * fh)
    out[2], out[3] = long_side / fw * _F(scale), long_side / fh * _F(scale)
    return out


def object_scale(rect: np.ndarray, height: int, width: int) -> np.float32:
    """The object size the landmark smoother divides speeds by (``GetObjectScale`` of a rect).

    Args:
        rect: (5,) float32 normalised rect.
        height: Image height, px.
        width: Image width, px.

    Returns:
        The rect's mean side, px (float32).
    """
    return (_F(rect[2]) * _F(width) + _F(rect[3]) * _F(height)) / _F(2.0)


def refine_from_heatmap(
    points: np.ndarray, heatmap: np.ndarray, kernel_size: int = 9, min_confidence: float = 0.5
) -> np.ndarray:
    """Landmark x, y refined by the heatmap (MediaPipe's ``RefineLandmarksFromHeatmapCalculator``).

    For each landmark, the sigmoid of its heatmap channel over a `kernel_size` window around the cell the
    landmark falls in (cells cut off at the borders) gives a weighted mean cell index; the landmark moves there
    (``mean_index / cells``, MediaPipe's formula) when the window's peak is at least `min_confidence`.
    Landmarks whose column is outside the heatmap, or whose row is negative, are kept (MediaPipe tests the column
    twice and not the row's upper end; the row's window is then empty or cut, as there).

    The kernel is 9, not the 7 the Pose graph asks for: ``mp.solutions.pose`` round-trips the graph through
    Python protobuf without importing this calculator's options module, so the option is dropped and the
    calculator's default (9) runs. 9 is what mediapipe's users get, and what the reference fixture matches.

    Args:
        points: (k, 2) landmark (x, y) normalised to the crop, [0, 1] inside.
        heatmap: (h, w, k) heatmap logits (HWC, as the model gives them).
        kernel_size: Window side, cells.
        min_confidence: Peak sigmoid below which a landmark is kept as is.

    Returns:
        (k, 2) float32 refined (x, y), normalised to the crop.
    """
    rows, cols, count = heatmap.shape
    points = np.asarray(points, np.float32)
    centre = np.trunc(points * np.array([cols, rows], np.float32)).astype(np.int64)  # C++ float -> int
    col, row = centre[:, 0], centre[:, 1]
    valid = (col >= 0) & (col < cols) & (row >= 0)
    half = (kernel_size - 1) // 2
    offsets = np.arange(-half, half + 1)
    r = np.broadcast_to(row[:, None, None] + offsets[None, :, None], (count, kernel_size, kernel_size))
    c = np.broadcast_to(col[:, None, None] + offsets[None, None, :], (count, kernel_size, kernel_size))
    inside = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    channel = np.arange(count)[:, None, None]
    logits = heatmap[np.clip(r, 0, rows - 1), np.clip(c, 0, cols - 1), channel].astype(np.float32)
    with np.errstate(over="ignore"):
        conf = np.where(inside, _F(1.0) / (_F(1.0) + np.exp(-logits)), _F(0.0)).astype(np.float32)
    flat = conf.reshape(count, -1)  # row-major window, the order of MediaPipe's loops; cumsum adds in order
    total = np.cumsum(flat, axis=1, dtype=np.float32)[:, -1]
    mean_col = np.cumsum(c.reshape(count, -1).astype(np.float32) * flat, axis=1, dtype=np.float32)[:, -1]
    mean_row = np.cumsum(r.reshape(count, -1).astype(np.float32) * flat, axis=1, dtype=np.float32)[:, -1]
    refine = valid & (flat.max(axis=1) >= _F(min_confidence)) & (total > 0)
    safe = np.where(total > 0, total, _F(1.0))
    out = points.copy()
    out[refine, 0] = (mean_col / _F(cols) / safe)[refine]
    out[refine, 1] = (mean_row / _F(rows) / safe)[refine]
    return out


def project_from_rect(points: np.ndarray, rect: np.ndarray) -> np.ndarray:
    """Crop-normalised points back into the image (MediaPipe's ``LandmarkProjectionCalculator``).

    Args:
        points: (k, 2) (x, y) normalised to the rect's crop.
        rect: (5,) float32 normalised rect.

    Returns:
        (k, 2) float32 image points (x, y), normalised to the image.
    """
    rect = np.asarray(rect, np.float32)
    local = np.asarray(points, np.float32) - _F(0.5)
    cos, sin = _F(np.cos(float(rect[4]))), _F(np.sin(float(rect[4])))  # cosf, sinf: correctly rounded
    x = (cos * local[:, 0] - sin * local[:, 1]) * rect[2] + rect[0]
    y = (sin * local[:, 0] + cos * local[:, 1]) * rect[3] + rect[1]
    return np.stack([x, y], axis=1).astype(np.float32)


class OneEuroFilter:
    """MediaPipe's ``LandmarksSmoothingCalculator`` with a one-euro filter, on a few points (the ROI's).

    The Pose graph smooths the two auxiliary landmarks that place the next frame's ROI (always, whatever
    ``smooth_landmarks`` says): min cutoff 0.01, beta 10, derivative cutoff 1, speeds scaled by 1 / object scale.
    Timestamps are mp.solutions' (frame k at k * 33333 us); the sampling rate is 30 Hz until two timestamps give
    it. Values are kept in float32 and blended in double, as MediaPipe's low-pass filters do.

    Attributes:
        min_cutoff: Cutoff frequency at zero speed, Hz.
        beta: Cutoff increase per unit of scaled speed.
        derivate_cutoff: Cutoff of the speed estimate, Hz.
    """

    def __init__(self, min_cutoff: float = 0.01, beta: float = 10.0, derivate_cutoff: float = 1.0):
        """Set the filter constants.

        Args:
            min_cutoff: Cutoff frequency at zero speed, Hz.
            beta: Cutoff increase per unit of scaled speed.
            derivate_cutoff: Cutoff of the speed estimate, Hz.
        """
        self.min_cutoff, self.beta, self.derivate_cutoff = min_cutoff, beta, derivate_cutoff
        self.reset()

    def reset(self) -> None:
        """Forget the history (MediaPipe resets when the pose is lost)."""
        self._last_time: int | None = None
        self._frequency = 30.0
        self._value: np.ndarray | None = None  # last filtered value, float32
        self._raw: np.ndarray | None = None  # last raw value, float32
        self._speed: np.ndarray | None = None  # last filtered speed, float32

    def _alpha(self, cutoff):
        tau = 1.0 / (2 * np.pi * cutoff)
        return np.float32(1.0 / (1.0 + tau / (1.0 / self._frequency)))

    @staticmethod
    def _blend(alpha, value, stored):
        # LowPassFilter: float alpha * float value (float product) + (1.0 - alpha) * stored in double -> float
        return (np.float32(alpha) * value).astype(np.float64) + (1.0 - np.float64(alpha)) * stored.astype(np.float64)

    def apply(self, points: np.ndarray, time_us: int, scale: float) -> np.ndarray:
        """Filter one frame's points.

        Args:
            points: (k, 2) points (x, y), px (float32).
            time_us: The frame's timestamp, microseconds (increasing between resets).
            scale: The object's size, px; speeds are divided by it (no filtering below 1e-6).

        Returns:
            (k, 2) float32 filtered points, px.
        """
        points = np.asarray(points, np.float32)
        if scale < 1e-6:
            return points
        now = int(time_us) * 1000  # ns, as MediaPipe compares them
        if self._last_time is not None and self._last_time >= now:
            return points  # MediaPipe: a timestamp not after the last one passes through untouched
        if self._last_time and now != 0:
            self._frequency = 1.0 / ((now - self._last_time) * 1e-9)
        self._last_time = now
        value_scale = np.float32(1.0) / np.float32(scale)
        if self._value is None:
            self._speed = np.zeros_like(points)
            self._value = points.copy()
        else:
            speed = ((points.astype(np.float64) - self._raw) * float(value_scale) * self._frequency).astype(np.float32)
            self._speed = self._blend(self._alpha(self.derivate_cutoff), speed, self._speed).astype(np.float32)
            cutoff = self.min_cutoff + self.beta * np.abs(self._speed.astype(np.float64))
            self._value = self._blend(self._alpha(cutoff), points, self._value).astype(np.float32)
        self._raw = points.copy()
        return self._value.copy()
