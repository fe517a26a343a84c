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
``units``      () str          optional: "mm" (default), "cm" or "m"
=============  ==============  ===============================================================================

Missing joints (NaN) follow one rule, stated in the table: a pose with a missing joint is left out of the error
protocols (p1, p2, n, abs: an error needs every joint, and a partial pose would be scored on its easy joints), and
each missing joint counts as a failure (0 %) in pck and auc. The table then gains a ``complete`` column (share of
each action's poses with all 17 joints) and a note, and an `EvaluationWarning` says how many poses were left out.
Predictions with no joint at all, or an action with no complete pose for an error protocol, are refused.

Units are checked against the ground truth from the median ratio of bone lengths: a ratio outside [0.5, 2]
(centimetres or metres read as millimetres) is refused for the scale-sensitive protocols (p1, abs, pck, auc).

Protocols: ``p1`` MPJPE (root-aligned), ``p2`` P-MPJPE (Procrustes), ``n`` N-MPJPE (scale), ``abs`` absolute
MPJPE (no alignment), ``pck`` PCK3D at 150 mm and ``auc`` (0-150 mm, 31 steps; both root-aligned). Tables give
the mean per action (trials merged) and the papers' "Average": the unweighted mean over actions.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Sequence as Seq
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lift3d.core.skeleton import H36M_17, H36M_17_FROM_32
from lift3d.datasets.h36m import H36MDataset
from lift3d.errors import EvaluationError, EvaluationWarning  # noqa: F401  (re-exported)
from lift3d.eval import metrics
from lift3d.io.atomic import atomic_write, write_json
from lift3d.io.npz import load_npz

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
UNITS = {"mm": 1.0, "cm": 10.0, "m": 1000.0}  # prediction units and their size in mm
SCALE_SENSITIVE = ("p1", "abs", "pck", "auc")  # protocols a wrong unit changes (p2 and n fit a scale)
ERROR_PROTOCOLS = ("p1", "p2", "n", "abs")  # protocols that need every joint of a pose
MISSING_RULE = (
    "poses with a missing joint are left out of the error protocols (P1, P2, N, abs) and each missing joint "
    "counts as a failure in PCK / AUC"
)


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
        units: "mm", "cm" or "m" to override the file's ``units`` entry; the result is always in mm.

    Returns:
        The predictions in mm, H36M-17 order.

    Raises:
        EvaluationError: A missing key, a wrong shape or joint count, fields of different lengths.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such predictions file")
    data = load_npz(path, EvaluationError)
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
    if units not in UNITS:
        raise EvaluationError(f"{source}: units must be 'mm', 'cm' or 'm', got {units!r}")
    scale = UNITS[units]
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
        units: "mm", "cm" or "m".

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
        coverage: "poses", "complete_poses" (all 17 joints predicted), "joints" (share of joints predicted),
            "per_action" (action -> share of complete poses) and "rule" (how missing joints were scored).
    """

    protocols: tuple[str, ...]
    per_action: dict
    average: dict
    overall: dict
    per_subject: dict
    per_joint: dict
    counts: dict
    ignored_predictions: int
    coverage: dict = dataclasses.field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every evaluated pose had all its joints."""
        return self.coverage.get("complete_poses", 0) == self.coverage.get("poses", 0)

    def to_markdown(self) -> str:
        """The per-action table the papers print (actions as rows), with Average and All rows."""
        partial = not self.complete
        head = ["action", "poses", *(["complete"] if partial else []), *(PROTOCOLS[p][0] for p in self.protocols)]
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
        for action, values in self.per_action.items():
            share = [f"{100 * self.coverage['per_action'][action]:.0f} %"] if partial else []
            cells = [action, str(self.counts[action]), *share, *(f"{values[p]:.1f}" for p in self.protocols)]
            lines.append("| " + " | ".join(cells) + " |")
        total = sum(self.counts.values())
        share = [f"{100 * self.coverage['complete_poses'] / max(total, 1):.0f} %"] if partial else []
        lines.append("| **Average** | " + " | ".join([str(total), *share, *(f"**{self.average[p]:.1f}**"
                                                                         for p in self.protocols)]) + " |")  # fmt: skip
        lines.append("| all poses | " + " | ".join([str(total), *share, *(f"{self.overall[p]:.1f}"
                                                                        for p in self.protocols)]) + " |")  # fmt: skip
        if partial:
            lines.append(f"\nMissing joints: {self.coverage['complete_poses']} of {total} poses complete "
                         f"({100 * self.coverage['joints']:.1f} % of joints predicted); {MISSING_RULE}.")  # fmt: skip
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


def _check_units(pred_points: np.ndarray, gt_points: np.ndarray, source: str, protocols: Seq[str]) -> None:
    """Refuse predictions in another unit than they claim, from the median ratio of bone lengths to the ground
    truth's (outside [0.5, 2]: centimetres or metres read as millimetres), for the scale-sensitive protocols."""
    if not set(protocols) & set(SCALE_SENSITIVE):
        return
    a, b = np.array(H36M_17.edges).T
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.linalg.norm(pred_points[:, a] - pred_points[:, b], axis=-1) / np.linalg.norm(
            gt_points[:, a] - gt_points[:, b], axis=-1
        )
    ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
    if not len(ratio):
        return
    r = float(np.median(ratio))
    if 0.5 <= r <= 2.0:
        return
    guess = min(UNITS, key=lambda u: abs(np.log(r * UNITS[u])))
    if abs(np.log(r * UNITS[guess])) < np.log(2.0):
        word = {"mm": "millimetres", "cm": "centimetres", "m": "metres"}[guess]
        fix = f"they look like {word}: set units='{guess}' in the file or pass --pred-units {guess}"
    else:
        fix = "check the predictions' units and scale (P2 and N-MPJPE fit a scale; the other protocols do not)"
    raise EvaluationError(
        f"{source}: predicted bones are {r:.3g} times as long as the ground truth's (median over "
        f"{len(ratio)} bones; expected about 1 for millimetres); {fix}"
    )


def _coverage(points: np.ndarray, gt: np.ndarray, actions: np.ndarray, protocols: Seq[str], source: str) -> dict:
    """How many joints and poses were predicted (see the module doc's rule); refuses what cannot be scored."""
    have = np.isfinite(points).all(-1) | ~np.isfinite(gt).all(-1)
    complete = have.all(-1)
    if not np.isfinite(points).all(-1).any():
        raise EvaluationError(f"{source}: every predicted joint of the {len(points)} evaluated poses is missing "
                              "(NaN): nothing to evaluate")  # fmt: skip
    per_action = {str(a): float(complete[actions == a].mean()) for a in np.unique(actions)}
    if set(protocols) & set(ERROR_PROTOCOLS):
        empty = [a for a, share in per_action.items() if share == 0]
        if empty:
            raise EvaluationError(
                f"{source}: no pose of action {empty[0]!r} (of {len(empty)} such actions) has all 17 joints, so "
                f"the error protocols cannot score it ({MISSING_RULE}); predict every joint, or evaluate pck / auc"
            )
    coverage = {"poses": len(points), "complete_poses": int(complete.sum()), "joints": float(have.mean()),
                "per_action": per_action, "rule": MISSING_RULE}  # fmt: skip
    if coverage["complete_poses"] < len(points):
        warnings.warn(
            f"{source}: {len(points) - coverage['complete_poses']} of {len(points)} poses miss joints "
            f"({100 * (1 - coverage['joints']):.1f} % of joints): {MISSING_RULE}; the table's 'complete' column "
            "shows the share per action",
            EvaluationWarning,
            stacklevel=3,
        )
    return coverage


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
        EvaluationError: Unknown protocol, subjects / takes / frames / cameras that do not match, predictions in
            another unit than they say (bone lengths), no predicted joint, an action without a complete pose
            for an error protocol.
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
    _check_units(points, gt, pred.source, protocols)
    action_names = np.asarray(arrays.actions)[arrays.action[gt_rows]]
    coverage = _coverage(points, gt, action_names, protocols, pred.source)
    complete = np.isfinite(points).all((-2, -1))
    gt_valid = np.isfinite(gt).all(-1)

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

    def values(p: str) -> np.ndarray:  # the module doc's rule for missing joints
        e = errors[PROTOCOLS[p][1]]
        missed = np.where(gt_valid, 0.0, np.nan)  # a missing prediction fails; missing ground truth does not count
        if p == "pck":
            return np.where(np.isnan(e), missed, 100.0 * (e < metrics.PCK_THRESHOLD_MM))
        if p == "auc":
            th = np.asarray(metrics.AUC_THRESHOLDS_MM)
            return np.where(np.isnan(e), missed, 100.0 * (e[..., None] < th).mean(-1))
        return np.where(complete[:, None], e, np.nan)

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
        coverage=coverage,
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
