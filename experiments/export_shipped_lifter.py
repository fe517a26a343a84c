"""Export a trained lifter as the checkpoint shipped in the package, with how it was made and how it scores.

Run: ``.venv/bin/python experiments/export_shipped_lifter.py --run runs/lifter_prior_detector_wide_48k
--validation runs/validation_final.json`` (the validation JSON of ``experiments/lifter_validation.py`` with that
run's ``lifter`` among its checkpoints). Writes ``lift3d/checkpoints/lifter`` (replaced): the run's weights in
float32 and a ``lifter.json`` whose ``made_by``, ``trained_on``, ``test`` (the twin's S9 + S11) and ``validation``
(P1 / P2 mm per real validation set) say what it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> Path:
    """Export; returns the checkpoint folder."""
    from lifter_validation import twin_scores  # sibling script

    from lift3d.predict.checkpoint import export_lifter, read_lifter_meta
    from lift3d.predict.lifter import default_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the training run's workdir")
    parser.add_argument("--validation", type=Path, required=True, help="lifter_validation.py's JSON")
    args = parser.parse_args(argv)
    src = args.run / "lifter"
    config = read_lifter_meta(src)["config"]
    table = json.loads(args.validation.read_text())
    key = next((k for k in table if Path(k).resolve() == src.resolve()), None)
    if key is None:
        raise SystemExit(f"{args.validation}: no column for {src}")
    scalars = twin_scores(src)
    variant = config["name"].removeprefix("lifter_").replace("_", "-")
    info = {
        "made_by": f"lift3d train lifter --config experiments/lifter_prior.py:{variant} --workdir {args.run}, then "
                   f"experiments/export_shipped_lifter.py --run {args.run} --validation {args.validation}",
        "trained_on": "synthetic Human3.6M twin (S1 S5 S6 S7 S8, 4 takes x 500 frames per action, 4 cameras) + "
                      "DeepMimic's 10 training clips (64 virtual cameras per frame) + 100k poses of "
                      "lift3d.synthetic.pose_prior (detector joint definitions, proportions x2.5, 10 % children)",
        "test": {"subjects": ["S9", "S11"], "every": 4, **scalars},
        "validation": {name: {"p1_mm": row[0], "p2_mm": row[1]} for name, row in table[key].items()},
    }  # fmt: skip
    return export_lifter(src, default_checkpoint(), info=info)


if __name__ == "__main__":
    print(main())
