"""Hostile input files for the apps' readers: classify's CSV/TSV/JSONL/text/folders, forecast's series CSV,
translate's sentence-pair TSV, textgen's text files and speech's folders of recordings.

Each case is a valid file mutated (flipped, cut, spliced bytes, a boundary number written over a field) or
a file of its own kind that breaks a rule (a JSON bomb, a huge field, NUL bytes, another encoding); only
rnnkit's errors, in one line naming the file, may come out, and what is read keeps the reader's promises.
"""
import io
import tempfile
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

from fuzz_support import BATCH, cases, deep_json, fuzz, hostile, mutate, run_cases, seeds
from rnnkit.apps.classify.data import read_labelled, read_texts
from rnnkit.apps.forecast.data import read_csv_series
from rnnkit.apps.speech.data import features_of, load_recordings
from rnnkit.apps.textgen.data import load_corpus
from rnnkit.apps.translate.data import load_pairs
from rnnkit.errors import RnnkitError

CSV = 'text,label\ngreat film,pos\n"awful, really",neg\n"says ""hi""",pos\n,neg\n不错,pos\n'.encode()
TSV = "review\tsentiment\tid\ngreat\tpos\t1\nbad\tneg\t2\n".encode()
JSONL = b'{"text": "great film", "label": "pos"}\n{"text": "bad", "label": 0}\n\n{"sentence": "x", "y": null}\n'
TEXT = "one text\nanother, with 标点!\n".encode()
SERIES = b"date,sales,temp\n2020-01-01,10,1.5\n2020-01-02,,2\n2020-01-03,12.5,NA\n2020-01-04 06:30,13,4\n"
PAIRS = "Go.\tVa !\tCC-BY 2.0\nHi.\tSalut.\n\t\nI see.\tJe vois.\n".encode()
CORPUS = ("To be, or not to be: that is the question.\n" * 3).encode()
# files of the right kind that break a rule
SPECIAL = [
    b"", b"\n\n", b"\xef\xbb\xbf", b"\xff\xfe" + "text,label\n".encode("utf-16-le"), b"text,label\n" + b"\x00" * 9000 + b"a,b\n",
    b"text,label\n\"" + b"a" * 140_000 + b"\",pos\n", b"text,label\n\"never closed,pos\n",
    b"date,sales\n" + b"1" * 5000 + b",1\n", deep_json(50_000).encode() + b"\n", b'{"text": 1' + b"0" * 5000 + b"}\n",
    b'{"text": NaN, "label": Infinity}\n', b"date,sales\n2020-02-31,1\n2020-01,2\n2020-01-01T25:00,3\n9999-12-31 23:59:59,4\n",
    b"date,sales\n2020-01,1\n2020-01,2\n", b"date,sales\n2020-02,1\n2020-01,1e999\n", b"date\n2020\n",
    b"date,sales\n2020-01,1\n" + b"\x00" * 3 + b",2\n", b"a\rb\r\x1c\x1d\xe2\x80\xa8\n", b"\t\t\t\n", b"x" * 20,
]


def content(rnd, *valid: bytes) -> bytes:
    """A valid file mutated (most cases), random bytes, or a file that breaks a rule."""
    r = rnd.random()
    if r < 0.75:
        return mutate(rnd, rnd.choice(valid))
    if r < 0.9:
        return rnd.randbytes(rnd.randint(0, 64))
    return rnd.choice(SPECIAL)


def written(rnd, path: Path, *valid: bytes):
    """:data:`BATCH` times: :func:`content` of ``valid`` written to ``path``; yields the bytes written."""
    for _ in range(BATCH):
        raw = content(rnd, *valid)
        path.write_bytes(raw)
        yield raw


@pytest.fixture(scope="module")
def folder(scratch):
    return Path(tempfile.mkdtemp(dir=scratch))


def _check_texts(texts):
    assert texts and all(isinstance(t, str) and t and t == t.strip() for t in texts)


COLUMNS = [(None, None), ("text", "label"), ("review", "sentiment"), ("nope", None)]


@fuzz(1000)
@given(rnd=seeds)
def test_classify_reads_any_file(folder, rnd):
    for _ in range(BATCH):
        path = folder / f"data{rnd.choice(['.csv', '.tsv', '.jsonl', '.txt', '.dat'])}"
        raw = content(rnd, CSV, TSV, JSONL, TEXT)
        path.write_bytes(raw)
        columns = rnd.choice(COLUMNS)
        got = hostile(read_labelled, path, *columns, name=path.name, case=(path.name, columns, raw))
        if not isinstance(got, RnnkitError):
            _check_texts(got.texts)
            assert len(got.labels) == len(got.texts) and all(isinstance(y, str) and y for y in got.labels)
        got = hostile(read_texts, path, columns[0], name=path.name, case=(path.name, columns, raw))
        if not isinstance(got, RnnkitError):
            _check_texts(got)


