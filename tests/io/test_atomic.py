"""Atomic outputs (`lift3d.io.atomic`): one file, or a command's set of files, all or none; paths checked first."""

import errno
import json
import os
import signal
import threading

import numpy as np
import pytest

from lift3d.errors import Lift3DError, OutputError
from lift3d.io import atomic
from lift3d.io.atomic import (
    OutputSet,
    atomic_path,
    atomic_write,
    block_commits,
    check_output,
    discard_temporaries,
    write_failure_report,
    write_json,
)
from lift3d.io.motion import write_motion


def files(folder):
    """Every file under `folder`, relative, sorted (temporary files included: they start with a dot)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# --- one file -------------------------------------------------------------------------------------------------


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(target) as f:
        f.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "old" and files(tmp_path) == ["a.txt"]
    with atomic_write(tmp_path / "sub" / "b.bin", "wb") as f:
        f.write(b"new")
    assert (tmp_path / "sub" / "b.bin").read_bytes() == b"new" and files(tmp_path) == ["a.txt", "sub/b.bin"]


def test_full_disk_is_one_line_naming_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    write_json(target, {"good": 1})
    before = target.read_bytes()
    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OutputError, match=r"r\.json: cannot write: no space left on the disk") as err:
        write_json(target, {"good": 2})
    assert isinstance(err.value, Lift3DError) and isinstance(err.value, OSError) and "\n" not in str(err.value)
    assert target.read_bytes() == before and files(tmp_path) == ["r.json"]


def test_atomic_path_for_writers_that_open_the_file(tmp_path):
    target = tmp_path / "clip.c3d"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".c3d" and tmp.parent == tmp_path and tmp.name.startswith(".clip.c3d.")
        tmp.write_bytes(b"c3d")
    assert target.read_bytes() == b"c3d" and files(tmp_path) == ["clip.c3d"]
    with pytest.raises(ValueError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("writer failed")
    assert target.read_bytes() == b"c3d" and files(tmp_path) == ["clip.c3d"]


def test_a_folder_is_not_replaced_by_a_file(tmp_path):
    (tmp_path / "out.trc").mkdir()
    with pytest.raises(OutputError, match=r"out\.trc: is a folder"):
        write_json(tmp_path / "out.trc", {})
    assert (tmp_path / "out.trc").is_dir()


# --- checks before the work -----------------------------------------------------------------------------------


def test_check_output_refuses_what_cannot_be_written(tmp_path):
    deep = tmp_path / "new" / "deeper" / "t.trc"
    assert check_output(deep, (".trc", ".csv")) == deep
    assert not (tmp_path / "new").exists()  # checking creates nothing
    cases = {
        tmp_path: r"is a folder; name a file \(e\.g\. .*NAME\.trc\)",
        tmp_path / "t.xyz": r"t\.xyz: unknown extension '\.xyz'; use \.trc or \.csv",
        tmp_path / "t": r"no extension; use \.trc or \.csv",
    }
    (tmp_path / "file").write_text("")
    cases[tmp_path / "file" / "t.trc"] = r"file is a file, not a folder"
    for path, message in cases.items():
        with pytest.raises(OutputError, match=message):
            check_output(path, (".trc", ".csv"))
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "file", folder=True)
    assert check_output(tmp_path / "a" / "b", folder=True) == tmp_path / "a" / "b"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused_up_front(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"ro/t\.trc: cannot write in .*ro: permission denied"):
            check_output(ro / "t.trc", (".trc",))
        with pytest.raises(OutputError, match=r"t\.trc: cannot write: permission denied"):
            write_json(ro / "t.trc", {})
    finally:
        ro.chmod(0o755)


def test_read_only_folder_simulated(tmp_path, monkeypatch):
    """The same as above for any user (root ignores permission bits): the folder refuses new files."""
    monkeypatch.setattr(atomic.os, "access", lambda path, mode: False)
    with pytest.raises(OutputError, match=r"output .*t\.trc: cannot write in .*: permission denied"):
        check_output(tmp_path / "t.trc", (".trc",))
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match=r"t\.trc: cannot write: permission denied"):
        write_json(tmp_path / "t.trc", {})
    assert files(tmp_path) == []


def test_full_disk_is_refused_up_front(tmp_path, monkeypatch):
    real = os.statvfs

    class Full:
        def __init__(self, st):
            self.f_bavail = self.f_bfree = 0
            self.f_flag = st.f_flag

    monkeypatch.setattr(atomic.os, "statvfs", lambda p: Full(real(p)))
    with pytest.raises(OutputError, match=r"t\.trc: cannot write in .*: no space left on the disk"):
        check_output(tmp_path / "t.trc", (".trc",))


# --- a set of outputs: all or none ----------------------------------------------------------------------------


def motion(path):
    return write_motion(path, np.zeros((3, 2, 3)), joint_names=["a", "b"], fps=30.0, units="m")


def test_set_commits_all_files_at_the_end(tmp_path):
    with OutputSet() as outputs:
        a = motion(tmp_path / "t.trc")
        b = motion(tmp_path / "t.c3d")  # ezc3d writes a path itself (atomic_path)
        assert not a.exists() and not b.exists()  # staged: nothing at the targets before the commit
    assert outputs.written == [a, b] and files(tmp_path) == ["t.c3d", "t.trc"]


def test_set_rolls_back_everything_on_error(tmp_path, monkeypatch):
    (tmp_path / "t.trc").write_text("earlier trc")
    with pytest.raises(ValueError, match="unknown motion format"), OutputSet():
        motion(tmp_path / "t.trc")
        motion(tmp_path / "new" / "t.csv")
        motion(tmp_path / "t.xyz")
    assert files(tmp_path) == ["t.trc"] and (tmp_path / "t.trc").read_text() == "earlier trc"
    assert not (tmp_path / "new").exists()  # folders made for the outputs go too
    # a full disk on the second file: the first is not written either
    real = atomic.os.fsync
    calls = []

    def second_fails(fd):
        calls.append(fd)
        return no_space() if len(calls) == 2 else real(fd)

    monkeypatch.setattr(atomic.os, "fsync", second_fails)
    with pytest.raises(OutputError, match=r"t\.csv: cannot write: no space left"), OutputSet():
        motion(tmp_path / "t.trc")
        motion(tmp_path / "t.csv")
    assert files(tmp_path) == ["t.trc"] and (tmp_path / "t.trc").read_text() == "earlier trc"


def test_nested_sets_commit_with_the_outer_one(tmp_path):
    with pytest.raises(KeyError), OutputSet():
        with OutputSet():
            write_json(tmp_path / "inner.json", {})
        write_json(tmp_path / "outer.json", {})
        raise KeyError("later step failed")
    assert files(tmp_path) == []
    with OutputSet() as outer:
        with OutputSet():
            write_json(tmp_path / "inner.json", {})
        assert files(tmp_path) == [f for f in files(tmp_path) if f.startswith(".")]  # still staged
    assert outer.written == [tmp_path / "inner.json"] and files(tmp_path) == ["inner.json"]


def test_written_twice_in_a_set_the_last_counts(tmp_path):
    with OutputSet():
        write_json(tmp_path / "a.json", {"v": 1})
        write_json(tmp_path / "a.json", {"v": 2})
    assert json.loads((tmp_path / "a.json").read_text()) == {"v": 2} and files(tmp_path) == ["a.json"]


def test_blocked_commits_touch_nothing(tmp_path):
    (tmp_path / "a.json").write_text("earlier")
    block_commits()
    try:
        with pytest.raises(KeyboardInterrupt), OutputSet():
            write_json(tmp_path / "a.json", {"v": 1})
    finally:
        block_commits(False)
    assert files(tmp_path) == ["a.json"] and (tmp_path / "a.json").read_text() == "earlier"


def test_discard_temporaries_removes_files_being_written(tmp_path):
    with pytest.raises(OutputError, match="a.json: cannot write"), OutputSet():  # the staged file is gone
        write_json(tmp_path / "a.json", {})
        assert len(files(tmp_path)) == 1
        discard_temporaries()
        assert files(tmp_path) == []
    assert files(tmp_path) == []


def test_ctrl_c_during_commit_waits_for_the_renames(tmp_path, monkeypatch):
    """Ctrl-C while a set renames its files acts after the renames: never half a set."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals need the main thread")
    real = atomic.os.replace
    done = []

    def replace(src, dst):
        if not done:
            signal.raise_signal(signal.SIGINT)  # arrives between the first and the second rename
        done.append(dst)
        return real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), OutputSet():
        write_json(tmp_path / "a.json", {})
        write_json(tmp_path / "b.json", {})
    assert files(tmp_path) == ["a.json", "b.json"]


def test_failure_report_never_replaces_a_good_report(tmp_path):
    report = tmp_path / "rig.json"
    assert write_failure_report(report, {"status": "failed", "error": "first"})
    assert write_failure_report(report, {"status": "failed", "error": "second"})  # a failure replaces a failure
    assert json.loads(report.read_text())["error"] == "second"
    write_json(report, {"status": "ok"})
    good = report.read_bytes()
    assert not write_failure_report(report, {"status": "failed", "error": "third"})
    report.write_text("not json")
    assert not write_failure_report(report, {"status": "failed"})
    report.write_bytes(good)
    with OutputSet():  # written at once even inside a set: the set's own files are rolled back on the failure
        assert write_failure_report(tmp_path / "other.json", {"status": "failed"})
        assert (tmp_path / "other.json").exists()
    assert report.read_bytes() == good
