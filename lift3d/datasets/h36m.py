"""Human3.6M: the cameras, and loaders / writers of the three file layouts people actually have.

Everything of `lift3d.datasets.h36m_dataset` (the in-memory `H36MDataset`, `Sequence`, names, splits, damaged
takes) is re-exported here. `load_videopose3d`, `load_martinez` and `load_learnable_triangulation` read
the layouts described in `lift3d.io.h36m_formats` into an `H36MDataset` (world mm, H36M-17, `Rig`s in mm);
`write_videopose3d`, `write_martinez` and `write_learnable_triangulation_labels` write one back.

Cameras. `h36m_cameras(subject)` builds a subject's rig from VideoPose3D's published constants (packaged as
``h36m_cameras.json``): camera-to-world quaternions Q (wxyz) and centres C (mm) become ``R = Q^T``,
``t = -Q^T C``. Distortion: the H36M model (VideoPose3D's ``project_to_2d``, Martinez'
``project_point_radial``, the original MATLAB code) is ``x' = x (radial + p_a x + p_b y) + p_a r^2`` with
VideoPose3D's ``tangential_distortion = (p_a, p_b)``. OpenCV's model puts ``p2 r^2`` in x', so
VideoPose3D's pair maps to OpenCV as ``p1 = p_b, p2 = p_a``; this is also the order Martinez' ``cameras.h5``
stores (``p = (p_b, p_a)``) and learnable-triangulation copies into OpenCV's ``dist``. lift3d then projects
with OpenCV's model, which differs from H36M's in the second-order tangential terms (2 p x y, 2 p x^2 against
p x y, p x^2): at most 0.35 px within 0.7 m of the capture-volume centre, 1.4 px in the image corners. Copying
``(p_a, p_b)`` straight into OpenCV's (p1, p2) would put each r^2 term on the wrong axis (1.2 px and 3.6 px).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from lift3d.core.rig import Rig
from lift3d.core.skeleton import H36M_17, H36M_17_FROM_32
from lift3d.datasets.h36m_dataset import (
    ACTIONS,
    CAMERA_IDS,
    DAMAGED_SEQUENCES,
    SUBJECTS,
    TEST_SUBJECTS,
    TRAIN_SUBJECTS,
    CameraSamples,
    H36MArrays,
    H36MDataset,
    Sequence,
    expand_17_to_32,
    parse_action_name,
)
from lift3d.geometry.camera import Camera
from lift3d.io import h36m_formats as fmt
from lift3d.io.h36m_formats import NUM_RAW_JOINTS, H36MFormatError
from lift3d.io.rig_toml import save_rig

__all__ = [
    "SUBJECTS", "TRAIN_SUBJECTS", "TEST_SUBJECTS", "CAMERA_IDS", "ACTIONS", "DAMAGED_SEQUENCES",
    "NUM_RAW_JOINTS",
    "H36MFormatError", "parse_action_name", "h36m_cameras", "h36m_rigs", "write_h36m_rigs",
    "Sequence", "H36MDataset", "H36MArrays", "CameraSamples", "expand_17_to_32",
    "load_h36m", "load_videopose3d", "load_martinez", "load_learnable_triangulation",
    "write_videopose3d", "write_martinez", "write_learnable_triangulation_labels",
]  # fmt: skip

_LT_SPELLING = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog", "WalkTogether": "WalkingTogether"}
_MARTINEZ_S1_SPELLING = {"Photo": "TakingPhoto", "WalkDog": "WalkingDog"}


# ---------------------------------------------------------------------------------------------- cameras


@functools.cache
def _camera_json() -> dict:
    return json.loads(resources.files("lift3d.datasets").joinpath("h36m_cameras.json").read_text("utf-8"))


def _image_size(name: str, K: np.ndarray) -> np.ndarray:
    intr = _camera_json()["intrinsics"].get(name)
    if intr is None:  # not an H36M camera: assume the principal point is central
        return np.round(2.0 * np.asarray(K)[:2, 2])
    return np.array([intr["width"], intr["height"]], np.float64)


def h36m_cameras(subject: str) -> Rig:
    """The 4 Human3.6M cameras of one subject, from VideoPose3D's published constants.

    Args:
        subject: One of `SUBJECTS` (S2-S4 have no extrinsics).

    Returns:
        A rig in mm named by camera id (`CAMERA_IDS` order), float64, OpenCV distortion (see the module
        docstring for the tangential coefficients' order).
    """
    data = _camera_json()
    if subject not in data["extrinsics"]:
        raise KeyError(
            f"no Human3.6M extrinsics for subject {subject!r}; subjects are {sorted(data['extrinsics'])}"
        )
    cams = []
    for ext in data["extrinsics"][subject]:
        intr = data["intrinsics"][ext["camera_id"]]
        Q = Rotation.from_quat(ext["orientation_wxyz"], scalar_first=True).as_matrix()  # camera -> world
        (fx, fy), (cx, cy) = intr["focal_length_px"], intr["center_px"]
        (k1, k2, k3), (pa, pb) = intr["radial_distortion_k1k2k3"], intr["tangential_distortion_p1p2"]
        cams.append(
            Camera.create(
                np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
                R=Q.T,
                t=-Q.T @ np.asarray(ext["center_mm"], np.float64),
                dist=[k1, k2, pb, pa, k3],
                image_size=[intr["width"], intr["height"]],
            )
        )
    names = [e["camera_id"] for e in data["extrinsics"][subject]]
    return Rig.from_cameras(names, cams, units="mm", metadata={"dataset": "Human3.6M", "subject": subject})


def h36m_rigs(subjects: Iterable[str] = SUBJECTS) -> dict[str, Rig]:
    """`h36m_cameras` for several subjects, as a dict subject -> rig (mm)."""
    return {s: h36m_cameras(s) for s in subjects}


def write_h36m_rigs(folder: str | os.PathLike) -> list[Path]:
    """Write ``<folder>/S1.toml ... S11.toml``: each subject's rig as anipose/Pose2Sim TOML in metres.

    Args:
        folder: Destination folder (created if missing), e.g. ``calib/rigs/h36m``.

    Returns:
        The paths written.
    """
    return [save_rig(rig, Path(folder) / f"{s}.toml", units="m") for s, rig in h36m_rigs().items()]


def _rig_from_arrays(names, R, t, K, dist, metadata) -> Rig:
    sizes = [_image_size(n, k) for n, k in zip(names, K, strict=True)]
    cam = Camera.create(
        np.asarray(K, np.float64),
        R=np.asarray(R, np.float64),
        t=np.asarray(t, np.float64),
        dist=np.asarray(dist, np.float64),
        image_size=np.stack(sizes),
    )
    return Rig(names=tuple(names), cameras=cam, units="mm", metadata=metadata)


# ---------------------------------------------------------------------------------------------- loaders


def load_videopose3d(path_3d: str | os.PathLike, path_2d: str | os.PathLike | None = None) -> H36MDataset:
    """Load VideoPose3D's ``data_3d_h36m.npz`` (and optionally a ``data_2d_h36m_<source>.npz``).

    Both files are pickles, unpickled with numpy arrays only (`lift3d.io.npz.ArraysOnlyUnpickler`).

    Args:
        path_3d: ``data_3d_h36m.npz`` (world metres, 32 joints).
        path_2d: A 2D file with H36M-17 keypoints (layout "h36m", e.g. the "gt" or "cpn_ft_h36m_dbb" source).
            As VideoPose3D does, views longer than the 3D are cut to its length; shorter ones are NaN-padded.

    Returns:
        The dataset; rigs from `h36m_cameras` (VideoPose3D's files hold no cameras) for the subjects that
        have them.
    """
    pos3d = fmt.read_videopose3d_3d(path_3d)
    pos2d: dict = {}
    if path_2d is not None:
        pos2d, meta = fmt.read_videopose3d_2d(path_2d)
        if meta.get("layout_name", "h36m") != "h36m" or int(meta["num_joints"]) != 17:
            raise H36MFormatError(
                f"{os.fspath(path_2d)}: field 'metadata': layout {meta.get('layout_name')!r} with "
                f"{meta['num_joints']} joints; only H36M-17 2D is supported (map other skeletons "
                "with lift3d.core.skeleton.map_to_h36m)"
            )
    sequences = []
    for subject, actions in pos3d.items():
        for action, raw in actions.items():
            p3 = (np.asarray(raw, np.float64)[:, list(H36M_17_FROM_32)] * 1000.0).astype(np.float32)
            t, p2 = len(p3), None
            views = pos2d.get(subject, {}).get(action)
            if views is not None:
                p2 = np.full((t, len(views), 17, 2), np.nan, np.float32)
                for c, view in enumerate(views):
                    p2[: min(t, len(view)), c] = view[:t]
            sequences.append(Sequence(subject, action, np.arange(t), p3, p2))
    rigs = {s: h36m_cameras(s) for s in pos3d if s in _camera_json()["extrinsics"]}
    return H36MDataset(sequences, rigs)


def load_martinez(root: str | os.PathLike, cameras_path: str | os.PathLike | None = None) -> H36MDataset:
    """Load Martinez' 3d-pose-baseline tree (``S*/MyPoses/3D_positions/*.h5`` and ``cameras.h5``).

    Args:
        root: The folder holding ``S1/``, ``S5/``, ...
        cameras_path: ``cameras.h5``; default ``<root>/cameras.h5``, and if that does not exist the published
            constants (`h36m_cameras`). Image sizes (absent from the file) come from the camera ids.

    Returns:
        The dataset (no 2D; see `H36MDataset.with_projections`).
    """
    root = Path(root)
    files = fmt.martinez_pose_files(root)
    cameras_path = root / "cameras.h5" if cameras_path is None else Path(cameras_path)
    if cameras_path.exists():
        rigs = {}
        for subject, cams in fmt.read_martinez_cameras(cameras_path).items():
            stack = {k: np.stack([c[k] for c in cams]) for k in ("R", "t", "K", "dist")}
            rigs[subject] = _rig_from_arrays(
                [c["name"] for c in cams], **stack, metadata={"dataset": "Human3.6M", "subject": subject}
            )
    else:
        rigs = {s: h36m_cameras(s) for s in files if s in _camera_json()["extrinsics"]}
    sequences = []
    for subject, stems in files.items():
        for stem, path in stems.items():
            p3 = fmt.read_martinez_poses(path)[:, list(H36M_17_FROM_32)].astype(np.float32)
            sequences.append(Sequence(subject, stem, np.arange(len(p3)), p3))
    return H36MDataset(sequences, {s: r for s, r in rigs.items() if s in files})


def load_learnable_triangulation(path: str | os.PathLike) -> H36MDataset:
    """Load learnable-triangulation's ``human36m-multiview-labels-*bboxes.npy`` (a pickle, numpy arrays only).

    Args:
        path: The ``.npy`` labels.

    Returns:
        The dataset: one sequence per (subject, action-trial) with its frames sorted by ``frame_idx``;
        keypoints permuted from the file's MPII-like order to H36M-17; boxes converted from (top, left,
        bottom, right) int16 to float (left, top, right, bottom), all-zero boxes (missing views) to NaN.
    """
    labels = fmt.read_lt_labels(path)
    table, cams = labels["table"], labels["cameras"]
    perm = [fmt.LT_JOINTS_FROM_32.index(r) for r in H36M_17_FROM_32]
    rigs = {
        s: _rig_from_arrays(
            labels["camera_names"],
            cams["R"][i],
            cams["t"][i][..., 0],
            cams["K"][i],
            cams["dist"][i],
            metadata={"dataset": "Human3.6M", "subject": s},
        )
        for i, s in enumerate(labels["subject_names"])
    }
    key = table["subject_idx"].astype(np.int64) * 256 + table["action_idx"].astype(np.int64)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    sequences = []
    for g in np.argsort(first):  # groups in order of first appearance
        rows = np.flatnonzero(inverse == g)
        rows = rows[np.argsort(table["frame_idx"][rows], kind="stable")]
        box = table["bbox_by_camera_tlbr"][rows][..., [1, 0, 3, 2]].astype(np.float32)
        box[np.all(box == 0, axis=-1)] = np.nan
        subject = labels["subject_names"][table["subject_idx"][rows[0]]]
        name = labels["action_names"][table["action_idx"][rows[0]]]
        sequences.append(
            Sequence(
                subject,
                name,
                table["frame_idx"][rows].astype(np.int64),
                table["keypoints"][rows][:, perm].astype(np.float32),
                None,
                box,
            )
        )
    return H36MDataset(sequences, {s: r for s, r in rigs.items() if s in {q.subject for q in sequences}})


def load_h36m(path: str | os.PathLike) -> H36MDataset:
    """Load Human3.6M from any of the three layouts, recognised from what `path` holds.

    Args:
        path: One of: VideoPose3D's ``data_3d_h36m.npz`` or its folder (a ``data_2d_h36m_gt.npz`` beside it
            is loaded too); the root of Martinez' tree (``S*/MyPoses/3D_positions/*.h5``, ``cameras.h5``);
            learnable-triangulation's ``human36m-multiview-labels-*.npy`` or its folder.

    Returns:
        The dataset (world mm, H36M-17).

    Raises:
        FileNotFoundError: Nothing recognisable at `path`; the message lists what was looked for.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".npy":
        return load_learnable_triangulation(path)
    if path.is_file() and path.suffix == ".npz":
        gt_2d = path.with_name("data_2d_h36m_gt.npz")
        return load_videopose3d(path, gt_2d if gt_2d.exists() else None)
    if path.is_dir():
        if (path / "data_3d_h36m.npz").exists():
            return load_h36m(path / "data_3d_h36m.npz")
        labels = sorted(path.glob("human36m-multiview-labels*.npy"))
        if labels:
            return load_learnable_triangulation(labels[0])
        if any(path.glob("S*/MyPoses/3D_positions/*.h5")):
            return load_martinez(path)
    raise FileNotFoundError(
        f"{path}: no Human3.6M data found; expected VideoPose3D's data_3d_h36m.npz, Martinez' "
        "S*/MyPoses/3D_positions/*.h5 (+ cameras.h5), or learnable-triangulation's "
        "human36m-multiview-labels-*.npy"
    )


