"""Writing files so that a reader sees the old file or the whole new one, never a part.

The one atomic-write routine of rnnkit (checkpoints, run files, plots, token
caches, downloads, compiled kernels): write a temporary file beside the target,
flush and ``fsync`` it, rename it over the target with :func:`os.replace`, then
``fsync`` the folder so the rename itself survives a power cut.  On any failure
Python sees, the temporary file is removed and the target is left as it was
(only a hard kill can leave a hidden ``.<name>.<random><suffix>`` file behind).

Reading: :func:`decode_utf8`, the bytes of a user's text file as text, with the
line of the first bad byte named (every app reads its inputs through it).
"""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from typing import IO, Iterator

from .errors import DatasetError

__all__ = ["atomic_write", "atomic_path", "fsync_dir", "decode_utf8"]


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
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}{suffix}")
        try:
            # 0o666 and the umask, as open() does (mkstemp's 0o600 would hide the file from the group)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise OSError(errno.EEXIST, f"could not create a temporary file in {folder!r}")


@contextlib.contextmanager
def _committed(path: str | os.PathLike, suffix: str, sync_file: bool) -> Iterator[str]:
    path = os.fspath(path)
    tmp: str | None = _new_temp(path, suffix)
    try:
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
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """The name of a new empty temporary file beside ``path``, for a writer that takes a file name.

    When the block ends normally the file is fsync-ed and renamed over ``path``
    (and the folder fsync-ed); when it raises, the file is removed and ``path``
    is untouched.  The folder must exist.

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

    On any error the temporary file is removed and ``path`` is left as it was.
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
