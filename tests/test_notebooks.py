"""The notebooks (notebooks/*.ipynb): each runs top to bottom in small mode, and each is committed executed.

Every notebook found is executed with nbclient in a fresh kernel of this very interpreter (a kernelspec written to
a temporary folder, so no other "python3" kernel on the machine can stand in), with notebooks/ as the working
directory and ``LIFT3D_NOTEBOOK_SMALL=1``. A notebook that needs the Pose2Sim sample (notebook metadata
``lift3d.needs_sample``; by default, whether its code calls ``fetch_sample``) is skipped when neither
``../shared/data`` nor the sample cache holds it: tests do not download. JAX compilations are cached on disk in
pytest's cache folder (``.pytest_cache/d/lift3d_jax_cache``), so that a second run skips most compile time.

The committed notebooks carry their outputs (full mode); regenerate them with
``.venv/bin/python tests/test_notebooks.py [NAME ...]`` (run from anywhere; a minute or two each,
04 up to 9 minutes).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SHARED = ROOT.parent / "shared" / "data"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "lift3d-test-python"
CELL_TIMEOUT_S = 600
MAX_BYTES = 300_000  # a committed notebook, outputs included
PROBE_MARK = "LIFT3D-PROBE "

# Code run in a notebook's kernel after its last cell: it prints a JSON dict the checks below read. Only the
# notebooks named here get checks beyond "runs without an error"; unknown ones are run all the same.
PROBES = {
    "01_triangulate_real_capture": """{
        "mean_px": float(np.nanmean(result.error_px[:, 0])),
        "cameras_a_joint": float(result.num_views[:, 0][result.num_views[:, 0] > 0].mean()),
        "missing": float((~np.isfinite(result.points_3d[:, 0]).all(-1)).mean()),
        "outputs": sorted(p.suffix for p in result.outputs if p.stat().st_size > 1000),
        "png": Path(shot["png"]).stat().st_size,
    }""",
    "02_calibrate_a_rig": """{
        "fx_error_pct": [abs(r["fx_error_pct"]) for r in rows],
        "rms_px": [r["rms_px"] for r in rows],
        "synthetic": errors,
        "refined": None if refined is None else {
            "initial_px": float(refined.dlt_error_px["initial"]["all"]),
            "refined_px": float(refined.dlt_error_px["refined"]["all"]),
        },
    }""",
    "03_lifter_train_and_use": """{
        "lifted": int(np.isfinite(lifted.points_3d).all((-1, -2)).sum()),
        "resumed_steps": [e["step"] for e in resumed_lines if e["split"] == "train"],
        "resumed_total": resumed["step"], "first_total": first["step"],
        "resumed": resumed["p1_mm"], "straight": straight["p1_mm"],
        "shipped_p1": scores["shipped"]["p1_mm"], "tiny_p1": scores["tiny"]["p1_mm"],
    }""",
    "04_learnable_triangulation": """{
        "losses": [e["loss"] for e in train_lines], "steps": [e["step"] for e in train_lines],
        "max_steps": config.max_steps, "num_test": dataset.num_test,
        "pred_shape": list(algebraic["pred"].shape), "pred_finite": bool(np.isfinite(algebraic["pred"]).all()),
        "sample_shape": list(joints.shape), "sample_finite": bool(np.isfinite(joints).all()),
        "evaluated_abs": algebraic["scalars"]["mpjpe_abs_mm"], "logged_abs": test_lines[-1]["mpjpe_abs_mm"],
        "weight_sums": [float(x) for x in (lambda s: (s.min(), s.max()))(kept["weights"].sum(1))],
        "dlt_gt_mm": dlt_gt_mm,
        "rows": {k: [r["mpjpe_rel_mm"], r["mpjpe_abs_mm"], r["pck3d"]] for k, r in rows.items()},
        "vol_shape": list(vjoints.shape), "vol_side": vconfig.cuboid_side_mm,
        "vol_offset": float(np.max(np.abs(vjoints[0] - sample["pelvis"][0]))),
        "vol_grid": list(vaux["grid"].shape), "vol_prob_sum": float(vaux["probabilities"][0].sum((0, 1, 2)).mean()),
        "bytes": Path("04_learnable_triangulation.ipynb").stat().st_size,
    }""",
}


def _check_01(values: dict, text: str) -> None:
    row = re.search(r"^all\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)(?:\s+\d+)?\s*$", text, re.M)  # + rejected
    assert row, "the summary table's 'all' row is not in the outputs"
    assert float(row[1]) < 10.0, f"mean reprojection error {row[1]} px in the summary table"
    assert abs(float(row[1]) - values["mean_px"]) < 0.06
    assert 2.0 <= values["cameras_a_joint"] <= 4.0 and values["missing"] < 0.02, values
    assert values["outputs"] == [".csv", ".trc"] and values["png"] > 5000


def _check_02(values: dict, text: str) -> None:
    assert values["fx_error_pct"] and max(values["fx_error_pct"]) < 1.0, values["fx_error_pct"]
    assert max(values["rms_px"]) < 0.5
    synthetic = values["synthetic"]
    assert synthetic["rotation_error_deg"] < 0.3 and synthetic["center_error_pct"] < 0.5, synthetic
    if values["refined"] is not None:
        assert values["refined"]["refined_px"] < values["refined"]["initial_px"] - 1.0, values["refined"]


def _check_03(values: dict, text: str) -> None:
    assert values["lifted"] > 50
    steps, first, total = values["resumed_steps"], values["first_total"], values["resumed_total"]
    assert steps == sorted(set(steps)) and first < total and steps[-1] == total, (steps, first, total)
    assert any(s <= first for s in steps) and any(s > first for s in steps), "the resumed run did not continue"
    assert values["resumed"] == pytest.approx(values["straight"], rel=1e-5), "resuming changed the result"
    assert values["shipped_p1"] < 80.0 and values["shipped_p1"] < values["tiny_p1"]


def _check_04(values: dict, text: str) -> None:
    losses, steps = values["losses"], values["steps"]
    assert steps and steps[-1] == values["max_steps"], (steps, values["max_steps"])
    assert losses[-1] < 0.8 * losses[0], f"the training loss did not fall: {losses}"
    assert values["pred_shape"] == [values["num_test"], 17, 3] and values["pred_finite"], values["pred_shape"]
    assert values["sample_shape"] == [1, 17, 3] and values["sample_finite"]
    # the reloaded model/ scores the test split as the run's own final evaluation did
    assert values["evaluated_abs"] == pytest.approx(values["logged_abs"], rel=1e-4)
    assert values["weight_sums"][0] > 0.999 and values["weight_sums"][1] < 1.001, values["weight_sums"]
    assert values["dlt_gt_mm"] < 0.5, f"camera_from_projection + DLT misses the true joints by {values['dlt_gt_mm']} mm"
    rows = values["rows"]
    assert len(rows) == 6 and all(all(map(math.isfinite, r)) and 0.0 <= r[2] <= 1.0 for r in rows.values()), rows
    assert re.search(r"^algebraic \(learned weights\)\s+[\d.]+\s+[\d.]+", text, re.M), "no results table printed"
    assert values["vol_shape"] == [1, 17, 3] and values["vol_grid"][1:] == [8, 8, 8, 3]
    assert values["vol_offset"] <= values["vol_side"] / 2 + 1.0, "a volumetric joint lies outside its cube"
    assert values["vol_prob_sum"] == pytest.approx(1.0, abs=1e-3)
    assert values["bytes"] < MAX_BYTES


CHECKS = {
    "01_triangulate_real_capture": _check_01,
    "02_calibrate_a_rig": _check_02,
    "03_lifter_train_and_use": _check_03,
    "04_learnable_triangulation": _check_04,
}


def _write_kernelspec(folder: Path) -> KernelManager:
    """A kernel manager whose only kernelspec runs ipykernel with this interpreter (the venv's python)."""
    spec = folder / KERNEL
    spec.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "lift3d (venv)", "language": "python"}))
    specs = KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def execute_notebook(
    path: Path, *, small: bool, scratch: Path, jax_cache: Path | None = None, probe: bool = False
) -> tuple[nbformat.NotebookNode, dict | None]:
    """Run a notebook top to bottom in a fresh kernel of this interpreter, cwd = its folder.

    Args:
        path: The ``.ipynb``.
        small: Set ``LIFT3D_NOTEBOOK_SMALL=1`` in the kernel.
        scratch: The kernel's ``TMPDIR``: where the notebook's temporary folders go (it writes nowhere else).
        jax_cache: Folder for JAX's persistent compilation cache (None: no cache).
        probe: Also run the notebook's probe (`PROBES`) and return its values.

    Returns:
        ``(notebook with outputs, probe values or None)``; the probe cell is not part of the notebook.

    Raises:
        nbclient.exceptions.CellExecutionError: A cell raised (the message holds the traceback).
    """
    nb = nbformat.read(path, as_version=4)
    code = PROBES.get(path.stem) if probe else None
    if code is not None:
        nb.cells.append(nbformat.v4.new_code_cell(f"import json as _json\nprint({PROBE_MARK!r} + _json.dumps({code}))"))
    env = {k: v for k, v in os.environ.items() if k != "LIFT3D_NOTEBOOK_SMALL"}
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"  # quiets the kernel's debugger warning about frozen modules
    env["TMPDIR"] = str(Path(scratch).resolve())
    if small:
        env["LIFT3D_NOTEBOOK_SMALL"] = "1"
    if jax_cache is not None:
        env["JAX_COMPILATION_CACHE_DIR"] = str(Path(jax_cache).resolve())  # the kernel's cwd is notebooks/
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.1"  # many small compilations add up too
    with tempfile.TemporaryDirectory(prefix="lift3d-kernels-") as kernels:
        client = NotebookClient(
            nb, km=_write_kernelspec(Path(kernels)), timeout=CELL_TIMEOUT_S, startup_timeout=120,
            resources={"metadata": {"path": str(path.parent)}},
        )  # fmt: skip
        client.execute(env=env)
    values = None
    if code is not None:
        cell = nb.cells.pop()
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
        values = json.loads(text.split(PROBE_MARK, 1)[1])
    return nb, values


