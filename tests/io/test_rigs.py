"""Rig files: TOML (byte-exact round trips), Qualisys .qca.txt, OpenCV YAML/XML, malformed inputs, tables."""

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from lift3d.core.rig import Rig
from lift3d.errors import RigFileError, UnknownCameraError
from lift3d.geometry.camera import Camera
from lift3d.io.rig_opencv import read_opencv
from lift3d.io.rig_qualisys import read_qualisys
from lift3d.io.rig_toml import rig_to_toml, save_rig
from lift3d.io.rigs import camera_table, format_camera_table, load_rig, rig_to_json_dict

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not present")
POSE2SIM_TOML = SHARED / "pose2sim_trials" / "Calib_qualisys_from_v0.4.15.toml"
QCA_TRIALS = SHARED / "pose2sim_trials" / "Calib.qca.txt"
QCA_CALIB = SHARED / "pose2sim_calibration" / "Calib.qca.txt"
OPENCV = SHARED / "opencv_stereo_chessboard"
FIELDS = ("K", "dist", "R", "t", "image_size")


def _arrays(rig):
    return {f: np.asarray(getattr(rig.cameras, f)) for f in FIELDS}


def _assert_same_values(a, b, *, R_atol=0.0):
    assert a.names == b.names and a.units == b.units and a.cameras.model == b.cameras.model
    va, vb = _arrays(a), _arrays(b)
    for f in FIELDS:
        if f == "R" and R_atol:
            np.testing.assert_allclose(va[f], vb[f], rtol=0, atol=R_atol)
        else:
            np.testing.assert_array_equal(va[f], vb[f], err_msg=f)


def _random_rig(seed=0, v=5):
    rng = np.random.default_rng(seed)
    rot = Rotation.random(v, random_state=rng).as_matrix()
    rot[0] = np.eye(3)  # identity
    rot[1] = Rotation.from_rotvec([0.0, math.pi - 1e-9, 0.0]).as_matrix()  # near 180 degrees
    f = rng.uniform(400, 2000, v)
    K = np.zeros((v, 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 0, 1] = f, f * rng.uniform(0.98, 1.02, v), rng.normal(0, 0.5, v)
    K[:, :2, 2], K[:, 2, 2] = rng.uniform(200, 900, (v, 2)), 1.0
    dist = rng.normal(0, 0.1, (v, 5))
    dist[-1, 4] = 0.0  # k3 == 0 in a fresh rig is still written as 5 coefficients
    cams = Camera.create(
        K, R=rot, t=rng.normal(0, 3, (v, 3)), dist=dist, image_size=rng.integers(300, 4000, (v, 2))
    )
    return Rig(names=tuple(f"c{i}" for i in range(v)), cameras=cams, units="m", metadata={"note": "random"})


# ------------------------------------------------------------------------------------------------ TOML


@needs_shared
def test_pose2sim_toml_round_trips_byte_for_byte(tmp_path):
    rig = load_rig(POSE2SIM_TOML)
    out = save_rig(rig, tmp_path / "rig.toml")
    assert out.read_bytes() == POSE2SIM_TOML.read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name != "rig.toml"]  # atomic write left no temp file


@needs_shared
def test_pose2sim_toml_values():
    rig = load_rig(POSE2SIM_TOML)
    assert rig.names == ("cam_01", "cam_02", "cam_03", "cam_04") and rig.units == "m"
    assert rig.cameras.model == "pinhole"
    K, dist, R, t, size = _arrays(rig).values()
    assert K[0, 0, 0] == 1681.244873046875 and K[0, 1, 2] == 948.137390140625
    np.testing.assert_array_equal(size, [[1088.0, 1920.0]] * 4)
    np.testing.assert_array_equal(dist[0], [-0.000721609375, 0.002187234375, 9.5e-06, 1.078125e-05, 0.0])
    np.testing.assert_array_equal(t[3], [0.5030217200000007, 0.04894934000000083, 4.406564460000002])
    R_cv = cv2.Rodrigues(np.array([1.6882754799999993, 1.0483220499999997, -0.41955852000000016]))[0]
    np.testing.assert_allclose(R[0], R_cv, rtol=0, atol=1e-15)
    assert rig.metadata["adjusted"] is False and rig.metadata["error"] == 0.0


