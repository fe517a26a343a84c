"""`make_detector`: a detector from a built-in name, an ``.onnx`` file or a user's ``module:factory``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from lift3d.errors import DetectorError
from lift3d.predict.detectors.base import PoseDetector

__all__ = ["make_detector", "DETECTORS"]

DETECTORS = ("blazepose",)
"""Built-in detector names; a ``.onnx`` path and ``module:factory`` are accepted too."""


def make_detector(spec: str | Path, **options: Any) -> PoseDetector:
    """Build a detector from a name, a model file or a user factory.

    Args:
        spec: ``"blazepose"`` (default of `lift3d detect`), a path to an ``.onnx`` pose model (RTMPose-style),
            or ``"package.module:factory"``: a callable that takes ``**options`` and returns a `PoseDetector`.
        **options: Passed to the detector (e.g. ``min_score``, ``model_dir``).

    Returns:
        The detector.

    Raises:
        DetectorError: Unknown name, missing model file, or a factory whose result lacks `detect` / `reset`.
    """
    text = str(spec)
    if text.lower() == "blazepose":  # imported on use: the runtimes load only when asked for
        from lift3d.predict.detectors.blazepose import BlazePoseDetector

        return BlazePoseDetector(**options)
    if text.lower().endswith(".onnx"):
        from lift3d.predict.detectors.onnx_pose import OnnxPoseDetector

        return OnnxPoseDetector(Path(text), **options)
    if ":" in text and not Path(text).exists():
        module_name, _, attr = text.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise DetectorError(f"detector {text!r}: cannot import {attr!r} from {module_name!r} ({exc})") from None
        detector = factory(**options)
        if not isinstance(detector, PoseDetector):
            raise DetectorError(
                f"detector {text!r}: {type(detector).__name__} lacks skeleton, name, detect(image) or reset()"
            )
        return detector
    raise DetectorError(
        f"unknown detector {text!r}: give 'blazepose', a .onnx pose model file, or 'package.module:factory'"
    )
