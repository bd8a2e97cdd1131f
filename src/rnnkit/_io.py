"""Writing files so that a reader sees the old file or the whole new one, never a part.

The one atomic-write routine of rnnkit (checkpoints, run files, plots, token
caches, downloads, compiled kernels): write a temporary file beside the target,
flush and ``fsync`` it, rename it over the target with :func:`os.replace`, then
``fsync`` the folder so the rename itself survives a power cut.  On any failure
Python sees, the temporary file is removed and the target is left as it was
(only a hard kill can leave a hidden ``.<name>.<random><suffix>`` file behind;
:func:`remove_stale_temps` clears those when the interrupted work is resumed).

A write that the disk refuses (full, over quota, read-only, no permission, an I/O
error) raises :class:`~rnnkit.errors.WriteError`, one line naming the file, the
reason and the free space left on its disk (:func:`failure_reason`).

Reading: :func:`decode_utf8`, the bytes of a user's text file as text, with the
line of the first bad byte named (every app reads its inputs through it).
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from typing import IO, Iterator

from .errors import DatasetError, RnnkitError, WriteError

__all__ = ["atomic_write", "atomic_path", "append_text", "fsync_dir", "decode_utf8", "remove_stale_temps",
           "failure_reason", "free_space"]

_TOKEN = 12  # hex digits of the random part of a temporary file's name
# what a refused write reports (anywhere in the block); other OS errors of the block are the caller's own
_WRITE_ERRNOS = frozenset(getattr(errno, name) for name in
                          ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO", "EACCES", "EPERM", "ENOENT", "ENOTDIR")
                          if hasattr(errno, name))
_NO_SPACE = frozenset(getattr(errno, name) for name in ("ENOSPC", "EDQUOT") if hasattr(errno, name))


def free_space(path: str | os.PathLike) -> str:
    """The free space on the disk that holds ``path`` (or its nearest existing folder), for messages.

    >>> import tempfile
    >>> free_space(tempfile.mkdtemp()).endswith(" free")
    True
    """
    folder = os.path.abspath(os.fspath(path))
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "free space unknown"
    for unit in ("bytes", "kB", "MB", "GB"):
        if free < 1000 or unit == "GB":
            return f"{free} bytes free" if unit == "bytes" else f"{free:.1f} {unit} free"
        free /= 1000
    return f"{free:.1f} TB free"  # pragma: no cover


def failure_reason(exc: OSError, path: str | os.PathLike) -> str:
    """Why a write of ``path`` failed, with the free space there: ``'No space left on device (0 bytes free on its disk)'``."""
    if isinstance(exc, WriteError):
        return exc.reason
    return f"{exc.strerror or exc} ({free_space(path)} on its disk)"


def _write_error(path: str, exc: OSError,
                 kept: str = "the previous file there, if any, is untouched and no temporary file was left") -> WriteError:
    reason = failure_reason(exc, path)
    if exc.errno in _NO_SPACE:
        fix = "free some disk space (or write elsewhere) and try again"
    elif exc.errno == errno.EFBIG:
        fix = "the file is larger than its file system or this process's file-size limit (ulimit -f) allows; write elsewhere"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make the folder writable or write elsewhere"
    else:
        fix = "check the folder and the disk, then try again"
    err = WriteError(f"could not write {path}: {reason}; {kept}; {fix}")
    err.errno, err.reason = exc.errno, reason  # (setting strerror too would replace the message in str(err))
    return err


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable; a platform that cannot open a folder (Windows) is skipped.

    >>> import tempfile
    >>> fsync_dir(tempfile.mkdtemp())
    """
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _new_temp(path: str, suffix: str) -> str:
    """Create an empty ``.<name>.<random><suffix>`` beside ``path``, with the permissions ``open()`` would give."""
    folder, base = os.path.split(os.path.abspath(path))
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(_TOKEN // 2)}{suffix}")
        try:
            # 0o666 and the umask, as open() does (mkstemp's 0o600 would hide the file from the group)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OSError(errno.EEXIST, f"could not create a temporary file in {folder!r}")


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None) -> list[str]:
    """Remove the temporary files that killed atomic writes left in ``folder`` (those of file ``name`` only, if given).

    Call it where the interrupted work is taken up again (a resumed run) and no
    other process writes into ``folder``: a write in progress there would lose its
    temporary file.  Returns the names removed.

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, ".ckpt.safetensors.0123456789ab.tmp"), "w")
    >>> _ = open(os.path.join(folder, ".hidden.tmp"), "w")  # not one of ours: kept
    >>> remove_stale_temps(folder), sorted(os.listdir(folder))
    (['.ckpt.safetensors.0123456789ab.tmp'], ['.hidden.tmp'])
    """
    removed = []
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not (entry.startswith(".") and entry.endswith(".tmp")):
            continue
        base, _, token = entry[1:-len(".tmp")].rpartition(".")
        if not base or len(token) != _TOKEN or any(c not in "0123456789abcdef" for c in token):
            continue
        if name is not None and base != name:
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(folder, entry))
            removed.append(entry)
    return removed


