"""The 3D points of a C3D file, read with numpy alone (`read_c3d_points`).

ezc3d writes lift3d's C3D files, but reading is done here: ezc3d loops forever on some damaged files (a
parameter record pointing back) and sizes its buffers from the header, so a damaged file could hang or exhaust a
process. This reader walks the parameter section with forward-only offsets, checks every size against the bytes
present and raises `MotionFileError` naming the file and the field.

C3D (c3d.org): a 512-byte header block (16-bit words: 1 = parameter block number and the 0x50 key, 2 = number of
points, 3 = analog values per frame, 4-5 = first and last frame (1-based), 7-8 = scale (negative: floating-point
data), 9 = first data block, 11-12 = frame rate); a parameter section (4-byte header whose last byte is 83 +
the processor type: 1 Intel, 2 DEC, 3 MIPS; then group and parameter records, each pointing to the next); data:
per frame, (x, y, z, residual word) per point then the analog values. The residual word's high byte is the
residual in units of ``|POINT:SCALE|`` (as ezc3d reads and writes it), its low byte the camera mask; negative
means no point.

Private to `lift3d.io`: `motion.read_c3d` uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lift3d.errors import MotionFileError

__all__ = ["read_c3d_points"]

_INTEL, _DEC, _MIPS = 84, 85, 86


def _floats(raw: bytes | np.ndarray, processor: int) -> np.ndarray:
    """float32 values of a processor's byte order and format, as float64."""
    raw = np.frombuffer(bytes(raw), np.uint8)
    if processor == _MIPS:
        return np.frombuffer(raw.tobytes(), ">f4").astype(np.float64)
    if processor == _DEC:  # VAX F-float: 16-bit words swapped, exponent biased by 2 more than IEEE
        return np.frombuffer(raw.reshape(-1, 2, 2)[:, ::-1].tobytes(), "<f4").astype(np.float64) / 4.0
    return np.frombuffer(raw.tobytes(), "<f4").astype(np.float64)


def _s8(byte: int) -> int:
    """A byte as a signed 8-bit integer."""
    return byte - 256 if byte > 127 else byte


def _int16(raw: bytes | np.ndarray, processor: int) -> np.ndarray:
    return np.frombuffer(bytes(raw), ">i2" if processor == _MIPS else "<i2").astype(np.int64)


def _parameters(buf: bytes, start: int, processor: int, fail) -> dict[tuple[str, str], tuple[int, tuple, bytes]]:
    """(GROUP, NAME) -> (type, dims, data bytes) of the parameter section starting at byte `start`."""
    groups: dict[int, str] = {}
    records: list[tuple[int, str, int, tuple, bytes]] = []
    pos, end = start + 4, len(buf)
    while pos + 2 <= end:
        n_chars, group = abs(_s8(buf[pos])), _s8(buf[pos + 1])
        if n_chars == 0 or group == 0:
            break  # the end of the section
        field = pos + 2 + n_chars  # the offset to the next record, from its own first byte
        if field + 2 > end:
            raise fail(f"parameter record at byte {pos} runs past the end of the file")
        name = buf[pos + 2 : field].decode("ascii", "replace").strip().upper()
        shown = repr(name if len(name) <= 24 else name[:21] + "...")
        offset = int(_int16(buf[field : field + 2], processor)[0])
        if group < 0:
            groups[-group] = name
        else:
            if field + 4 > end:
                raise fail(f"parameter {shown} at byte {pos} runs past the end of the file")
            kind, n_dims = _s8(buf[field + 2]), buf[field + 3]
            dims = tuple(buf[field + 4 : field + 4 + n_dims])
            data_start = field + 4 + n_dims
            size = abs(kind) * int(np.prod(dims, dtype=np.int64))
            if kind not in (-1, 1, 2, 4) or len(dims) != n_dims or data_start + size > end:
                raise fail(f"parameter {shown} at byte {pos}: malformed (type {kind}, {n_dims} dimensions)")
            records.append((group, name, kind, dims, buf[data_start : data_start + size]))
        if offset == 0:
            break  # the last record
        if field + offset <= pos:
            raise fail(f"parameter record {shown} at byte {pos} points back to byte {field + offset}")
        pos = field + offset
    return {(groups.get(g, ""), name): (kind, dims, data) for g, name, kind, dims, data in records}


def _number(param: tuple[int, tuple, bytes] | None, processor: int) -> float | None:
    """The first value of a numeric parameter (None if absent, text or empty)."""
    if param is None or param[0] not in (1, 2, 4) or not param[2]:
        return None
    kind, _, data = param
    if kind == 4:
        return float(_floats(data[:4], processor)[0])
    return float(_int16(data[:2], processor)[0]) if kind == 2 else float(data[0])


