"""Data of text classification: labelled texts from files, folders or registered datasets; tokens; splits.

Inputs :func:`read_labelled` accepts:

* CSV (``.csv``) and TSV (``.tsv``/``.tab``) with a header row;
* JSON Lines (``.jsonl``/``.ndjson``): one object per line;
* a folder with one sub-folder per label, one text per file (``aclImdb/train/pos/*.txt``);
* for prediction only, a plain text file: one text per line (:func:`read_texts`).

The text and label columns default to ``text`` and ``label``; when those are
absent a single well-known alternative (``review``, ``sentence``, ``sentiment``,
``class`` ...) is taken.  Every problem is a :class:`~rnnkit.errors.DatasetError`
naming the file, the line and the fix.

Tokens come from the core's :func:`rnnkit.data.tokenize` (re-exported here as
``tokenize``): at word level, lower-cased words (keeping inner apostrophes), each
punctuation mark, and each CJK character on its own (Chinese has no spaces
between words); at char level every non-space character.

>>> tokenize("It's GREAT!<br />不错", "word")
["it's", 'great', '!', '不', '错']
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rnnkit import datasets
from rnnkit._io import decode_utf8
from rnnkit.data import containment_groups, label_sort_key, tokenize
from rnnkit.errors import DatasetError

__all__ = ["Labelled", "read_labelled", "read_texts", "load_named", "NAMED", "tokenize"]

TEXT_ALIASES = ("text", "sentence", "review", "content", "document", "comment", "body", "tweet")
LABEL_ALIASES = ("label", "sentiment", "class", "category", "target", "polarity", "y")
NAMED = {"imdb": ("imdb", "test", ["negative", "positive"]), "sst2": ("sst2", "dev", ["negative", "positive"])}


@dataclass
class Labelled:
    """Texts with their labels (as strings), and where they came from."""

    texts: list[str]
    labels: list[str]
    source: str = ""
    dropped_empty: int = 0
    classes: list[str] = field(default_factory=list)  # sorted distinct labels (or a dataset's own order)
    groups: list[str] | None = None  # a key per text whose texts must stay on one side of a split (a movie, an author)

    def __post_init__(self) -> None:
        if not self.classes:
            self.classes = sorted(set(self.labels), key=label_sort_key)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> "Labelled":
        groups = None if self.groups is None else [self.groups[i] for i in index]
        return Labelled([self.texts[i] for i in index], [self.labels[i] for i in index], self.source, 0,
                        list(self.classes), groups)


def _read_file(path: Path) -> str:
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder; check the path given to --data/--file")
    if not path.is_file():
        raise DatasetError(f"{path}: not a file; give a CSV, TSV, JSONL or text file")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise DatasetError(f"{path}: looks like a binary file (it holds NUL bytes); give a CSV, TSV, JSONL or text file")
    text = decode_utf8(raw, path)
    if not text.strip():
        raise DatasetError(f"{path}: the file is empty; it needs a header row and at least one labelled text")
    return text


def _pick(columns: list[str], wanted: str | None, aliases: Sequence[str], what: str, flag: str, path: Path,
          required: bool = True) -> str | None:
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise DatasetError(f"{path}: no {what} column {wanted!r}; its columns are {', '.join(map(repr, columns))}; "
                           f"choose one with {flag}")
    lower = {c.strip().lower(): c for c in columns}
    found = [lower[a] for a in aliases if a in lower]
    if found:
        return found[0]
    if not required:
        return None
    raise DatasetError(f"{path}: no {what} column (looked for {', '.join(aliases[:4])} ...); its columns are "
                       f"{', '.join(map(repr, columns))}; name it with {flag}")


def _rows_delimited(path: Path, text: str, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
        rows = []
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DatasetError(f"{path}: line {reader.line_num}: {exc}; check the quoting of that row") from None
    return [h.strip() for h in header], rows


def _rows_jsonl(path: Path, text: str) -> tuple[list[str], list[tuple[int, dict]]]:
    rows, columns = [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:  # bad syntax, a number of over 4300 digits, deep nesting
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc).split(";")[0][:80]
            raise DatasetError(f"{path}: line {number} is not valid JSON ({detail}); write one JSON object per line") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}: line {number} holds a JSON {type(obj).__name__}, not an object like "
                               '{"text": ..., "label": ...}')
        columns.update(dict.fromkeys(obj))
        rows.append((number, obj))
    return list(columns), rows


def _table(path: Path) -> tuple[list[str], list[tuple[int, Any]], str]:
    """Header and (line number, row) pairs of a CSV, TSV or JSONL file, and its kind."""
    text = _read_file(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        columns, rows = _rows_jsonl(path, text)
        return columns, rows, "jsonl"
    delimiter = "\t" if suffix in (".tsv", ".tab") else ","
    if suffix not in (".csv", ".tsv", ".tab"):  # sniff: a tab in the header means TSV
        delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    header, rows = _rows_delimited(path, text, delimiter)
    return header, rows, "csv"


def _cell(row: Any, kind: str, header: list[str], column: str) -> Any:
    if kind == "jsonl":
        return row.get(column)
    i = header.index(column)
    return row[i] if i < len(row) else None


def _read_folder(path: Path) -> Labelled:
    labels = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not labels:
        raise DatasetError(f"{path}: a folder of labelled texts needs one sub-folder per label "
                           "(e.g. pos/ and neg/, one text per file)")
    texts, names, empty = [], [], 0
    for folder in labels:
        for file in sorted(folder.iterdir()):
            if not file.is_file() or file.name.startswith("."):
                continue
            raw = file.read_bytes()
            if b"\x00" in raw[:8192]:
                raise DatasetError(f"{file}: looks like a binary file; the label folders must hold text files only")
            content = decode_utf8(raw, file).strip()
            if not content:
                empty += 1
                continue
            texts.append(content)
            names.append(folder.name)
    if not texts:
        raise DatasetError(f"{path}: the label folders hold no non-empty text files")
    return Labelled(texts, names, str(path), empty)


def read_labelled(path: str | Path, text_column: str | None = None, label_column: str | None = None,
                  *, labels_required: bool = True, group_column: str | None = None) -> Labelled:
    """Texts and labels of a CSV/TSV/JSONL file or a folder of label sub-folders.

    Rows with an empty text are dropped and counted (``dropped_empty``); a row
    with a text but no label is an error naming its line.  With
    ``labels_required=False`` a file without a label column gives empty labels.
    ``group_column`` names a column (a movie, an author) whose texts are kept
    together when the data is split (``Labelled.groups``; an empty cell is a group
    of its own).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "reviews.csv"
    >>> _ = p.write_text("review,stars\\ngreat film,5\\nawful,1\\n", encoding="utf-8")
    >>> data = read_labelled(p, label_column="stars")
    >>> data.texts, data.labels, data.classes
    (['great film', 'awful'], ['5', '1'], ['1', '5'])
    """
    path = Path(path)
    if path.is_dir():
        if group_column is not None:
            raise DatasetError(f"{path}: --group-column needs a CSV/TSV/JSONL file; a folder of label sub-folders has no columns")
        return _read_folder(path)
    header, rows, kind = _table(path)
    text_col = _pick(header, text_column, TEXT_ALIASES, "text", "--text-column", path)
    label_col = _pick(header, label_column, LABEL_ALIASES, "label", "--label-column", path, required=labels_required)
    group_col = None if group_column is None else _pick(header, group_column, (), "group", "--group-column", path)
    if not rows:
        raise DatasetError(f"{path}: the file has a header but no rows; add labelled texts")
    texts, labels, groups, empty = [], [], [], 0
    for line, row in rows:
        text = _cell(row, kind, header, text_col)
        text = "" if text is None else str(text).strip()
        if not text:
            empty += 1
            continue
        if label_col is not None:
            label = _cell(row, kind, header, label_col)
            label = "" if label is None else str(label).strip()
            if not label:
                raise DatasetError(f"{path}: line {line} has a text but no {label_col!r}; fill in its label or remove the row")
            labels.append(label)
        if group_col is not None:
            group = _cell(row, kind, header, group_col)
            groups.append(f"line {line}" if group is None or not str(group).strip() else str(group).strip())
        texts.append(text)
    if not texts:
        raise DatasetError(f"{path}: every {text_col!r} cell is empty; nothing to classify")
    return Labelled(texts, labels, str(path), empty, groups=groups if group_col is not None else None)


def read_texts(path: str | Path, text_column: str | None = None) -> list[str]:
    """Texts to classify: a CSV/TSV/JSONL file's text column, or a plain text file's lines.

    Empty texts are errors naming their line (a prediction for nothing would mislead).
    """
    path = Path(path)
    if path.suffix.lower() in (".txt", ".text", "") and path.is_file():
        lines = _read_file(path).splitlines()
        for number, line in enumerate(lines, 1):
            if not line.strip():
                raise DatasetError(f"{path}: line {number} is empty; remove it (one text per line)")
        return [line.strip() for line in lines]
    header, rows, kind = _table(path)
    col = _pick(header, text_column, TEXT_ALIASES, "text", "--text-column", path)
    if not rows:
        raise DatasetError(f"{path}: the file has a header but no rows")
    texts = []
    for line, row in rows:
        value = _cell(row, kind, header, col)
        value = "" if value is None else str(value).strip()
        if not value:
            raise DatasetError(f"{path}: line {line} has an empty {col!r}; remove the row or give it a text")
        texts.append(value)
    return texts


def load_named(name: str) -> tuple[Labelled, Labelled]:
    """(train, test) of a registered dataset: ``imdb`` (25k/25k) or ``sst2`` (train, GLUE dev as test).

    The training texts carry groups, so that a validation split is as new to the
    model as the test split: IMDB's movies (:func:`rnnkit.datasets.imdb_movie_groups`;
    its test reviews are of other movies), SST-2's sentences with their phrases
    (:func:`rnnkit.data.containment_groups`; its dev split is whole unseen sentences).
    """
    dataset, test_split, classes = NAMED[name]
    parts = []
    for split in ("train", test_split):
        texts, y = datasets.load(dataset, split)
        groups = None
        if split == "train" and dataset == "imdb":  # IMDB's test reviews are of other movies: keep a movie's together
            groups = datasets.imdb_movie_groups(split)
        elif split == "train":  # SST-2 trains on phrases of sentences: keep a sentence and its phrases together
            groups = containment_groups(texts)
        parts.append(Labelled(list(texts), [classes[int(v)] for v in y], f"{dataset}:{split}", 0, list(classes), groups))
    return parts[0], parts[1]