@contextlib.contextmanager
def _committed(path: str | os.PathLike, suffix: str, sync_file: bool) -> Iterator[str]:
    path = os.fspath(path)
    tmp: str | None = None
    try:
        tmp = _new_temp(path, suffix)
        yield tmp
        if sync_file:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
        tmp = None
        fsync_dir(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        if isinstance(exc, RnnkitError) or exc.errno not in _WRITE_ERRNOS:
            raise
        if tmp is not None:  # removed before the message says so
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            tmp = None
        raise _write_error(path, exc) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """The name of a new empty temporary file beside ``path``, for a writer that takes a file name.

    When the block ends normally the file is fsync-ed and renamed over ``path``
    (and the folder fsync-ed); when it raises, the file is removed and ``path``
    is untouched (a write the disk refused becomes a
    :class:`~rnnkit.errors.WriteError`).  The folder must exist.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "lib.so")
    >>> with atomic_path(target) as tmp:
    ...     with open(tmp, "w") as f:  # e.g. a compiler's -o tmp
    ...         _ = f.write("built")
    >>> open(target).read(), os.listdir(os.path.dirname(target))
    ('built', ['lib.so'])
    """
    with _committed(path, suffix, sync_file=True) as tmp:
        yield tmp


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None, *,
                 suffix: str = ".tmp") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success flush, fsync and rename it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was;
    a write the disk refused (full, read-only, no permission ...) becomes a
    :class:`~rnnkit.errors.WriteError` naming ``path`` and the free space.
    The folder must exist.

    >>> import os, tempfile
    >>> target = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> with atomic_write(target, "w", encoding="utf-8") as f:
    ...     _ = f.write("hello")
    >>> open(target).read()
    'hello'
    """
    with _committed(path, suffix, sync_file=False) as tmp:
        with open(tmp, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append ``text`` (UTF-8) to ``path`` (created if missing) and hand it to the disk, all of it or nothing.

    For logs that grow a line at a time (``metrics.csv``): a write the disk
    refuses cuts the file back to its size before this call and raises
    :class:`~rnnkit.errors.WriteError`, so the earlier lines stay whole.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> append_text(path, "epoch,loss\\n"); append_text(path, "0,0.5\\n")
    >>> open(path).read()
    'epoch,loss\\n0,0.5\\n'
    """
    path = os.fspath(path)
    data = memoryview(text.encode("utf-8"))
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRNOS:
            raise
        raise _write_error(path, exc, "nothing was written") from exc
    try:
        size = os.fstat(fd).st_size
        try:
            while data:  # os.write may write less than asked
                data = data[os.write(fd, data):]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            if exc.errno not in _WRITE_ERRNOS:
                raise
            raise _write_error(path, exc, "its earlier lines are untouched") from exc
    finally:
        os.close(fd)


def decode_utf8(raw: bytes, path: str | os.PathLike) -> str:
    """``raw`` (the bytes of file ``path``) as UTF-8 text, a BOM dropped; a DatasetError names the line of a bad byte.

    >>> decode_utf8("été\\n".encode(), "a.txt")
    'été\\n'
    >>> decode_utf8(b"ok\\n\\xff", "a.txt")
    Traceback (most recent call last):
    rnnkit.errors.DatasetError: a.txt: line 2 is not valid UTF-8 (byte 0xff); save the file as UTF-8 and try again
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{os.fspath(path)}: line {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8 "
            "and try again"
        ) from None
