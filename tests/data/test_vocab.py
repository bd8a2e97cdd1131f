"""Tests of rnnkit.data.vocab: Vocab.

Expected ids and tokens are written literally, worked out by hand.
"""
import json
import os

import pytest

from rnnkit.data import Vocab
from rnnkit.errors import ConfigError

# ---------------------------------------------------------------- Vocab

def test_vocab_specials_and_order():
    v = Vocab.build(["hello world", "hello there"])
    assert v.tokens == ["<pad>", "<unk>", "<bos>", "<eos>", "hello", "world", "there"]
    assert (v.pad_id, v.unk_id, v.bos_id, v.eos_id) == (0, 1, 2, 3)
    assert len(v) == 7 and "world" in v and "nope" not in v
    ids = v.encode("hello you there", add_bos=True, add_eos=True)
    assert ids == [2, 4, 1, 6, 3]
    assert v.decode(ids) == "hello <unk> there"
    assert v.decode(ids, skip_special=False) == "<bos> hello <unk> there <eos>"
    assert v.token_to_id("there") == 6 and v.token_to_id("zz") == 1
    assert v.id_to_token(5) == "world"
    assert v.encode(["world", "x"]) == [5, 1]


def test_vocab_limits_and_levels():
    texts = ["a b b c c c", "d"]
    assert Vocab.build(texts, min_freq=2).tokens[4:] == ["c", "b"]
    assert Vocab.build(texts, max_size=1).tokens[4:] == ["c"]
    assert Vocab.build(texts, max_size=0).tokens[4:] == []
    v = Vocab.build(["你好你", "好的"], level="char")
    assert v.tokens[4:] == ["你", "好", "的"]
    assert v.decode(v.encode("你的他", add_bos=True)) == "你的<unk>"
    assert Vocab.build(["<unk> a <eos>"]).tokens[4:] == ["a"]
    assert Vocab.build([["x", "y", "x"]]).tokens[4:] == ["x", "y"]


def test_vocab_json_and_file_round_trip(tmp_path):
    v = Vocab.build(["北京 欢迎 你", "你 好"], level="word")
    assert Vocab.from_json(v.to_json()) == v
    path = tmp_path / "vocab.json"
    v.save(path)
    assert Vocab.load(path) == v
    assert json.loads(path.read_text(encoding="utf-8"))["tokens"][4] == "你"
    v2 = Vocab.build(["x"], level="char")
    v2.save(path)  # overwrite in place
    assert Vocab.load(path) == v2
    assert sorted(os.listdir(tmp_path)) == ["vocab.json"]  # no temp files left


@pytest.mark.parametrize("call, exc, fragment", [
    (lambda: Vocab.from_json("not json"), ConfigError, "Vocab.to_json"),
    (lambda: Vocab.from_json('{"tokens": ["a"]}'), ConfigError, "not an rnnkit Vocab"),
    (lambda: Vocab.build(["a"], level="byte"), ConfigError, "'byte'"),
    (lambda: Vocab.build("abc"), ConfigError, "wrap it in a list"),
    (lambda: Vocab.build(["a"], min_freq=0), ConfigError, "min_freq"),
    (lambda: Vocab(["a"]).id_to_token(99), ConfigError, "99"),
    (lambda: Vocab(["a"]).decode([7]), ConfigError, "7"),
    (lambda: Vocab(["a", "a"]), ConfigError, "twice"),
    (lambda: Vocab(["a"]).encode(3), ConfigError, "int"),
])
def test_vocab_errors(call, exc, fragment):
    with pytest.raises(exc) as info:
        call()
    assert fragment in str(info.value)


def test_vocab_save_failure_leaves_nothing(tmp_path):
    target = tmp_path / "sub"
    target.mkdir()
    with pytest.raises(OSError):
        Vocab(["a"]).save(target)  # a directory cannot be replaced by a file
    assert os.listdir(tmp_path) == ["sub"] and os.listdir(target) == []


# ---------------------------------------------------------------- analyzer

def test_text_analyzer_cuts_strings_with_tokenize():
    v = Vocab.build(["Don't stop!<br />不错", "don't STOP"], analyzer="text")
    # counts: don't 2, stop 2, ! 1, 不 1, 错 1 (ties in order of first appearance)
    assert v.tokens[4:] == ["don't", "stop", "!", "不", "错"]
    assert v.encode("DON'T go!", add_eos=True) == [4, 1, 6, 3]
    assert v.split("a_b") == ["a", "b"]
    assert v.encode(["Stop"]) == [1]  # token lists are taken as they are: no lower-casing
    c = Vocab.build(["好 看!"], level="char", analyzer="text")
    assert c.tokens[4:] == ["好", "看", "!"] and c.encode("看 好") == [5, 4]


def test_split_analyzer_is_unchanged():
    assert Vocab(level="char").split("a b\n") == ["a", " ", "b", "\n"]
    assert Vocab().split("Don't stop!") == ["Don't", "stop!"]


def test_analyzer_is_saved_and_old_files_read_as_split(tmp_path):
    v = Vocab(["a"], analyzer="text")
    assert json.loads(v.to_json())["analyzer"] == "text"
    assert Vocab.from_json(v.to_json()) == v and Vocab.from_json(v.to_json()).analyzer == "text"
    assert Vocab(["a"], analyzer="split") != v
    # the default writes exactly what files written before the option held
    assert Vocab(["a"], level="char").to_json() == (
        '{"format": "rnnkit.Vocab", "version": 1, "level": "char", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "a"]}'
    )
    old = '{"format": "rnnkit.Vocab", "version": 1, "level": "word", "tokens": ["<pad>", "<unk>", "<bos>", "<eos>", "x!"]}'
    assert Vocab.from_json(old).analyzer == "split" and Vocab.from_json(old).encode("x!") == [4]
    assert repr(v) == "Vocab(size=5, level='word', analyzer='text')"


@pytest.mark.parametrize("call, fragment", [
    (lambda: Vocab(analyzer="regex"), "'split', 'text'"),
    (lambda: Vocab.build(["a"], analyzer=None), "analyzer"),
    (lambda: Vocab.build(["a"], max_size=-1), "max_size"),
    (lambda: Vocab.build(["a"], max_size=1.5), "max_size"),
])
def test_analyzer_and_size_errors(call, fragment):
    with pytest.raises(ConfigError) as info:
        call()
    assert fragment in str(info.value)
