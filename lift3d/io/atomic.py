"""Outputs written atomically, one file or a command's whole set: temporary files beside the targets, renamed
only on success.

- `atomic_write` (a file object) and `atomic_path` (a file name, for writers such as ezc3d or OpenCV's video
  writer that open the file themselves) write a hidden temporary file beside the target (``.NAME.XXXX.tmp``)
  and rename it over the target on success. A crash, a bad input or Ctrl-C never leaves a truncated file:
  the previous file, if any, stays intact.
- `OutputSet`: the outputs of one command, all or none. While a set is open (``with OutputSet() as
  outputs:``), every `atomic_write` / `atomic_path` made in its context writes its temporary file and leaves
  the rename to the set: on a clean exit the set renames them all; on any exception (an error, Ctrl-C) it
  deletes them, so every earlier file stays byte for byte. A file written inside an open set is therefore not
  at its path until the set commits. Sets nest: an inner set hands its files to the outer one.
- `check_output` (`OutputSet.add`): refuse an output path before any work is done: an existing folder, an
  unknown extension or none, a folder that cannot be written, a full disk.

Writing errors that are the environment's (a read-only folder, a full disk) become `lift3d.errors.OutputError`,
one line naming the path.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import json
import os
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from lift3d.errors import Lift3DError, OutputError

__all__ = [
    "OutputSet", "atomic_path", "atomic_write", "block_commits", "check_output", "deferred_interrupts",
    "discard_temporaries",
    "write_failure_report", "write_json",
]  # fmt: skip

_LOCK = threading.RLock()  # held while a set renames its files, and by `discard_temporaries`
_LIVE: set[str] = set()  # temporary files that exist now (written, or staged in a set)
_STATE = {"blocked": False}  # no set commits (after Ctrl-C: `block_commits`)
_ACTIVE: contextvars.ContextVar[OutputSet | None] = contextvars.ContextVar("lift3d_output_set", default=None)
# errors of the place written to (not of the data): turned into OutputError naming the path
_PLACE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO,
                 errno.EISDIR, errno.ENOTDIR, errno.EEXIST}  # fmt: skip


def _reason(err: OSError) -> str:
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the disk"
    if err.errno == errno.EROFS:
        return "read-only file system"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return err.strerror or str(err)


def _output_error(path: Path, err: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write: {_reason(err)}; any earlier file there is unchanged")


def _is_place_error(err: BaseException) -> bool:
    return isinstance(err, OSError) and not isinstance(err, Lift3DError) and err.errno in _PLACE_ERRNOS


def _one_of(suffixes: Iterable[str]) -> str:
    items = list(suffixes)
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else items[0]


def check_output(
    path: str | os.PathLike[str],
    suffixes: Iterable[str] | None = None,
    *,
    folder: bool = False,
    what: str = "output",
    hint: str = "",
) -> Path:
    """Refuse, before any work, an output path that cannot be written.

    Args:
        path: The file (or, with `folder`, the folder) to write.
        suffixes: Accepted extensions, lower case with the dot (e.g. ``(".trc", ".csv")``); None accepts any.
        folder: The output is a folder (created if missing); else a file.
        what: What the path is, for the message ("output", "report", ...).
        hint: Added to the message of an unknown extension.

    Returns:
        The path.

    Raises:
        OutputError: An existing folder where a file is meant (or a file where a folder is), an unknown
            extension or none, a parent that is a file, a folder that cannot be written, a full disk.
    """
    path = Path(path)
    label = f"{what} {path}"
    suffixes = None if suffixes is None else tuple(suffixes)
    if folder:
        if path.exists() and not path.is_dir():
            raise OutputError(f"{label}: is a file, not a folder")
    elif path.is_dir():
        example = f" (e.g. {path / ('NAME' + suffixes[0])})" if suffixes else ""
        raise OutputError(f"{label}: is a folder; name a file{example}")
    elif suffixes is not None and path.suffix.lower() not in suffixes:
        got = f"unknown extension {path.suffix!r}" if path.suffix else "no extension"
        raise OutputError(f"{label}: {got}; use {_one_of(suffixes)}{hint}")
    anchor = path if folder else path.parent
    anchor = anchor if str(anchor) else Path(".")
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise OutputError(f"{label}: {anchor} is a file, not a folder")
    if not os.access(anchor, os.W_OK | os.X_OK):
        writable = "read-only file system" if _read_only_fs(anchor) else "permission denied"
        raise OutputError(f"{label}: cannot write in {anchor}: {writable}")
    if _free_blocks(anchor) == 0:
        why = "not a disk (a virtual file system such as /proc)" if _total_blocks(anchor) == 0 else (
            "no space left on the disk")
        raise OutputError(f"{label}: cannot write in {anchor}: {why}")
    return path


def _free_blocks(folder: Path) -> int | None:
    """Blocks this user may still write on the folder's file system (None: unknown)."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bfree if getattr(os, "geteuid", lambda: 1)() == 0 else st.f_bavail