@needs_shared
def test_load_save_load_is_exact(tmp_path):
    first = load_rig(POSE2SIM_TOML)
    second = load_rig(save_rig(first, tmp_path / "a.toml"))
    _assert_same_values(first, second)
    assert save_rig(second, tmp_path / "b.toml").read_bytes() == POSE2SIM_TOML.read_bytes()


@needs_shared
def test_subset_and_a_changed_rotation_are_written_correctly(tmp_path):
    rig = load_rig(POSE2SIM_TOML).subset(["cam_03", "cam_01"])
    original = POSE2SIM_TOML.read_text().splitlines()
    text = rig_to_toml(rig)
    assert text.index("[cam_03]") < text.index("[cam_01]")
    assert "rotation = [ 0.8109654899999995, -2.1972129299999996, 1.3760277799999996]" in original
    assert all(line in original for line in text.splitlines())  # every line as Pose2Sim wrote it

    R = np.array(rig.cameras.R)
    R[1] = Rotation.from_rotvec([0.0, 0.0, 0.3]).as_matrix() @ R[1]
    moved = dataclasses.replace(rig, cameras=rig.cameras.replace(R=R))
    back = load_rig(save_rig(moved, tmp_path / "moved.toml"))
    np.testing.assert_allclose(np.asarray(back.cameras.R), R, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(back.cameras.R)[0], R[0])  # unchanged camera: stored rvec reused


def test_random_rig_round_trips(tmp_path):
    rig = _random_rig()
    once = load_rig(save_rig(rig, tmp_path / "once.toml"))
    _assert_same_values(rig, once, R_atol=2e-15)  # R -> Rodrigues text -> R: float64 rounding only
    assert once.metadata["note"] == "random" and once.metadata["units"] == "m"
    assert "distortions = [ " in (tmp_path / "once.toml").read_text()
    assert len(np.asarray(json.loads("[" + _line(tmp_path / "once.toml", "c4", "distortions") + "]"))) == 5
    twice = load_rig(save_rig(once, tmp_path / "twice.toml"))
    _assert_same_values(once, twice)  # from then on exact
    assert (tmp_path / "once.toml").read_bytes() == (tmp_path / "twice.toml").read_bytes()


def _line(path, table, key):
    lines = path.read_text().splitlines()
    start = lines.index(f"[{table}]")
    line = next(x for x in lines[start:] if x.startswith(f"{key} = "))
    return line.split("= ", 1)[1].strip()[1:-1]


def test_units_and_metadata_round_trip(tmp_path):
    meta = {"adjusted": True, "error": 0.25, "count": 3, "who": 'Ana "A" Łukasz\t\x7f', "ids": [1, 2],
            "nested": {"a b": 1.5, "c": [True, False]}, "empty": []}  # fmt: skip
    rig = dataclasses.replace(_random_rig(1, 2), metadata=meta)
    back = load_rig(save_rig(rig, tmp_path / "r.toml", units="mm"))
    assert back.units == "mm"
    np.testing.assert_allclose(np.asarray(back.cameras.t), np.asarray(rig.cameras.t) * 1000, rtol=1e-15)
    assert {k: v for k, v in back.metadata.items() if not k.startswith("_")} == {**meta, "units": "mm"}
    assert load_rig(tmp_path / "r.toml", units="m").units == "m"


