"""Pose2Sim's own 3D for a Pose2Sim trial, computed by Pose2Sim (run in a separate environment, no lift3d).

Runs the installed Pose2Sim's own functions on a copy of the trial laid out as a Pose2Sim session: the Qualisys
calibration is converted by Pose2Sim (``calib_qca_fun`` + ``toml_write``, as its ``calibration`` step with
``convert_from = 'qualisys'`` does), the single person is picked by its ``personAssociation`` step
(``track_2d_all``) and triangulated by ``triangulate_all`` with the session's and trial's ``Config.toml``
settings (likelihood threshold, reprojection error threshold, minimum cameras, undistortion, interpolation kind
and largest gap). Filtering is not run. Saved to an npz:

- ``points_raw`` (t, j, 3): the triangulation before interpolation, world frame (Z up), metres; NaN where
  Pose2Sim gives no point.
- ``points`` (t, j, 3): what Pose2Sim writes to its TRC (interpolated, then forward/backward filled), converted
  back from its Y-up columns to the world frame.
- ``joint_names``, ``joint_ids`` (the keypoints' indices in the detector's output, e.g. OpenPose BODY_25B),
  ``version``, ``frame_rate``, ``settings`` (JSON of the triangulation settings used),
  ``person`` (t, v): the index of the detection Pose2Sim's association kept in each camera's JSON (-1: none),
  ``seconds_association`` and ``seconds_triangulation`` (wall time of each step).

Pose2Sim's GUI imports (PyQt5, Qt matplotlib backends, mpl_interactions) are stubbed: the steps run here do
not use them. Usage, in an environment with Pose2Sim (``pip install --no-deps pose2sim==0.8.4`` plus numpy,
scipy, pandas, toml, opencv-python-headless, tqdm, anytree, c3d, lxml, matplotlib)::

    python benchmarks/pose2sim_reference.py --trial ../shared/data/pose2sim_trials/single_BalancingTrial \\
        --out /tmp/p2s_0.8.4.npz
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np


class _Stub(types.ModuleType):
    """A module whose every attribute is a do-nothing class (for GUI imports that the run never uses)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *a, **k: None})


