"""3D writers and readers: TRC, C3D, CSV, npz round trips, TRC header, Y-up axes, atomic writes, bad files."""

from pathlib import Path

import ezc3d
import numpy as np
import pytest

import lift3d.io.motion as motion
from lift3d.core.motion import yup_to_zup, zup_to_yup
from lift3d.errors import MotionFileError
from lift3d.io.motion import read_motion, write_motion

NAMES = ("nose", "left_hip", "right_hip", "neck")
# what each format keeps: coordinate tolerance (float32 in C3D, 6 decimals in text) and diagnostics
FORMATS = {"trc": (5e-7, ()), "c3d": (1e-6, ("error",)), "csv": (5e-7, ("error", "ncams", "score")),
           "npz": (0.0, ("error", "ncams", "score"))}  # fmt: skip


def _motion(t=12, seed=0):
    rng = np.random.default_rng(seed)
    points = rng.normal(0, 1, (t, len(NAMES), 3))
    points[2, 1] = np.nan  # a missing joint
    points[t // 2] = np.nan  # a missing frame
    error = rng.uniform(0, 25, (t, len(NAMES)))
    ncams = rng.integers(2, 5, (t, len(NAMES))).astype(float)
    score = rng.uniform(0, 1, (t, len(NAMES)))
    for a in (error, ncams, score):
        a[np.isnan(points).any(-1)] = np.nan
    return points, {"error": error, "ncams": ncams, "score": score}


@pytest.mark.parametrize("ext", list(FORMATS))
def test_round_trip_keeps_values_and_nans(tmp_path, ext):
    points, diag = _motion()
    frames = np.arange(len(points)) + 30
    kw = {"joint_names": NAMES, "fps": 60, "units": "m", "frame_ids": frames}
    path = write_motion(tmp_path / f"walk.{ext}", points, **kw, **diag)
    m = read_motion(path)
    tol, kept = FORMATS[ext]
    assert m.joint_names == NAMES and m.fps == 60.0 and m.units == "m" and m.source == str(path)
    np.testing.assert_array_equal(m.frame_ids, frames)
    np.testing.assert_allclose(m.time, frames / 60, atol=1e-6)
    np.testing.assert_array_equal(np.isnan(m.points), np.isnan(points))
    np.testing.assert_allclose(m.points, points, rtol=0, atol=tol)
    for key in ("error", "ncams", "score"):
        got = getattr(m, key)
        if key not in kept:
            assert got is None
            continue
        step = np.nanmax(diag["error"]) / 255 if ext == "c3d" else 0  # C3D residuals have 256 levels
        atol = {"csv": {"error": 5e-5, "ncams": 0, "score": 1e-6}[key], "c3d": step / 2 + 1e-6, "npz": 0}[ext]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(diag[key]))
        np.testing.assert_allclose(got, diag[key], rtol=1e-6 if key == "score" else 0, atol=atol)


@pytest.mark.parametrize("ext", list(FORMATS))
def test_units_are_recorded_and_converted(tmp_path, ext):
    points, _ = _motion()
    path = write_motion(tmp_path / f"m.{ext}", points, joint_names=NAMES, fps=100, units="m", file_units="mm")
    m = read_motion(path)
    assert m.units == "mm" and m.fps == 100.0
    np.testing.assert_allclose(m.points, points * 1000, atol=1e-3 if ext != "c3d" else 2e-4)
    np.testing.assert_allclose(m.to_units("m").points, points, atol=1e-6)


