"""The dataset cache: where files live, downloading them safely, and verifying them.

The cache is ``$RNNKIT_DATA`` (default ``~/.cache/rnnkit``) laid out as
``<cache>/<dataset>/<file>``, the same layout as the project's shared copies,
so such a folder is itself a valid cache.  A download goes to a temporary file
next to the target, is checked against the registered SHA-256, and only then
renamed into place: an interrupted or corrupted download never leaves a file
that looks finished.  Reading never writes.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .._io import atomic_write
from ..errors import DatasetError

__all__ = ["RemoteFile", "cache_dir", "sha256_of", "matches", "download", "download_many", "local_file"]

_CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name in the cache, public URL, SHA-256 and size in bytes.

    ``content_sha256`` (gzip files built locally from an archive) is the SHA-256 of
    the decompressed bytes: a rebuilt ``.gz`` holds the same content even where
    another zlib compresses it to different bytes.  ``url`` is empty for a file
    that only an :class:`~rnnkit.datasets._archives.Archive` provides.
    """

    name: str
    url: str
    sha256: str
    size: int
    content_sha256: str | None = None


def cache_dir() -> Path:
    """``$RNNKIT_DATA`` if set, else ``~/.cache/rnnkit``."""
    env = os.environ.get("RNNKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnkit"


def sha256_of(path: Path, *, gunzip: bool = False) -> str:
    """SHA-256 of a file's bytes (or of its decompressed content with ``gunzip=True``)."""
    digest = hashlib.sha256()
    try:
        with (gzip.open if gunzip else open)(path, "rb") as f:
            for block in iter(lambda: f.read(_CHUNK), b""):
                digest.update(block)
    except (OSError, EOFError):
        if not gunzip:
            raise
        return ""  # not a whole gzip stream: no content to match
    return digest.hexdigest()


def matches(path: Path, remote: RemoteFile) -> bool:
    """Whether ``path`` holds ``remote``: its exact bytes, or for gzip its registered content."""
    if path.stat().st_size == remote.size and sha256_of(path) == remote.sha256:
        return True
    return remote.content_sha256 is not None and sha256_of(path, gunzip=True) == remote.content_sha256


_verified: dict[tuple[str, float, int], bool] = {}


def local_file(dataset: str, remote: RemoteFile) -> Path | None:
    """The verified cached copy of ``remote``, or None if it is not in the cache.

    A file whose checksum does not match is an error (never silently used).
    """
    path = cache_dir() / dataset / remote.name
    if not path.is_file():
        return None
    stat = path.stat()
    key = (str(path), stat.st_mtime, stat.st_size)
    if key not in _verified:
        if not matches(path, remote):
            raise DatasetError(
                f"{path} does not match the registered checksum of {dataset}/{remote.name}; delete it and "
                f"run `rnnkit datasets fetch {dataset}` to download it again"
            )
        _verified[key] = True
    return path


def _progress(done: int, total: int, start: float, name: str) -> None:
    if not sys.stderr.isatty():
        return
    rate = done / max(time.perf_counter() - start, 1e-6) / 1e6
    sys.stderr.write(f"\r{name}: {done / 1e6:.1f}/{total / 1e6:.1f} MB ({rate:.1f} MB/s)")
    sys.stderr.flush()


def download(dataset: str, remote: RemoteFile, timeout: float = 60.0, *, progress: bool = True) -> Path:
    """Download ``remote`` into the cache (temp file, checksum, rename) and return its path."""
    target = cache_dir() / dataset / remote.name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the cache folder {target.parent}: {exc.strerror}; set RNNKIT_DATA to a writable folder") from None
    digest = hashlib.sha256()
    done = 0
    start = time.perf_counter()
    try:
        # the file appears whole and verified, or not at all (a failed check leaves no file behind)
        with atomic_write(target, "wb", suffix=".part") as out:
            with urllib.request.urlopen(remote.url, timeout=timeout) as response:
                while True:
                    block = response.read(_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if progress:
                        _progress(done, remote.size, start, f"{dataset}/{remote.name}")
            if progress and sys.stderr.isatty():
                sys.stderr.write("\n")
            if done != remote.size:
                raise DatasetError(
                    f"download of {dataset}/{remote.name} stopped after {done:,} of {remote.size:,} bytes; "
                    f"run `rnnkit datasets fetch {dataset}` again"
                )
            if digest.hexdigest() != remote.sha256:
                raise DatasetError(
                    f"{dataset}/{remote.name} from {remote.url} has SHA-256 {digest.hexdigest()}, expected "
                    f"{remote.sha256}; the source changed or the download was corrupted, so it was not kept"
                )
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        if isinstance(exc, DatasetError):
            raise
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise DatasetError(
            f"could not download {dataset}/{remote.name} from {remote.url} ({reason}) after {done:,} bytes; "
            f"check the network, or put the file in {target.parent} yourself"
        ) from None
    return target


def download_many(dataset: str, remotes: list[RemoteFile], workers: int = 8) -> list[Path]:
    """Download many small files (each verified and renamed alone) over ``workers`` connections.

    Shows a count of finished files; the first failure is raised after the
    other downloads in flight finish, and every file already verified stays.
    """
    if len(remotes) == 1:
        return [download(dataset, remotes[0])]
    from concurrent.futures import ThreadPoolExecutor, as_completed

    paths: dict[str, Path] = {}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(download, dataset, r, progress=False): r for r in remotes}
        first_error = None
        for future in as_completed(futures):
            if future.cancelled():  # not started when an earlier file failed
                continue
            try:
                paths[futures[future].name] = future.result()
            except DatasetError as exc:
                if first_error is None:
                    first_error = exc
                    for other in futures:
                        other.cancel()
                continue
            if sys.stderr.isatty():
                rate = len(paths) / max(time.perf_counter() - start, 1e-6)
                sys.stderr.write(f"\r{dataset}: {len(paths)}/{len(remotes)} files ({rate:.0f} files/s)")
                sys.stderr.flush()
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    if first_error is not None:
        raise first_error
    return [paths[r.name] for r in remotes]
