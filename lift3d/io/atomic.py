"""Atomic file writes: output is written to a temporary file beside the target, then renamed.

A crash, a bad input or Ctrl-C never leaves a truncated file behind; the previous file, if any, stays intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "write_json"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs) -> Iterator[IO[Any]]:
    """Open a temporary file next to `path`; on success it replaces `path` atomically.

    Args:
        path: Destination file. Its folder is created if missing.
        mode: "w" (text, UTF-8 by default) or "wb".
        **open_kwargs: Passed to `open` (e.g. `newline`).

    Yields:
        The open temporary file.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "w":
        open_kwargs.setdefault("encoding", "utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs get the usual permissions
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int = 2) -> Path:
    """Write JSON atomically (numpy arrays and scalars are converted to lists and numbers).

    Args:
        path: Destination `.json` file.
        data: JSON-serialisable data; numpy values are converted.
        indent: Indentation of the output.

    Returns:
        The path written.
    """

    def default(o):
        if hasattr(o, "tolist"):
            return o.tolist()
        if isinstance(o, os.PathLike):
            return os.fspath(o)
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")

    with atomic_write(path) as f:
        json.dump(data, f, indent=indent, default=default)
        f.write("\n")
    return Path(path)