# ---------------------------------------------------------------------------------------------- writers


def _unique_names(ds: H36MDataset, spell) -> list[str]:
    names = [spell(s) for s in ds.sequences]
    seen: dict[tuple[str, str], str] = {}
    for s, n in zip(ds.sequences, names, strict=True):
        if (s.subject, n) in seen:
            raise ValueError(
                f"{s.subject}: sequences {seen[s.subject, n]!r} and {s.name!r} would both be written as {n!r}"
            )
        seen[s.subject, n] = s.name
    return names


def _vp3d_name(s: Sequence) -> str:
    action, trial = parse_action_name(s.name)
    return f"{action} {trial}" if trial else action


def _projected(ds: H36MDataset) -> H36MDataset:
    return ds.with_projections() if any(s.points_2d is None for s in ds.sequences) else ds


def write_videopose3d(ds: H36MDataset, folder: str | os.PathLike, *, source: str = "gt") -> tuple[Path, Path]:
    """Write ``data_3d_h36m.npz`` and ``data_2d_h36m_<source>.npz`` in VideoPose3D's layout.

    3D goes out in metres with 32 joints (`expand_17_to_32`); 2D is the sequences' own, else projected through
    the rigs. Names use VideoPose3D's spelling ("Photo 1", "WalkDog").

    Args:
        ds: The dataset (every subject needs a rig if some sequence lacks 2D).
        folder: Destination folder.
        source: The 2D file's source tag.

    Returns:
        The 3D and 2D paths.
    """
    ds, folder = _projected(ds), Path(folder)
    names = _unique_names(ds, _vp3d_name)
    pos3d: dict = {}
    pos2d: dict = {}
    for s, name in zip(ds.sequences, names, strict=True):
        pos3d.setdefault(s.subject, {})[name] = expand_17_to_32(s.points_3d.astype(np.float64) / 1000.0)
        pos2d.setdefault(s.subject, {})[name] = list(np.moveaxis(s.points_2d, 1, 0))
    left, right = ([int(i) for i in x] for x in zip(*H36M_17.left_right, strict=True))
    metadata = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [left, right]}
    return (
        fmt.write_videopose3d_3d(folder / "data_3d_h36m.npz", pos3d),
        fmt.write_videopose3d_2d(folder / f"data_2d_h36m_{source}.npz", pos2d, metadata),
    )


