"""What the fuzz tests (``tests/*/test_fuzz_*.py``) share: hypothesis strategies for the bytes a reader may be
given, and the one check they all make.

Strategies:

- `random_bytes`: anything, biased towards the first bytes of real formats (zip, HDF5, XML, JSON, npy).
- `mutated(data)`: a valid file with one to three damages: truncation, a bit flip, bytes inserted, deleted,
  duplicated or overwritten, a line dropped, a number replaced by nan / inf / huge / negative / text.
- `mutated_tree(tree)`: a valid JSON / TOML document (nested dicts and lists) with keys deleted, values of
  the wrong type, lists shortened or grown; `dump_toml` writes such a tree back as TOML.

Check: `read_or_error(read, path)` calls the reader and accepts a result or a `Lift3DError` of the expected
class whose one-line message names the file; any other exception fails the example (hypothesis then shrinks it).

Settings: `fuzz_settings(n)`: n examples, no deadline, derandomized and without an example database, so
`make test` runs the same examples on every machine; ``LIFT3D_FUZZ_SCALE=20 pytest tests/io/test_fuzz_rigs.py``
runs 20 times as many (still derandomized: the same seed, more of them); ``LIFT3D_FUZZ_RANDOM=1`` with
``--hypothesis-seed=N`` explores other examples.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lift3d.errors import Lift3DError

__all__ = ["fuzz_settings", "random_bytes", "mutated", "mutated_tree", "dump_toml", "read_or_error"]


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings of a fuzz test: `max_examples` examples (times ``$LIFT3D_FUZZ_SCALE``, default 1, to
    fuzz longer by hand), reproducible (unless ``$LIFT3D_FUZZ_RANDOM`` is set), no deadline."""
    return settings(
        max_examples=max(1, round(max_examples * float(os.environ.get("LIFT3D_FUZZ_SCALE", "1")))),
        deadline=None,
        derandomize=not os.environ.get("LIFT3D_FUZZ_RANDOM"),
        database=None,
        print_blob=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,  # every example rewrites the same file in tmp_path
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


# -------------------------------------------------------------------------------------------------- bytes

MAGICS = (
    b"PK\x03\x04",  # zip (npz)
    b"\x89HDF\r\n\x1a\n",  # HDF5
    b"\x93NUMPY\x01\x00",  # npy
    b"\x80\x04\x95",  # pickle protocol 4
    b"<?xml version='1.0'?>\n<calibration>",
    b"<?xml version=\"1.0\"?>\n<opencv_storage>",
    b"%YAML:1.0\n---\n",
    b"{",
    b"[",
    b"PathFileType\t4\t(X/Y/Z)\tx.trc\n",
    b"frame,time_s\n",
    b"[board]\n",
    b"\x02\x50",  # C3D: parameter block 2, key 0x50
)

random_bytes = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda m, b: m + b, st.sampled_from(MAGICS), st.binary(max_size=200)),
)
"""Any bytes; half of them begin with the magic of one of the formats lift3d reads."""

SPECIAL_NUMBERS = (
    b"nan", b"NaN", b"-nan", b"inf", b"-inf", b"Infinity", b"1e999", b"-1e999", b"1e308", b"1e-320", b"-1", b"0",
    b"-0", b"0.5", b"99999999999999999999999", b"-99999999999999999999999", b"4294967297", b"2147483648",
    b"65536", b"\"12\"", b"x", b"", b"null", b"true", b"[]", b"{}", b"1,2", b"1 2",
)  # fmt: skip
"""What a number in a text file is replaced with."""

SPECIAL_CHUNKS = (
    b"\x00", b"\n", b"\r\n", b"\t", b" ", b",", b";", b":", b"=", b"\"", b"'", b"[", b"]", b"{", b"}", b"<", b">",
    b"#", b"%", b"-", b".", b"\\", b"\xff", b"\xc3", b"\xef\xbb\xbf", b"\n\n\n", b"nan", b"]]",
)  # fmt: skip

