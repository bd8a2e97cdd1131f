"""Crash-safe checkpoint files: named tensors plus JSON metadata, checksummed, never unpickled.

A checkpoint is a `safetensors <https://github.com/huggingface/safetensors>`_ file
(an 8-byte little-endian header length, a JSON header, then the raw tensor bytes)
whose header metadata holds three string entries:

- ``"rnnkit"``: the caller's metadata as one JSON string (architecture, training state ...);
- ``"rnnkit_format_version"``: the version of this layout (:data:`FORMAT_VERSION`);
- ``"rnnkit_sha256"``: a SHA-256 over the tensor data section *and* the rest of the
  header (tensor names, dtypes, shapes, offsets, the metadata above), so a flipped
  byte anywhere that matters is caught when loading.

Writing (:func:`save_file`) goes through :func:`rnnkit._io.atomic_write`: a temporary
file in the target's directory, which is flushed and ``fsync``-ed and then atomically
renamed onto the target with :func:`os.replace` (and the directory is ``fsync``-ed too).  A crash, a full disk or
any other failure before the rename leaves the previous file untouched; the temporary
file is removed on every failure Python sees (only a hard kill can leave a hidden
``.<name>.<random>.tmp`` file behind, never a broken target).

Reading (:func:`load_file`) checks the framing, the format version and the checksum
before any tensor is built, and refuses with :class:`~rnnkit.errors.CheckpointError`
anything else: a missing or empty file, a truncated or tampered one, a plain
safetensors file from elsewhere, or a pickle / ``torch.save`` file renamed to look
like a checkpoint.  Nothing here ever unpickles, so loading a stranger's file runs
no code of theirs.

>>> import os, tempfile, torch
>>> from rnnkit.saving.checkpoint import save_file, load_file
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.safetensors")
>>> save_file(path, {"w": torch.eye(2)}, {"epoch": 3})
>>> tensors, meta = load_file(path)
>>> tensors["w"], meta
(tensor([[1., 0.],
        [0., 1.]]), {'epoch': 3})
"""
from __future__ import annotations

import errno as _errno
import hashlib
import json
import os
import struct
from typing import Any, Mapping

from safetensors.torch import load as _parse_safetensors, save as _write_safetensors
import torch

from .._io import atomic_write, failure_reason
from ..errors import CheckpointError, ConfigError, gist

__all__ = ["FORMAT_VERSION", "save_file", "load_file"]

#: Version of the checkpoint layout written by :func:`save_file`; :func:`load_file` reads up to this one.
FORMAT_VERSION = 1

_META_KEY = "rnnkit"
_VERSION_KEY = "rnnkit_format_version"
_SHA_KEY = "rnnkit_sha256"
_HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own cap on the JSON header
_CHUNK = 1 << 20


# ----------------------------------------------------------------------------- helpers
def _fail(path: Any, problem: str, fix: str, cause: OSError | None = None) -> CheckpointError:
    err = CheckpointError(f"checkpoint {os.fspath(path)!r}: {problem}; {fix}")
    if cause is not None:
        err.errno = cause.errno  # (setting strerror too would replace the message in str(err))
    return err


def _check_path(owner: str, path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"{owner}: `path` must be a str or os.PathLike, got {path!r} ({type(path).__name__})")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ConfigError(f"{owner}: `path` is empty; give the file name to write, e.g. 'model.safetensors'")
    return path


def _prepare_tensors(tensors: Any) -> dict[str, torch.Tensor]:
    """Validate and bring tensors to contiguous CPU copies that safetensors accepts (no shared storage)."""
    if not isinstance(tensors, Mapping):
        raise ConfigError(
            f"save_file: `tensors` must be a dict of name -> torch.Tensor, got {type(tensors).__name__}; "
            "pass e.g. model.state_dict()"
        )
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"save_file: tensor names must be non-empty str, got {name!r}")
        if name == "__metadata__":
            raise ConfigError("save_file: '__metadata__' is reserved by safetensors; rename that tensor")
        if not isinstance(value, torch.Tensor):
            raise ConfigError(
                f"save_file: tensor {name!r} is a {type(value).__name__}, not a torch.Tensor; "
                "put non-tensor values in `metadata` instead"
            )
        if value.layout != torch.strided:
            raise ConfigError(f"save_file: tensor {name!r} has layout {value.layout}; convert it with .to_dense()")
        t = value.detach().to("cpu").contiguous()
        if t.numel():
            ptr = t.untyped_storage().data_ptr()
            if ptr in seen:  # tied weights: safetensors refuses shared storage, store a copy
                t = t.clone()
                ptr = t.untyped_storage().data_ptr()
            seen.add(ptr)
        out[name] = t
    return out