def _stub_gui() -> None:
    import matplotlib

    matplotlib.use("Agg")
    for name in ("PyQt5", "PyQt5.QtWidgets", "PyQt5.QtCore", "PyQt5.QtGui", "PySide6", "PySide6.QtWidgets",
                 "matplotlib.backends.backend_qt5agg", "matplotlib.backends.backend_qtagg", "mpl_interactions"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - any import failure: replace by the stub
            sys.modules[name] = _Stub(name)


def _recursive_update(base: dict, new: dict) -> dict:
    for k, v in new.items():
        base[k] = _recursive_update(base.get(k, {}), v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return base


def _layout(trial: Path, calib_qca: Path, session_config: Path, root: Path, binning: int) -> dict:
    """Copy the trial into a Pose2Sim session folder, convert the calibration with Pose2Sim, return the config."""
    import toml
    from Pose2Sim import calibration

    session = root / "session"
    trial_dir = session / "participant" / trial.name
    calib_dir = session / "calibration"
    calib_dir.mkdir(parents=True)
    shutil.copy(session_config, session / "Config.toml")
    (trial_dir / "pose").mkdir(parents=True)
    for cam in sorted(p for p in (trial / "pose").iterdir() if p.is_dir()):
        dst = trial_dir / "pose" / cam.name
        dst.mkdir()
        for f in cam.glob("*.json"):  # only *.json, as Pose2Sim's fnmatch does
            shutil.copy(f, dst / f.name)
    config = toml.load(session_config)
    if (trial / "Config.toml").exists():
        shutil.copy(trial / "Config.toml", trial_dir / "Config.toml")
        config = _recursive_update(config, toml.load(trial / "Config.toml"))
    config["project"]["project_dir"] = str(trial_dir)
    ret, C, S, D, K, R, T = calibration.calib_qca_fun(str(calib_qca), binning)
    calibration.toml_write(str(calib_dir / "Calib_qualisys.toml"), C, S, D, K, R, T)
    # pose2sim 0.8 looks for the session two levels above the trial, 0.9+ one level above
    shutil.copytree(calib_dir, trial_dir.parent / "calibration")
    shutil.copy(session_config, trial_dir.parent / "Config.toml")
    return config


def _people_kept(trial_dir: Path, pose_src: Path) -> np.ndarray:
    """(t, v) index of the source detection equal to the one Pose2Sim's association kept (-1 = none)."""
    cams = sorted(p.name for p in (trial_dir / "pose-associated").iterdir() if p.is_dir())
    out = []
    for cam in cams:
        row = []
        for f in sorted((trial_dir / "pose-associated" / cam).glob("*.json")):
            kept = json.loads(f.read_text())["people"]
            src = json.loads((pose_src / cam / f.name).read_text())["people"]
            kp = [p["pose_keypoints_2d"] for p in kept if p.get("pose_keypoints_2d")]
            idx = [i for i, p in enumerate(src) if kp and p["pose_keypoints_2d"] == kp[0]]
            row.append(idx[0] if idx else -1)
        out.append(row)
    return np.array(out).T


def _read_trc(path: Path) -> tuple[list[str], np.ndarray]:
    lines = path.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    data = np.array([[float(x) if x not in ("", "nan") else np.nan for x in ln.split("\t")[2:]]
                     for ln in lines[5:] if ln.strip()])
    yup = data.reshape(len(data), -1, 3)
    return names, yup[..., [2, 0, 1]]  # Pose2Sim's zup2yup writes (Y, Z, X) of the world: undo it


def main(argv=None) -> None:
    """Run Pose2Sim's association and triangulation on a trial and save its 3D (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trial", type=Path, required=True, help="trial folder with pose/camNN_json/")
    p.add_argument("--calib", type=Path, default=None, help="Qualisys .qca.txt (default: ../Calib.qca.txt)")
    p.add_argument("--session-config", type=Path, default=None,
                   help="session Config.toml (default: ../Config_session.toml)")
    p.add_argument("--out", type=Path, required=True, help="npz to write")
    p.add_argument("--keep", type=Path, default=None, help="keep the Pose2Sim session folder here")
    args = p.parse_args(argv)
    trial = args.trial.resolve()
    calib = (args.calib or trial.parent / "Calib.qca.txt").resolve()
    session_config = (args.session_config or trial.parent / "Config_session.toml").resolve()
    _stub_gui()
    from Pose2Sim import personAssociation, triangulation

    version = importlib.metadata.version("pose2sim")
    root = Path(tempfile.mkdtemp(prefix="p2s_ref_")) if args.keep is None else args.keep.resolve()
    root.mkdir(parents=True, exist_ok=True)
    config = _layout(trial, calib, session_config, root, 1)
    trial_dir = Path(config["project"]["project_dir"])

    raw: dict = {}
    interp = triangulation.interpolate_zeros_nans

    def recording_interp(col, *a):
        raw[col.name] = np.asarray(col, float).copy()
        return interp(col, *a)

    triangulation.interpolate_zeros_nans = recording_interp
    cwd = os.getcwd()
    os.chdir(trial_dir)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            t0 = time.perf_counter()
            (getattr(personAssociation, "track_2d_all", None) or personAssociation.associate_all)(config)
            t1 = time.perf_counter()
            triangulation.triangulate_all(config)
            t2 = time.perf_counter()
    finally:
        os.chdir(cwd)
        triangulation.interpolate_zeros_nans = interp
    trc = sorted((trial_dir / "pose-3d").glob("*.trc"))
    if len(trc) != 1:
        raise RuntimeError(f"expected one TRC from Pose2Sim, got {trc}")
    names, points = _read_trc(trc[0])
    t, j = points.shape[:2]
    if len(raw) == 3 * j:
        points_raw = np.stack([raw[c] for c in sorted(raw)], -1).reshape(t, j, 3)
    else:  # interpolation off: the TRC holds the raw triangulation (forward/backward filled)
        points_raw = np.full((t, j, 3), np.nan)
    points_raw[points_raw == 0] = np.nan  # Pose2Sim's interpolation treats exact zeros as missing too
    from anytree import RenderTree
    from Pose2Sim import skeletons

    model = getattr(skeletons, config["pose"]["pose_model"])
    ids = {node.name: node.id for _, _, node in RenderTree(model) if node.id is not None}
    tri = config["triangulation"]
    settings = {k: tri.get(k) for k in ("reproj_error_threshold_triangulation", "likelihood_threshold_triangulation",
                                         "min_cameras_for_triangulation", "interpolation",
                                         "interp_if_gap_smaller_than", "handle_LR_swap", "undistort_points")}
    settings |= {"likelihood_threshold_association": config["personAssociation"]["likelihood_threshold_association"],
                 "reproj_error_threshold_association":
                     config["personAssociation"]["single_person"]["reproj_error_threshold_association"],
                 "tracked_keypoint": config["personAssociation"]["single_person"]["tracked_keypoint"],
                 "pose_model": config["pose"]["pose_model"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, points_raw=points_raw, points=points, joint_names=np.array(names),
        joint_ids=np.array([ids[n] for n in names]), version=version,
        frame_rate=float(config["project"]["frame_rate"]), settings=json.dumps(settings),
        person=_people_kept(trial_dir, trial / "pose"), seconds_association=t1 - t0, seconds_triangulation=t2 - t1,
    )
    print(f"pose2sim {version}: {t} frames x {j} joints, {np.isfinite(points_raw[..., 0]).sum()} triangulated; "
          f"association {t1 - t0:.2f} s, triangulation {t2 - t1:.2f} s -> {args.out}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