_NUMBER = re.compile(rb"(?<![\w.])-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def _position(n: int) -> st.SearchStrategy[int]:
    """A byte offset in [0, n), biased towards both ends (headers, zip directories, trailers)."""
    last = max(n - 1, 0)
    return st.one_of(st.integers(0, last), st.integers(0, min(last, 255)), st.integers(max(0, n - 256), last))


@st.composite
def _damage(draw, data: bytes) -> bytes:
    n = len(data)
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "overwrite", "duplicate", "line",
                                 "number", "number", "number"]))  # fmt: skip
    if n == 0:
        return draw(st.sampled_from(SPECIAL_CHUNKS))
    i = draw(_position(n))
    if kind == "truncate":
        return data[:i]
    if kind == "flip":
        return data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    if kind == "insert":
        chunk = draw(st.one_of(st.sampled_from(SPECIAL_CHUNKS), st.binary(min_size=1, max_size=8)))
        return data[:i] + chunk + data[i:]
    if kind == "delete":
        return data[:i] + data[i + draw(st.integers(1, 64)) :]
    if kind == "overwrite":
        chunk = draw(st.one_of(st.sampled_from(SPECIAL_CHUNKS), st.binary(min_size=1, max_size=8)))
        return data[:i] + chunk + data[i + len(chunk) :]
    if kind == "duplicate":
        length = draw(st.integers(1, 64))
        return data[: i + length] + data[i : i + length] + data[i + length :]
    if kind == "line":
        lines = data.split(b"\n")
        k = draw(st.integers(0, len(lines) - 1))
        return b"\n".join(lines[:k] + ([lines[k]] * 2 if draw(st.booleans()) else []) + lines[k + 1 :])
    numbers = list(_NUMBER.finditer(data))
    if not numbers:
        return data[:i]
    m = numbers[draw(st.integers(0, len(numbers) - 1))]
    return data[: m.start()] + draw(st.sampled_from(SPECIAL_NUMBERS)) + data[m.end() :]


@st.composite
def mutated(draw, data: bytes, max_damages: int = 3) -> bytes:
    """`data` with 1 to `max_damages` damages (see the module docstring)."""
    for _ in range(draw(st.integers(1, max_damages))):
        data = draw(_damage(data))
    return data


# -------------------------------------------------------------------------------------------- documents

wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1]),
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 0.5]),
    st.text(max_size=6),
    st.lists(st.one_of(st.integers(-3, 3), st.floats(), st.text(max_size=2)), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2),
)
"""Values of every JSON / TOML type, and the numbers readers trip on."""


def _slots(tree: Any, out: list) -> list:
    """Every (container, key) of a nested dict / list tree, depth first."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, list) else ()
    for key, value in items:
        out.append((tree, key))
        _slots(value, out)
    return out


@st.composite
def mutated_tree(draw, tree: Any, max_changes: int = 3) -> Any:
    """A deep copy of `tree` with 1 to `max_changes` changes: a key deleted, a value replaced by one of another
    type (`wrong_values`), a list shortened or grown, or the whole document replaced."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, max_changes))):
        slots = _slots(tree, [])
        if not slots or draw(st.integers(0, 30)) == 0:
            return draw(wrong_values)
        keyed = [s for s in slots if isinstance(s[0], dict)]
        pool = keyed if keyed and draw(st.booleans()) else slots
        container, key = pool[draw(st.integers(0, len(pool) - 1))]
        kind = draw(st.sampled_from(["delete", "replace", "replace", "shorten", "grow"]))
        value = container[key]
        if kind == "delete":
            del container[key]
        elif kind == "shorten" and isinstance(value, list) and value:
            del value[draw(st.integers(0, len(value) - 1)) :]
        elif kind == "grow" and isinstance(value, list):
            value.append(copy.deepcopy(value[-1]) if value and draw(st.booleans()) else draw(wrong_values))
        else:
            container[key] = draw(wrong_values)
    return tree


def _toml_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        items = [_toml_value(v) for v in value]
        return "[" + ", ".join(v for v in items if v is not None) + "]"
    if isinstance(value, dict):
        items = [(k, _toml_value(v)) for k, v in value.items()]
        return "{" + ", ".join(f"{json.dumps(str(k))} = {v}" for k, v in items if v is not None) + "}"
    return None  # TOML has no null: the key is left out


def dump_toml(tree: Any) -> str:
    """A dict tree as TOML: top-level dicts become tables, everything else is written inline; None is left
    out. A tree that is not a dict becomes a one-key document."""
    if not isinstance(tree, dict):
        tree = {"value": tree}
    def assignments(table: dict) -> list[str]:
        values = [(k, _toml_value(v)) for k, v in table.items() if not isinstance(v, dict) or table is not tree]
        return [f"{json.dumps(str(k))} = {v}" for k, v in values if v is not None]

    lines = assignments(tree)
    for key, table in tree.items():
        if isinstance(table, dict):
            lines += [f"[{json.dumps(str(key))}]", *assignments(table)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ check


def read_or_error(
    read: Callable[[Path], Any], path: Path, error: type[Lift3DError] = Lift3DError, names: str | None = None
) -> Any:
    """`read(path)`, or None if it raised `error` (a `Lift3DError`) with a one-line message naming `names`.

    Any other exception propagates and fails the example; so does a message that does not name the file (its
    name by default), spans several lines, or a RuntimeWarning (an overflow or NaN cast: data the reader
    did not check).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = read(path)
        except Lift3DError as err:
            message = str(err)
            assert isinstance(err, error), f"{type(err).__name__} is not a {error.__name__}: {message}"
            assert (names or path.name) in message, f"the message does not name {names or path.name}: {message}"
            assert "\n" not in message, f"a message of several lines: {message!r}"
            result = None
    numeric = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert not numeric, f"numeric warning while reading: {numeric[0].message}"
    return result
