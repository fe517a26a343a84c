"""DeepMimic clips: the fetch (a fake wheel), the reader, forward kinematics on hand-made clips, the real files."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17
from lift3d.datasets import deepmimic, samples
from lift3d.datasets.deepmimic import (
    CLIPS,
    DEEPMIMIC_JOINTS,
    FRAME_SIZE,
    TRAIN_CLIPS,
    VALIDATION_CLIPS,
    clip_kinematics,
    clip_motion,
    load_clips,
    read_clip,
    read_urdf,
)
from lift3d.errors import MotionFileError

# (child, parent, type, xyz in URDF units): DeepMimic's humanoid.urdf, geometry left out
LINKS = (
    ("chest", "root", "spherical", "0 0.944604 0"),
    ("neck", "chest", "spherical", "0 0.895576 0"),
    ("right_hip", "root", "spherical", "0 0 0.339548"),
    ("right_knee", "right_hip", "revolute", "0 -1.686184 0"),
    ("right_ankle", "right_knee", "spherical", "0 -1.639480 0"),
    ("right_shoulder", "chest", "spherical", "-0.0962 0.974 0.73244"),
    ("right_elbow", "right_shoulder", "revolute", "0 -1.099152 0"),
    ("right_wrist", "right_elbow", "fixed", "0 -1.035788 0"),
    ("left_hip", "root", "spherical", "0 0 -0.339548"),
    ("left_knee", "left_hip", "revolute", "0 -1.686184 0"),
    ("left_ankle", "left_knee", "spherical", "0 -1.639480 0"),
    ("left_shoulder", "chest", "spherical", "-0.0962 0.974 -0.73244"),
    ("left_elbow", "left_shoulder", "revolute", "0 -1.099152 0"),
    ("left_wrist", "left_elbow", "fixed", "0 -1.035788 0"),
)
IDENTITY = [1.0, 0.0, 0.0, 0.0]


def _urdf(links=LINKS, nul: bool = True) -> bytes:
    parts = ['<robot name="humanoid">', '<link name="base"/>', '<link name="root"/>',
             '<joint name="root" type="fixed"><parent link="base"/><child link="root"/>'
             '<origin rpy="0 0 0" xyz="0 0 0"/></joint>']  # fmt: skip
    for child, parent, kind, xyz in links:
        axis = '<axis xyz="0 0 1"/>' if kind == "revolute" else ""
        parts.append(f'<link name="{child}"/><joint name="{child}" type="{kind}"><parent link="{parent}"/>'
                     f'<child link="{child}"/><origin rpy = "0 0 0" xyz = "{xyz}"/>{axis}</joint>')  # fmt: skip
    parts.append("</robot>")
    return "\r\n".join(parts).encode() + (b"\x00" if nul else b"")  # pybullet's file ends with a NUL


def _frame(root=(0.0, 0.85, 0.0), root_q=IDENTITY, **joints) -> list[float]:
    """One frame: duration, root, then each joint's quaternion / angle (identity / 0 unless given)."""
    out = [1 / 30, *root, *root_q]
    for name, n in deepmimic._FRAME_LAYOUT:
        out += list(joints.get(name, IDENTITY if n == 4 else [0.0]))
    assert len(out) == FRAME_SIZE
    return out


def _write(tmp_path: Path, frames, name="humanoid3d_test.txt") -> tuple[Path, Path]:
    clip = tmp_path / "motions" / name
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_text(json.dumps({"Loop": "wrap", "Frames": frames}))
    urdf = tmp_path / "humanoid.urdf"
    urdf.write_bytes(_urdf())
    return clip, urdf


def _quat(axis, angle_rad) -> list[float]:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return [np.cos(angle_rad / 2), *(np.sin(angle_rad / 2) * axis)]


def test_split_is_clean_and_complete():
    assert set(TRAIN_CLIPS) | set(VALIDATION_CLIPS) == set(CLIPS) and len(CLIPS) == 15
    assert not set(TRAIN_CLIPS) & set(VALIDATION_CLIPS)
    assert FRAME_SIZE == 44


