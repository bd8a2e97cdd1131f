"""Turning a downloaded archive into the files a dataset's cache holds.

Some public sources are archives (a ``.zip`` of sentence pairs, the IMDB
``.tar.gz`` of 50,000 small files) while the cache keeps the files named in the
dataset's ``SOURCE.md``.  An :class:`Archive` names the archive to download and a
``build`` function that writes the cache files from it.  Builders write through
:func:`rnnkit._io.atomic_write`, so an interrupted build leaves no half file, and
the registry verifies every built file against its registered checksum before
it is used.
"""
from __future__ import annotations

import csv
import gzip
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .._io import atomic_write
from ..errors import DatasetError
from .cache import RemoteFile

__all__ = ["Archive", "extract_members", "imdb_csv_from_tarball"]


@dataclass(frozen=True)
class Archive:
    """An archive to download (verified like any file) and how to build the cache files from it.

    ``build(archive_path, folder)`` writes the dataset's files into ``folder``.
    """

    remote: RemoteFile
    build: Callable[[Path, Path], None]


def extract_members(mapping: dict[str, str]) -> Callable[[Path, Path], None]:
    """A builder that copies zip members byte for byte: ``{member name: cache file name}``.

    >>> import tempfile, zipfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with zipfile.ZipFile(folder / "a.zip", "w") as z:
    ...     z.writestr("pairs/fra.txt", "Go.\\tVa !\\n")
    >>> extract_members({"pairs/fra.txt": "fra.txt"})(folder / "a.zip", folder)
    >>> (folder / "fra.txt").read_text()
    'Go.\\tVa !\\n'
    """

    def build(archive: Path, folder: Path) -> None:
        try:
            with zipfile.ZipFile(archive) as z:
                names = set(z.namelist())
                for member, target in mapping.items():
                    if member not in names:
                        raise DatasetError(f"{archive.name} has no member {member!r}; the source changed, report it")
                    with z.open(member) as src, atomic_write(folder / target, "wb") as out:
                        while block := src.read(1 << 20):
                            out.write(block)
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"{archive} is not a readable zip ({exc}); delete it and fetch again") from None

    return build


_REVIEW = re.compile(r"^aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")


def imdb_csv_from_tarball(archive: Path, folder: Path) -> None:
    """Pack ``aclImdb_v1.tar.gz`` into ``train.csv.gz`` and ``test.csv.gz``.

    The layout is the one documented in the shared copy's ``SOURCE.md``: columns
    ``label,id,rating,text``, rows sorted by label (neg, pos) then numeric id,
    RFC-4180 quoting, LF line ends, gzip level 9 with mtime 0 and no stored name.
    Each review's text is its file's whole UTF-8 content.
    """
    rows: dict[str, list[tuple[str, int, int, str]]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                match = _REVIEW.match(member.name)
                if not match or not member.isfile():
                    continue
                split, label, review_id, rating = match.groups()
                data = tar.extractfile(member).read()
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise DatasetError(f"{archive.name}: {member.name} is not UTF-8; delete the archive and fetch again") from None
                rows[split].append((label, int(review_id), int(rating), text))
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{archive} is not a readable .tar.gz ({exc}); delete it and fetch again") from None
    for split, reviews in rows.items():  # check every split before writing any
        if not reviews:
            raise DatasetError(f"{archive.name} holds no {split} reviews under aclImdb/{split}/pos|neg; is it the IMDB archive?")
    for split, reviews in rows.items():
        reviews.sort(key=lambda r: (r[0], r[1]))
        text = io.StringIO(newline="")
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["label", "id", "rating", "text"])
        writer.writerows(reviews)
        with atomic_write(folder / f"{split}.csv.gz", "wb") as raw:
            with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=raw, mtime=0) as gz:
                gz.write(text.getvalue().encode("utf-8"))
