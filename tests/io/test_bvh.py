"""BVH export: read back with bvhio (PyPI), world positions by its forward kinematics, against ours."""

from pathlib import Path

import numpy as np
import pytest

from lift3d.cli import main
from lift3d.core.motion import Motion
from lift3d.core.skeleton import BODY_25B, H36M_17
from lift3d.geometry.bones import enforce_bone_lengths
from lift3d.geometry.kinematics import euler_to_matrix
from lift3d.io.bvh import _tree, fit_bvh, write_bvh
from lift3d.io.motion import read_motion, write_motion

bvhio = pytest.importorskip("bvhio")

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"


def _read_back(path):
    """Joint names and (t, k, 3) world positions computed by bvhio."""
    root = bvhio.readAsHierarchy(str(path))
    layout = [joint for joint, _, _ in root.layout()]
    frames = int(next(ln for ln in Path(path).read_text().splitlines() if ln.startswith("Frames:")).split()[1])
    pos = np.empty((frames, len(layout), 3))
    for f in range(frames):
        root.loadPose(f)
        pos[f] = [list(joint.PositionWorld) for joint in layout]
    return [joint.Name for joint in layout], pos


def _by_joint(names, pos, joint_names):
    """(t, j, 3) read-back positions of the motion's joints (NaN for joints not in the file)."""
    out = np.full((len(pos), len(joint_names), 3), np.nan)
    for k, name in enumerate(names):
        if name in joint_names:
            out[:, joint_names.index(name)] = pos[:, k]
    return out


def _rigid_motion(parents, root, offsets, t, seed):
    """Joints (t, n, 3) of a tree moved with random local rotations: bone lengths exactly constant."""
    rng = np.random.default_rng(seed)
    local = euler_to_matrix(rng.uniform(-70, 70, size=(t, len(parents), 3)), "ZXY")
    pos, rot = np.zeros((t, len(parents), 3)), np.zeros((t, len(parents), 3, 3))
    pos[:, root] = np.cumsum(rng.normal(scale=0.02, size=(t, 3)), 0) + [0.3, -0.2, 0.9]
    rot[:, root] = local[:, root]
    order = [root]
    for q in order:  # breadth first from the root
        for c in np.flatnonzero(np.asarray(parents) == q):
            pos[:, c] = pos[:, q] + np.einsum("tab,b->ta", rot[:, q], offsets[c])
            rot[:, c] = rot[:, q] @ local[:, c]
            order.append(int(c))
    return pos


@pytest.mark.parametrize("units", ["m", "mm"])
def test_rigid_h36m_motion_reads_back_exactly(tmp_path, units):
    rng = np.random.default_rng(3)
    offsets = rng.normal(size=(17, 3))
    offsets *= rng.uniform(0.1, 0.45, size=(17, 1)) / np.linalg.norm(offsets, axis=-1, keepdims=True)
    points = _rigid_motion(H36M_17.parents, 0, offsets, t=30, seed=4) * (1000.0 if units == "mm" else 1.0)
    motion = Motion(points, H36M_17.joints, 50.0, units, np.arange(30), np.arange(30) / 50.0)
    path = write_bvh(tmp_path / "rigid.bvh", motion, H36M_17)
    names, pos = _read_back(path)
    assert names[0] == "pelvis" and set(H36M_17.joints) <= set(names)
    tolerance = 1.0 if units == "mm" else 1e-3  # 1 mm
    assert np.abs(_by_joint(names, pos, H36M_17.joints) - points).max() < tolerance
    text = path.read_text()
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert "Frame Time: 0.02\n" in text and "Frames: 30\n" in text


def test_body_25b_virtual_root_and_missing_joints(tmp_path):
    parents, root = _tree(BODY_25B)
    rng = np.random.default_rng(5)
    offsets = rng.normal(size=(26, 3))
    offsets *= rng.uniform(0.05, 0.4, size=(26, 1)) / np.linalg.norm(offsets, axis=-1, keepdims=True)
    lhip, rhip = BODY_25B.indices(["left_hip", "right_hip"])
    offsets[rhip] = -offsets[lhip]  # the virtual root is the midpoint of the hips
    points = _rigid_motion(parents, root, offsets, t=12, seed=6)[:, :25]
    elbow, wrist = BODY_25B.indices(["left_elbow", "left_wrist"])
    points[0, wrist] = np.nan  # before any measurement: identity
    points[[5, 6], elbow] = np.nan  # held from frame 4
    path = tmp_path / "b25b.bvh"
    write_motion(path, points, joint_names=BODY_25B.joints, fps=30.0)  # found from the names
    names, pos = _read_back(path)
    assert names[0] == "mid_hip" and np.isfinite(pos).all()
    back = _by_joint(names, pos, BODY_25B.joints)
    complete = [1, 2, 3, 4, 7, 8, 9, 10, 11]
    assert np.abs(back[complete] - points[complete]).max() < 1e-3
    fit = fit_bvh(points, BODY_25B)
    np.testing.assert_allclose(pos, fit.positions(), atol=1e-5)  # bvhio's forward kinematics is ours
    q = fit.names.index("left_elbow")  # the elbow's rotation aims at the wrist
    assert not fit.measured[0, q] and np.allclose(fit.rotations[0, q], np.eye(3))
    assert not fit.measured[5:7, fit.names.index("left_shoulder_to_left_elbow")].any()
    np.testing.assert_allclose(fit.rotations[5:7, q], fit.rotations[[4, 4], q])


def test_refuses_what_it_cannot_write(tmp_path):
    points = np.zeros((3, 4, 3))
    with pytest.raises(ValueError, match="known skeleton"):
        write_motion(tmp_path / "x.bvh", points, joint_names=["a", "b", "c", "d"], fps=30.0)
    assert not (tmp_path / "x.bvh").exists()


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
def test_real_balancing_trial_through_triangulate(tmp_path, capsys):
    """`lift3d triangulate -o trial.bvh`: read back, every joint where the bone-length fit puts it."""
    trial = SHARED / "single_BalancingTrial" / "pose"
    code = main(
        ["triangulate", "--rig", str(SHARED / "Calib.qca.txt"), "--keypoints",
         *(str(trial / f"cam0{i}_json") for i in range(1, 5)), "--skeleton", "body_25b", "--fps", "60",
         "-o", str(tmp_path / "bal.bvh"), "-o", str(tmp_path / "bal.trc")]
    )  # fmt: skip
    assert code == 0
    points = read_motion(tmp_path / "bal.trc").points  # (100, 25, 3) m
    names, pos = _read_back(tmp_path / "bal.bvh")
    back = _by_joint(names, pos, BODY_25B.joints)
    # the reference bone-length fit: lift3d.geometry.bones on the same tree (virtual mid-hip root), median lengths
    parents, _ = _tree(BODY_25B)
    extended = np.concatenate([points, points[:, [11, 12]].mean(1, keepdims=True)], 1)
    fitted = enforce_bone_lengths(extended, parents)[:, :25]
    complete = np.isfinite(points).all((1, 2))
    assert complete.sum() >= 95
    assert np.abs(back[complete] - fitted[complete]).max() < 1e-3
    to_input = np.linalg.norm(back - points, axis=-1)[complete]
    fit_error = np.linalg.norm(fitted - points, axis=-1)[complete]
    assert np.all(to_input <= fit_error + 1e-3)
    print(f"read-back vs input: mean {to_input.mean() * 1e3:.1f} mm, max {to_input.max() * 1e3:.1f} mm;")
    print(f"bone-length fit vs input: mean {fit_error.mean() * 1e3:.1f} mm, max {fit_error.max() * 1e3:.1f} mm")
