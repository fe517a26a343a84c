"""Reading ``.npz`` and ``.npy`` files that may hold anything: `load_npz` and `load_npy`.

`numpy.load` trusts its input: a corrupt zip raises `zipfile.BadZipFile` or `zlib.error`, a damaged header asks
for terabytes, and with ``allow_pickle=True`` an object array runs whatever its pickle names. These readers
check every member's header against the bytes present, raise the caller's `Lift3DError` class naming the file
and the array, and never run a pickle's code: object arrays are refused, or (``pickled=True``, for the
Human3.6M files that are pickles by design) unpickled with `ArraysOnlyUnpickler`, which builds numpy arrays,
dtypes, scalars and plain containers and refuses every other class.

The one way lift3d reads ``.npz`` files it did not write itself: `lift3d.io.keypoints_npz`, `motion` and
`h36m_formats`, the predictions of `lift3d.eval`, the results `lift3d view` shows.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from lift3d.errors import Lift3DError

__all__ = ["load_npz", "load_npy", "ArraysOnlyUnpickler"]

_MAX_HEADER = 100_000  # bytes of an .npy header (numpy writes < 200; its own default limit is 10000)
_MULTIARRAY = getattr(np, "_core", None) or np.core  # numpy 2 moved numpy.core to numpy._core


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, dtypes, scalars and plain containers (dict, list, tuple, str, numbers) only."""

    _ALLOWED = {
        **{(m, name): getattr(np, name) for m in ("numpy", "numpy.core.numeric", "numpy._core.numeric")
           for name in ("dtype", "ndarray")},
        **{(m, name): getattr(_MULTIARRAY.multiarray, name) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
           for name in ("_reconstruct", "scalar")},
    }  # fmt: skip

    def find_class(self, module: str, name: str) -> Any:
        """The allowed numpy callables; anything else raises `pickle.UnpicklingError`."""
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays)") from None


class _Problem(ValueError):
    """A problem `_read_array` found itself (its message is shown as is)."""


def _read_array(f: IO[bytes], size: int, where: str, pickled: bool) -> np.ndarray:
    """One ``.npy`` stream of `size` bytes as an array; `_Problem` (or whatever a damaged stream raises)."""
    version = np.lib.format.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise _Problem(f"unsupported .npy version {version}")
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(f, max_header_size=_MAX_HEADER)
    if any(n < 0 for n in shape):
        raise _Problem(f"negative shape {shape}")
    count = int(np.prod(shape, dtype=object))
    if dtype.hasobject:
        if not pickled:
            raise _Problem(f"holds Python objects (dtype {dtype}): lift3d does not unpickle {where} files")
        arr = ArraysOnlyUnpickler(f).load()
        if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
            raise _Problem(f"the pickle holds a {type(arr).__name__}, the header says an array of shape {shape}")
        return arr
    nbytes = count * dtype.itemsize
    left = size - f.tell()
    if nbytes != left:
        raise _Problem(f"shape {shape} of {dtype} needs {nbytes} bytes, the file holds {left} (truncated or damaged)")
    if count == 0:
        return np.zeros(shape, dtype)
    if dtype.itemsize == 0:
        raise _Problem(f"{count} elements of the empty dtype {dtype}")
    data = bytearray(f.read(nbytes))
    if len(data) != nbytes or f.read(1):
        raise _Problem("truncated or damaged data")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)


def _describe(err: BaseException) -> str:
    """The problem on one line: a `_Problem` as is, anything else as "damaged (Type: message)"."""
    text = str(err) if isinstance(err, _Problem) else f"damaged ({type(err).__name__}: {err})"
    return " ".join(text.split())[:240]


def load_npz(path: str | os.PathLike, error: type[Lift3DError], *, pickled: bool = False) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (a zip of ``.npy`` members), checked.

    Args:
        path: The file.
        error: The `Lift3DError` subclass to raise (e.g. `KeypointFileError`).
        pickled: Unpickle object arrays with `ArraysOnlyUnpickler` (else they are refused).

    Returns:
        Array name -> array, in the file's order.

    Raises:
        FileNotFoundError: No such file.
        error: Not a zip, a damaged member, an object array (unless `pickled`), or a header that does not fit the
            data; the message names the file and the array.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as err:
        with open(path, "rb") as f:
            text = f.read(64).isascii()
        hint = "it holds text" if text else " ".join(f"{type(err).__name__}: {err}".split())[:200]
        raise error(f"{path}: not a readable .npz file (a zip of .npy arrays): {hint}") from None
    out: dict[str, np.ndarray] = {}
    with zf:
        for info in zf.infolist():
            name = info.filename.removesuffix(".npy")
            try:
                with zf.open(info) as f:
                    out[name] = _read_array(f, info.file_size, "npz", pickled)
            except Exception as err:  # anything a damaged member makes zipfile, zlib, pickle or numpy raise
                raise error(f"{path}: array {name!r}: {_describe(err)}") from None
    return out


def load_npy(path: str | os.PathLike, error: type[Lift3DError], *, pickled: bool = False) -> np.ndarray:
    """The array of an ``.npy`` file, checked (see `load_npz`).

    Raises:
        FileNotFoundError: No such file.
        error: A damaged or foreign file, or an object array unless `pickled`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        with open(path, "rb") as f:
            return _read_array(f, path.stat().st_size, "npy", pickled)
    except Exception as err:  # see load_npz
        raise error(f"{path}: not a readable .npy file: {_describe(err)}") from None