def test_anipose_layout_and_fisheye(tmp_path):
    path = tmp_path / "calibration.toml"
    matrix = "matrix = [ [ 1400, 0, 960,], [ 0, 1400, 540,], [ 0, 0, 1,],]\n"
    path.write_text(
        '[cam_0]\nname = "B"\nsize = [ 1920, 1080,]\n' + matrix + "distortions = [ -0.1, 0.01, 0.0, 0.0,]\n"
        "rotation = [ 0.1, 0.2, 0.3,]\ntranslation = [ 1, 2, 3,]\nfisheye = true\n\n"
        "[cam_1]\nsize = [ 1920, 1080,]\n" + matrix + "distortions = [ 0.1, 0.0, 0.0, 0.0,]\n"
        "rotation = [ [ 1, 0, 0,], [ 0, 0, -1,], [ 0, 1, 0,],]\ntranslation = [ 0, 0, 0,]\nfisheye = true\n\n"
        "[metadata]\nadjusted = true\nerror = 0.5\n"
    )
    rig = load_rig(path)
    assert rig.names == ("B", "cam_1") and rig.cameras.model == "fisheye"
    np.testing.assert_array_equal(np.asarray(rig.cameras.R)[1], [[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    np.testing.assert_array_equal(np.asarray(rig.cameras.dist)[0], [-0.1, 0.01, 0, 0, 0])
    text = rig_to_toml(rig)
    assert text.startswith('[cam_0]\nname = "B"\n') and "fisheye = true" in text
    assert "distortions = [ -0.1, 0.01, 0.0, 0.0]" in text
    _assert_same_values(rig, load_rig(save_rig(rig, tmp_path / "out.toml")), R_atol=1e-15)


# -------------------------------------------------------------------------------------------- Qualisys


@needs_shared
@pytest.mark.parametrize("qca", [QCA_TRIALS, QCA_CALIB], ids=["trials", "calibration"])
def test_qualisys_matches_pose2sim_toml(qca):
    ref, rig = load_rig(POSE2SIM_TOML), load_rig(qca)
    assert len(rig) == 4 and rig.units == "m" and rig.metadata["_source"] == str(qca)
    prefix = "cam_" if qca == QCA_TRIALS else "cam"
    assert rig.names == tuple(f"{prefix}0{i}" for i in range(1, 5))
    a, b = _arrays(rig), _arrays(ref)
    np.testing.assert_allclose(a["K"], b["K"], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(a["image_size"], b["image_size"])
    np.testing.assert_allclose(a["R"], b["R"], rtol=0, atol=2e-15)
    np.testing.assert_allclose(a["t"], b["t"], rtol=0, atol=2e-15)
    np.testing.assert_allclose(a["dist"][:, :4], b["dist"][:, :4] * 64, rtol=1e-12)  # Pose2Sim divided by 64
    np.testing.assert_array_equal(a["dist"][:, 4], 0.0)
    np.testing.assert_array_equal(a["dist"][0], [-0.046183, 0.139983, 0.000608, 0.00069, 0.0])
    # the centres are the transform's x, y, z (mm)
    np.testing.assert_allclose(rig.centers[0], [1.4602323709212087, -1.9091590482454608, 1.8965058524092062])
    mm = read_qualisys(qca, units="mm")
    np.testing.assert_allclose(np.asarray(mm.cameras.t), a["t"] * 1000, rtol=1e-13)


@needs_shared
def test_qualisys_to_toml_and_back(tmp_path):
    rig = load_rig(QCA_TRIALS)
    back = load_rig(save_rig(rig, tmp_path / "q.toml"))
    _assert_same_values(rig, back, R_atol=2e-15)
    assert back.metadata["_source"] == str(tmp_path / "q.toml")


@needs_shared
@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('focalLengthU="107599.671875" ', "", "intrinsic.focalLengthU"),
        ('centerPointV="60680.792969"', 'centerPointV="abc"', "intrinsic.centerPointV"),
        ('r11="0.5536380477336265"', 'r11="2.0"', "transform"),
        ('<fov_video bottom="1919" left="0" right="1087" top="0"/>', "", "fov_video"),
    ],
)
def test_malformed_qualisys(tmp_path, old, new, field):
    text = QCA_TRIALS.read_text()
    assert old in text
    bad = tmp_path / "bad.qca.txt"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(RigFileError) as err:
        load_rig(bad)
    msg = str(err.value)
    assert str(bad) in msg and "'cam_01'" in msg and f"'{field}'" in msg and "\n" not in msg


def test_invalid_xml_names_file_and_line(tmp_path):
    bad = tmp_path / "x.qca.txt"
    bad.write_text("<?xml version='1.0'?>\n<calibration>\n  <cameras>\n</calibration>\n")
    with pytest.raises(RigFileError, match=r"x\.qca\.txt: invalid XML: .*line 4"):
        load_rig(bad)


# ---------------------------------------------------------------------------------------------- OpenCV


@needs_shared
def test_opencv_left_intrinsics():
    rig = load_rig(OPENCV / "left_intrinsics.yml")
    assert rig.names == ("left_intrinsics",)
    K, dist, R, t, size = (v[0] for v in _arrays(rig).values())
    assert K[0, 0] == K[1, 1] == 5.3591573396163199e02
    assert (K[0, 2], K[1, 2]) == (3.4228315473308373e02, 2.3557082909788173e02)
    np.testing.assert_array_equal(
        dist,
        [-2.6637260909660682e-01, -3.8588898922304653e-02, 1.7831947042852964e-03, -2.8122100441115472e-04,
         2.3839153080878486e-01],
    )  # fmt: skip
    np.testing.assert_array_equal(size, [640, 480])
    np.testing.assert_array_equal(R, np.eye(3))
    np.testing.assert_array_equal(t, 0)


@needs_shared
def test_opencv_stereo_with_extrinsics(tmp_path):
    pattern = r"intrinsics\.yml: camera 'cam_02', field 'R': missing.*extrinsics"
    with pytest.raises(RigFileError, match=pattern):
        load_rig(OPENCV / "intrinsics.yml")
    R = Rotation.from_rotvec([0.001, -0.005, 0.002]).as_matrix()
    T = np.array([-0.0836, 0.0002, 0.001])
    fs = cv2.FileStorage(str(tmp_path / "extrinsics.yml"), cv2.FILE_STORAGE_WRITE)
    fs.write("R", R)
    fs.write("T", T.reshape(3, 1))
    fs.release()
    rig = read_opencv(OPENCV / "intrinsics.yml", extrinsics=tmp_path / "extrinsics.yml")
    assert rig.names == ("cam_01", "cam_02") and rig.metadata["image_size_estimated"] is True
    K, dist, Rs, ts, size = _arrays(rig).values()
    assert K[0, 0, 2] == 3.3568643204394891e02 and K[1, 1, 2] == 2.4205324573376600e02
    np.testing.assert_array_equal(dist[1], [-1.6916358306948096e-01, -1.1214173641213163e-01, 0, 0, 0])
    np.testing.assert_array_equal(Rs, [np.eye(3), R])
    np.testing.assert_array_equal(ts, [np.zeros(3), T])
    np.testing.assert_array_equal(size, [[671, 481], [669, 484]])


def test_opencv_xml_single_camera_and_bad_fields(tmp_path):
    K = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])

    def write(name, dist):
        fs = cv2.FileStorage(str(tmp_path / name), cv2.FILE_STORAGE_WRITE)
        fs.write("image_width", 640)
        fs.write("image_height", 480)
        fs.write("camera_matrix", K)
        fs.write("distortion_coefficients", np.asarray(dist, np.float64).reshape(-1, 1))
        fs.release()
        return tmp_path / name

    rig = load_rig(write("cam.xml", [0.1, -0.2, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]))
    np.testing.assert_array_equal(np.asarray(rig.cameras.K)[0], K)
    np.testing.assert_array_equal(np.asarray(rig.cameras.dist)[0], [0.1, -0.2, 0, 0, 0])
    with pytest.raises(RigFileError, match=r"cam8\.yml: camera 'cam8', field 'distortion_coefficients'"):
        load_rig(write("cam8.yml", [0.1, -0.2, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0]))
    with pytest.raises(RigFileError, match=r"cam3\.yml: camera 'cam3', field 'distortion_coefficients'"):
        load_rig(write("cam3.yml", [0.1, -0.2, 0.0]))