def _canonical(header: dict) -> bytes:
    """The header without the checksum entry, in one fixed spelling (what the checksum covers)."""
    head = dict(header)
    meta = dict(head.get("__metadata__") or {})
    meta.pop(_SHA_KEY, None)
    head["__metadata__"] = meta
    return json.dumps(head, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _digest(header: dict, data: bytes | memoryview) -> str:
    canon = _canonical(header)
    h = hashlib.sha256()
    h.update(struct.pack("<Q", len(canon)))
    h.update(canon)
    view = memoryview(data)
    for start in range(0, len(view), _CHUNK):
        h.update(view[start:start + _CHUNK])
    return h.hexdigest()


def _write_all(fd: int, blob: bytes | memoryview) -> None:
    """Write every byte of ``blob`` to ``fd`` (``os.write`` may write less than asked, which is retried)."""
    view = memoryview(blob)
    done = 0
    while done < len(view):
        n = os.write(fd, view[done:done + _CHUNK])
        if n <= 0:
            raise OSError(_errno.EIO, "write returned no progress")
        done += n


# ----------------------------------------------------------------------------- public API
def save_file(path: str | os.PathLike, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None) -> None:
    """Write named tensors and JSON metadata to ``path`` atomically (temp file, fsync, rename).

    The previous content of ``path`` stays in place until the new file is complete
    and on disk; on any failure (e.g. a full disk) the temporary file is removed and
    the old file is untouched.  Missing parent directories are created.

    Args:
        path: the file to write, conventionally ``*.safetensors``.
        tensors: name -> tensor (e.g. ``model.state_dict()``); tensors on any device
            are copied to the CPU; tied tensors are stored as separate copies.
        metadata: a JSON-serialisable dict (str keys; NaN and infinities are kept as
            Python's :mod:`json` writes them); ``None`` means ``{}``.

    Raises:
        ConfigError: ``tensors`` or ``metadata`` are not of the accepted kinds.
        CheckpointError: the file could not be written (its ``errno`` tells why).

    >>> import os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "weights.safetensors")
    >>> save_file(path, torch.nn.Linear(3, 2).state_dict(), {"note": "first"})
    >>> sorted(os.listdir(os.path.dirname(path)))  # no temporary file left behind
    ['weights.safetensors']
    """
    path = _check_path("save_file", path)
    prepared = _prepare_tensors(tensors)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, Mapping):
        raise ConfigError(f"save_file: `metadata` must be a dict, got {type(metadata).__name__}")
    try:
        meta_json = json.dumps(dict(metadata))
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"save_file: `metadata` is not JSON-serialisable ({exc}); keep it to dicts, lists, str, numbers, "
            "bools and None (store tensors in `tensors`)"
        ) from None

    blob = _write_safetensors(prepared, metadata={_META_KEY: meta_json, _VERSION_KEY: str(FORMAT_VERSION)})
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = memoryview(blob)[8 + n:]
    header.setdefault("__metadata__", {})[_SHA_KEY] = _digest(header, data)
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * (-len(head) % 8)  # keep the data section 8-byte aligned, as safetensors does

    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise _fail(path, "is a directory", "give a file name inside it, e.g. 'model.safetensors'")
    try:
        os.makedirs(directory, exist_ok=True)
        with atomic_write(path, "wb") as f:
            # straight to the descriptor (nothing is buffered in f): a short write is seen and retried
            _write_all(f.fileno(), struct.pack("<Q", len(head)) + head)
            _write_all(f.fileno(), data)
    except OSError as exc:
        raise _fail(
            path,
            f"could not be written: {failure_reason(exc, path)}",
            "the previous file there, if any, is untouched and no temporary file was left; free disk space or fix "
            "the permissions and save again",
            exc,
        ) from exc