def test_rest_pose_is_the_urdf_offsets(tmp_path):
    clip, urdf = _write(tmp_path, [_frame()])
    body = read_urdf(urdf)
    pos, _ = clip_kinematics(read_clip(clip), body)
    j = DEEPMIMIC_JOINTS.index
    np.testing.assert_allclose(pos[0, j("root")], [0, 0.85, 0])
    # right ankle: root + hip + thigh + shin, scaled by 0.25
    np.testing.assert_allclose(pos[0, j("right_ankle")], [0, 0.85 - 0.25 * (1.686184 + 1.639480), 0.25 * 0.339548])
    np.testing.assert_allclose(pos[0, j("left_wrist")],
                               [-0.25 * 0.0962, 0.85 + 0.25 * (0.944604 + 0.974 - 1.099152 - 1.035788),
                                -0.25 * 0.73244], atol=1e-12)  # fmt: skip


def test_known_angles_give_known_positions(tmp_path):
    """A knee bent 90 degrees puts the ankle a shin behind the knee; a root turned 90 degrees about the vertical
    turns the hips; the neck's rotation carries the derived head."""
    knee = -np.pi / 2
    frames = [
        _frame(right_knee=[knee]),
        _frame(root_q=_quat([0, 1, 0], np.pi / 2)),
        _frame(neck=_quat([0, 0, 1], -np.pi / 2)),  # the head bowed forward, horizontal
    ]
    clip, urdf = _write(tmp_path, frames)
    pos, _ = clip_kinematics(read_clip(clip), read_urdf(urdf))
    j = DEEPMIMIC_JOINTS.index
    shin = 0.25 * 1.639480
    np.testing.assert_allclose(pos[0, j("right_ankle")] - pos[0, j("right_knee")], [-shin, 0, 0], atol=1e-12)
    # +90 degrees about y takes the body's z (right) to x
    np.testing.assert_allclose(pos[1, j("right_hip")] - pos[1, j("root")], [0.25 * 0.339548, 0, 0], atol=1e-12)
    motion = clip_motion(read_clip(clip), read_urdf(urdf))  # Z-up: X = DeepMimic z, Y = x, Z = y
    h = H36M_17.index
    np.testing.assert_allclose(motion.points[0, h("pelvis")], [0, 0, 0.85], atol=1e-12)
    np.testing.assert_allclose(motion.points[0, h("right_hip")], [0.25 * 0.339548, 0, 0.85], atol=1e-12)
    head = motion.points[2, h("head")] - motion.points[2, h("thorax")]
    np.testing.assert_allclose(head, [0, deepmimic.HEAD_OFFSET_M[1], -deepmimic.HEAD_OFFSET_M[0]], atol=1e-12)
    assert motion.fps == pytest.approx(30.0) and motion.units == "m" and motion.y_up is False
    assert motion.joint_names == H36M_17.joints