@cases(100, 2000)
def test_classify_reads_any_folder(scratch, count):
    run_cases(count, lambda rnd: _classify_folders(scratch, rnd))


def _labelled_folder(scratch, files, suffix: str) -> Path:
    """A new folder holding ``files`` ((label, bytes) pairs) as ``<label>/<label>_anna_<i><suffix>``."""
    root = Path(tempfile.mkdtemp(dir=scratch))
    for i, (label, raw) in enumerate(files):
        (root / label).mkdir(exist_ok=True)
        (root / label / f"{label}_anna_{i}{suffix}").write_bytes(raw)
    return root


def _classify_folders(scratch, rnd):
    for _ in range(BATCH):
        files = [(rnd.choice(["pos", "neg", ".hidden", "x y"]), content(rnd, TEXT)) for _ in range(rnd.randint(0, 4))]
        got = hostile(read_labelled, _labelled_folder(scratch, files, ".txt"), case=files)
        if not isinstance(got, RnnkitError):
            _check_texts(got.texts)


@fuzz(1000)
@given(rnd=seeds)
def test_forecast_reads_any_series_csv(folder, rnd):
    path = folder / "series.csv"
    for raw in written(rnd, path, SERIES):
        args = dict(fill=rnd.choice([None, "interpolate", "ffill"]), target=rnd.choice([None, "sales", "temp", "date", "x"]),
                    features=rnd.choice([None, ["temp"], ["sales", "temp"], ["date"]]))
        got = hostile(read_csv_series, path, **args, name=path.name, case=(args, raw))
        if not isinstance(got, RnnkitError):
            assert got.values.shape == (len(got.dates), len(got.columns)) and np.isfinite(got.values).all()
            assert (np.diff(got.dates) > np.timedelta64(0)).all()


@fuzz(1000)
@given(rnd=seeds)
def test_translate_reads_any_pair_file(folder, rnd):
    path = folder / "pairs.tsv"
    for raw in written(rnd, path, PAIRS):
        got = hostile(load_pairs, str(path), None, "fr", name=path.name, case=raw)
        if not isinstance(got, RnnkitError):
            assert len(got.sources) == len(got.targets) > 0
            assert all(a and b and "\t" not in a + b for a, b in zip(got.sources, got.targets))


@fuzz(1000)
@given(rnd=seeds)
def test_textgen_reads_any_text_file(folder, rnd):
    path = folder / "corpus.txt"
    for raw in written(rnd, path, CORPUS):
        level = rnd.choice(["char", "word"])
        got = hostile(load_corpus, str(path), level, name=path.name, case=(level, raw))
        if not isinstance(got, RnnkitError):
            assert len(got.train) and len(got.valid) and got.train.max() < len(got.vocab)


def _wav(samples: int = 200, rate: int = 8000, width: int = 2, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels), w.setsampwidth(width), w.setframerate(rate)
        w.writeframes(np.random.default_rng(0).integers(0, 256, samples * width * channels, dtype=np.uint8).tobytes())
    return buffer.getvalue()


WAVS = (_wav(), _wav(rate=16000, width=1, channels=2))


@cases(60, 2000)
def test_speech_reads_any_folder(scratch, count):
    run_cases(count, lambda rnd: _speech_folders(scratch, rnd))


def _speech_folders(scratch, rnd):
    for _ in range(BATCH):
        files = [(rnd.choice(["0", "1", "one"]), mutate(rnd, rnd.choice(WAVS)) if rnd.random() < 0.8
                  else rnd.randbytes(rnd.randint(0, 48))) for _ in range(rnd.randint(1, 3))]
        got = hostile(load_recordings, str(_labelled_folder(scratch, files, ".wav")), 8000, case=files)
        if not isinstance(got, RnnkitError):
            assert got.sample_rate == 8000 and all(np.isfinite(w).all() and w.dtype == np.float32 for w in got.waves)
            feats = hostile(features_of, got.waves, 8000, case=files)
            assert all(f.ndim == 2 and bool(f.isfinite().all()) for f in feats)
