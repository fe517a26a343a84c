"""Every error lift3d raises on purpose: one base, `Lift3DError`, and one subclass per area.

A `Lift3DError` is the user's to fix (a malformed file, an option that does not fit the data, a sample that
cannot be fetched); its message is one line naming the file, frame, camera and field. The `lift3d` command
prints it as ``lift3d COMMAND: error: MESSAGE`` and exits with status 2; `--debug` shows the traceback.
Anything else escaping lift3d is a bug.

Each subclass also derives from the built-in exception that callers already expect (`ValueError` for bad
values, `KeyError` for a failed lookup, `FileNotFoundError` for a missing file, `RuntimeError` for an
environment that cannot do the job), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "Lift3DError",
    "ConfigError",
    "RigFileError",
    "UnknownCameraError",
    "KeypointFileError",
    "KeypointFileWarning",
    "Lift3DWarning",
    "InputWarning",
    "EvaluationWarning",
    "MotionFileError",
    "OutputError",
    "H36MFormatError",
    "DatasetError",
    "LTDataError",
    "SampleUnavailableError",
    "SampleChecksumError",
    "CaptureInputError",
    "CalibrationError",
    "CheckpointError",
    "LiftInputError",
    "EvaluationError",
    "ViewInputError",
    "RendererUnavailable",
    "SyncError",
    "DetectorError",
    "VideoError",
    "PipelineError",
]


class Lift3DError(Exception):
    """Base of every error a user can cause; the message is one line, fit to show as is."""


class ConfigError(Lift3DError, ValueError):
    """An option or config value that cannot work (out of range, unknown name, wrong type); names the field."""


# --- files (lift3d.io) ---------------------------------------------------------------------------------------


class RigFileError(Lift3DError, ValueError):
    """An invalid rig file, or request on a rig; the one-line message names the file, camera and field."""


class UnknownCameraError(RigFileError, KeyError):
    """A camera name the rig does not have (also a `KeyError`, as for any failed lookup by name).

    Attributes:
        name: The name that was looked up (None when not recorded).
    """

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class KeypointFileError(Lift3DError, ValueError):
    """An invalid keypoint file; the one-line message names the file, the frame or person and the field."""


class Lift3DWarning(UserWarning):
    """Base of every warning lift3d gives on purpose: data that was used but looks wrong.

    The message is one line that names the file, camera or field and says what to do; the `lift3d` command
    prints it as ``lift3d COMMAND: warning: MESSAGE`` and the command's summary repeats it.
    """


class InputWarning(Lift3DWarning):
    """Input that was used but looks suspicious (a rig's scale, keypoints off the image, a camera left unused)."""


class EvaluationWarning(Lift3DWarning):
    """An evaluation whose numbers need a caveat (predictions with missing joints: see the coverage)."""


class KeypointFileWarning(Lift3DWarning):
    """Data that was read but is incomplete: frames a camera lacks, files skipped with ``on_error="skip"``."""


class MotionFileError(Lift3DError, ValueError):
    """An invalid motion file; the one-line message names the file, the line and the field."""


class OutputError(Lift3DError, OSError):
    """An output that cannot be written: a folder where a file is meant, an unknown extension, a read-only
    folder, a full disk. The message names the path; earlier files at that path are left as they were."""


class H36MFormatError(Lift3DError, ValueError):
    """A Human3.6M file does not have the expected layout; the message names file, entry and field."""


# --- data to learn from (lift3d.datasets) --------------------------------------------------------------------


class DatasetError(Lift3DError):
    """A dataset that cannot be read or served as asked."""


class TrainingDataError(DatasetError, ValueError):
    """Data given to train on that lift3d cannot use; the message names the file or folder and what it needs."""


class SkeletonMappingError(TrainingDataError):
    """A motion whose joints cannot be mapped to H36M-17; the message names the file and the missing joints."""


class LTDataError(DatasetError, FileNotFoundError):
    """An image of a sample is missing or unreadable; the message names file, subject, action, camera, frame."""


class SampleUnavailableError(DatasetError, RuntimeError):
    """A sample could not be obtained; the message is one line, fit to show a user as is."""


class SampleChecksumError(SampleUnavailableError):
    """The downloaded file does not have the expected sha256 digest."""


# --- procedures ----------------------------------------------------------------------------------------------


class CaptureInputError(Lift3DError, ValueError):
    """The capture's files do not fit together (cameras, frame rate); the message says what and where."""


class SyncError(Lift3DError, ValueError):
    """Cameras that cannot be synchronised: one camera only, no moving person, a lag range beyond the data."""


class CalibrationError(Lift3DError, ValueError):
    """Bad calibration input or a failed calibration; the one-line message names the file, camera and field.

    Raised for: a malformed board spec (including square sizes in the wrong units), no board found in any
    image of a camera, too few usable views, cameras that share no board views, and an optimisation that
    diverged.
    """


class CheckpointError(Lift3DError, ValueError):
    """A checkpoint that cannot be used: missing files, another model's weights, a config mismatch."""


class LiftInputError(Lift3DError, ValueError):
    """Keypoints or options that cannot be lifted; the message names the input and the field."""


class EvaluationError(Lift3DError, ValueError):
    """Predictions and ground truth do not fit together; the message says what and where."""


class ViewInputError(Lift3DError, ValueError):
    """A request the files cannot answer (no file, a frame number they do not have); names the file."""


class RendererUnavailable(Lift3DError, RuntimeError):
    """Open3D could not open a rendering context (no display, and no working EGL / Mesa)."""


class DetectorError(Lift3DError, ValueError):
    """A pose detector that cannot run: a model file that is not a model, a missing runtime, a bad frame size."""


class VideoError(Lift3DError, ValueError):
    """An unreadable or truncated video or image folder; the message names the file and the frame."""


class PipelineError(Lift3DError, RuntimeError):
    """`lift3d run` cannot run a trial (no videos, no rig found) or some trials of a batch failed; names them."""