def test_trc_header_fields(tmp_path):
    points, diag = _motion(t=3)
    points[1] = [[0.1, 0.2, 0.3], [np.nan] * 3, [1.0, -2.0, 3.5], [4.0, 5.0, 6.0]]
    path = write_motion(tmp_path / "trial.trc", points, joint_names=NAMES, fps=59.94, units="m",
                        frame_ids=[10, 11, 12], **diag)  # fmt: skip
    lines = path.read_text().split("\n")
    assert lines[0] == "PathFileType\t4\t(X/Y/Z)\ttrial.trc"
    assert lines[1].split("\t") == ["DataRate", "CameraRate", "NumFrames", "NumMarkers", "Units",
                                    "OrigDataRate", "OrigDataStartFrame", "OrigNumFrames"]  # fmt: skip
    assert lines[2].split("\t") == ["59.94", "59.94", "3", "4", "m", "59.94", "10", "3"]
    assert lines[3] == "Frame#\tTime\tnose\t\t\tleft_hip\t\t\tright_hip\t\t\tneck\t\t"
    assert lines[4] == "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\tX3\tY3\tZ3\tX4\tY4\tZ4"
    assert lines[6].split("\t") == ["11", f"{11 / 59.94:.6f}", "0.100000", "0.200000", "0.300000", "", "", "",
                                    "1.000000", "-2.000000", "3.500000",
                                    "4.000000", "5.000000", "6.000000"]  # fmt: skip
    assert len(lines) == 9 and lines[8] == ""  # 5 header lines, 3 frames, final newline
    assert read_motion(path).fps == 59.94


def test_trc_in_the_layout_of_other_writers(tmp_path):
    """OpenSim's examples: a blank line after the axis row, rows whose trailing empty fields are cut."""
    text = ("PathFileType\t4\t(X/Y/Z)\tdemo.trc\n"
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
            "100.00\t100.00\t2\t2\tmm\t100.00\t1\t2\n"
            "Frame#\tTime\tR.ASIS\t\t\tL.ASIS\t\t\t\n"
            "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\t\n"
            "\n"
            "1\t0.000\t10.5\t20\t30\n"
            "2\t0.010\t11.5\t21\t31\t40\t50\t60\t\n")  # fmt: skip
    (tmp_path / "demo.trc").write_text(text)
    m = read_motion(tmp_path / "demo.trc")
    assert m.joint_names == ("R.ASIS", "L.ASIS") and m.units == "mm" and m.fps == 100.0
    np.testing.assert_array_equal(m.frame_ids, [1, 2])
    np.testing.assert_array_equal(m.points[0, 1], [np.nan] * 3)
    np.testing.assert_array_equal(m.points[1], [[11.5, 21, 31], [40, 50, 60]])


def test_y_up_is_pose2sims_rotation(tmp_path):
    p = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(zup_to_yup(p), [2.0, 3.0, 1.0])  # Pose2Sim: X->Y, Y->Z, Z->X columns
    R = zup_to_yup(np.eye(3)).T  # the matrix of the map: proper rotation sending world +Z (up) to +Y
    assert np.isclose(np.linalg.det(R), 1.0) and np.allclose(R @ [0, 0, 1], [0, 1, 0])
    points, diag = _motion()
    np.testing.assert_array_equal(yup_to_zup(zup_to_yup(points)), points)
    for ext in ("trc", "c3d", "npz"):
        path = write_motion(tmp_path / f"y.{ext}", points, joint_names=NAMES, fps=30, y_up=True, **diag)
        m = read_motion(path)
        np.testing.assert_allclose(m.points, zup_to_yup(points), atol=1e-6)
        np.testing.assert_allclose(yup_to_zup(m.points), points, atol=1e-6)
        assert m.y_up is {"trc": None, "c3d": True, "npz": True}[ext]
    assert read_motion(write_motion(tmp_path / "z.c3d", points, joint_names=NAMES, fps=30)).y_up is False


def test_c3d_parameters(tmp_path):
    points, diag = _motion()
    path = write_motion(tmp_path / "c.c3d", points * 1000, joint_names=NAMES, fps=50, units="mm",
                        frame_ids=np.arange(len(points)) + 5, error=diag["error"])  # fmt: skip
    c3d = ezc3d.c3d(str(path))
    point = c3d["parameters"]["POINT"]
    assert point["LABELS"]["value"] == list(NAMES) and point["UNITS"]["value"] == ["mm"]
    assert point["RATE"]["value"][0] == 50 and c3d["header"]["points"]["first_frame"] == 5
    residual = c3d["data"]["meta_points"]["residuals"][0].T
    np.testing.assert_array_equal(residual < 0, np.isnan(points).any(-1))  # missing: residual -1
    with pytest.raises(ValueError, match="consecutive frame_ids"):
        write_motion(tmp_path / "d.c3d", points, joint_names=NAMES, fps=50, frame_ids=[0, 2, *range(3, 13)])


