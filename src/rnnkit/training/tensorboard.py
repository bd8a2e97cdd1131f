"""A minimal TensorBoard event-file writer in pure Python (no TensorFlow, no tensorboard package).

TensorBoard reads ``events.out.tfevents.*`` files: a sequence of TFRecord records,
each framed as

- the payload length, a little-endian uint64;
- the masked CRC32C of those 8 length bytes, a little-endian uint32;
- the payload: one serialised ``Event`` protocol-buffer message;
- the masked CRC32C of the payload, a little-endian uint32.

The mask is ``((crc >> 15) | (crc << 17)) + 0xA282EAD8`` (mod 2**32).  The ``Event``
messages are encoded by hand; only the fields needed for scalars are written:

- ``Event``: ``wall_time`` (field 1, double), ``step`` (field 2, int64),
  ``file_version`` (field 3, string; the first record says ``"brain.Event:2"``),
  ``summary`` (field 5, a ``Summary``);
- ``Summary``: ``value`` (field 1, repeated ``Summary.Value``);
- ``Summary.Value``: ``tag`` (field 1, string), ``simple_value`` (field 2, float).

>>> import tempfile
>>> from rnnkit.training.tensorboard import EventFileWriter, crc32c
>>> hex(crc32c(b"123456789"))
'0xe3069283'
>>> with EventFileWriter(tempfile.mkdtemp()) as writer:
...     writer.add_scalar("epoch_loss", 0.25, step=0)
"""
from __future__ import annotations

import math
import numbers
import os
import socket
import struct
import time
from typing import Any

from ..errors import ConfigError

__all__ = ["crc32c", "EventFileWriter"]


def _make_crc32c_table() -> tuple[int, ...]:
    poly = 0x82F63B78  # Castagnoli polynomial, bit-reversed
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC32C_TABLE = _make_crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) checksum of ``data``, as TFRecord framing uses it.

    Args:
        data: the bytes to checksum (``bytes``, ``bytearray`` or ``memoryview``).

    Returns:
        The checksum as an unsigned 32-bit int.

    >>> crc32c(b"123456789") == 0xE3069283
    True
    >>> crc32c(b"")
    0
    """
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in bytes(data):
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int64 values take their 64-bit two's complement (10 bytes)."""
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint((field << 3) | wire_type)


def _len_delimited(field: int, payload: bytes) -> bytes:
    return _key(field, 2) + _varint(len(payload)) + payload


def _encode_event(wall_time: float, step: int, *, file_version: str | None = None,
                  scalars: list[tuple[str, float]] | None = None) -> bytes:
    msg = _key(1, 1) + struct.pack("<d", wall_time) + _key(2, 0) + _varint(step)
    if file_version is not None:
        msg += _len_delimited(3, file_version.encode("utf-8"))
    if scalars:
        summary = b"".join(
            _len_delimited(1, _len_delimited(1, tag.encode("utf-8")) + _key(2, 5) + struct.pack("<f", value))
            for tag, value in scalars
        )
        msg += _len_delimited(5, summary)
    return msg


def _frame(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked_crc32c(length)) + payload
            + struct.pack("<I", _masked_crc32c(payload)))


class EventFileWriter:
    """Append scalar summaries to one new TensorBoard event file in ``log_dir``.

    The file is named ``events.out.tfevents.<unix time>.<hostname>`` (with a
    ``.<n>`` suffix if that name is taken) and starts with the ``brain.Event:2``
    version record.  Records are buffered; :meth:`flush` pushes them to the file,
    :meth:`close` flushes and closes.  Usable as a context manager.

    Args:
        log_dir: the directory (created if missing); TensorBoard shows each
            directory holding event files as one run.

    Attributes:
        path: the event file's path.

    >>> import os, tempfile
    >>> log_dir = tempfile.mkdtemp()
    >>> writer = EventFileWriter(log_dir)
    >>> writer.add_scalar("epoch_loss", 0.5, step=0)
    >>> writer.add_scalar("epoch_loss", 0.25, step=1)
    >>> writer.close()
    >>> os.path.basename(writer.path).startswith("events.out.tfevents.")
    True
    """

    def __init__(self, log_dir: str | os.PathLike) -> None:
        if not isinstance(log_dir, (str, os.PathLike)):
            raise ConfigError(f"EventFileWriter: `log_dir` must be a str or os.PathLike, got {log_dir!r}")
        log_dir = os.fspath(log_dir)
        os.makedirs(log_dir, exist_ok=True)
        base = os.path.join(log_dir, f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}")
        path, n = base, 0
        while True:
            try:
                self._file = open(path, "xb")
                break
            except FileExistsError:
                n += 1
                path = f"{base}.{n}"
        self.path = path
        self._file.write(_frame(_encode_event(time.time(), 0, file_version="brain.Event:2")))
        self._file.flush()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._file.closed

    def add_scalar(self, tag: str, value: Any, step: int, wall_time: float | None = None) -> None:
        """Record ``value`` under ``tag`` at ``step`` (buffered until :meth:`flush`).

        Args:
            tag: the chart's name in TensorBoard, e.g. ``'epoch_loss'``.
            value: a real number (int, float, NumPy scalar or one-element tensor);
                stored as float32 as TensorBoard's ``simple_value`` is.
            step: the x coordinate, an int (epoch or batch count).
            wall_time: seconds since the epoch; now if ``None``.

        >>> import tempfile
        >>> with EventFileWriter(tempfile.mkdtemp()) as w:
        ...     w.add_scalar("batch_loss", 1.5, step=10)
        """
        if not isinstance(tag, str) or not tag:
            raise ConfigError(f"EventFileWriter.add_scalar: `tag` must be a non-empty str, got {tag!r}")
        if isinstance(step, bool) or not isinstance(step, numbers.Integral):
            raise ConfigError(f"EventFileWriter.add_scalar: `step` must be an int, got {step!r}")
        number = _as_float(value)
        if number is None:
            raise ConfigError(
                f"EventFileWriter.add_scalar: `value` for {tag!r} must be a real number, got {value!r} ({type(value).__name__})"
            )
        if self._file.closed:
            raise ConfigError(f"EventFileWriter.add_scalar: the writer of {self.path!r} is closed; open a new one")
        wall = time.time() if wall_time is None else float(wall_time)
        # Python's struct refuses to round huge finite values to float32 infinity; do it here.
        if math.isfinite(number) and abs(number) > 3.4028234663852886e38:
            number = math.copysign(math.inf, number)
        self._file.write(_frame(_encode_event(wall, int(step), scalars=[(tag, number)])))

    def flush(self) -> None:
        """Write buffered records to the file so a running TensorBoard sees them."""
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        """Flush and close the file; further :meth:`add_scalar` calls raise."""
        if not self._file.closed:
            self._file.flush()
            self._file.close()

    def __enter__(self) -> "EventFileWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _as_float(value: Any) -> float | None:
    """A float for a real scalar (Python, NumPy or one-element tensor), else ``None``."""
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)
    numel = getattr(value, "numel", None) or getattr(value, "size", None)
    if callable(item):
        try:
            count = numel() if callable(numel) else numel
            if count == 1:
                out = item()
                if isinstance(out, numbers.Real) and not isinstance(out, complex):
                    return float(out)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None
