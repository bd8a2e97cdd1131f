"""Hostile input for rnnkit.data: Tokenizer (any texts and id sequences, mangled JSON), pad_sequences (ragged,
huge, negative, wrong dtypes, strings) and Vocab files (mangled bytes and JSON).

Only rnnkit's errors may come out, in one line; what is returned keeps its promises, and a tokenizer or a
vocabulary that loads also works (converts and saves again).
"""
import json

import numpy as np
import pytest
from hypothesis import given

from fuzz_support import BATCH, SCALARS, cheaply, deep_json, fuzz, hostile, json_value, mutate, replace_in, seeds, \
    text
from rnnkit.data import Tokenizer, Vocab, pad_sequences, tokenizer_from_json
from rnnkit.errors import RnnkitError


def texts(rnd):
    """A list of texts: strings of any characters, token lists, and now and then a non-text."""
    def one():
        r = rnd.random()
        if r < 0.6:
            return text(rnd, 30)
        if r < 0.9:
            return [text(rnd, 6) for _ in range(rnd.randint(0, 4))]
        return json_value(rnd, 1)
    return [one() for _ in range(rnd.randint(0, 5))]


def an_id(rnd):
    return rnd.randint(-3, 30) if rnd.random() < 0.8 else rnd.choice(SCALARS + ([1, 2], np.int64(3), np.float32(2)))


def sequences(rnd):
    """Lists of ids: ints of every size, and now and then a non-int or a non-list."""
    return [[an_id(rnd) for _ in range(rnd.randint(0, 6))] if rnd.random() < 0.9 else an_id(rnd)
            for _ in range(rnd.randint(0, 4))]


def _fitted() -> Tokenizer:
    tok = Tokenizer(num_words=6, oov_token="<oov>")
    tok.fit_on_texts(["the cat sat on the mat", "the dog, the cat!", "不错"])
    return tok


def _use(tok: Tokenizer, rnd) -> None:
    """Every conversion of a tokenizer: only rnnkit errors; what is returned has the documented types."""
    sample_texts, sample_sequences = texts(rnd), sequences(rnd)
    seqs = hostile(tok.texts_to_sequences, sample_texts)
    if not isinstance(seqs, RnnkitError):
        assert len(seqs) == len(sample_texts) and all(isinstance(i, int) and i >= 1 for s in seqs for i in s)
        back = hostile(tok.sequences_to_texts, seqs)
        assert all(isinstance(t, str) for t in back)
    out = hostile(tok.sequences_to_texts, sample_sequences)
    assert isinstance(out, RnnkitError) or all(isinstance(t, str) for t in out)
    mode = rnd.choice(("binary", "count", "tfidf", "freq"))
    if len(tok.word_index) < 10_000:
        m = hostile(tok.sequences_to_matrix, sample_sequences, mode=mode)
        assert isinstance(m, (RnnkitError, np.ndarray))
    hostile(tok.fit_on_sequences, sample_sequences)
    again = hostile(tok.to_json)
    if isinstance(again, str):
        # (JSON joins a pair of lone surrogates into one character, as it would in Keras)
        assert tokenizer_from_json(again).word_index == json.loads(json.dumps(tok.word_index))


SETTINGS = {"num_words": lambda rnd: rnd.choice([None, 0, 3, 50, -1, 2.5, True, "5"]),
            "filters": lambda rnd: text(rnd, 4) if rnd.random() < 0.8 else json_value(rnd, 1),
            "lower": lambda rnd: rnd.random() < 0.5, "char_level": lambda rnd: rnd.random() < 0.3,
            "split": lambda rnd: text(rnd, 2) if rnd.random() < 0.8 else json_value(rnd, 1),
            "oov_token": lambda rnd: rnd.choice([None, "<oov>", text(rnd, 3), 7]),
            "document_count": lambda rnd: rnd.choice([0, 5, -1, None, "2", 1.5]),
            "analyzer": lambda rnd: rnd.choice([None, "text", "word", 3])}


@fuzz(1500)
@given(rnd=seeds)
def test_tokenizer_on_any_texts_and_sequences(rnd):
    for _ in range(BATCH):
        chosen = {k: make(rnd) for k, make in SETTINGS.items() if rnd.random() < 0.4}
        tok = hostile(Tokenizer, **chosen)
        if isinstance(tok, RnnkitError):
            continue
        fit = texts(rnd)
        if isinstance(hostile(tok.fit_on_texts, fit, case=(chosen, fit)), RnnkitError):
            continue
        # (Keras' rule: an oov_token that is also a word of the texts leaves index 1 unused)
        assert len(set(tok.word_index.values())) == len(tok.word_index) >= 0
        assert min(tok.word_index.values(), default=1) >= 1
        _use(tok, rnd)