def _failing_rows(*args, rows=motion._rows):
    yield next(rows(*args, chunk=2))
    raise RuntimeError("disk full")


def test_failed_write_leaves_the_previous_file(tmp_path, monkeypatch):
    points, diag = _motion()
    for ext in ("trc", "csv", "npz", "c3d"):
        path = write_motion(tmp_path / f"keep.{ext}", points, joint_names=NAMES, fps=60, **diag)
        before = path.read_bytes()

        def boom(*args, **kwargs):
            raise RuntimeError("disk full")

        if ext == "c3d":  # ezc3d writes to the temporary path itself: fail after a partial file
            monkeypatch.setattr(ezc3d.c3d, "write", lambda self, p: (Path(p).write_bytes(b"partial"), boom()))
        elif ext == "npz":
            monkeypatch.setattr(np, "savez", lambda f, **kw: (f.write(b"partial"), boom()))
        else:  # fail after the header and a first chunk of rows are written
            monkeypatch.setattr(motion, "_rows", _failing_rows)
        with pytest.raises(RuntimeError, match="disk full"):
            write_motion(path, points * 2, joint_names=NAMES, fps=60, **diag)
        monkeypatch.undo()
        assert path.read_bytes() == before
        np.testing.assert_allclose(read_motion(path).points, points, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.c3d", "keep.csv", "keep.npz", "keep.trc"]


def test_bad_inputs_and_files(tmp_path):
    points, _ = _motion(t=3)
    kw = {"joint_names": NAMES, "fps": 60}
    with pytest.raises(ValueError, match="unknown motion format '.fbx'"):
        write_motion(tmp_path / "a.fbx", points, **kw)
    with pytest.raises(ValueError, match=r"shape \(t, j, 3\)"):
        write_motion(tmp_path / "a.trc", points[..., :2], **kw)
    with pytest.raises(ValueError, match="unique joint names"):
        write_motion(tmp_path / "a.trc", points, joint_names=["a"] * 4, fps=60)
    with pytest.raises(ValueError, match=r"error must have shape \(3, 4\)"):
        write_motion(tmp_path / "a.csv", points, error=np.zeros((3, 3)), **kw)
    with pytest.raises(ValueError, match="units must be 'm' or 'mm'"):
        write_motion(tmp_path / "a.trc", points, units="cm", **kw)
    good = write_motion(tmp_path / "good.trc", points, **kw).read_text().split("\n")
    bad = tmp_path / "bad.trc"
    bad.write_text("\n".join(good[:6] + [good[6].replace("\t", "\tx", 1)] + good[7:]))
    with pytest.raises(MotionFileError, match=r"bad\.trc: line 7, column 2: not a number: 'x"):
        read_motion(bad)
    bad.write_text("\n".join(good[:6]))
    with pytest.raises(MotionFileError, match=r"bad\.trc: 1 data lines, field 'NumFrames' says 3"):
        read_motion(bad)
    bad.write_text("\n".join(good[:2] + [good[2].replace("\tm\t", "\tinch\t")] + good[3:]))
    with pytest.raises(MotionFileError, match=r"line 3: field 'Units': expected 'm' or 'mm', got 'inch'"):
        read_motion(bad)
    (tmp_path / "bad.csv").write_text("frame,time_s,a_x_m,a_y_m\n0,0,1,2\n")
    with pytest.raises(MotionFileError, match=r"bad\.csv: line 1: column 'a_z_m' missing"):
        read_motion(tmp_path / "bad.csv")
    (tmp_path / "bad.c3d").write_bytes(b"not a c3d file")
    with pytest.raises(MotionFileError, match=r"bad\.c3d: cannot read C3D"):
        read_motion(tmp_path / "bad.c3d")
