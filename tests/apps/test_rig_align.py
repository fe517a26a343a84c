"""`lift3d rig align` on the real Pose2Sim balancing trial: after alignment the feet stand on z = 0.

Measured (Qualisys rig, whose floor is already near z = 0, toe keypoints 3-8 cm above it on the beam): tilt from
the lab's z about 1 degree, contact heights after alignment median 0 mm, 95th percentile of |h| about 3 cm over
the robust fit's inliers (the left toes stand about 4 cm above the right ones: detector keypoints, not the floor).
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from lift3d.apps.rig_align import RigAlignConfig, run
from lift3d.apps.triangulate import triangulate_capture
from lift3d.cli import main
from lift3d.errors import ConfigError, MotionFileError, UnknownCameraError
from lift3d.geometry.ground import foot_contacts, ground_joints
from lift3d.geometry.transforms import transform_cameras
from lift3d.io.motion import read_motion, write_motion
from lift3d.io.rig_toml import save_rig
from lift3d.io.rigs import load_rig

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "pose2sim_trials"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
CAMS = [SHARED / "single_BalancingTrial" / "pose" / f"cam0{i}_json" for i in range(1, 5)]
RIG = SHARED / "Calib.qca.txt"


@pytest.fixture(scope="module")
def trial(tmp_path_factory):
    """The balancing trial triangulated once with the Qualisys rig (the README command)."""
    folder = tmp_path_factory.mktemp("align")
    triangulate_capture(RIG, CAMS, skeleton="body_25b", fps=60, out=[folder / "bal.npz"], progress=False)
    return folder


def _contact_heights(motion):
    """Heights (m) of the foot contacts (still, lowest foot joints) in the motion's own world, z up."""
    feet = ground_joints(motion.joint_names).feet
    contacts, _, _ = foot_contacts(motion.points, feet, [0, 0, 1.0], fps=motion.fps)
    return contacts[:, 2]


def test_feet_on_the_floor_after_retriangulating(trial, capsys):
    code = main(["rig", "align", str(RIG), "--motion", str(trial / "bal.npz"), "-o", str(trial / "aligned.toml"),
                 "--motion-out", str(trial / "aligned.npz")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "tilt from the old z" in out and "wrote" in out
    moved = read_motion(trial / "aligned.npz")
    # triangulating again with the aligned rig gives the moved points (the images did not change)
    triangulate_capture(trial / "aligned.toml", CAMS, skeleton="body_25b", fps=60, out=[trial / "again.npz"],
                        progress=False)  # fmt: skip
    again = read_motion(trial / "again.npz")
    assert np.nanmedian(np.linalg.norm(again.points - moved.points, axis=-1)) < 0.002
    for motion in (moved, again):
        h = _contact_heights(motion)
        assert len(h) > 50
        assert abs(np.median(h)) < 0.02
        assert np.percentile(np.abs(h), 50) < 0.02
    # the up axis stays within a few degrees of the lab's (Qualisys: z up, origin on the force plate)
    R_old, R_new = load_rig(RIG).cameras.R, load_rig(trial / "aligned.toml").cameras.R
    q = np.asarray(R_new[0]).T @ np.asarray(R_old[0])  # X_new = q X_old
    assert np.degrees(np.arccos(np.clip(q[2, 2], -1, 1))) < 3.0
    np.testing.assert_allclose(np.asarray(R_new).swapaxes(1, 2) @ np.asarray(R_old), np.broadcast_to(q, (4, 3, 3)),
                               atol=1e-9)  # fmt: skip


def test_alignment_undoes_a_known_transform(trial):
    """The rig (and its points) turned by 25 degrees and moved: aligning both gives the same world."""
    rig = load_rig(RIG).to_units("m")
    a = np.radians(25.0)
    axis = np.array([1.0, 2.0, 0.5]) / np.linalg.norm([1.0, 2.0, 0.5])
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    q = np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k
    d = np.array([2.0, -1.0, 0.7])
    turned = dataclasses.replace(rig, cameras=transform_cameras(rig.cameras, 1.0, q, d))
    save_rig(turned, trial / "turned.toml")
    motion = read_motion(trial / "bal.npz")
    write_motion(trial / "turned.npz", motion.points @ q.T + d, joint_names=motion.joint_names, fps=motion.fps)
    plain = run(RigAlignConfig(rig=RIG, motion=trial / "bal.npz", output=trial / "plain.toml"))
    undone = run(RigAlignConfig(rig=trial / "turned.toml", motion=trial / "turned.npz", output=trial / "undone.toml"))
    assert undone.tilt_deg > 20.0  # the turned rig's z is far from the floor's normal
    np.testing.assert_allclose(undone.plane.normal, q @ plain.plane.normal, atol=1e-6)
    r1, r2 = load_rig(trial / "plain.toml"), load_rig(trial / "undone.toml")
    np.testing.assert_allclose(r2.cameras.R, r1.cameras.R, atol=1e-6)
    np.testing.assert_allclose(r2.cameras.t, r1.cameras.t, atol=1e-5)


def test_forward_from_a_camera_and_keep_origin(trial):
    result = run(RigAlignConfig(rig=RIG, motion=trial / "bal.npz", output=trial / "cam.toml", forward="camera:cam_01",
                                origin="keep"))  # fmt: skip
    assert result.forward_source == "given"
    optical = np.asarray(load_rig(RIG)["cam_01"].R)[2]
    horizontal = optical - (optical @ result.plane.normal) * result.plane.normal
    np.testing.assert_allclose(result.frame.rotation[0], horizontal / np.linalg.norm(horizontal), atol=1e-9)
    assert np.linalg.norm(result.frame.origin[:2]) < 0.01  # the old origin dropped onto the floor


def test_bad_input(trial, tmp_path):
    with pytest.raises(ConfigError, match="forward"):
        RigAlignConfig(rig=RIG, motion=trial / "bal.npz", output=tmp_path / "a.toml", forward="north")
    with pytest.raises(UnknownCameraError):
        run(RigAlignConfig(rig=RIG, motion=trial / "bal.npz", output=tmp_path / "a.toml", forward="camera:cam_09"))
    write_motion(tmp_path / "arms.npz", np.zeros((5, 2, 3)), joint_names=["left_wrist", "right_wrist"], fps=60.0)
    with pytest.raises(MotionFileError, match="arms.npz.*no foot"):
        run(RigAlignConfig(rig=RIG, motion=tmp_path / "arms.npz", output=tmp_path / "a.toml"))
    assert not (tmp_path / "a.toml").exists()