@needs_shared
@pytest.mark.parametrize("name", ["calibration.yml", "stereo_calib.xml"])
def test_opencv_image_lists_are_not_calibrations(name):
    with pytest.raises(RigFileError, match=rf"{name}: not a camera calibration"):
        load_rig(OPENCV / name)


def test_unknown_xml_and_missing_file(tmp_path):
    (tmp_path / "a.xml").write_text("<?xml version='1.0'?>\n<something/>\n")
    with pytest.raises(RigFileError, match=r"a\.xml: neither a Qualisys"):
        load_rig(tmp_path / "a.xml")
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_rig(tmp_path / "nope.toml")


# ----------------------------------------------------------------------------------------- bad TOMLs

GOOD_CAMERA = {
    "name": '"cam_1"',
    "size": "[ 640.0, 480.0]",
    "matrix": "[ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0], [ 0.0, 0.0, 1.0]]",
    "distortions": "[ 0.1, -0.05, 0.0, 0.0]",
    "rotation": "[ 0.1, 0.2, 0.3]",
    "translation": "[ 0.0, 0.0, 2.0]",
    "fisheye": "false",
}


def _toml(tmp_path, **changes):
    cam = {**GOOD_CAMERA, **changes}
    body = "".join(f"{k} = {v}\n" for k, v in cam.items() if v is not None)
    path = tmp_path / "bad.toml"
    path.write_text("[cam_0]\n" + body + '\n[cam_2]\nname = "cam_2"\n' + body.split("\n", 1)[1])
    return path