def write_martinez(ds: H36MDataset, folder: str | os.PathLike) -> Path:
    """Write a Martinez tree: ``<folder>/cameras.h5`` and ``<folder>/S*/MyPoses/3D_positions/<name>.h5``.

    Names use VideoPose3D's spelling, except S1's "TakingPhoto"/"WalkingDog" as in Martinez' archive.

    Args:
        ds: The dataset.
        folder: Destination folder.

    Returns:
        The folder.
    """
    folder = Path(folder)

    def spell(s: Sequence) -> str:
        name = _vp3d_name(s)
        action, trial = parse_action_name(name)
        if s.subject == "S1" and action in _MARTINEZ_S1_SPELLING:
            name = _MARTINEZ_S1_SPELLING[action] + (f" {trial}" if trial else "")
        return name

    for s, name in zip(ds.sequences, _unique_names(ds, spell), strict=True):
        fmt.write_martinez_poses(
            folder / s.subject / "MyPoses" / "3D_positions" / f"{name}.h5",
            expand_17_to_32(s.points_3d.astype(np.float64)),
        )
    cams = {
        subject: [
            dict(name=n, R=rig.cameras.R[i], t=rig.cameras.t[i], K=rig.cameras.K[i], dist=rig.cameras.dist[i])
            for i, n in enumerate(rig.names)
        ]
        for subject, rig in ds.rigs.items()
    }
    fmt.write_martinez_cameras(folder / "cameras.h5", cams)
    return folder


