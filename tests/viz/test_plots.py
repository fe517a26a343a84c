"""matplotlib plots: PNG files of the requested size."""

import numpy as np
import pytest
from viz.scenes import png_size, small_rig, walking

from lift3d.calibration.intrinsics import coverage_grid
from lift3d.core.skeleton import H36M_17
from lift3d.geometry.camera import project_points
from lift3d.viz import plots


def test_plots_write_pngs_of_the_requested_size(tmp_path):
    rig = small_rig()
    X = walking(4)
    uv = np.array(project_points(rig.cameras, X[:, None]))  # (t, v, j, 2)
    uv[:, 1, :, 0] += 2.0  # camera "left" is 2 px off
    conf = np.ones(uv.shape[:3])
    conf[0, 0, 0] = 0
    err = plots.reprojection_errors(rig, X, uv, conf)
    assert err.shape == (4, 3, 17)
    assert np.isnan(err[0, 0, 0]) and np.isnan(err[1, :, H36M_17.index("left_wrist")]).all()
    assert np.nanmax(np.abs(err[:, 0])) < 1e-3 and np.allclose(np.nanmean(err[:, 1]), 2.0, atol=1e-3)
    p = plots.plot_reprojection_heatmap(err, tmp_path / "h.png", views=rig.names, joints=H36M_17.joints,
                                        size=(640, 360))  # fmt: skip
    assert png_size(p) == (640, 360)
    report = {
        "per_action": {"Walking": {"p1": 41.0, "p2": 30.0}, "Sitting": {"p1": 60.5, "p2": 44.0}},
        "per_joint": {"p1": {j: float(i) for i, j in enumerate(H36M_17.joints)}},
        "average": {"p1": 50.75, "p2": 37.0},
    }
    assert png_size(plots.plot_mpjpe(report, tmp_path / "m.png", size=(500, 420))) == (500, 420)
    with pytest.raises(ValueError, match="p9"):
        plots.plot_mpjpe(report, tmp_path / "x.png", protocol="p9")
    rng = np.random.default_rng(0)
    cov = {f"cam{i}": coverage_grid(rng.uniform(0, [1088, 1920], (60, 2)), (1088, 1920)) for i in range(3)}
    cov["cam9"] = {"coverage": cov["cam0"], "rms_px": 0.42}
    assert png_size(plots.plot_calibration_coverage(cov, tmp_path / "c.png", size=(600, 300))) == (600, 300)
    e = err[:, 1]  # (t, j): camera "left"
    p = plots.plot_error_over_time(e[:, None], tmp_path / "t.png", fps=50, frame_ids=np.arange(4) + 7,
                                   joint_names=H36M_17.joints, size=(700, 300))  # fmt: skip
    assert png_size(p) == (700, 300)
    with pytest.raises(ValueError, match="joint names"):
        plots.plot_error_over_time(e, tmp_path / "t.png", joint_names=["a"])