def test_bone_lengths_are_kept_over_random_frames(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(20):
        joints = {name: (list(rng.normal(size=4)) if n == 4 else [rng.uniform(-3, 0)])
                  for name, n in deepmimic._FRAME_LAYOUT}  # fmt: skip
        frames.append(_frame(root=tuple(rng.normal(size=3)), root_q=list(rng.normal(size=4)), **joints))
    clip, urdf = _write(tmp_path, frames)
    motion = clip_motion(read_clip(clip), read_urdf(urdf))
    p = motion.points
    bones = np.stack([np.linalg.norm(p[:, c] - p[:, q], axis=-1) for c, q in enumerate(H36M_17.parents) if q >= 0])
    np.testing.assert_allclose(bones, bones[:, :1].repeat(20, 1), atol=1e-12)


def test_malformed_clips_and_urdfs_name_the_file_and_frame(tmp_path):
    clip, urdf = _write(tmp_path, [_frame(), _frame()[:-1]])
    with pytest.raises(MotionFileError, match=r"humanoid3d_test\.txt: frame 1: expected 44 numbers"):
        read_clip(clip)
    clip.write_text("{not json")
    with pytest.raises(MotionFileError, match="not a DeepMimic clip"):
        read_clip(clip)
    clip.write_text(json.dumps({"Frames": [_frame(root_q=[0, 0, 0, 0])]}))
    with pytest.raises(MotionFileError, match="frame 0: field 'root': zero quaternion"):
        read_clip(clip)
    urdf.write_bytes(_urdf(LINKS[:-1]))
    with pytest.raises(MotionFileError, match="no joint whose child link is 'left_wrist'"):
        read_urdf(urdf)
    bad = [(c, p, "spherical" if c == "right_knee" else k, x) for c, p, k, x in LINKS]
    urdf.write_bytes(_urdf(bad))
    with pytest.raises(MotionFileError, match="joint 'right_knee': type 'spherical'"):
        read_urdf(urdf)
    with pytest.raises(MotionFileError, match="not a DeepMimic folder"):
        load_clips(tmp_path / "nowhere")


def test_fetch_unzips_only_clips_urdf_and_licence(tmp_path, monkeypatch):
    members = {f"pybullet_data/data/motions/humanoid3d_{c}.txt": f"motions/humanoid3d_{c}.txt" for c in CLIPS}
    members |= {"pybullet_data/humanoid/humanoid.urdf": "humanoid.urdf",
                "pybullet-3.2.7.dist-info/LICENSE.txt": "LICENSE.txt",
                "pybullet_data/data/motions/laikago_walk.txt": None,
                "pybullet_data/quadruped/x.urdf": None}  # fmt: skip
    wheel = tmp_path / "pybullet-3.2.7-cp311-cp311-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for member in members:
            zf.writestr(member, _urdf() if member.endswith("humanoid.urdf") else json.dumps({"Frames": [_frame()]}))
    source = dataclasses.replace(samples._SAMPLES["deepmimic"], sha256=hashlib.sha256(wheel.read_bytes()).hexdigest())
    monkeypatch.setitem(samples._SAMPLES, "deepmimic", source)
    calls = []

    def fake_pip_download(spec, dest, pip_args):
        calls.append((spec, pip_args))
        dest.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(wheel, dest / wheel.name))

    monkeypatch.setattr(samples, "_pip_download", fake_pip_download)
    folder = samples.fetch_deepmimic(cache_dir=tmp_path / "cache")
    assert calls[0][0] == "pybullet==3.2.7" and "--platform" in calls[0][1]
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()} - {".lift3d-sample-complete"}
    assert files == {v for v in members.values() if v}
    assert samples.fetch_deepmimic(cache_dir=tmp_path / "cache") == folder and len(calls) == 1
    motions = load_clips(folder, ("walk", "cartwheel"))
    assert set(motions) == {"walk", "cartwheel"} and motions["walk"].points.shape == (1, 17, 3)
    with pytest.raises(ValueError, match="holds motion clips"):
        samples.fetch_sample("deepmimic", cache_dir=tmp_path / "cache")


REAL = samples.cached_model_files("deepmimic")


@pytest.mark.skipif(REAL is None, reason="DeepMimic's clips are not in the cache (`lift3d fetch deepmimic`)")
def test_real_clips():
    motions = load_clips(REAL)
    assert set(motions) == set(CLIPS)
    h = H36M_17.index
    for name, m in motions.items():
        p = m.points
        assert p.shape[1:] == (17, 3) and np.isfinite(p).all(), name
        bones = np.stack([np.linalg.norm(p[:, c] - p[:, q], axis=-1) for c, q in enumerate(H36M_17.parents) if q >= 0])
        assert np.ptp(bones, axis=1).max() < 1e-9, name
        assert -0.1 < p[..., 2].min() < 0.1, name  # the floor is z = 0
    walk = motions["walk"].points
    assert 1.4 < np.median(walk[:, h("head"), 2]) < 1.6  # a standing adult of DeepMimic's size
    assert np.median(walk[:, h("thorax"), 2] - walk[:, h("pelvis"), 2]) > 0.4  # Z-up
    assert motions["walk"].fps == pytest.approx(30.0, rel=1e-3)


def test_fetch_command_lists_the_cached_clips(tmp_path, capsys):
    from lift3d.apps.fetch import FetchConfig, run

    folder = tmp_path / samples._SAMPLES["deepmimic"].dirname
    _write(folder, [_frame()], name="humanoid3d_walk.txt")
    (folder / "LICENSE.txt").write_text("zlib")
    (folder / samples._COMPLETE_MARKER).write_text("done")
    assert run(FetchConfig(name="deepmimic", cache=tmp_path)) == folder
    out = capsys.readouterr().out
    assert f"motions: {folder / 'motions'} (walk)" in out and "humanoid.urdf" in out
