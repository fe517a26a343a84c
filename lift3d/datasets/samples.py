"""Real multi-camera sample data, fetched on demand from PyPI.

The Pose2Sim project ships a small motion-capture session inside its wheel: 4 synchronized cameras,
OpenPose BODY_25B detections (JSON) for five trials, a Qualisys calibration and checkerboard photos of
the same cameras. :func:`fetch_sample` downloads that wheel once with ``pip``, checks its sha256,
extracts only those files into a cache, and returns a :class:`Sample` pointing at them. The cached
layout mirrors the repository's ``shared/data`` folder::

    <cache>/pose2sim-0.8.4/
        pose2sim_trials/        Calib.qca.txt, Config_session.toml, LICENSE, <trial>/pose/camNN_json/*.json
        pose2sim_calibration/   Calib.qca.txt, LICENSE, intrinsics/int_camNN_img/*.jpg,
                                extrinsics/camNN_ext.png

so :func:`sample_from_folder` gives the same :class:`Sample` for either copy.

The cache is ``$LIFT3D_CACHE`` when set, else ``~/.cache/lift3d``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from lift3d.errors import SampleChecksumError, SampleUnavailableError  # noqa: F401  (re-exported)

__all__ = [
    "Sample",
    "SampleUnavailableError",
    "SampleChecksumError",
    "fetch_sample",
    "fetch_model_files",
    "cached_model_files",
    "sample_from_folder",
    "default_cache_dir",
    "fetch_deepmimic",
    "DEEPMIMIC_CLIPS",
]

CACHE_ENV = "LIFT3D_CACHE"
_COMPLETE_MARKER = ".lift3d-sample-complete"
_TRIALS = "pose2sim_trials"
_CALIBRATION = "pose2sim_calibration"
_RIG_TOML = "Calib_qualisys_from_v0.4.15.toml"
_MODELS = ("blazepose",)  # entries of _SAMPLES that hold model files, not captures
_MOTIONS = ("deepmimic",)  # entries of _SAMPLES that hold motion clips, not captures
DEEPMIMIC_CLIPS = (
    "backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup", "jump", "kick",
    "punch", "roll", "run", "spin", "spinkick", "walk",
)  # fmt: skip
"""The 15 humanoid clips of the pybullet 3.2.7 wheel (``humanoid3d_<name>.txt``), fetched by `fetch_deepmimic`."""


@dataclass(frozen=True)
class Sample:
    """Paths of a Pose2Sim-style capture on disk.

    Attributes:
        root: Folder holding ``pose2sim_trials/`` (and ``pose2sim_calibration/`` when present).
        trials: The ``pose2sim_trials`` folder; one sub-folder per trial, each with ``pose/camNN_json/``.
        calibration: The ``pose2sim_calibration`` folder (``intrinsics/int_camNN_img/*.jpg`` checkerboard
            photos, ``extrinsics/camNN_ext.png``), or None when the folder has none.
        qca: The Qualisys calibration of the 4 cameras (``pose2sim_trials/Calib.qca.txt``, QTM XML).
        rig_toml: Pose2Sim's TOML of the same calibration (``Calib_qualisys_from_v0.4.15.toml``), or None:
            the pose2sim 0.8.4 wheel does not contain it, so a fetched sample has None here.
        licence: The licence text of the data (BSD-3-Clause, from the pose2sim wheel).
    """

    root: Path
    trials: Path
    calibration: Path | None
    qca: Path
    rig_toml: Path | None
    licence: Path

    @property
    def trial_names(self) -> tuple[str, ...]:
        """Names of the trials (sub-folders of :attr:`trials` that hold a ``pose/`` or a ``videos/`` folder),
        sorted."""
        return tuple(sorted(p.name for p in self.trials.iterdir() if (p / "pose").is_dir() or (p / "videos").is_dir()))

    def videos(self, name: str) -> tuple[Path, ...]:
        """The videos of one trial, one per camera (``videos/camNN.mp4``), sorted; empty when it has none.

        Args:
            name: Trial name, e.g. ``"video_SinglePerson"`` (the ``"pose2sim-videos"`` sample).

        Returns:
            The video paths.
        """
        return tuple(sorted((self.trial(name) / "videos").glob("cam*.mp4")))

    def trial(self, name: str) -> Path:
        """Return the folder of one trial.

        Args:
            name: Trial name, e.g. ``"single_BalancingTrial"``.

        Returns:
            The trial folder (it holds ``Config.toml`` and ``pose/camNN_json/``).

        Raises:
            ValueError: ``name`` is not a trial of this sample; the message lists the available ones.
        """
        names = self.trial_names
        if name not in names:
            raise ValueError(f"unknown trial {name!r} in {self.trials}; available: {', '.join(names)}")
        return self.trials / name


@dataclass(frozen=True)
class _WheelSample:
    """Where a sample comes from and which wheel members make it."""

    spec: str  # pip requirement, e.g. "pose2sim==0.8.4"
    sha256: str  # digest of the wheel file
    size_mb: float  # download size shown to the user
    dirname: str  # folder name inside the cache
    rules: tuple[tuple[str, tuple[str, ...]], ...]  # (regex on member name, destination templates)
    required: tuple[str, ...] = (f"{_TRIALS}/Calib.qca.txt", f"{_TRIALS}/LICENSE")  # must be extracted
    pip_args: tuple[str, ...] = ()  # pins the one wheel whose sha256 is known (platform-specific wheels)


_DEMO = r"Pose2Sim/S00_Demo_BatchSession"
_POSE_JSON = r"pose/cam\d+_json/[^/]+\.json(?:\.old)?"
_TRIAL_FILES = rf"(Config\.toml|{_POSE_JSON})"

# pip arguments that fetch the one wheel whose digest is pinned, on any machine (Linux x86-64, CPython 3.11)
_PINNED_WHEEL = ("--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--python-version", "3.11",
                 "--implementation", "cp")

_SAMPLES: dict[str, _WheelSample] = {
    "pose2sim": _WheelSample(
        spec="pose2sim==0.8.4",
        sha256="d16e9bbbc38cdd210ff7ce7c4dea91ce4274012f05a27951dd33d4db95588e81",
        size_mb=40.6,
        dirname="pose2sim-0.8.4",
        rules=(
            (rf"{_DEMO}/Config\.toml", (f"{_TRIALS}/Config_session.toml",)),
            (
                rf"{_DEMO}/S00_Calibration/Calib\.qca\.txt",
                (f"{_TRIALS}/Calib.qca.txt", f"{_CALIBRATION}/Calib.qca.txt"),
            ),
            (
                rf"{_DEMO}/S00_Calibration/intrinsics/(int_cam\d+_img/[^/]+\.(?:jpg|png))",
                (rf"{_CALIBRATION}/intrinsics/\1",),
            ),
            (
                rf"{_DEMO}/S00_Calibration/extrinsics/ext_cam\d+_img/([^/]+\.(?:jpg|png))",
                (rf"{_CALIBRATION}/extrinsics/\1",),
            ),
            (
                rf"{_DEMO}/S00_P00_SingleParticipant/S00_P00_T00_StaticTrial/(Config\.toml|{_POSE_JSON}|videos/cam\d+\.mp4)",
                (rf"{_TRIALS}/single_StaticTrial/\1",),
            ),
            (
                rf"{_DEMO}/S00_P00_SingleParticipant/S00_P00_T01_BalancingTrial/{_TRIAL_FILES}",
                (rf"{_TRIALS}/single_BalancingTrial/\1",),
            ),
            (
                rf"{_DEMO}/S00_P01_MultiParticipants/S00_P01_T00_StaticTrialParticipant1/{_TRIAL_FILES}",
                (rf"{_TRIALS}/multi_StaticTrialParticipant1/\1",),
            ),
            (
                rf"{_DEMO}/S00_P01_MultiParticipants/S00_P01_T01_StaticTrialParticipant2/{_TRIAL_FILES}",
                (rf"{_TRIALS}/multi_StaticTrialParticipant2/\1",),
            ),
            (
                rf"{_DEMO}/S00_P01_MultiParticipants/S00_P01_T02_Participants1-2/{_TRIAL_FILES}",
                (rf"{_TRIALS}/multi_Participants1-2/\1",),
            ),
            (r"pose2sim-0\.8\.4\.dist-info/LICENSE", (f"{_TRIALS}/LICENSE", f"{_CALIBRATION}/LICENSE")),
        ),
    ),
    # Real videos: pose2sim 0.10.49's two demos, 4 cameras each with their Qualisys calibration. The balancing trial
    # whose OpenPose JSON the "pose2sim" sample holds is Demo_SinglePerson; Demo_MultiPerson is another trial.
    "pose2sim-videos": _WheelSample(
        spec="pose2sim==0.10.49",
        sha256="403e0dc4065898ba6a595e72a8970950310979253d60e24c2e00b16b36bf21e1",
        size_mb=51.2,
        dirname="pose2sim-0.10.49",
        rules=(
            (r"Pose2Sim/Demo_SinglePerson/calibration/Calib\.qca\.txt",
             (f"{_TRIALS}/Calib.qca.txt", f"{_TRIALS}/video_SinglePerson/calibration/Calib.qca.txt")),
            (r"Pose2Sim/Demo_(SinglePerson|MultiPerson)/(Config\.toml|videos/cam\d+\.mp4|calibration/Calib\.qca\.txt)",
             (rf"{_TRIALS}/video_\1/\2",)),
            (r"pose2sim-0\.10\.49\.dist-info/licenses/LICENSE", (f"{_TRIALS}/LICENSE",)),
        ),
    ),
    # BlazePose GHUM (MediaPipe Pose): the detector and the full landmark model, Apache-2.0, from the mediapipe
    # 0.10.14 wheel. The files are the same in every platform's wheel; the Linux x86-64 CPython 3.11 wheel is the
    # one whose digest is pinned, so it is the one fetched on any machine (it is only unzipped, never installed).
    "blazepose": _WheelSample(
        spec="mediapipe==0.10.14",
        sha256="a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4",
        size_mb=35.7,
        dirname="mediapipe-0.10.14",
        rules=(
            (r"mediapipe/modules/pose_detection/(pose_detection\.tflite)", (r"\1",)),
            (r"mediapipe/modules/pose_landmark/(pose_landmark_full\.tflite)", (r"\1",)),
            (r"mediapipe-0\.10\.14\.dist-info/LICENSE", ("LICENSE",)),
        ),
        required=("pose_detection.tflite", "pose_landmark_full.tflite", "LICENSE"),
        pip_args=_PINNED_WHEEL,
    ),
    # DeepMimic's humanoid motion-capture clips and the humanoid's URDF, from the pybullet 3.2.7 wheel (zlib
    # licence: the wheel's LICENSE.txt, kept beside them). The clips are the same in every platform's wheel;
    # the Linux x86-64 CPython 3.11 wheel is the one whose digest is pinned (only unzipped, never installed).
    "deepmimic": _WheelSample(
        spec="pybullet==3.2.7",
        sha256="5d858abf7c12a21ef3ed351cf81dac1b5e486ec25c9ab59bfc84beb89034edff",
        size_mb=103.2,
        dirname="pybullet-3.2.7-deepmimic",
        rules=(
            (r"pybullet_data/data/motions/(humanoid3d_[a-z_]+\.txt)", (r"motions/\1",)),
            (r"pybullet_data/humanoid/(humanoid\.urdf)", (r"\1",)),
            (r"pybullet-3\.2\.7\.dist-info/(LICENSE\.txt)", (r"\1",)),
        ),
        required=("humanoid.urdf", "LICENSE.txt", *(f"motions/humanoid3d_{c}.txt" for c in DEEPMIMIC_CLIPS)),
        pip_args=_PINNED_WHEEL,
    ),
}


def default_cache_dir() -> Path:
    """Return the sample cache folder: ``$LIFT3D_CACHE`` when set and non-empty, else ``~/.cache/lift3d``."""
    env = os.environ.get(CACHE_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "lift3d"


def sample_from_folder(path: str | os.PathLike[str]) -> Sample:
    """Build a :class:`Sample` from a folder laid out like the repository's ``shared/data``.

    Args:
        path: Folder holding ``pose2sim_trials/`` (with ``Calib.qca.txt`` and ``LICENSE``) and optionally
            ``pose2sim_calibration/``; e.g. ``../shared/data`` or a folder made by :func:`fetch_sample`.

    Returns:
        The sample; ``calibration`` and ``rig_toml`` are None when the folder lacks them.

    Raises:
        FileNotFoundError: ``pose2sim_trials/``, its ``Calib.qca.txt`` or its ``LICENSE`` is missing.
    """
    root = Path(path).expanduser().resolve()
    trials = root / _TRIALS
    qca = trials / "Calib.qca.txt"
    licence = trials / "LICENSE"
    for needed in (trials, qca, licence):
        if not needed.exists():
            raise FileNotFoundError(
                f"{needed} not found: expected a folder holding {_TRIALS}/ (with Calib.qca.txt and LICENSE)"
            )
    calibration = root / _CALIBRATION
    rig_toml = trials / _RIG_TOML
    return Sample(
        root=root,
        trials=trials,
        calibration=calibration if calibration.is_dir() else None,
        qca=qca,
        rig_toml=rig_toml if rig_toml.is_file() else None,
        licence=licence,
    )


def fetch_sample(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    pip_args: tuple[str, ...] | list[str] = (),
    offline_ok: bool = False,
) -> Sample | None:
    """Download (once) and return a sample data set.

    The first call runs ``python -m pip download --no-deps pose2sim==0.8.4`` with the running
    interpreter (so the user's pip configuration, index and proxy apply), checks the wheel's sha256,
    extracts the sample files into ``<cache>/pose2sim-0.8.4/`` and deletes the wheel. The folder
    appears only once complete (it is built under a temporary name and then renamed), so an interrupted
    fetch leaves nothing that looks usable. Later calls find it and touch no network.

    Args:
        name: ``"pose2sim"`` (pose2sim 0.8.4: OpenPose JSON of five trials, calibration photos) or
            ``"pose2sim-videos"`` (pose2sim 0.10.49: the 4-camera videos of two trials, ``video_SinglePerson`` =
            the balancing trial, and ``video_MultiPerson``, with their Qualisys calibration).
        cache_dir: Cache folder; defaults to :func:`default_cache_dir` (``$LIFT3D_CACHE`` or
            ``~/.cache/lift3d``).
        pip_args: Extra arguments appended to the ``pip download`` command, e.g.
            ``("--index-url", "https://mirror/simple")``.
        offline_ok: When True, return None instead of raising if the download fails (a checksum
            mismatch still raises).

    Returns:
        The :class:`Sample`, or None when the download failed and ``offline_ok`` is True.

    Raises:
        ValueError: ``name`` is not a known sample; the message lists the known ones.
        SampleUnavailableError: pip could not download the wheel (one-line message naming the pip command
            to try and the ``LIFT3D_CACHE`` variable).
        SampleChecksumError: the wheel's sha256 is not the expected one; nothing is left in the cache.
    """
    if name in _MODELS:
        raise ValueError(f"{name!r} holds model files, not a capture: use fetch_model_files({name!r})")
    if name in _MOTIONS:
        raise ValueError(f"{name!r} holds motion clips, not a capture: use fetch_deepmimic()")
    if name not in _SAMPLES:
        known = ", ".join(sorted(set(_SAMPLES) - set(_MODELS) - set(_MOTIONS)))
        raise ValueError(f"unknown sample {name!r}; known samples: {known}")
    folder = _fetch_folder(name, cache_dir, pip_args, offline_ok)
    return None if folder is None else sample_from_folder(folder)


def fetch_model_files(
    name: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    pip_args: tuple[str, ...] | list[str] = (),
) -> Path:
    """Download (once) model files shipped inside a PyPI wheel and return their folder.

    Works as `fetch_sample` (pip download, sha256, extract, atomic rename into the cache); the wheel is only
    unzipped, never installed, so its pins cannot touch lift3d's environment.

    Args:
        name: ``"blazepose"``: ``pose_detection.tflite``, ``pose_landmark_full.tflite`` and ``LICENSE``
            (Apache-2.0) from the mediapipe 0.10.14 wheel.
        cache_dir: Cache folder; defaults to :func:`default_cache_dir`.
        pip_args: Extra arguments appended to the ``pip download`` command.

    Returns:
        The folder holding the files.

    Raises:
        ValueError: ``name`` is not a known model set.
        SampleUnavailableError: pip could not download the wheel.
        SampleChecksumError: the wheel's sha256 is not the expected one.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model set {name!r}; known: {', '.join(_MODELS)}")
    folder = _fetch_folder(name, cache_dir, pip_args, False)
    assert folder is not None
    return folder


def fetch_deepmimic(
    *, cache_dir: str | os.PathLike[str] | None = None, pip_args: tuple[str, ...] | list[str] = ()
) -> Path:
    """Download (once) DeepMimic's humanoid clips from the pybullet 3.2.7 wheel and return their folder.

    Works as `fetch_sample` (pip download of the pinned wheel, sha256, extract, atomic rename into the cache);
    the wheel is only unzipped, never installed. Read the folder with `lift3d.datasets.deepmimic`.

    Args:
        cache_dir: Cache folder; defaults to :func:`default_cache_dir`.
        pip_args: Extra arguments appended to the ``pip download`` command.

    Returns:
        The folder: ``motions/humanoid3d_<clip>.txt`` (the 15 `DEEPMIMIC_CLIPS`), ``humanoid.urdf`` and
        ``LICENSE.txt`` (pybullet's zlib licence).

    Raises:
        SampleUnavailableError: pip could not download the wheel.
        SampleChecksumError: the wheel's sha256 is not the expected one.
    """
    folder = _fetch_folder("deepmimic", cache_dir, pip_args, False)
    assert folder is not None
    return folder


def cached_model_files(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder of model set `name` if a finished fetch is in the cache, else None (no network)."""
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache / _SAMPLES[name].dirname
    return final if (final / _COMPLETE_MARKER).is_file() else None


def _fetch_folder(name: str, cache_dir, pip_args, offline_ok: bool) -> Path | None:
    """The cached folder of `_SAMPLES[name]`, fetched first if needed (None: offline and offline_ok)."""
    try:
        source = _SAMPLES[name]
    except KeyError:
        raise ValueError(f"unknown sample {name!r}; known samples: {', '.join(sorted(_SAMPLES))}") from None
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = cache / source.dirname
    if (final / _COMPLETE_MARKER).is_file():
        return final

    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{source.dirname}.partial-", dir=cache))
    try:
        print(
            f"Fetching {name!r} ({source.spec}, {source.size_mb:.1f} MB) from PyPI...",
            file=sys.stderr,
            flush=True,
        )
        try:
            wheel = _pip_download(source.spec, work / "download", (*source.pip_args, *pip_args))
        except SampleUnavailableError:
            if offline_ok:
                return None
            raise
        _check_sha256(wheel, source.sha256)
        staged = work / source.dirname
        _extract(wheel, staged, source.rules, source.required)
        (staged / _COMPLETE_MARKER).write_text(f"{source.spec} sha256={source.sha256}\n")
        if final.exists() and not (final / _COMPLETE_MARKER).is_file():
            shutil.rmtree(final)  # a leftover without the marker is never a finished fetch
        try:
            os.rename(staged, final)
        except OSError:
            if not (final / _COMPLETE_MARKER).is_file():  # not a concurrent fetch that finished first
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _pip_download(spec: str, dest: Path, pip_args: tuple[str, ...]) -> Path:
    """Run ``pip download --no-deps spec -d dest`` in a subprocess and return the wheel's path.

    pip's progress (stdout) goes to the terminal; its stderr is kept to explain a failure.

    Raises:
        SampleUnavailableError: pip failed or produced no wheel.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", spec, "-d", str(dest), *pip_args]
    try:
        proc = subprocess.run(cmd, stderr=subprocess.PIPE, text=True, errors="replace", check=False)
    except OSError as exc:
        raise _unavailable(spec, f"could not run pip ({exc})") from None
    if proc.returncode != 0:
        errors = [ln.strip() for ln in (proc.stderr or "").splitlines() if ln.strip().startswith("ERROR")]
        detail = f"pip exited with status {proc.returncode}"
        if errors:
            detail += f": {errors[-1]}"
        raise _unavailable(spec, detail)
    dist = spec.split("==")[0].replace("-", "_")
    wheels = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(dist.lower() + "-"))
    if not wheels:
        raise _unavailable(spec, "pip finished but left no wheel")
    return wheels[0]


def _unavailable(spec: str, detail: str) -> SampleUnavailableError:
    detail = " ".join(detail.split())  # keep the message on one line
    return SampleUnavailableError(
        f"could not download the sample {spec} from PyPI ({detail}); check the network and try "
        f"`{Path(sys.executable).name} -m pip download --no-deps {spec}`, or set {CACHE_ENV} to a "
        f"folder that already holds the fetched sample ({spec.replace('==', '-')}/)"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str) -> None:
    actual = _sha256(path)
    if actual != expected.lower():
        raise SampleChecksumError(
            f"sha256 mismatch for {path.name}: expected {expected.lower()}, got {actual}; "
            "the download is corrupt or not the published file, nothing was kept"
        )


def _extract(
    wheel: Path, dest: Path, rules: tuple[tuple[str, tuple[str, ...]], ...], required: tuple[str, ...]
) -> None:
    """Copy the wheel members matched by ``rules`` to their destinations under ``dest``."""
    compiled = [(re.compile(pattern), templates) for pattern, templates in rules]
    written = 0
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            for pattern, templates in compiled:
                match = pattern.fullmatch(info.filename)
                if match is None:
                    continue
                for template in templates:
                    rel = Path(match.expand(template))
                    if rel.is_absolute() or ".." in rel.parts:
                        raise SampleUnavailableError(f"unsafe member path in {wheel.name}: {info.filename}")
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                    written += 1
                break
    if not all((dest / rel).is_file() for rel in required):
        raise SampleUnavailableError(
            f"{wheel.name} does not hold the expected sample files ({written} found)"
        )