@fuzz(1500)
@given(rnd=seeds)
def test_tokenizer_from_mangled_json(rnd):
    good = _fitted().to_json()
    for _ in range(BATCH):
        kind = rnd.choice(("bytes", "config", "table", "other"))
        if kind == "bytes":  # the JSON text mangled: flipped, cut, spliced
            mangled = mutate(rnd, good.encode()).decode("utf-8", "replace")
        elif kind == "config":  # one setting or key replaced or dropped
            mangled = json.dumps(replace_in(rnd, json.loads(good)))
        elif kind == "table":  # a count/index table (a JSON string inside the JSON) changed
            tree = json.loads(good)
            key = rnd.choice(["word_counts", "word_docs", "index_docs", "index_word", "word_index"])
            tree["config"][key] = json.dumps(replace_in(rnd, json.loads(tree["config"][key])))
            mangled = json.dumps(tree)
        else:  # anything at all
            mangled = rnd.choice([text(rnd), json.dumps(json_value(rnd)), json_value(rnd), deep_json(100_000),
                                  rnd.randbytes(8)])
        tok = hostile(tokenizer_from_json, mangled)
        if not isinstance(tok, RnnkitError):
            _use(tok, rnd)


VALUES = SCALARS + (b"", b"ab", [1, 2], [[1]], np.int64(-5), np.float32(1.5), 300, -300)
DTYPES = ("int32", "int64", "uint8", "int8", "float16", "float32", "bool", "object", "str", "U3", "S2", "complex64",
          "datetime64[s]", "V4", "i4,i4", "foo", None, int, float, 3, [("a", "i4")], "int32", "float32")


def ragged(rnd):
    r = rnd.random()
    if r < 0.6:
        return [rnd.randint(-300, 300) if rnd.random() < 0.8 else rnd.choice(VALUES) for _ in range(rnd.randint(0, 6))]
    if r < 0.75:
        return np.asarray([[rnd.random()] * 2 for _ in range(rnd.randint(0, 3))], dtype=np.float32)
    if r < 0.85:
        return np.arange(rnd.randint(0, 5), dtype=rnd.choice([np.int64, np.uint8, np.float64]))
    return rnd.choice([text(rnd, 4), {0: 1, 1: 2}, {1, 2}, None, 5, 2.5, [[1, 2], [3]], [[1], 2], (1, 2), b"ab"])


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast", "ignore:overflow encountered in cast")
@fuzz(2000)
@given(rnd=seeds)
def test_pad_sequences_on_any_input(rnd):
    for _ in range(BATCH):
        seqs = [ragged(rnd) for _ in range(rnd.randint(0, 5))]
        maxlen = rnd.choice([None, None, 0, 1, 3, 12, -2, 2.5, "3", True])
        args = dict(maxlen=maxlen, dtype=rnd.choice(DTYPES), padding=rnd.choice(["pre", "post", "middle", None]),
                    truncating=rnd.choice(["pre", "post", 0]), value=rnd.choice(VALUES))
        out = hostile(pad_sequences, seqs, **args, case=(seqs, args))
        if not isinstance(out, RnnkitError):
            assert isinstance(out, np.ndarray) and out.shape[0] == len(seqs)
            assert maxlen is None or out.shape[1] == maxlen


def test_pad_sequences_refuses_an_output_larger_than_memory_without_allocating_it():
    cheaply(lambda: pad_sequences([[1, 2], [3]], maxlen=10**12), refused="pass a smaller maxlen")


@fuzz(1000)
@given(rnd=seeds)
def test_vocab_load_on_mangled_files(scratch, rnd):
    path = scratch / "vocab.json"
    good = Vocab.build(["the cat sat", "不错 很 好"], analyzer="text").to_json().encode("utf-8")
    for _ in range(BATCH):
        kind = rnd.choice(("bytes", "bytes", "json", "other"))
        if kind == "bytes":
            raw = mutate(rnd, good)
        elif kind == "json":
            raw = json.dumps(replace_in(rnd, json.loads(good))).encode()
        else:
            raw = rnd.choice([rnd.randbytes(rnd.randint(0, 64)), json.dumps(json_value(rnd)).encode(),
                              deep_json(100_000).encode(), b"\xff\xfe{}", b""])
        path.write_bytes(raw)
        vocab = hostile(Vocab.load, path, name=path.name, case=raw)
        if not isinstance(vocab, RnnkitError):
            assert vocab.tokens[:4] == list(Vocab.SPECIALS)
            ids = vocab.encode(text(rnd))
            assert all(0 <= i < len(vocab) for i in ids)
            vocab.decode(ids)
            assert Vocab.from_json(vocab.to_json()) == vocab


def test_vocab_load_names_a_missing_file(tmp_path):
    err = hostile(Vocab.load, tmp_path / "nope.json", name="nope.json")
    assert isinstance(err, RnnkitError)
