"""`lift3d eval`: 3D predictions against Human3.6M ground truth; the per-action table, PREFIX.md and PREFIX.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

from lift3d.apps.options import check_options, default_of, option
from lift3d.datasets.h36m import TEST_SUBJECTS, load_h36m
from lift3d.eval.h36m_eval import PROTOCOLS, EvalReport, evaluate_h36m, load_predictions, select_subjects, write_report
from lift3d.io.atomic import OutputSet, check_output

__all__ = ["EvaluateConfig", "run"]


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Options of `lift3d eval`."""

    pred: Path = option(help="predictions .npz (schema above)")
    data: Path = option(help="Human3.6M folder or file, in any supported layout")
    protocol: tuple[str, ...] = option(
        default_of(evaluate_h36m, "protocols"), comma=True, choices=PROTOCOLS, unique=True,
        help="comma-separated: p1, p2, n, abs, pck, auc",
    )  # fmt: skip
    every: int = option(
        default_of(evaluate_h36m, "every"), ge=1, help="evaluate every n-th frame (papers: 1 or 64)"
    )
    subjects: tuple[str, ...] = option(
        TEST_SUBJECTS, comma=True, unique=True, help="subjects to evaluate (the test split)"
    )
    pred_units: Literal["mm", "cm", "m"] | None = option(None, help="override the file's units")
    keep_damaged: bool = option(False, help="keep S9's damaged takes (dropped by default)")
    out: Path | None = option(None, short="-o", help="output prefix (default: PRED_eval)")

    def __post_init__(self):
        check_options(self)


def run(config: EvaluateConfig) -> EvalReport:
    """Evaluate, print the table, write PREFIX.md and PREFIX.json (both, or on an error neither)."""
    prefix = config.out if config.out is not None else config.pred.with_name(config.pred.stem + "_eval")
    for suffix in (".md", ".json"):  # refused before any work
        check_output(prefix.with_name(prefix.name + suffix), what="output")
    pred = load_predictions(config.pred, units=config.pred_units)
    data = select_subjects(load_h36m(config.data), list(config.subjects), source=str(config.data))
    report = evaluate_h36m(
        pred, data, protocols=list(config.protocol), every=config.every, drop_damaged=not config.keep_damaged
    )
    print(report.to_markdown())
    with OutputSet():
        md, js = write_report(report, prefix, title=f"{config.pred.name} on {config.data} (every {config.every})")
    if report.ignored_predictions:
        print(f"\n{report.ignored_predictions} prediction rows matched no evaluated pose (ignored)")
    print(f"\nwrote {md} and {js}")
    return report