def test_good_toml_fixture_loads(tmp_path):
    rig = load_rig(_toml(tmp_path))
    assert rig.names == ("cam_1", "cam_2")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("matrix", None),
        ("matrix", "[ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0]]"),
        ("matrix", "[ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0], [ 0.0, 1.0]]"),
        ("matrix", "[ [ 500.0, 0.0, 320.0], [ 0.0, 500.0, 240.0], [ 0.0, 0.0, 2.0]]"),
        ("rotation", '"0.1, 0.2, 0.3"'),
        ("rotation", "[ 0.1, 0.2]"),
        ("rotation", "[ 0.1, nan, 0.3]"),
        ("rotation", "[ [ 1.0, 0.0, 0.0], [ 0.0, 1.0, 0.0], [ 0.0, 0.0, 2.0]]"),
        ("rotation", None),
        ("translation", "[ 0.0, 2.0]"),
        ("translation", "[ 0.0, inf, 2.0]"),
        ("distortions", "[ 0.1, -0.05, 0.0]"),
        ("distortions", "[ 0.1, -0.05, 0.0, 0.0, 0.0, 0.0]"),
        ("distortions", None),
        ("size", '[ "640", 480.0]'),
        ("size", "[ true, 480.0]"),
        ("size", "[ 0.0, 480.0]"),
        ("size", None),
        ("fisheye", '"no"'),
        ("name", "3"),
    ],
)
def test_malformed_toml_names_file_camera_and_field(tmp_path, field, value):
    path = _toml(tmp_path, **{field: value})
    with pytest.raises(RigFileError) as err:
        load_rig(path)
    msg = str(err.value)
    camera = "'cam_0'" if field == "name" else "'cam_1'"
    assert msg.startswith(f"{path}: camera {camera}, field '{field}': "), msg
    assert "\n" not in msg