@functools.cache
def _sample_missing() -> str | None:
    """Why the Pose2Sim sample cannot be had without a download, or None when it can."""
    if (SHARED / "pose2sim_trials").is_dir():
        return None
    from lift3d.datasets.samples import default_cache_dir, fetch_sample

    # --no-index: pip may only look at local files, so a sample not in the cache stays missing (no network)
    if fetch_sample("pose2sim", pip_args=("--no-index",), offline_ok=True) is not None:
        return None
    return f"the Pose2Sim sample is neither in {SHARED} nor in the cache {default_cache_dir()} (tests do not download)"


def _needs_sample(nb) -> bool:
    default = any("fetch_sample" in c.source for c in nb.cells if c.cell_type == "code")
    return bool(nb.metadata.get("lift3d", {}).get("needs_sample", default))


def _outputs(nb) -> list:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _text(nb) -> str:
    """Everything the notebook printed (stdout and stderr)."""
    return "".join(o.get("text", "") for o in _outputs(nb))


def _images(nb) -> int:
    return sum(any(k.startswith("image/") for k in o.get("data", {})) for o in _outputs(nb))


def test_notebooks_are_found():
    names = [p.stem for p in PATHS]
    assert set(CHECKS) <= set(names), f"notebooks/ lacks {sorted(set(CHECKS) - set(names))}"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_committed_with_outputs(path):
    """Committed executed (every code cell ran, in order, without an error), with pictures, and light."""
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 1000:.0f} kB; keep notebooks under {MAX_BYTES // 1000} kB"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and nb.cells[0].cell_type == "markdown", "a notebook opens with a markdown cell (what, data, mode)"
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), f"{path.name}: not run top to bottom"
    errors = [o for o in _outputs(nb) if o.output_type == "error"]
    assert not errors, f"{path.name}: committed with an error: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert _images(nb) >= 1, f"{path.name}: no picture among the outputs"
    assert "small mode" in nb.cells[0].source.lower(), "the first cell says which mode made the outputs"


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_runs_in_small_mode(path, request, tmp_path):
    nb = nbformat.read(path, as_version=4)
    if _needs_sample(nb) and (reason := _sample_missing()) is not None:
        pytest.skip(reason)
    cache = request.config.cache.mkdir("lift3d_jax_cache") if request.config.cache is not None else None
    done, values = execute_notebook(path, small=True, scratch=tmp_path, jax_cache=cache, probe=True)
    assert _images(done) >= 1, f"{path.name}: no picture among the outputs"
    if path.stem in CHECKS:
        CHECKS[path.stem](values, _text(done))


def main(argv: list[str]) -> None:
    """Execute notebooks in full mode and save them with their outputs (all, or those whose names start so)."""
    import time

    chosen = [p for p in PATHS if not argv or any(p.stem.startswith(a.removesuffix(".ipynb")) for a in argv)]
    if not chosen:
        raise SystemExit(f"no notebook named {argv}; have {[p.stem for p in PATHS]}")
    for path in chosen:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="lift3d-notebook-") as scratch:
            nb, _ = execute_notebook(path, small=False, scratch=Path(scratch))
        for cell in nb.cells:  # no run timestamps: a re-run changes only what changed
            cell.get("metadata", {}).pop("execution", None)
        nbformat.write(nb, path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s, {path.stat().st_size / 1000:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1:])