def _total_blocks(folder: Path) -> int | None:
    """Size of the folder's file system in blocks (0: a virtual one, e.g. /proc; None: unknown)."""
    try:
        return os.statvfs(folder).f_blocks
    except (OSError, AttributeError):
        return None


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; the folders created, outermost first."""
    missing = []
    p = folder
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        _remove_folders(missing[::-1])
        if isinstance(err, (FileExistsError, NotADirectoryError)):
            raise OutputError(f"{folder}: a parent is a file, not a folder") from None
        raise _output_error(folder, err) from None
    return missing[::-1]


def _remove_folders(folders: Iterable[Path]) -> None:
    """Remove folders that were created for outputs and are still empty (innermost first)."""
    for d in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()


def _new_temp(path: Path, suffix: str) -> tuple[int, str, list[Path]]:
    """A temporary file beside `path` (its folder created if missing): (fd, name, folders created)."""
    created = _make_parents(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as err:
        _remove_folders(created)
        raise _output_error(path, err) from None
    with _LOCK:
        _LIVE.add(tmp)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    active = _ACTIVE.get()
    if active is not None:
        active._folders.extend(created)
    return fd, tmp, created


def _discard(tmp: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    with _LOCK:
        _LIVE.discard(tmp)


def _replace(tmp: str, path: Path) -> None:
    """Rename a finished temporary file over its target."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file")
    try:
        os.replace(tmp, path)
    except OSError as err:
        raise _output_error(path, err) from None
    with _LOCK:
        _LIVE.discard(tmp)


def _finish(tmp: str, path: Path) -> None:
    """Hand a finished temporary file to the open set, or rename it over its target now."""
    active = _ACTIVE.get()
    if active is not None:
        active._stage(path, tmp)
    else:
        _replace(tmp, path)


