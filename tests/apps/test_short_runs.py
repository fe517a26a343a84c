"""Short captures take the numpy path: `lift3d triangulate` on the real 100-frame trial never imports JAX (1-1.5 s
of a short command), nor `scipy.signal`, and its 3D matches the path that does (the kernels, float32)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.triangulate import triangulate_capture
from lift3d.geometry.triangulation import sequence as sequence_module
from lift3d.io.motion import read_motion

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
TRIAL = SHARED / "single_BalancingTrial" / "pose"
RIG = SHARED / "Calib.qca.txt"
ARGS = ["triangulate", "--rig", str(RIG), "--keypoints", *(str(TRIAL / f"cam0{i}_json") for i in range(1, 5)),
        "--skeleton", "body_25b", "--fps", "60"]  # fmt: skip

BLOCKER = textwrap.dedent(
    """
    import sys

    class Refuse:  # any import of these fails the command
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "jax" or name.startswith("scipy.signal"):
                raise ImportError(f"imported {name} on the short path")

    sys.meta_path.insert(0, Refuse())
    from lift3d.cli import main

    status = main(sys.argv[1:])
    assert "jax" not in sys.modules and "scipy.signal" not in sys.modules
    sys.exit(status)
    """
)


def test_short_triangulation_never_imports_jax(tmp_path):
    out = tmp_path / "short.npz"
    run = subprocess.run([sys.executable, "-c", BLOCKER, *ARGS, "-o", str(out)], capture_output=True, text=True,
                         env={**os.environ, "LIFT3D_JAX_CACHE": "0"}, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert "all " in run.stdout and out.is_file()


def test_short_path_agrees_with_the_kernels(monkeypatch):
    """The numpy path (float64) and the fixed-rig kernels (forced by a zero size limit) give the same 3D on the
    real trial: the same points kept, positions within 2 mm (views chosen differently on a few joints)."""
    short = triangulate_capture(RIG, [TRIAL / f"cam0{i}_json" for i in range(1, 5)], skeleton="body_25b", fps=60,
                                progress=False)  # fmt: skip
    monkeypatch.setattr(sequence_module, "NUMPY_MAX_OBSERVATIONS", 0)
    long = triangulate_capture(RIG, [TRIAL / f"cam0{i}_json" for i in range(1, 5)], skeleton="body_25b", fps=60,
                               progress=False)  # fmt: skip
    a, b = short.raw_points_3d, long.raw_points_3d
    both = np.isfinite(a[..., 0]) & np.isfinite(b[..., 0])
    assert both.sum() >= 0.97 * max(np.isfinite(a[..., 0]).sum(), np.isfinite(b[..., 0]).sum())
    d = np.linalg.norm(a - b, axis=-1)[both] * (1000.0 if short.units == "m" else 1.0)
    assert np.median(d) < 0.05 and np.mean(d) < 2.0, (np.median(d), np.mean(d), d.max())


def test_short_path_writes_what_it_computed(tmp_path):
    out = tmp_path / "short.trc"
    result = triangulate_capture(RIG, [TRIAL / f"cam0{i}_json" for i in range(1, 5)], skeleton="body_25b", fps=60,
                                 out=[out], progress=False)  # fmt: skip
    motion = read_motion(out)
    assert result.units == "m"  # the TRC keeps the rig's units with 6 decimals
    np.testing.assert_allclose(motion.points, result.points_3d[:, 0], atol=1e-6, equal_nan=True)
