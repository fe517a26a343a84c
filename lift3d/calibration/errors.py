"""The one exception type of `lift3d.calibration`: a calibration that cannot be done from the given input."""

from __future__ import annotations

__all__ = ["CalibrationError"]


class CalibrationError(ValueError):
    """Bad calibration input or a failed calibration; the one-line message names the file, camera and field.

    Raised for: a malformed board spec (including square sizes in the wrong units), no board found in any
    image of a camera, too few usable views, cameras that share no board views, and an optimisation that
    diverged. The CLI prints the message and exits with status 2.
    """