def test_toml_rig_level_errors(tmp_path):
    cases = {
        "syntax": ('[cam_1]\nname = "cam_1"\nsize = [ 640.0 480.0]\n', r"invalid TOML: .*line 3"),
        "empty": ("[metadata]\nerror = 0.0\n", "no camera tables"),
        "units": (_toml(tmp_path).read_text() + '[metadata]\nunits = "cm"\n', "field 'metadata.units'"),
        "dup": (_toml(tmp_path).read_text().replace('"cam_2"', '"cam_1"'), "'cam_1', field 'name': dup"),
        "mixed": (_toml(tmp_path).read_text().replace("false", "true", 1), "camera 'cam_2', field 'fisheye'"),
        "scalar": ("answer = 42\n" + _toml(tmp_path).read_text(), "field 'answer': expected a camera table"),
    }
    for name, (text, pattern) in cases.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        with pytest.raises(RigFileError, match=rf"{name}\.toml: .*{pattern}"):
            load_rig(path)


def test_unknown_camera_names_file_camera_and_field(tmp_path):
    path = _toml(tmp_path)
    calls = (lambda: load_rig(path, cameras=["cam_2", "cam_09"]), lambda: load_rig(path).subset(["cam_09"]))
    for call in calls:
        with pytest.raises(UnknownCameraError) as err:
            call()
        assert isinstance(err.value, KeyError) and isinstance(err.value, RigFileError)
        assert str(err.value).startswith(f"{path}: no camera named 'cam_09' (field 'name'); cameras are")
    assert load_rig(path, cameras=["cam_2"]).names == ("cam_2",)


def test_match_views_by_normalised_name(tmp_path):
    rig = load_rig(_toml(tmp_path))
    names = list(rig.names)  # cam_1, cam_2, ...
    views = [n.replace("_", "").upper() for n in names[::-1]]  # "CAM2", "CAM1": other spelling, other order
    matched = rig.match(views)
    assert matched.names == tuple(names[::-1])
    np.testing.assert_array_equal(matched.cameras.K, rig.cameras.K[::-1])
    with pytest.raises(UnknownCameraError, match="no camera matches view 'cam9'"):
        rig.match(["cam9"])


def test_unwritable_rig_leaves_existing_file(tmp_path):
    rig = _random_rig(2, 2)
    target = save_rig(rig, tmp_path / "r.toml")
    before = target.read_bytes()
    t = np.array(rig.cameras.t)
    t[1, 0] = np.nan
    with pytest.raises(RigFileError, match=r"r\.toml: cannot write: camera 'c1', field 't': not finite"):
        save_rig(dataclasses.replace(rig, cameras=rig.cameras.replace(t=t)), target)
    R = np.array(rig.cameras.R)
    R[0] *= 1.01
    with pytest.raises(RigFileError, match=r"camera 'c0', field 'R': not a rotation"):
        save_rig(dataclasses.replace(rig, cameras=rig.cameras.replace(R=R)), target)
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["r.toml"]


# ------------------------------------------------------------------------------------- tables, JSON


@needs_shared
def test_camera_table_and_json():
    rig = load_rig(QCA_TRIALS)
    rows = camera_table(rig)
    assert [r["name"] for r in rows] == list(rig.names)
    assert rows[0]["size"] == "1088x1920" and rows[0]["fx_px"] == 1681.244873046875
    np.testing.assert_allclose(rows[2]["center_m"], [-3.21686586729648, 2.2311786368869416, 2.08819103027083])
    assert rows[2]["distance_m"] == pytest.approx(np.linalg.norm(rows[2]["center_m"]))
    assert camera_table(rig.to_units("mm"))[2]["center_m"] == pytest.approx(rows[2]["center_m"])
    text = format_camera_table(rig)
    assert len(text.splitlines()) == 5 and "cam_04" in text and "1088x1920" in text
    data = json.loads(json.dumps(rig_to_json_dict(rig)))
    assert data["names"] == list(rig.names) and data["units"] == "m" and data["model"] == "pinhole"
    np.testing.assert_array_equal(data["K"], np.asarray(rig.cameras.K))
    np.testing.assert_allclose(data["centers"], [r["center_m"] for r in rows])
    np.testing.assert_allclose(Rotation.from_rotvec(data["rvec"]).as_matrix(), data["R"], atol=1e-15)
    assert len(data["dist"][0]) == 5 and data["image_size"][0] == [1088.0, 1920.0]
