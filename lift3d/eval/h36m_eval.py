"""Human3.6M-style evaluation: match predictions to ground truth, compute the protocols, build the tables.

Predictions file (``PRED.npz``), one row per evaluated pose:

=============  ==============  ===============================================================================
key            shape           meaning
=============  ==============  ===============================================================================
``points_3d``  (n, 17, 3)      joints in H36M-17 order (`lift3d.core.skeleton.H36M_17`); (n, 32, 3) raw also works
``subject``    (n,) str        "S9", "S11", ...
``action``     (n,) str        the take's name as the data names it ("Walking 1", "Greeting-2")
``frame``      (n,) int        frame number within the take (the dataset's ``Sequence.frames``)
``camera``     (n,) str        optional: the camera whose frame the points are in (monocular methods);
                               absent: the points are in the world frame
``units``      () str          optional: "mm" (default) or "m"
=============  ==============  ===============================================================================

Protocols: ``p1`` MPJPE (root-aligned), ``p2`` P-MPJPE (Procrustes), ``n`` N-MPJPE (scale), ``abs`` absolute
MPJPE (no alignment), ``pck`` PCK3D at 150 mm and ``auc`` (0-150 mm, 31 steps; both root-aligned). Tables give
the mean per action (trials merged) and the papers' "Average": the unweighted mean over actions.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lift3d.core.skeleton import H36M_17, H36M_17_FROM_32
from lift3d.datasets.h36m import H36MDataset
from lift3d.errors import EvaluationError  # noqa: F401  (re-exported)
from lift3d.eval import metrics
from lift3d.io.atomic import atomic_write, write_json

__all__ = [
    "PROTOCOLS",
    "Predictions",
    "EvaluationError",
    "load_predictions",
    "save_predictions",
    "evaluate_h36m",
    "select_subjects",
    "write_report",
    "EvalReport",
]

PROTOCOLS = {
    "p1": ("MPJPE (P1, mm)", "root"),
    "p2": ("P-MPJPE (P2, mm)", "procrustes"),
    "n": ("N-MPJPE (mm)", "scale"),
    "abs": ("absolute MPJPE (mm)", "none"),
    "pck": ("PCK3D@150mm (%)", "root"),
    "auc": ("AUC 0-150mm (%)", "root"),
}
_CHUNK = 8192  # rows per jitted metric call (padded), so one compile serves any dataset size


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """Predicted poses with the keys that match them to ground truth (see the module doc).

    Attributes:
        points_3d: (n, 17, 3) mm, H36M-17 order.
        subject, action, frame: (n,) keys.
        camera: (n,) camera names, or None for world-frame predictions.
        source: Where the predictions came from (for messages).
    """

    points_3d: np.ndarray
    subject: np.ndarray
    action: np.ndarray
    frame: np.ndarray
    camera: np.ndarray | None = None
    source: str = "predictions"


def load_predictions(path: str | os.PathLike, *, units: str | None = None) -> Predictions:
    """Read and check a predictions ``.npz`` (schema in the module doc).

    Args:
        path: The ``.npz`` file.
        units: "mm" or "m" to override the file's ``units`` entry; the result is always in mm.

    Returns:
        The predictions in mm, H36M-17 order.

    Raises:
        EvaluationError: A missing key, a wrong shape or joint count, fields of different lengths.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such predictions file")
    with np.load(path, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    for key in ("points_3d", "subject", "action", "frame"):
        if key not in data:
            raise EvaluationError(f"{path}: missing field {key!r} (fields: {sorted(data)})")
    file_units = str(data["units"]) if "units" in data else "mm"
    return _checked(
        data["points_3d"],
        data["subject"],
        data["action"],
        data["frame"],
        data.get("camera"),
        units=units or file_units,
        source=str(path),
    )


def _checked(points, subject, action, frame, camera, *, units: str, source: str) -> Predictions:
    points = np.asarray(points)
    if points.ndim != 3 or points.shape[-1] != 3:
        raise EvaluationError(f"{source}: field 'points_3d' must be (n, 17, 3), got {points.shape}")
    if points.shape[1] == 32:
        points = points[:, list(H36M_17_FROM_32)]
    elif points.shape[1] != 17:
        raise EvaluationError(
            f"{source}: field 'points_3d' has {points.shape[1]} joints; expected 17 (H36M-17 order: "
            f"{', '.join(H36M_17.joints)}) or 32 (raw H36M)"
        )
    fields = {"subject": subject, "action": action, "frame": frame}
    if camera is not None:
        fields["camera"] = camera
    for name, value in fields.items():
        if np.shape(value) != (len(points),):
            raise EvaluationError(
                f"{source}: field {name!r} has shape {np.shape(value)} but 'points_3d' has {len(points)} rows"
            )
    if len(frame) and np.min(frame) < 0:
        raise EvaluationError(f"{source}: field 'frame' has negative frame numbers (min {np.min(frame)})")
    if units not in ("mm", "m"):
        raise EvaluationError(f"{source}: units must be 'mm' or 'm', got {units!r}")
    scale = 1000.0 if units == "m" else 1.0
    return Predictions(
        points_3d=points.astype(np.float64) * scale,
        subject=np.asarray(subject).astype(str),
        action=np.asarray(action).astype(str),
        frame=np.asarray(frame).astype(np.int64),
        camera=None if camera is None else np.asarray(camera).astype(str),
        source=source,
    )


def save_predictions(
    path: str | os.PathLike,
    points_3d: np.ndarray,
    *,
    subject: Seq[str],
    action: Seq[str],
    frame: Seq[int],
    camera: Seq[str] | None = None,
    units: str = "mm",
) -> Path:
    """Write a predictions ``.npz`` atomically (schema in the module doc).

    Args:
        path: Destination ``.npz``.
        points_3d: (n, 17, 3) joints in H36M-17 order.
        subject, action, frame: (n,) keys.
        camera: (n,) camera names for camera-frame predictions, or None for world frame.
        units: "mm" or "m".

    Returns:
        The path written.
    """
    pred = _checked(points_3d, subject, action, frame, camera, units=units, source=os.fspath(path))
    arrays = {"points_3d": np.asarray(points_3d, np.float32), "subject": pred.subject, "action": pred.action}
    arrays.update(frame=pred.frame, units=np.asarray(units))
    if pred.camera is not None:
        arrays["camera"] = pred.camera
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return Path(path)


@dataclasses.dataclass(frozen=True)
class EvalReport:
    """Results of `evaluate_h36m`.

    Attributes:
        protocols: The protocol keys evaluated, e.g. ("p1", "p2").
        per_action: action -> protocol -> value (mm, or % for pck / auc).
        average: protocol -> unweighted mean over actions (the papers' "Average").
        overall: protocol -> mean over all evaluated poses.
        per_subject: subject -> protocol -> value.
        per_joint: protocol -> joint name -> value (errors only).
        counts: action -> number of poses evaluated.
        ignored_predictions: prediction rows that matched no evaluated frame (e.g. frames skipped by `every`).
    """

    protocols: tuple[str, ...]
    per_action: dict
    average: dict
    overall: dict
    per_subject: dict
    per_joint: dict
    counts: dict
    ignored_predictions: int

    def to_markdown(self) -> str:
        """The per-action table the papers print (actions as rows), with Average and All rows."""
        head = ["action", "poses", *(PROTOCOLS[p][0] for p in self.protocols)]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        for action, values in self.per_action.items():
            cells = [action, str(self.counts[action]), *(f"{values[p]:.1f}" for p in self.protocols)]
            lines.append("| " + " | ".join(cells) + " |")
        total = sum(self.counts.values())
        lines.append(
            "| **Average** | "
            + str(total)
            + " | "
            + " | ".join(f"**{self.average[p]:.1f}**" for p in self.protocols)
            + " |"
        )
        lines.append(
            "| all poses | "
            + str(total)
            + " | "
            + " | ".join(f"{self.overall[p]:.1f}" for p in self.protocols)
            + " |"
        )
        return "\n".join(lines)

    def to_json(self) -> dict:
        """A JSON-ready dict of every table."""
        return dataclasses.asdict(self)


def select_subjects(ds: H36MDataset, subjects: Seq[str], *, source: str = "the data") -> H36MDataset:
    """The dataset restricted to some subjects; a subject the data lacks is an error.

    Args:
        ds: The dataset.
        subjects: Subject names, e.g. ("S9", "S11").
        source: Name of the data for messages.

    Returns:
        The selected dataset.
    """
    missing = [s for s in subjects if s not in ds.subjects]
    if missing:
        raise EvaluationError(
            f"{source}: subject {missing[0]!r} is not in the data (subjects: {list(ds.subjects)})"
        )
    return ds.select(subjects=subjects)


def _match(
    pred: Predictions, ds: H36MDataset, known_takes: set[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of `pred` for every evaluated (frame[, camera]); returns (gt rows, camera index, pred rows).

    Predictions of takes in `known_takes` ("subject/name") but not in `ds` (e.g. damaged takes left out) are
    ignored; predictions of takes nobody knows are an error.
    """
    arrays = ds.arrays()
    subjects_in_data = {k.split("/")[0] for k in known_takes}
    unknown = sorted(str(x) for x in set(pred.subject) - subjects_in_data)
    if unknown:
        raise EvaluationError(
            f"{pred.source}: subject {unknown[0]!r} is not in the ground truth "
            f"(subjects: {sorted(subjects_in_data)})"
        )
    seq_keys = [f"{s.subject}/{s.name}" for s in ds.sequences]
    seq_index = {k: i for i, k in enumerate(seq_keys)}
    pred_keys = np.char.add(np.char.add(pred.subject, "/"), pred.action)
    uniq, inverse = np.unique(pred_keys, return_inverse=True)
    missing_takes = [str(k) for k in uniq if k not in known_takes]
    if missing_takes:
        subject = missing_takes[0].split("/")[0]
        names = sorted(k.split("/", 1)[1] for k in known_takes if k.split("/")[0] == subject)
        raise EvaluationError(
            f"{pred.source}: action {missing_takes[0].split('/', 1)[1]!r} of subject "
            f"{missing_takes[0].split('/')[0]!r} is not in the ground truth (takes: {names})"
        )
    # takes left out of the evaluation get index -1 and never match a ground-truth key
    pred_seq = np.array([seq_index.get(k, -1) for k in uniq], np.int64)[inverse]
    cameras = ds.camera_names
    num_cams = len(cameras) if pred.camera is not None else 1
    if pred.camera is not None:
        bad = sorted(str(c) for c in set(pred.camera) - set(cameras))
        if bad:
            raise EvaluationError(
                f"{pred.source}: camera {bad[0]!r} is not in the ground truth ({list(cameras)})"
            )
        names, inv = np.unique(pred.camera, return_inverse=True)
        pred_cam = np.array([cameras.index(c) for c in names], np.int64)[inv]
    else:
        pred_cam = np.zeros(len(pred.frame), np.int64)
    span = int(max(arrays.frame.max(initial=0), pred.frame.max(initial=0))) + 1
    key = lambda seq, frame, cam: (seq * span + frame) * num_cams + cam  # noqa: E731
    used = np.flatnonzero(pred_seq >= 0)
    pk = key(pred_seq[used], pred.frame[used], pred_cam[used])
    order = used[np.argsort(pk, kind="stable")]
    pk = key(pred_seq, pred.frame, pred_cam)
    pk_sorted = pk[order]
    dup = np.flatnonzero(pk_sorted[1:] == pk_sorted[:-1])
    if len(dup):
        r = order[dup[0]]
        raise EvaluationError(
            f"{pred.source}: two predictions for {pred.subject[r]}/{pred.action[r]} frame {pred.frame[r]}"
            + (f" camera {pred.camera[r]}" if pred.camera is not None else "")
        )
    gt_rows = np.repeat(np.arange(len(arrays.frame)), num_cams)
    gt_cam = np.tile(np.arange(num_cams), len(arrays.frame))
    gk = key(arrays.sequence[gt_rows], arrays.frame[gt_rows], gt_cam)
    pos = np.clip(np.searchsorted(pk_sorted, gk), 0, max(len(pk_sorted) - 1, 0))
    found = (pk_sorted[pos] == gk) if len(pk_sorted) else np.zeros(len(gk), bool)
    if not found.all():
        m = int(np.flatnonzero(~found)[0])
        s = ds.sequences[arrays.sequence[gt_rows[m]]]
        where = f"{s.subject}/{s.name} frame {arrays.frame[gt_rows[m]]}"
        if pred.camera is not None:
            where += f" camera {cameras[gt_cam[m]]}"
        raise EvaluationError(
            f"{pred.source}: no prediction for {int((~found).sum())} of {len(found)} evaluated poses, "
            f"e.g. {where} (predictions: {len(pk)} rows)"
        )
    return gt_rows, gt_cam, order[pos]


def _check_units(pred_points: np.ndarray, gt_points: np.ndarray, source: str) -> None:
    """Catch metres against millimetres (or the reverse) from the median distance of joints to the pelvis."""

    def spread(x):
        d = np.linalg.norm(x - x[:, :1], axis=-1)[:, 1:]
        return float(np.nanmedian(d)) if np.isfinite(d).any() else np.nan

    p, g = spread(pred_points), spread(gt_points)
    if np.isfinite(p) and np.isfinite(g) and g > 0 and not 0.1 < p / g < 10:
        hint = "metres" if p / g < 0.1 else "a unit 1000x too large"
        raise EvaluationError(
            f"{source}: predictions look like {hint} (median joint-to-pelvis distance {p:.4g} against "
            f"{g:.4g} mm in the ground truth); set units='m' in the file or pass --pred-units m"
        )


def evaluate_h36m(
    pred: Predictions,
    ds: H36MDataset,
    *,
    protocols: Seq[str] = ("p1", "p2"),
    every: int = 1,
    drop_damaged: bool = True,
    progress: bool = True,
) -> EvalReport:
    """Evaluate predictions on the ground truth of a dataset, Human3.6M-style.

    Args:
        pred: Predictions (`load_predictions`).
        ds: Ground truth (e.g. `lift3d.datasets.h36m.load_h36m(path).split("test")`).
        protocols: Keys of `PROTOCOLS`.
        every: Evaluate every n-th frame of each take (1 or the common 64).
        drop_damaged: Leave out the known damaged takes of S9.
        progress: Show a progress bar.

    Returns:
        The report (tables per action, subject, joint).

    Raises:
        EvaluationError: Unknown protocol, subjects / takes / frames / cameras that do not match, units.
    """
    bad = [p for p in protocols if p not in PROTOCOLS]
    if bad:
        raise EvaluationError(f"unknown protocol {bad[0]!r}; choose from {', '.join(PROTOCOLS)}")
    if every < 1:
        raise EvaluationError(f"every must be >= 1, got {every}")
    known_takes = {f"{s.subject}/{s.name}" for s in ds.sequences}
    if drop_damaged:
        ds = ds.without_damaged()
    ds = ds.subsample(every) if every > 1 else ds
    gt_rows, gt_cam, pred_rows = _match(pred, ds, known_takes)
    arrays = ds.arrays()
    gt = arrays.points_3d[gt_rows].astype(np.float64)
    if pred.camera is not None:  # ground truth into each prediction's camera frame
        R = np.stack([np.asarray(ds.rigs[s].cameras.R) for s in arrays.subjects])
        t = np.stack([np.asarray(ds.rigs[s].cameras.t) for s in arrays.subjects])
        subj = arrays.subject[gt_rows]
        gt = np.einsum("nij,nkj->nki", R[subj, gt_cam], gt) + t[subj, gt_cam][:, None]
    points = pred.points_3d[pred_rows]
    _check_units(points, gt, pred.source)

    alignments = sorted({PROTOCOLS[p][1] for p in protocols})
    errors = {a: np.empty(gt.shape[:2]) for a in alignments}
    n = len(gt)
    chunks = range(0, n, _CHUNK)
    for start in tqdm(chunks, desc="evaluating", unit="chunk", disable=not progress or len(chunks) < 2):
        stop = min(start + _CHUNK, n)
        p, g = (np.pad(x[start:stop], ((0, _CHUNK - (stop - start)), (0, 0), (0, 0))) for x in (points, gt))
        p, g = p.astype(np.float32), g.astype(np.float32)
        for a in alignments:
            errors[a][start:stop] = np.asarray(metrics.joint_errors(p, g, align=a))[: stop - start]

    def values(p: str) -> np.ndarray:
        e = errors[PROTOCOLS[p][1]]
        if p == "pck":
            return np.where(np.isnan(e), np.nan, 100.0 * (e < metrics.PCK_THRESHOLD_MM))
        if p == "auc":
            th = np.asarray(metrics.AUC_THRESHOLDS_MM)
            return np.where(np.isnan(e), np.nan, 100.0 * (e[..., None] < th).mean(-1))
        return e

    action_names = np.asarray(arrays.actions)[arrays.action[gt_rows]]
    subject_names = np.asarray(arrays.subjects)[arrays.subject[gt_rows]]
    per_action, per_subject, per_joint, average, overall = {}, {}, {}, {}, {}
    for p in protocols:
        table = metrics.summarize(
            values(p), groups={"action": action_names, "subject": subject_names}, joint_names=H36M_17.joints
        )
        for action, v in table["per_action"].items():
            per_action.setdefault(action, {})[p] = float(v)
        for subject, v in table["per_subject"].items():
            per_subject.setdefault(subject, {})[p] = float(v)
        per_joint[p] = {k: float(v) for k, v in table["per_joint"].items()}
        average[p], overall[p] = float(table["mean_over_action"]), float(table["mean"])
    order = [a for a in arrays.actions if a in per_action]
    counts = {a: int((action_names == a).sum()) for a in order}
    return EvalReport(
        protocols=tuple(protocols),
        per_action={a: per_action[a] for a in order},
        average=average,
        overall=overall,
        per_subject=per_subject,
        per_joint=per_joint,
        counts=counts,
        ignored_predictions=len(pred.frame) - len(np.unique(pred_rows)),
    )


def write_report(report: EvalReport, prefix: str | os.PathLike, *, title: str = "") -> tuple[Path, Path]:
    """Write the report as ``PREFIX.md`` (the per-action table) and ``PREFIX.json`` (every table), atomically.

    Args:
        report: From `evaluate_h36m`.
        prefix: Output path without extension.
        title: Optional heading of the markdown file.

    Returns:
        The two paths written.
    """
    prefix = Path(prefix)
    md, js = prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".json")
    with atomic_write(md) as f:
        f.write((f"# {title}\n\n" if title else "") + report.to_markdown() + "\n")
    write_json(js, report.to_json())
    return md, js