def load_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Read a file written by :func:`save_file`, verifying format, version and checksum first.

    Never unpickles: a pickle or ``torch.save`` file is recognised and refused
    without running any of its code.

    Args:
        path: the checkpoint file.
        device: where to put the tensors (``'cpu'``, ``'cuda'``, a ``torch.device`` ...).

    Returns:
        ``(tensors, metadata)``: a dict name -> tensor and the metadata dict as saved.

    Raises:
        CheckpointError: the file is missing, empty, truncated, altered, of a newer
            format version, or not an rnnkit checkpoint.
        ConfigError: ``device`` is not a device.

    >>> import os, tempfile, torch
    >>> path = os.path.join(tempfile.mkdtemp(), "bad.safetensors")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"not a checkpoint at all")
    >>> load_file(path)
    Traceback (most recent call last):
    ...
    rnnkit.errors.CheckpointError: checkpoint '...bad.safetensors': ...
    """
    path = _check_path("load_file", path)
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"load_file: `device` must be a device such as 'cpu' or 'cuda:0', got {device!r} ({exc})") from None
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError as exc:
        raise _fail(path, "no such file", "check the path (and the working directory), or save a checkpoint there first", exc) from None
    except IsADirectoryError as exc:
        raise _fail(path, "is a directory, not a file", "give the checkpoint file inside it", exc) from None
    except OSError as exc:
        raise _fail(path, f"could not be read ({exc.strerror or exc})", "check the file's permissions", exc) from None

    try:
        header, data = _parse(path, raw)
        digest = _digest(header, data)
    except RecursionError:
        raise _fail(path, "its header nests JSON too deeply", "it is corrupted or not a checkpoint; use another checkpoint") from None
    except CheckpointError:
        if _looks_pickled(raw):
            kind = "a zip archive as torch.save() writes" if raw[:4] == b"PK\x03\x04" else "a pickle"
            raise _fail(
                path,
                f"looks like {kind}, not an rnnkit checkpoint; it was NOT loaded, since unpickling runs code from the file",
                "if you trust its author, load it with torch.load(..., weights_only=True) yourself and re-save it "
                "with rnnkit.saving.save_file",
            ) from None
        raise
    meta = header.get("__metadata__") or {}
    stored = meta.get(_SHA_KEY)
    if not isinstance(stored, str) or digest != stored:
        raise _fail(
            path,
            "checksum mismatch: the file was altered or corrupted after it was written",
            "do not trust it; use another checkpoint (e.g. the one of an earlier epoch)",
        )
    try:
        user_meta = json.loads(meta[_META_KEY])
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        detail = gist(exc, 80)
        raise _fail(path, f"its metadata is not valid JSON ({detail})", "use another checkpoint") from None
    if not isinstance(user_meta, dict):
        raise _fail(path, f"its metadata is a JSON {type(user_meta).__name__}, not an object", "use another checkpoint")
    try:
        tensors = _parse_safetensors(raw)
    except Exception as exc:  # SafetensorError derives from Exception only
        raise _fail(path, f"its tensors cannot be decoded ({gist(exc, 300)})", "use another checkpoint") from None
    if device.type != "cpu":
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return tensors, user_meta


def _looks_pickled(raw: bytes) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) and its number; torch.save() writes a zip archive."""
    if raw[8:9] == b"{" and raw[3:8] == bytes(5):
        return False  # framed like safetensors (a small header length, then '{'): just damaged
    return (len(raw) >= 2 and raw[0] == 0x80 and 2 <= raw[1] <= 5) or raw[:4] == b"PK\x03\x04" or raw[:1] in (b"(", b"}", b"]", b"c")


def _parse(path: str, raw: bytes) -> tuple[dict, memoryview]:
    """Check the framing and rnnkit's metadata entries; return (header, data section)."""
    size = len(raw)
    if size == 0:
        raise _fail(path, "is empty (0 bytes)", "the save that made it was interrupted; use another checkpoint")
    if size < 8:
        raise _fail(path, f"is only {size} bytes, too short to be a checkpoint", "it is truncated; use another checkpoint")
    (n,) = struct.unpack("<Q", raw[:8])
    if n == 0 or n > _HEADER_LIMIT:
        raise _fail(path, "does not start with a safetensors header", "it is not an rnnkit checkpoint (wrong file?)")
    if 8 + n > size:
        raise _fail(
            path,
            f"is truncated: its header announces {n} bytes but only {size - 8} follow",
            "the write was cut short; use another checkpoint",
        )
    try:
        header = json.loads(bytes(raw[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _fail(path, "its header is not valid JSON", "it is corrupted or not a checkpoint; use another checkpoint") from None
    if not isinstance(header, dict):
        raise _fail(path, "its header is not a JSON object", "it is corrupted or not a checkpoint; use another checkpoint")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or _META_KEY not in meta or _VERSION_KEY not in meta:
        raise _fail(
            path,
            "is a safetensors file but not one written by rnnkit (no 'rnnkit' metadata)",
            "read plain safetensors files with safetensors.torch.load_file",
        )
    try:
        version = int(meta[_VERSION_KEY])
    except (TypeError, ValueError, OverflowError):  # not a number, or a forged Infinity
        raise _fail(path, f"has an unreadable format version {meta[_VERSION_KEY]!r}", "use another checkpoint") from None
    if version > FORMAT_VERSION or version < 1:
        raise _fail(
            path,
            f"has format version {version}, this rnnkit reads versions 1 to {FORMAT_VERSION}",
            "upgrade rnnkit to read it" if version > FORMAT_VERSION else "use another checkpoint",
        )
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise _fail(path, f"tensor {name!r} has a malformed header entry", "it is corrupted; use another checkpoint")
        end = max(end, offsets[1])
    have = size - 8 - n
    if have < end:
        raise _fail(
            path,
            f"is truncated: {end} bytes of tensor data expected, {have} present",
            "the write was cut short; use another checkpoint",
        )
    if have > end:
        raise _fail(path, f"has {have - end} unexpected bytes after the tensor data", "it was altered; use another checkpoint")
    return header, memoryview(raw)[8 + n:]