def _fail_write(tmp: str, path: Path, created: list[Path], err: BaseException) -> BaseException:
    """Clean up after a failed write; the exception to raise."""
    _discard(tmp)
    _remove_folders(created)
    return _output_error(path, err) if _is_place_error(err) else err


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs) -> Iterator[IO[Any]]:
    """Open a temporary file next to `path`; on success it replaces `path` atomically (or, inside an open
    `OutputSet`, when the set commits).

    Args:
        path: Destination file. Its folder is created if missing.
        mode: "w" (text, UTF-8 by default) or "wb".
        **open_kwargs: Passed to `open` (e.g. `newline`).

    Yields:
        The open temporary file.

    Raises:
        OutputError: The target is a folder, or the place cannot be written (read-only, full disk).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', got {mode!r}")
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    with atomic_path(path) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary file name next to `path`, with its extension, for writers that open files themselves
    (ezc3d, OpenCV's VideoWriter); on success it replaces `path` (or joins the open `OutputSet`).

    Args:
        path: Destination file. Its folder is created if missing.

    Yields:
        The temporary path (an empty file exists there; the writer may replace it).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file")
    fd, tmp, created = _new_temp(path, ".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _finish(tmp, path)
    except BaseException as err:
        problem = _fail_write(tmp, path, created, err)
        if problem is err:
            raise
        raise problem from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Ctrl-C waits until the block is done (main thread only), then acts as it would have.

    Renaming a set's files, or deleting them, must not stop half way; nor may importing JAX (its extension
    modules can crash the process, SIGSEGV / SIGABRT, when a KeyboardInterrupt lands in their initialisation).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    except (ValueError, OSError):  # no signal handling here (an embedded interpreter)
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
            if caught and callable(previous):
                previous(signal.SIGINT, None)


class OutputSet:
    """The files one command writes, committed together: all of them, or none (see the module doc).

    Example::

        with OutputSet() as outputs:
            outputs.add("trial.trc", (".trc", ".csv"))  # checked now, before the work
            outputs.add("trial.csv", (".trc", ".csv"))
            ...  # the work; every atomic_write / atomic_path in here is staged
        # here both files are in place, or (on an exception) neither was touched

    Attributes:
        written: The files renamed into place by `commit` (empty until then; a nested set hands its files to
            the outer one, whose `written` lists them).
    """

    def __init__(self) -> None:
        self._staged: dict[Path, str] = {}  # target -> finished temporary file
        self._folders: list[Path] = []  # created for the outputs: removed on rollback when empty
        self._outer: OutputSet | None = None
        self._token: contextvars.Token | None = None
        self.written: list[Path] = []

    def add(self, path: str | os.PathLike[str], suffixes: Iterable[str] | None = None, **kwargs: Any) -> Path:
        """Check an output path before the work (`check_output`, same arguments); returns it as a `Path`."""
        return check_output(path, suffixes, **kwargs)

    def __enter__(self) -> OutputSet:
        self._outer = _ACTIVE.get()
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        _ACTIVE.reset(self._token)
        if exc_type is not None:
            self.rollback()
            return
        try:
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def _stage(self, path: Path, tmp: str) -> None:
        old = self._staged.pop(path, None)
        if old is not None and old != tmp:
            _discard(old)  # written twice: the last one counts
        self._staged[path] = tmp

    def commit(self) -> list[Path]:
        """Rename every staged file into place (or hand them to the outer set); returns the files renamed.

        Raises:
            OutputError: A target became a folder or cannot be replaced (nothing is renamed then, unless the
                file system fails half way).
            KeyboardInterrupt: Ctrl-C came first and the command is being stopped: nothing is renamed.
        """
        if self._outer is not None:
            for path, tmp in self._staged.items():
                self._outer._stage(path, tmp)
            self._outer._folders.extend(self._folders)
            self._staged, self._folders = {}, []
            return []
        with deferred_interrupts(), _LOCK:
            if _STATE["blocked"]:
                raise KeyboardInterrupt("interrupted before the outputs were written")
            for path in self._staged:
                if path.is_dir():
                    raise OutputError(f"{path}: is a folder; name a file")
            for path, tmp in list(self._staged.items()):
                _replace(tmp, path)
                del self._staged[path]
                self.written.append(path)
            self._folders = []
        return list(self.written)

    def rollback(self) -> None:
        """Delete every staged file (and the folders created for them, when empty); earlier files stay."""
        with deferred_interrupts():
            for tmp in self._staged.values():
                _discard(tmp)
            self._staged = {}
            _remove_folders(self._folders)
            self._folders = []


def block_commits(blocked: bool = True) -> None:
    """Stop (or, with False, allow again) every `OutputSet` from committing: after Ctrl-C nothing may be
    written, even by a command that carried on because something swallowed the KeyboardInterrupt.

    Args:
        blocked: True blocks commits (a commit then rolls back and raises KeyboardInterrupt); False allows them.
    """
    _STATE["blocked"] = bool(blocked)


def discard_temporaries(*, final: bool = False, timeout: float = 2.0) -> None:
    """Delete every temporary file lift3d is writing or holds in a set (after Ctrl-C).

    Args:
        final: No set may commit afterwards (the process is about to exit without unwinding).
        timeout: Seconds to wait for a set that is renaming its files right now to finish.
    """
    locked = _LOCK.acquire(timeout=timeout)
    try:
        if final:
            _STATE["blocked"] = True
        for tmp in list(_LIVE):
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _LIVE.discard(tmp)
    finally:
        if locked:
            _LOCK.release()


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int = 2) -> Path:
    """Write JSON atomically (numpy arrays and scalars are converted to lists and numbers).

    Args:
        path: Destination `.json` file.
        data: JSON-serialisable data; numpy values are converted.
        indent: Indentation of the output.

    Returns:
        The path written.
    """
    with atomic_write(path) as f:
        json.dump(data, f, indent=indent, default=_json_default)
        f.write("\n")
    return Path(path)


def write_failure_report(path: str | os.PathLike[str], data: dict[str, Any]) -> bool:
    """Write the JSON report of a failed run now (outside any open set), unless it would replace anything
    but an earlier failure report (a JSON object with ``"status": "failed"``): a failed rerun never destroys
    the report of a good run.

    Args:
        path: The report's path.
        data: The report, with ``"status": "failed"`` and the reason.

    Returns:
        Whether it was written.
    """
    path = Path(path)
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not (isinstance(old, dict) and old.get("status") == "failed"):
            return False
    token = _ACTIVE.set(None)
    try:
        write_json(path, data)
    except OutputError:
        return False
    finally:
        _ACTIVE.reset(token)
    return True
