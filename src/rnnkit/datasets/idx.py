"""The IDX file format of MNIST and Fashion-MNIST: bytes to a NumPy array, and back.

An IDX file (LeCun et al., http://yann.lecun.com/exdb/mnist/, "FILE FORMATS") is

* a 4-byte magic number: two zero bytes, a type code, and the number of
  dimensions ``d``;
* ``d`` sizes, each a big-endian unsigned 32-bit integer;
* the values in C (row-major) order, big-endian, of the type the code names:
  ``0x08`` unsigned byte, ``0x09`` signed byte, ``0x0B`` 16-bit, ``0x0C`` 32-bit
  integer, ``0x0D`` 32-bit and ``0x0E`` 64-bit float.

MNIST's images are ``0x00000803`` (unsigned bytes, 3 dimensions: count, 28
rows, 28 columns), its labels ``0x00000801`` (count).  :func:`parse_idx` reads
any of them; :func:`read_idx` reads a file, gzip-compressed or not;
:func:`write_idx` writes one (tests, and anyone making their own data).

>>> data = bytes([0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6])
>>> parse_idx(data)
array([[1, 2, 3],
       [4, 5, 6]], dtype=uint8)
>>> bool((parse_idx(write_idx(parse_idx(data))) == parse_idx(data)).all())
True
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetError

__all__ = ["parse_idx", "read_idx", "write_idx", "IDX_TYPES"]

#: type code -> NumPy dtype (big-endian, as stored)
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def parse_idx(data: bytes, what: str = "IDX data") -> np.ndarray:
    """The array an IDX file's bytes hold, in native byte order (``uint8`` for MNIST's files).

    ``what`` names the source in errors (a file's path).  A wrong magic number, an
    unknown type code, or a length that does not match the header (a truncated
    or padded file) is a :class:`~rnnkit.errors.DatasetError`.

    >>> parse_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
    array([7, 2, 1], dtype=uint8)
    >>> parse_idx(bytes([0, 0, 0x08, 1, 0, 0, 0, 4, 7, 2, 1]), "labels.idx")
    Traceback (most recent call last):
    rnnkit.errors.DatasetError: labels.idx: the IDX header promises 4 values (4 bytes after the 8-byte header), the file holds 3 bytes there; it is truncated or corrupted, fetch it again
    """
    if len(data) < 4:
        raise DatasetError(f"{what}: {len(data)} bytes is too short for an IDX file (4-byte magic number, then sizes)")
    if data[0] != 0 or data[1] != 0:
        raise DatasetError(f"{what}: not an IDX file (its magic number 0x{data[:4].hex()} does not start with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise DatasetError(f"{what}: unknown IDX type code 0x{code:02x} (known: "
                           f"{', '.join(f'0x{c:02x}' for c in IDX_TYPES)}); the file is corrupted or not IDX")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{what}: the IDX header needs {header} bytes for {ndim} sizes, the file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != count * dtype.itemsize:
        raise DatasetError(f"{what}: the IDX header promises {count:,} values ({count * dtype.itemsize:,} bytes after "
                           f"the {header}-byte header), the file holds {len(data) - header:,} bytes there; it is "
                           f"truncated or corrupted, fetch it again")
    values = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))  # a native-order copy that owns (and may write) its memory


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array in IDX file ``path``; a name ending in ``.gz`` is decompressed first.

    A damaged gzip stream is a :class:`~rnnkit.errors.DatasetError` naming the file.
    """
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise DatasetError(f"{path}: no such file") from None
        raise DatasetError(f"{path} is not a whole gzip file ({exc}); delete it and fetch it again") from None
    return parse_idx(data, str(path))


def write_idx(array: np.ndarray) -> bytes:
    """``array`` as IDX bytes (its dtype must be one of :data:`IDX_TYPES`, any byte order).

    >>> write_idx(np.array([1, 2], dtype=np.uint8)).hex()
    '00000801000000020102'
    """
    array = np.asarray(array)
    code = next((c for c, t in IDX_TYPES.items() if t.kind == array.dtype.kind and t.itemsize == array.dtype.itemsize), None)
    if code is None:
        raise DatasetError(f"write_idx: IDX has no type for dtype {array.dtype}; use uint8, int8, int16, int32, "
                           "float32 or float64")
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
