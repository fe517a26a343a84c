"""2D pose detectors behind one small interface (`PoseDetector`), and `make_detector` to pick one by name.

Built in: ``"blazepose"`` (MediaPipe's BlazePose GHUM full models, 33 keypoints, run by the standalone TFLite
runtime ai-edge-litert; the model files come from the mediapipe wheel on PyPI via ``lift3d fetch blazepose``),
and any ``.onnx`` top-down pose model (RTMPose-style SimCC or heatmap outputs, run by onnxruntime). A user's own
detector is any object with the `PoseDetector` methods; ``make_detector("package.module:factory")`` builds it.
"""

from lift3d.predict.detectors.base import FrameDetections, PoseDetector
from lift3d.predict.detectors.registry import make_detector

__all__ = ["FrameDetections", "PoseDetector", "make_detector"]
