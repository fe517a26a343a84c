"""`BlazePoseDetector`: MediaPipe's legacy Pose pipeline (BlazePose GHUM full, 33 landmarks) without mediapipe.

The two TFLite models come from the mediapipe 0.10.14 wheel (``lift3d fetch blazepose``) and run in the
standalone TFLite runtime ai-edge-litert; the graph around them is re-done in numpy and OpenCV, calculator by
calculator (`lift3d.predict.detectors._blazepose_math`), as ``mp.solutions.pose.Pose(static_image_mode=False,
model_complexity=1, smooth_landmarks=False)`` runs it:

1. Person detector (only on the first frame, after `reset`, or once the pose is lost): the image letterboxed
   into 224x224 RGB in [-1, 1], 2254 SSD anchors, boxes and 4 keypoints decoded, weighted NMS; the best
   detection's keypoint 0 (hips' centre) and 1 give a square region of interest (ROI), turned so the body is
   upright, scaled 1.25.
2. Landmark model on the ROI warped to 256x256 RGB in [0, 1]: 39 landmarks (33 body + 2 auxiliary + 4
   unused) in crop pixels, refined by the 64x64 heatmap, and a pose flag; a flag below `min_presence` means the
   person is lost (empty result; the detector runs on the next frame).
3. Tracking: the next frame's ROI comes from the auxiliary landmarks 33 and 34, as in step 1, after
   MediaPipe's one-euro filter (always on for these two points; frames are 33333 us apart, as mp.solutions
   simulates them).

Details that follow what mediapipe does rather than what its graph files say: the heatmap refinement runs
with kernel 9 (``mp.solutions`` drops the graph's 7, see `refine_from_heatmap`); the ROI smoothing assumes 30
frames/s whatever the video's rate (the solution's simulated timestamps); crops are warped as the OpenCV linked
into mediapipe does (source coordinates rounded to 1/32 px, `warp_fixed_point`, with its own box corners and
perspective solve, so the installed OpenCV's version does not matter) and the ROI arithmetic is float32. Given
the same ROI, a crop and its landmarks are then bit-identical to mediapipe 0.10.14's; over a tracked video the
landmarks agree to about 0.4 px on average, the tracking loop amplifying last-bit differences
(``tests/predict/test_blazepose.py``, ``benchmarks/detect.py``).

One person per image. Points are lift3d pixels (MediaPipe's normalised ``x * width - 0.5``), confidence is the
landmark visibility (sigmoid), the person score the pose flag. ai-edge-litert is imported when a detector is
built (``pip install 'lift3d[video]'``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from lift3d.core.skeleton import get_skeleton
from lift3d.datasets.samples import cached_model_files
from lift3d.errors import DetectorError
from lift3d.predict.detectors import _blazepose_math as bm
from lift3d.predict.detectors.base import FrameDetections

__all__ = ["BlazePoseDetector", "DETECTOR_FILE", "LANDMARK_FILE"]

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
_NUM_LANDMARKS = 39  # 33 body, 2 auxiliary (ROI centre and scale), 4 unused
_BODY = 33
_AUX_CENTRE, _AUX_SCALE = 33, 34
_MIN_CONFIDENCE = 1e-6  # FrameDetections: confidence is 0 only where a point is missing


@contextlib.contextmanager
def _runtime_info_silenced():
    """The TFLite runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate" from C++ on file descriptor 2
    when it allocates tensors: that line is noise in the middle of a progress bar, so fd 2 goes to /dev/null."""
    try:
        sys.stderr.flush()
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:  # no real fd 2 (an embedding host): leave it
        yield
        return
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _load_interpreter(path: Path, threads: int, inputs: tuple[int, ...], outputs: dict[str, tuple[int, ...]]):
    """An allocated ai-edge-litert interpreter for `path`, its input index and output indices by shape key."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise DetectorError("the BlazePose detector needs ai-edge-litert: pip install 'lift3d[video]'") from None
    if not path.is_file():
        raise DetectorError(f"{path}: no such model file; run `lift3d fetch blazepose`")
    try:
        with _runtime_info_silenced():
            interpreter = Interpreter(model_path=str(path), num_threads=int(threads))
            interpreter.allocate_tensors()
    except Exception as err:  # the runtime raises ValueError / RuntimeError with multi-line texts
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DetectorError(f"{path}: not a TFLite model ai-edge-litert can load ({first[:200]})") from None
    ins = interpreter.get_input_details()
    if len(ins) != 1 or tuple(ins[0]["shape"]) != inputs:
        got = [tuple(int(v) for v in d["shape"]) for d in ins]
        raise DetectorError(f"{path}: input shapes {got}, expected [{inputs}]; not the BlazePose model")
    found = {tuple(int(v) for v in d["shape"]): d["index"] for d in interpreter.get_output_details()}
    missing = [key for key, shape in outputs.items() if shape not in found]
    if missing:
        raise DetectorError(f"{path}: output shapes {sorted(found)} lack {[outputs[k] for k in missing]}; "
                            "not the BlazePose model")  # fmt: skip
    return interpreter, ins[0]["index"], {key: found[shape] for key, shape in outputs.items()}