def _lt_names(ds: H36MDataset) -> list[str]:
    """learnable-triangulation names "<Action>-<n>": per subject and action, numbered trials in order, then
    the unnumbered one (in the real data the unnumbered Martinez take is mostly trial 2)."""
    out = [""] * len(ds.sequences)
    groups: dict[tuple[str, str], list[int]] = {}
    for i, s in enumerate(ds.sequences):
        groups.setdefault((s.subject, s.action), []).append(i)
    for (_, action), idx in groups.items():
        order = sorted(
            idx,
            key=lambda i: (
                parse_action_name(ds.sequences[i].name)[1] == "",
                int(parse_action_name(ds.sequences[i].name)[1] or 0),
            ),
        )
        for n, i in enumerate(order, start=1):
            out[i] = f"{_LT_SPELLING.get(action, action)}-{n}"
    return out


def write_learnable_triangulation_labels(ds: H36MDataset, path: str | os.PathLike) -> Path:
    """Write learnable-triangulation labels (``np.save`` of its pickled dict, its dtypes).

    Keypoints go out in the file's MPII-like order (`h36m_formats.LT_JOINTS_FROM_32`), boxes as int16
    (top, left, bottom, right) rounded, zeros for NaN or absent boxes. Action names are "<Action>-<n>" (see
    `_lt_names`); frame numbers must fit int16.

    Args:
        ds: The dataset; every subject needs a rig, all rigs naming the same cameras.
        path: Destination ``.npy``.

    Returns:
        The path written.
    """
    subjects, cam_names = ds.subjects, ds.camera_names
    missing = [s for s in subjects if s not in ds.rigs]
    if missing or any(ds.rigs[s].names != cam_names for s in subjects):
        raise ValueError(
            f"{os.fspath(path)}: every subject needs a rig with cameras {cam_names}; "
            f"missing or different for {missing or [s for s in subjects if ds.rigs[s].names != cam_names]}"
        )
    lt_names = _lt_names(ds)
    action_names = list(dict.fromkeys(lt_names))
    to_lt = [list(H36M_17_FROM_32).index(r) for r in fmt.LT_JOINTS_FROM_32]
    v, seqs = len(cam_names), ds.sequences

    def box(s: Sequence) -> np.ndarray:
        if s.bboxes is None:
            return np.zeros((len(s), v, 4), np.int16)
        b = np.nan_to_num(np.round(s.bboxes[..., [1, 0, 3, 2]]), nan=0.0)
        return b.astype(np.int64)

    rep = lambda vals: np.repeat(np.asarray(vals), [len(s) for s in seqs])  # noqa: E731
    table = {
        "subject_idx": rep([subjects.index(s.subject) for s in seqs]),
        "action_idx": rep([action_names.index(n) for n in lt_names]),
        "frame_idx": np.concatenate([s.frames for s in seqs]),
        "keypoints": np.concatenate([s.points_3d[:, to_lt] for s in seqs]),
        "bbox_by_camera_tlbr": np.concatenate([box(s) for s in seqs]),
    }
    rigs = [ds.rigs[s].cameras for s in subjects]
    cameras = {
        "R": np.stack([c.R for c in rigs]),
        "t": np.stack([c.t for c in rigs])[..., None],
        "K": np.stack([c.K for c in rigs]),
        "dist": np.stack([c.dist for c in rigs]),
    }
    return fmt.write_lt_labels(
        path,
        {
            "subject_names": list(subjects),
            "camera_names": list(cam_names),
            "action_names": action_names,
            "cameras": cameras,
            "table": table,
        },
    )
