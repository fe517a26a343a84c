"""Human3.6M: camera facts, the three file layouts end to end, splits, protocols, malformed files."""

import json
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from lift3d.core.skeleton import H36M_17_FROM_32
from lift3d.datasets import h36m
from lift3d.datasets.h36m import H36MFormatError
from lift3d.geometry.camera import Camera, project_points, world_to_camera
from lift3d.io import h36m_formats as fmt
from lift3d.synthetic.twin import make_dataset

JSON = Path(__file__).resolve().parents[2] / "lift3d" / "datasets" / "h36m_cameras.json"
RIGS = Path(__file__).resolve().parents[2] / "calib" / "rigs" / "h36m"
ACTIONS = ("Walking", "Photo", "Greeting", "SittingDown", "Waiting", "WalkDog")


@pytest.fixture(scope="module")
def ds():
    return make_dataset(jax.random.key(7), subjects=("S1", "S9"), actions=ACTIONS, frames_per_sequence=12)


# ------------------------------------------------------------------------------------------------ cameras


@pytest.mark.parametrize("subject", h36m.SUBJECTS)
def test_cameras_follow_the_published_constants(subject):
    data = json.loads(JSON.read_text())
    rig = h36m.h36m_cameras(subject)
    assert rig.names == h36m.CAMERA_IDS and rig.units == "mm"
    R = np.asarray(rig.cameras.R)
    np.testing.assert_allclose(R @ np.swapaxes(R, -1, -2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    centers = np.array([e["center_mm"] for e in data["extrinsics"][subject]])
    np.testing.assert_allclose(rig.centers, centers, atol=1e-9)
    sizes = [[data["intrinsics"][c]["width"], data["intrinsics"][c]["height"]] for c in rig.names]
    np.testing.assert_array_equal(rig.cameras.image_size, sizes)
    # every camera sees the capture-volume centre (centres' mean on the floor, 900 mm up), in front, inside
    target = np.r_[centers[:, :2].mean(0), 900.0]
    pts = np.broadcast_to(target, (4, 1, 3))
    with jax.enable_x64(True):
        depth = np.asarray(world_to_camera(rig.cameras, pts))[:, 0, 2]
        uv = np.asarray(project_points(rig.cameras, pts))[:, 0]
    assert np.all(depth > 3000)  # cameras stand ~4.5-5.7 m away
    assert np.all((uv > 0) & (uv < np.asarray(rig.cameras.image_size) - 1))


def test_distortion_matches_the_h36m_model_with_opencv_coefficient_order():
    """Our OpenCV (k1, k2, p1=p_b, p2=p_a, k3) reproduces the H36M projection the json spells out."""
    data = json.loads(JSON.read_text())
    rig = h36m.h36m_cameras("S9")
    grid = np.stack(
        np.meshgrid(np.linspace(-700, 700, 8), np.linspace(-700, 700, 8), np.linspace(0, 1900, 6)), -1
    )
    pts = grid.reshape(-1, 3) + np.r_[150.0, 300.0, 0.0]
    errors = {}
    with jax.enable_x64(True):
        xc = np.asarray(world_to_camera(rig.cameras, np.broadcast_to(pts, (4, *pts.shape))))
        for order in ("ours", "copied"):
            dist = np.asarray(rig.cameras.dist).copy()
            if order == "copied":
                dist[:, [2, 3]] = dist[:, [3, 2]]
            uv = np.asarray(
                project_points(rig.cameras.replace(dist=dist), np.broadcast_to(pts, (4, *pts.shape)))
            )
            err = []
            for c, name in enumerate(rig.names):
                p = data["intrinsics"][name]
                (k1, k2, k3), (pa, pb) = p["radial_distortion_k1k2k3"], p["tangential_distortion_p1p2"]
                x, y = xc[c, :, 0] / xc[c, :, 2], xc[c, :, 1] / xc[c, :, 2]
                r2 = x * x + y * y
                radial, tan = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3, pa * x + pb * y
                ref = np.stack(
                    [
                        p["focal_length_px"][0] * (x * (radial + tan) + pa * r2) + p["center_px"][0],
                        p["focal_length_px"][1] * (y * (radial + tan) + pb * r2) + p["center_px"][1],
                    ],
                    -1,
                )
                err.append(np.linalg.norm(uv[c] - ref, axis=-1).max())
            errors[order] = max(err)
    assert errors["ours"] < 0.5, errors  # 0.35 px: the models differ in second-order tangential terms
    assert errors["copied"] > 2 * errors["ours"], errors


@pytest.mark.parametrize("subject", h36m.SUBJECTS)
def test_committed_rig_files_are_the_published_cameras(subject):
    from lift3d.io.rigs import load_rig

    rig, ref = load_rig(RIGS / f"{subject}.toml", units="mm"), h36m.h36m_cameras(subject)
    assert rig.names == ref.names
    np.testing.assert_allclose(rig.cameras.R, ref.cameras.R, atol=1e-12)
    np.testing.assert_allclose(rig.cameras.t, ref.cameras.t, atol=1e-9)
    for field in ("K", "dist", "image_size"):
        np.testing.assert_array_equal(getattr(rig.cameras, field), getattr(ref.cameras, field))


def test_write_h36m_rigs(tmp_path):
    paths = h36m.write_h36m_rigs(tmp_path)
    assert [p.name for p in paths] == [f"{s}.toml" for s in h36m.SUBJECTS]
    # the shipped files are these; compared as numbers (the last printed digit may differ between CPUs / BLAS)
    from lift3d.io.rigs import load_rig

    for subject in h36m.SUBJECTS:
        got, shipped = load_rig(tmp_path / f"{subject}.toml"), load_rig(RIGS / f"{subject}.toml")
        assert got.names == shipped.names and got.units == shipped.units
        for field in ("K", "dist", "R", "t", "image_size"):
            np.testing.assert_allclose(getattr(got.cameras, field), getattr(shipped.cameras, field), rtol=1e-12,
                                       atol=1e-12)  # fmt: skip


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name, expected",
    [("Walking 1", ("Walking", "1")), ("Walking", ("Walking", "")), ("Walking-2", ("Walking", "2")),
     ("TakingPhoto 1", ("Photo", "1")), ("Photo", ("Photo", "")), ("WalkingDog-1", ("WalkDog", "1")),
     ("WalkDog", ("WalkDog", "")), ("WalkingTogether-2", ("WalkTogether", "2")),
     ("SittingDown 2", ("SittingDown", "2")), ("Sitting", ("Sitting", ""))],
)  # fmt: skip
def test_parse_action_name(name, expected):
    assert h36m.parse_action_name(name) == expected


# ------------------------------------------------------------------------------------------------ round trips


def assert_same_3d(loaded, ds, names, atol):
    assert len(loaded) == len(ds)
    by_key = {(s.subject, s.name): s for s in loaded.sequences}
    for s, name in zip(ds.sequences, names, strict=True):
        got = by_key[s.subject, name]
        assert got.action == s.action
        np.testing.assert_array_equal(got.frames, s.frames)
        np.testing.assert_allclose(got.points_3d, s.points_3d, atol=atol)


def assert_rigs_close(loaded, ds, atol_R, atol_t):
    assert set(loaded.rigs) == set(ds.rigs)
    for s, rig in ds.rigs.items():
        got = loaded.rigs[s]
        assert got.names == rig.names and got.units == "mm"
        np.testing.assert_allclose(got.cameras.R, rig.cameras.R, atol=atol_R)
        np.testing.assert_allclose(got.cameras.t, rig.cameras.t, atol=atol_t)
        np.testing.assert_allclose(got.cameras.K, rig.cameras.K, rtol=1e-7)
        np.testing.assert_allclose(got.cameras.dist, rig.cameras.dist, rtol=1e-6, atol=1e-9)
        np.testing.assert_array_equal(got.cameras.image_size, rig.cameras.image_size)


def test_videopose3d_round_trip(ds, tmp_path):
    p3, p2 = h36m.write_videopose3d(ds, tmp_path)
    assert (p3.name, p2.name) == ("data_3d_h36m.npz", "data_2d_h36m_gt.npz")
    raw = np.load(p3, allow_pickle=True)["positions_3d"].item()
    assert raw["S1"]["Walking 1"].shape == (12, 32, 3) and raw["S1"]["Walking 1"].dtype == np.float32
    assert np.abs(raw["S1"]["Walking"][:, :, 2]).max() < 3.0  # metres
    meta = np.load(p2, allow_pickle=True)["metadata"].item()
    assert meta["layout_name"] == "h36m" and meta["num_joints"] == 17
    assert meta["keypoints_symmetry"] == [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]

    loaded = h36m.load_videopose3d(p3, p2)
    names = [h36m._vp3d_name(s) for s in ds.sequences]
    assert_same_3d(loaded, ds, names, atol=2e-3)  # float32 metres
    assert_rigs_close(loaded, ds, 0, 0)
    by_key = {(s.subject, s.name): s for s in loaded.sequences}
    for s, name in zip(ds.sequences, names, strict=True):
        np.testing.assert_array_equal(by_key[s.subject, name].points_2d, s.points_2d)
    reprojected = loaded.with_projections(overwrite=True)
    for a, b in zip(loaded.sequences, reprojected.sequences, strict=True):
        np.testing.assert_allclose(a.points_2d, b.points_2d, atol=1e-2)


def test_videopose3d_2d_longer_or_shorter_than_3d(ds, tmp_path):
    p3, p2 = h36m.write_videopose3d(ds.select(subjects=["S1"], names=["Walking"]), tmp_path)
    pos2d = np.load(p2, allow_pickle=True)["positions_2d"].item()
    views = pos2d["S1"]["Walking"]
    views[0] = np.concatenate([views[0], views[0][:3]])  # extra frames: cut, as VideoPose3D does
    views[1] = views[1][:10]  # missing frames: NaN, never dropped
    fmt.write_videopose3d_2d(p2, pos2d, np.load(p2, allow_pickle=True)["metadata"].item())
    (seq,) = h36m.load_videopose3d(p3, p2).sequences
    assert seq.points_2d.shape == (12, 4, 17, 2)
    assert np.isnan(seq.points_2d[10:, 1]).all() and not np.isnan(seq.points_2d[:10, 1]).any()
    np.testing.assert_array_equal(seq.points_2d[:, 0], views[0][:12])


def test_martinez_round_trip(ds, tmp_path):
    h36m.write_martinez(ds, tmp_path)
    files = fmt.martinez_pose_files(tmp_path)
    assert {"TakingPhoto", "TakingPhoto 1", "WalkingDog", "Walking 1"} <= set(files["S1"])  # S1's spelling
    assert {"Photo", "WalkDog 1"} <= set(files["S9"])
    with h5py.File(files["S9"]["Walking"]) as f:
        assert f["3D_positions"].shape == (96, 12)
    raw = fmt.read_martinez_poses(files["S9"]["Walking"])
    used = raw[:, list(H36M_17_FROM_32)]
    unused = np.delete(raw, list(H36M_17_FROM_32), axis=1)
    assert (
        np.linalg.norm(unused[:, :, None] - used[:, None], axis=-1).min() > 1.0
    )  # fillers never copy a used joint
    with h5py.File(tmp_path / "cameras.h5") as f:
        g = f["subject9/camera2"]
        assert {k: g[k].shape for k in g} == {
            "R": (3, 3),
            "T": (3, 1),
            "f": (2, 1),
            "c": (2, 1),
            "k": (3, 1),
            "p": (2, 1),
            "Name": (8, 1),
        }
        assert "".join(chr(int(x[0])) for x in g["Name"]) == "55011271"
        np.testing.assert_allclose(g["T"][:, 0], ds.rigs["S9"].centers[1], atol=1e-9)  # T is the centre, mm

    loaded = h36m.load_martinez(tmp_path)
    names = [
        (
            "TakingPhoto"
            if s.subject == "S1" and s.action == "Photo"
            else "WalkingDog"
            if s.subject == "S1" and s.action == "WalkDog"
            else s.action
        )
        + (f" {h36m.parse_action_name(s.name)[1]}" if h36m.parse_action_name(s.name)[1] else "")
        for s in ds.sequences
    ]
    assert_same_3d(loaded, ds, names, atol=0)
    assert_rigs_close(loaded, ds, atol_R=1e-12, atol_t=1e-9)
    projected = loaded.with_projections()
    by_key = {(s.subject, s.name): s for s in projected.sequences}
    for s, name in zip(ds.sequences, names, strict=True):
        np.testing.assert_allclose(by_key[s.subject, name].points_2d, s.points_2d, atol=1e-2)
    # without cameras.h5, the published constants are used
    (tmp_path / "cameras.h5").unlink()
    assert_rigs_close(h36m.load_martinez(tmp_path), ds, atol_R=0, atol_t=0)


def test_learnable_triangulation_round_trip(ds, tmp_path):
    path = h36m.write_learnable_triangulation_labels(ds, tmp_path / "labels.npy")
    labels = np.load(path, allow_pickle=True).item()
    assert labels["table"].dtype == fmt.lt_table_dtype(4)
    assert labels["table"].dtype["subject_idx"] == np.int8 and labels["table"].dtype["frame_idx"] == np.int16
    assert {labels["cameras"].dtype[f].base for f in ("R", "t", "K", "dist")} == {np.dtype(np.float32)}
    assert labels["cameras"].shape == (2, 4) and labels["camera_names"] == list(h36m.CAMERA_IDS)
    assert {"Walking-1", "Walking-2", "TakingPhoto-1", "WalkingDog-2"} <= set(labels["action_names"])
    # the file's keypoints are in learnable-triangulation's MPII-like order: index 6 is the pelvis
    first = ds.sequences[0]
    np.testing.assert_array_equal(labels["table"]["keypoints"][0, 6], first.points_3d[0, 0])
    np.testing.assert_array_equal(labels["table"]["keypoints"][0, 0], first.points_3d[0, 3])  # right ankle

    loaded = h36m.load_learnable_triangulation(path)
    names = h36m._lt_names(ds)
    assert names[:2] == ["Walking-2", "Walking-1"]  # "Walking" is the unnumbered take -> trial 2
    assert_same_3d(loaded, ds, names, atol=0)
    assert_rigs_close(loaded, ds, atol_R=1e-6, atol_t=2e-3)
    by_key = {(s.subject, s.name): s for s in loaded.sequences}
    for s, name in zip(ds.sequences, names, strict=True):
        np.testing.assert_array_equal(by_key[s.subject, name].bboxes, s.bboxes)
    projected = loaded.with_projections()
    for s, name in zip(ds.sequences, names, strict=True):
        got = next(q for q in projected.sequences if (q.subject, q.name) == (s.subject, name))
        np.testing.assert_allclose(got.points_2d, s.points_2d, atol=0.05)  # float32 cameras


def test_learnable_triangulation_missing_views_and_frame_order(ds, tmp_path):
    one = ds.select(subjects=["S9"], names=["Waiting"])
    seq = one.sequences[0]
    boxes = seq.bboxes.copy()
    boxes[3:5, 2] = np.nan
    shuffled = seq.take(np.r_[6:12, 0:6])
    shuffled = h36m.Sequence(
        seq.subject, seq.name, shuffled.frames, shuffled.points_3d, None, boxes[np.r_[6:12, 0:6]]
    )
    path = h36m.write_learnable_triangulation_labels(
        h36m.H36MDataset([shuffled], one.rigs), tmp_path / "l.npy"
    )
    assert (np.load(path, allow_pickle=True).item()["table"]["bbox_by_camera_tlbr"][-3:-1, 2] == 0).all()
    (got,) = h36m.load_learnable_triangulation(path).sequences
    np.testing.assert_array_equal(got.frames, np.arange(12))  # sorted by frame_idx
    np.testing.assert_array_equal(got.points_3d, seq.points_3d)
    np.testing.assert_array_equal(got.bboxes, boxes)  # NaN where the view is missing


# ------------------------------------------------------------------------------------------------ protocols


def test_splits_and_every_64_subsampling():
    ds = make_dataset(
        jax.random.key(1),
        subjects=("S1", "S5", "S9", "S11"),
        actions=("Walking", "Eating"),
        frames_per_sequence=150,
    )
    assert ds.split("train").subjects == ("S1", "S5") and set(ds.split("train").rigs) == {"S1", "S5"}
    test = ds.split("test")
    assert test.subjects == ("S9", "S11") and test.num_frames == 8 * 150
    sub = test.subsample(64)
    assert sub.num_frames == 8 * 3  # frames 0, 64, 128 of each 150-frame take
    for s, full in zip(sub.sequences, test.sequences, strict=True):
        np.testing.assert_array_equal(s.frames, [0, 64, 128])
        np.testing.assert_array_equal(s.points_3d, full.points_3d[[0, 64, 128]])
        np.testing.assert_array_equal(s.points_2d, full.points_2d[[0, 64, 128]])
    assert test.subsample(64, offset=100).num_frames == 8
    arrays = sub.arrays()
    assert arrays.points_3d.shape == (24, 17, 3) and arrays.points_2d.shape == (24, 4, 17, 2)
    assert arrays.subjects == ("S9", "S11") and arrays.actions == ("Eating", "Walking")
    np.testing.assert_array_equal(arrays.subject, np.repeat([0, 1], 12))
    with pytest.raises(ValueError, match="train"):
        ds.split("val")


def test_damaged_sequences_are_dropped_in_every_naming(ds, tmp_path):
    kept = ds.without_damaged()
    dropped = {(s.subject, s.name) for s in ds.sequences} - {(s.subject, s.name) for s in kept.sequences}
    assert dropped == {("S9", "Greeting"), ("S9", "SittingDown 1"), ("S9", "Waiting 1")}
    lt = h36m.load_learnable_triangulation(h36m.write_learnable_triangulation_labels(ds, tmp_path / "l.npy"))
    dropped = {(s.subject, s.name) for s in lt.sequences} - {
        (s.subject, s.name) for s in lt.without_damaged()
    }
    assert dropped == {("S9", "Greeting-2"), ("S9", "SittingDown-2"), ("S9", "Waiting-1")}


def test_trials_merge_into_actions(ds, tmp_path):
    groups = ds.group_by_action()
    assert tuple(groups) == ("Greeting", "Photo", "SittingDown", "Waiting", "WalkDog", "Walking")
    assert {s.name for s in groups["Walking"]} == {"Walking", "Walking 1"}
    martinez = h36m.load_martinez(h36m.write_martinez(ds, tmp_path))
    photo = martinez.select(subjects=["S1"], actions=["Photo"])
    assert {s.name for s in photo} == {"TakingPhoto", "TakingPhoto 1"}
    assert martinez.actions == ds.actions


def test_camera_samples_are_consistent_with_the_2d(ds):
    sub = ds.select(subjects=["S9"], actions=["Walking"])
    cs = sub.camera_samples()
    n = sub.num_frames
    assert cs.points_2d.shape == (4 * n, 17, 2) and cs.points_3d_camera.shape == (4 * n, 17, 3)
    np.testing.assert_array_equal(cs.camera[:5], [0, 1, 2, 3, 0])
    assert (cs.points_3d_camera[..., 2] > 0).all()
    rig = sub.rigs["S9"]
    at_origin = Camera.create(rig.cameras.K, dist=rig.cameras.dist, image_size=rig.cameras.image_size)[
        cs.camera
    ]
    uv = np.asarray(project_points(at_origin, cs.points_3d_camera))
    np.testing.assert_allclose(uv, cs.points_2d, atol=1e-2)


def test_sequence_shapes_are_checked():
    with pytest.raises(ValueError, match="S1/Walking.*points_3d"):
        h36m.Sequence("S1", "Walking", np.arange(3), np.zeros((3, 16, 3), np.float32))
    with pytest.raises(ValueError, match="points_2d"):
        h36m.Sequence("S1", "Walking", np.arange(3), np.zeros((3, 17, 3)), np.zeros((4, 3, 17, 2)))


# ------------------------------------------------------------------------------------------------ malformed


def test_malformed_videopose3d(ds, tmp_path):
    p3, p2 = h36m.write_videopose3d(ds.select(subjects=["S1"], names=["Walking"]), tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez_compressed(bad, poses={"S1": {}})
    with pytest.raises(H36MFormatError, match=r"bad\.npz.*'positions_3d'.*missing"):
        h36m.load_videopose3d(bad)
    np.savez_compressed(bad, positions_3d={"S1": {"Walking": np.zeros((5, 31, 3))}})
    with pytest.raises(H36MFormatError, match=r"bad\.npz \[S1/Walking\]: field 'positions_3d'.*\(T, 32, 3\)"):
        h36m.load_videopose3d(bad)
    np.savez_compressed(
        bad,
        positions_2d={"S1": {"Walking": [np.zeros((12, 17, 3))] * 4}},
        metadata={"num_joints": 17, "layout_name": "h36m"},
    )
    with pytest.raises(H36MFormatError, match=r"S1/Walking/camera 0\]: field 'positions_2d'"):
        h36m.load_videopose3d(p3, bad)
    np.savez_compressed(
        bad,
        positions_2d={"S1": {"Walking": [np.zeros((12, 17, 2))] * 4}},
        metadata={"num_joints": 17, "layout_name": "coco"},
    )
    with pytest.raises(H36MFormatError, match="layout 'coco'"):
        h36m.load_videopose3d(p3, bad)
    bad.write_bytes(b"not a zip")
    with pytest.raises(H36MFormatError, match="not a readable .npz"):
        h36m.load_videopose3d(bad)


def test_malformed_martinez(ds, tmp_path):
    h36m.write_martinez(ds.select(subjects=["S9"], names=["Walking"]), tmp_path)
    pose = tmp_path / "S9" / "MyPoses" / "3D_positions" / "Walking.h5"
    with h5py.File(pose, "w") as f:
        f["3D_positions"] = np.zeros((95, 12))
    with pytest.raises(H36MFormatError, match=r"Walking\.h5: field '3D_positions': expected shape \(96, T\)"):
        h36m.load_martinez(tmp_path)
    with h5py.File(pose, "w") as f:
        f["positions"] = np.zeros((96, 12))
    with pytest.raises(H36MFormatError, match="'3D_positions': missing"):
        h36m.load_martinez(tmp_path)
    h36m.write_martinez(ds.select(subjects=["S9"], names=["Walking"]), tmp_path)
    with h5py.File(tmp_path / "cameras.h5", "a") as f:
        del f["subject9/camera3/R"]
    with pytest.raises(H36MFormatError, match=r"cameras\.h5 \[subject9/camera3\]: field 'R': missing"):
        h36m.load_martinez(tmp_path)
    (tmp_path / "cameras.h5").write_bytes(b"garbage")
    with pytest.raises(H36MFormatError, match="not a readable HDF5"):
        h36m.load_martinez(tmp_path)
    with pytest.raises(FileNotFoundError, match="3D_positions"):
        h36m.load_martinez(tmp_path / "S9")


def test_malformed_learnable_triangulation(ds, tmp_path):
    path = h36m.write_learnable_triangulation_labels(
        ds.select(subjects=["S9"], names=["Walking"]), tmp_path / "l.npy"
    )
    labels = np.load(path, allow_pickle=True).item()
    bad = tmp_path / "bad.npy"
    np.save(bad, {k: v for k, v in labels.items() if k != "table"}, allow_pickle=True)
    with pytest.raises(H36MFormatError, match=r"bad\.npy: field 'table': missing"):
        h36m.load_learnable_triangulation(bad)
    table = labels["table"]
    no_kp = np.zeros(len(table), [(n, table.dtype[n]) for n in table.dtype.names if n != "keypoints"])
    np.save(bad, {**labels, "table": no_kp}, allow_pickle=True)
    with pytest.raises(H36MFormatError, match=r"\[table\]: field 'keypoints': missing"):
        h36m.load_learnable_triangulation(bad)
    wrong = table.copy()
    wrong["subject_idx"][5] = 3
    np.save(bad, {**labels, "table": wrong}, allow_pickle=True)
    with pytest.raises(H36MFormatError, match=r"\[table row 5\]: field 'subject_idx': index 3 out of range"):
        h36m.load_learnable_triangulation(bad)
    cams = np.zeros(
        (1, 4),
        [
            ("R", np.float32, (3, 3)),
            ("t", np.float32, (3,)),
            ("K", np.float32, (3, 3)),
            ("dist", np.float32, 5),
        ],
    )
    np.save(bad, {**labels, "cameras": cams}, allow_pickle=True)
    with pytest.raises(H36MFormatError, match=r"\[cameras\]: field 't': expected shape \(1, 4, 3, 1\)"):
        h36m.load_learnable_triangulation(bad)
    long = h36m.Sequence("S9", "Walking", np.arange(40000, 40002), np.zeros((2, 17, 3), np.float32))
    with pytest.raises(ValueError, match="frame_idx.*int16"):
        h36m.write_learnable_triangulation_labels(h36m.H36MDataset([long], ds.rigs), tmp_path / "x.npy")