class BlazePoseDetector:
    """MediaPipe Pose (BlazePose GHUM full): one person tracked as MediaPipe does, or several detected per frame.

    Attributes:
        skeleton: ``blazepose`` (33 landmarks, MediaPipe order).
        name: ``"blazepose"``.
        model_dir: The folder holding the two ``.tflite`` files.
        min_score: Lowest person-detector score (MediaPipe's ``min_detection_confidence``), [0, 1].
        min_presence: Lowest pose flag to report and keep tracking (``min_tracking_confidence``), [0, 1].
    """

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        *,
        min_score: float = 0.5,
        min_presence: float = 0.5,
        threads: int = 1,
        max_people: int = 1,
    ):
        """Load the two models.

        Args:
            model_dir: Folder with ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (None: the
                cache that ``lift3d fetch blazepose`` fills; nothing is downloaded here).
            min_score: Lowest person-detector score, [0, 1].
            min_presence: Lowest pose flag, [0, 1]; below it the person is lost and the detector runs again.
            threads: TFLite interpreter threads per model.
            max_people: 1 tracks one person as MediaPipe's Pose does (the person detector runs only when the
                person is lost); more runs the person detector on every frame and the landmark model on each of
                its first `max_people` detections (weighted NMS clusters), without tracking or smoothing.

        Raises:
            DetectorError: ai-edge-litert missing, the models not fetched, or a file that is not the model.
        """
        if model_dir is None:
            model_dir = cached_model_files("blazepose")
            if model_dir is None:
                raise DetectorError("the BlazePose model files are not in the cache: run `lift3d fetch blazepose`")
        self.model_dir = Path(model_dir)
        self.skeleton = get_skeleton("blazepose")
        self.name = "blazepose"
        self.min_score, self.min_presence = float(min_score), float(min_presence)
        if int(max_people) < 1:
            raise DetectorError(f"BlazePose: max_people must be at least 1, got {max_people}")
        self.max_people = int(max_people)
        det, lm = bm.DETECTOR_SIZE, bm.LANDMARK_SIZE
        anchors = bm.ssd_anchors(det)
        self._det, self._det_in, self._det_out = _load_interpreter(
            self.model_dir / DETECTOR_FILE, threads, (1, det, det, 3),
            {"boxes": (1, len(anchors), 12), "scores": (1, len(anchors), 1)},
        )  # fmt: skip
        self._lm, self._lm_in, self._lm_out = _load_interpreter(
            self.model_dir / LANDMARK_FILE, threads, (1, lm, lm, 3),
            {"landmarks": (1, _NUM_LANDMARKS * 5), "flag": (1, 1), "heatmap": (1, 64, 64, _NUM_LANDMARKS)},
        )  # fmt: skip
        self._anchors = anchors
        self._rect: np.ndarray | None = None
        self._smoother = bm.OneEuroFilter()
        self._frame = 0  # frames since the last reset: the smoother's clock
        self.detector_runs = 0  # how many times the person detector ran (tests, summaries)

    def reset(self) -> None:
        """Forget the tracked region and its smoothing: the next `detect` runs the person detector."""
        self._rect = None
        self._smoother.reset()
        self._frame = 0

    def detect(self, image: np.ndarray) -> FrameDetections:
        """The person's 33 landmarks in one frame (tracked from the previous frame where possible).

        Args:
            image: (h, w, 3) BGR uint8 frame.

        Returns:
            One person (points (1, 33, 2) px, pixel centres at integer coordinates; confidence (1, 33) the
            visibility; score (1,) the pose flag) or none.

        Raises:
            DetectorError: `image` is not an (h, w, 3) uint8 array.
        """
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            got = f"{getattr(image, 'shape', None)} {getattr(image, 'dtype', type(image).__name__)}"
            raise DetectorError(f"BlazePose needs an (h, w, 3) uint8 BGR image, got {got}")
        if min(image.shape[:2]) < 2:
            raise DetectorError(f"BlazePose: image of {image.shape[1]}x{image.shape[0]} px is too small")
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        height, width = rgb.shape[:2]
        if self.max_people > 1:
            return self._detect_people(rgb)
        time_us = self._frame * bm.FRAME_INTERVAL_US
        self._frame += 1
        rect = self._rect if self._rect is not None else self.find_person(rgb)
        points, visibility, flag = self.landmarks(rgb, rect) if rect is not None else (None, None, 0.0)
        if rect is None or flag < self.min_presence:
            self._rect = None
            self._smoother.reset()  # MediaPipe resets its filters on a frame without landmarks
            return FrameDetections.empty(_BODY)
        aux = points[[_AUX_CENTRE, _AUX_SCALE]]
        scale = bm.object_scale(bm.alignment_rect(aux[0], aux[1], height, width), height, width)
        size = np.array([width, height], np.float32)
        aux = self._smoother.apply(aux * size, time_us, scale) / size
        self._rect = bm.transform_rect(bm.alignment_rect(aux[0], aux[1], height, width), height, width)
        return FrameDetections(
            points[None, :_BODY] * size - np.float32(0.5),
            np.clip(visibility[None, :_BODY], _MIN_CONFIDENCE, 1.0).astype(np.float32),
            np.array([flag], np.float32),
        )

    def _detect_people(self, rgb: np.ndarray) -> FrameDetections:
        """Every frame: the person detector's first `max_people` regions, the landmark model on each."""
        height, width = rgb.shape[:2]
        size = np.array([width, height], np.float32)
        people = []
        for rect in self.find_people(rgb):
            points, visibility, flag = self.landmarks(rgb, rect)
            if flag >= self.min_presence:
                people.append((points[:_BODY] * size - np.float32(0.5), np.clip(visibility[:_BODY], _MIN_CONFIDENCE,
                               1.0).astype(np.float32), flag))  # fmt: skip
        if not people:
            return FrameDetections.empty(_BODY)
        return FrameDetections(np.stack([p[0] for p in people]), np.stack([p[1] for p in people]),
                               np.array([p[2] for p in people], np.float32))  # fmt: skip

    def find_person(self, rgb: np.ndarray) -> np.ndarray | None:
        """Run the person detector and turn its best detection into the landmark model's region of interest.

        Args:
            rgb: (h, w, 3) RGB uint8 image.

        Returns:
            (5,) float32 ROI, MediaPipe's normalised rect (x_center, y_center, width, height, rotation rad; see
            `lift3d.predict.detectors._blazepose_math`), or None when no detection scores `min_score`.
        """
        rects = self.find_people(rgb, 1)
        return rects[0] if rects else None

    def find_people(self, rgb: np.ndarray, count: int | None = None) -> list[np.ndarray]:
        """Run the person detector: the regions of interest of its first `count` detections (weighted NMS).

        Args:
            rgb: (h, w, 3) RGB uint8 image.
            count: Most people (default `max_people`).

        Returns:
            Up to `count` (5,) float32 ROIs (as `find_person`), best score first.
        """
        self.detector_runs += 1
        height, width = rgb.shape[:2]
        size = bm.DETECTOR_SIZE
        transform, padding = bm.crop_transform(bm.whole_image_rect(), height, width, size)
        crop = bm.warp_fixed_point(rgb, transform, size, cv2.BORDER_CONSTANT)
        tensor = crop.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1.0)
        self._det.set_tensor(self._det_in, tensor[None])
        self._det.invoke()
        raw_boxes = self._det.get_tensor(self._det_out["boxes"])[0]
        raw_scores = self._det.get_tensor(self._det_out["scores"])[0, :, 0]
        boxes, keypoints, scores = bm.decode_detections(raw_boxes, raw_scores, self._anchors, self.min_score, size)
        rects = []
        for _, points, _ in bm.weighted_nms(boxes, keypoints, scores, max_count=count or self.max_people):
            points = bm.remove_letterbox(points, padding)
            rects.append(bm.transform_rect(bm.alignment_rect(points[0], points[1], height, width), height, width))
        return rects

    def landmarks(self, rgb: np.ndarray, rect: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Run the landmark model on one region of interest.

        Args:
            rgb: (h, w, 3) RGB uint8 image.
            rect: (5,) float32 ROI, MediaPipe's normalised rect (see `find_person`).

        Returns:
            (39, 2) float32 landmarks (x, y) normalised to the image (MediaPipe's; lift3d px are ``x * w - 0.5``),
            heatmap-refined; (39,) float32 visibility in [0, 1]; the pose flag in [0, 1].
        """
        height, width = rgb.shape[:2]
        size = bm.LANDMARK_SIZE
        transform, padding = bm.crop_transform(rect, height, width, size)
        crop = bm.warp_fixed_point(rgb, transform, size, cv2.BORDER_REPLICATE)
        tensor = crop.astype(np.float32) * np.float32(1.0 / 255.0)
        self._lm.set_tensor(self._lm_in, tensor[None])
        self._lm.invoke()
        raw = self._lm.get_tensor(self._lm_out["landmarks"]).reshape(_NUM_LANDMARKS, 5)
        flag = float(self._lm.get_tensor(self._lm_out["flag"]).reshape(()))
        heatmap = self._lm.get_tensor(self._lm_out["heatmap"])[0]
        refined = bm.refine_from_heatmap(raw[:, :2] / np.float32(size), heatmap)
        with np.errstate(over="ignore"):
            visibility = (np.float32(1.0) / (np.float32(1.0) + np.exp(-raw[:, 3]))).astype(np.float32)
        return bm.project_from_rect(bm.remove_letterbox(refined, padding), rect), visibility, flag