def _strings(param: tuple[int, tuple, bytes] | None) -> list[str]:
    """The strings of a character parameter (dims (length, count)); [] if absent or not text."""
    if param is None or param[0] != -1:
        return []
    _, dims, data = param
    length = dims[0] if dims else len(data)
    if length == 0:
        return []
    text = data.decode("latin-1")
    return [text[i : i + length].strip() for i in range(0, len(text), length)]


def read_c3d_points(path: Path) -> dict[str, Any]:
    """The points of a C3D file.

    Returns:
        ``points`` (t, j, 3) float64 as stored (NaN where there is no point), ``residual`` (t, j) (negative: no
        point), ``labels`` (list of str, as many as ``POINT:LABELS`` holds), ``units`` (str or None), ``rate``
        (float), ``first_frame`` (0-based int), ``y_screen`` (str or None) and ``lift3d_residuals`` (the file
        records lift3d's residual units).

    Raises:
        MotionFileError: Not a C3D file, or a header, parameter or data section that does not fit the file.
    """
    fail = lambda msg: MotionFileError(f"{path}: cannot read C3D: {msg}")  # noqa: E731
    try:
        buf = Path(path).read_bytes()
    except OSError as e:
        raise fail(f"cannot read ({e})") from None
    if len(buf) < 512 or buf[1] != 0x50 or buf[0] < 2:
        raise fail("not a C3D file (no 0x50 key in the header)")
    start = (buf[0] - 1) * 512
    if start + 4 > len(buf) or not _INTEL <= buf[start + 3] <= _MIPS:
        raise fail(f"not a C3D file (no parameter section at block {buf[0]})")
    processor = buf[start + 3]
    words = _int16(buf[:24], processor)  # header words 1-12, 0-based here
    params = _parameters(buf, start, processor, fail)
    n_points, n_analog = int(words[1]) & 0xFFFF, int(words[2]) & 0xFFFF
    first, last = int(words[3]) & 0xFFFF, int(words[4]) & 0xFFFF
    header_scale, header_rate = _floats(buf[12:16], processor)[0], _floats(buf[20:24], processor)[0]
    n_frames = last - first + 1 if last >= first else 0
    frames_param = _number(params.get(("POINT", "FRAMES")), processor)
    if frames_param is not None and n_frames == 0xFFFF and frames_param > n_frames:  # 16-bit header overflow
        n_frames = int(frames_param)
    data_block = int(words[8]) & 0xFFFF
    scale = _number(params.get(("POINT", "SCALE")), processor)
    scale = header_scale if scale is None else scale
    if not np.isfinite(header_scale) or not np.isfinite(scale):
        raise fail(f"parameter 'POINT:SCALE': not a number ({scale})")
    size = 4 if header_scale < 0 else 2
    frame_bytes = (4 * n_points + n_analog) * size
    offset = (data_block - 1) * 512
    if data_block < 2 or offset + n_frames * frame_bytes > len(buf):
        need = offset + n_frames * frame_bytes
        raise fail(f"{n_frames} frames of {n_points} points from block {data_block} need {need} bytes, the file "
                   f"has {len(buf)} (truncated or damaged)")  # fmt: skip
    raw = buf[offset : offset + n_frames * frame_bytes]
    values = _floats(raw, processor) if size == 4 else _int16(raw, processor).astype(np.float64)
    values = values.reshape(n_frames, 4 * n_points + n_analog)[:, : 4 * n_points].reshape(n_frames, n_points, 4)
    points = values[..., :3] * (1.0 if size == 4 else scale)
    with np.errstate(invalid="ignore"):
        word = np.where(np.isfinite(values[..., 3]) & (np.abs(values[..., 3]) < 2**16), values[..., 3], -1.0)
    word = np.trunc(word).astype(np.int64)
    residual = np.where(word < 0, -1.0, ((word >> 8) & 0xFF) * abs(scale))  # ezc3d's byte order
    points[word < 0] = np.nan
    rate = _number(params.get(("POINT", "RATE")), processor)
    return {
        "points": points, "residual": residual, "labels": _strings(params.get(("POINT", "LABELS"))),
        "units": next(iter(_strings(params.get(("POINT", "UNITS")))), None),
        "rate": header_rate if rate is None else rate, "first_frame": first - 1 if first > 0 else 0,
        "y_screen": next(iter(_strings(params.get(("POINT", "Y_SCREEN")))), None),
        "lift3d_residuals": ("LIFT3D", "RESIDUAL_UNITS") in params,
    }  # fmt: skip
