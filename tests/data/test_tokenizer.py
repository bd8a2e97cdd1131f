"""Tests of rnnkit.data.tokenizer: Keras' Tokenizer and tokenizer_from_json.

Expected values are worked out by hand from the Keras documentation of the same
functions and written literally, never computed by the code under test.
"""
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import Tokenizer, tokenizer_from_json
from rnnkit.errors import ConfigError

# ---------------------------------------------------------------- Tokenizer

def _fitted(**kwargs):
    tok = Tokenizer(**kwargs)
    # counts b:2 a:1 c:2 d:1, first appearance b, a, c, d
    tok.fit_on_texts(["b a c", "c b d"])
    return tok


def test_word_index_by_frequency_ties_by_first_appearance():
    tok = _fitted()
    assert tok.word_index == {"b": 1, "c": 2, "a": 3, "d": 4}
    assert tok.index_word == {1: "b", 2: "c", 3: "a", 4: "d"}
    assert list(tok.word_counts.items()) == [("b", 2), ("a", 1), ("c", 2), ("d", 1)]
    assert tok.word_docs == {"b": 2, "a": 1, "c": 2, "d": 1}
    assert tok.index_docs == {1: 2, 3: 1, 2: 2, 4: 1}
    assert tok.document_count == 2
    assert tok.texts_to_sequences(["a b c d e"]) == [[3, 1, 2, 4]]  # unknown 'e' dropped


def test_num_words_cutoff_keeps_word_index():
    tok = _fitted(num_words=3)
    assert tok.texts_to_sequences(["a b c d"]) == [[1, 2]]
    assert len(tok.word_index) == 4
    assert tok.sequences_to_texts([[3, 1, 2, 4]]) == ["b c"]


def test_oov_token_takes_index_one():
    tok = _fitted(oov_token="<OOV>")
    assert tok.word_index == {"<OOV>": 1, "b": 2, "c": 3, "a": 4, "d": 5}
    assert tok.texts_to_sequences(["a b e"]) == [[4, 2, 1]]
    assert tok.sequences_to_texts([[4, 2, 9]]) == ["a b <OOV>"]


def test_oov_with_num_words():
    tok = _fitted(oov_token="<OOV>", num_words=3)
    assert tok.texts_to_sequences(["a b c e"]) == [[1, 2, 1, 1]]
    assert tok.sequences_to_texts([[4, 2, 3, 9]]) == ["<OOV> b <OOV> <OOV>"]


def test_num_words_changed_after_fit_is_honoured():
    tok = _fitted()
    assert tok.texts_to_sequences(["a b c"]) == [[3, 1, 2]]
    tok.num_words = 2
    assert tok.texts_to_sequences(["a b c"]) == [[1]]


def test_filters_lower_and_split():
    tok = Tokenizer()
    tok.fit_on_texts(["Hello, World! hello.\tworld\nHELLO"])
    assert tok.word_index == {"hello": 1, "world": 2}
    assert tok.word_counts == {"hello": 3, "world": 2}

    tok = Tokenizer(lower=False)
    tok.fit_on_texts(["Hello hello HELLO Hello"])
    assert tok.word_index == {"Hello": 1, "hello": 2, "HELLO": 3}

    tok = Tokenizer(filters="")
    tok.fit_on_texts(["a,b a"])
    assert tok.word_index == {"a,b": 1, "a": 2}

    tok = Tokenizer(split=",", filters="")
    tok.fit_on_texts(["x,y,,x"])
    assert tok.word_index == {"x": 1, "y": 2}


def test_token_lists_are_used_as_is():
    tok = Tokenizer()
    tok.fit_on_texts([["New York", "is", "big"], ["new york"]])
    assert tok.word_index == {"new york": 1, "is": 2, "big": 3}


def test_char_level_including_chinese():
    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["ab a"])
    # char level keeps spaces and skips the filters, as Keras
    assert tok.word_index == {"a": 1, "b": 2, " ": 3}

    tok = Tokenizer(char_level=True)
    tok.fit_on_texts(["我爱北京，北京爱我"])
    assert tok.word_index == {"我": 1, "爱": 2, "北": 3, "京": 4, "，": 5}
    assert tok.texts_to_sequences(["北京我"]) == [[3, 4, 1]]
    assert tok.sequences_to_texts([[3, 4]]) == ["北 京"]


# tiny corpus: "a a b", "b c"  ->  a:1 b:2 c:3; docs a:1 b:2 c:1; 2 documents
# tfidf = (1 + ln count) * ln(1 + 2 / (1 + docs)):
#   row 0: a: (1 + ln 2) * ln(1 + 2/2) = (1 + 0.693147...) * 0.693147... = 1.1736001944781467
#          b: 1 * ln(1 + 2/3) = ln(5/3) = 0.5108256237659907
#   row 1: b: 0.5108256237659907;  c: 1 * ln(1 + 2/2) = 0.6931471805599453
MATRIX_CASES = [
    ("binary", [[0, 1, 1, 0], [0, 0, 1, 1]]),
    ("count", [[0, 2, 1, 0], [0, 0, 1, 1]]),
    ("freq", [[0, 2 / 3, 1 / 3, 0], [0, 0, 0.5, 0.5]]),
    ("tfidf", [[0, 1.1736001944781467, 0.5108256237659907, 0], [0, 0, 0.5108256237659907, 0.6931471805599453]]),
]


@pytest.mark.parametrize("mode, expected", MATRIX_CASES)
def test_texts_to_matrix_modes(mode, expected):
    tok = Tokenizer()
    tok.fit_on_texts(["a a b", "b c"])
    assert tok.word_index == {"a": 1, "b": 2, "c": 3}
    out = tok.texts_to_matrix(["a a b", "b c"], mode=mode)
    assert out.shape == (2, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_texts_to_matrix_num_words_width():
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(["a a b", "b c"])
    np.testing.assert_array_equal(tok.texts_to_matrix(["a a b c"], mode="count"), [[0, 2, 1]])


def test_tfidf_literal_value():
    assert math.isclose(MATRIX_CASES[3][1][0][1], (1 + math.log(2)) * math.log(2))


@pytest.mark.parametrize("call, kind", [
    (lambda t: t.texts_to_matrix(["a"], mode="bag"), "'bag'"),
    (lambda t: Tokenizer().texts_to_matrix(["a"]), "num_words"),
    (lambda t: Tokenizer(num_words=3).sequences_to_matrix([[1]], mode="tfidf"), "fit_on_texts"),
    (lambda t: t.fit_on_texts("a single string"), "wrap it in a list"),
    (lambda t: t.texts_to_sequences(["ok", None]), "index 1"),
    (lambda t: Tokenizer(num_words=-1), "num_words"),
    (lambda t: tokenizer_from_json("{}"), "Tokenizer.to_json"),
])
def test_tokenizer_bad_inputs(call, kind):
    with pytest.raises(ConfigError) as info:
        call(_fitted())
    assert kind in str(info.value)


def test_json_round_trip_identical_outputs():
    tok = Tokenizer(num_words=4, oov_token="<OOV>")
    tok.fit_on_texts(["The cat sat.", "The dog sat on the cat!", "a bird"])
    back = tokenizer_from_json(tok.to_json())
    texts = ["the cat and the bird", "dog sat", ""]
    assert back.texts_to_sequences(texts) == tok.texts_to_sequences(texts)
    seqs = [[1, 2, 3, 4, 5, 6], [9]]
    assert back.sequences_to_texts(seqs) == tok.sequences_to_texts(seqs)
    for mode in ("binary", "count", "tfidf", "freq"):
        np.testing.assert_array_equal(back.texts_to_matrix(texts, mode=mode), tok.texts_to_matrix(texts, mode=mode))
    assert back.word_index == tok.word_index
    assert back.index_word == tok.index_word
    assert list(back.word_counts.items()) == list(tok.word_counts.items())
    assert back.index_docs == tok.index_docs
    assert back.document_count == 3
    cfg = json.loads(tok.to_json())
    assert cfg["class_name"] == "Tokenizer"
    assert back.get_config() == tok.get_config()


def test_fit_twice_accumulates():
    tok = Tokenizer()
    tok.fit_on_texts(["a b"])
    tok.fit_on_texts(["b"])
    assert tok.word_index == {"b": 1, "a": 2}
    assert tok.document_count == 2
    assert tok.word_docs == {"a": 1, "b": 2}


# ---------------------------------------------------------------- properties

@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(st.text(max_size=30), max_size=6),
    char_level=st.booleans(),
    lower=st.booleans(),
    num_words=st.one_of(st.none(), st.integers(1, 6)),
    oov=st.sampled_from([None, "<OOV>"]),
)
def test_tokenizer_never_crashes_on_unicode(texts, char_level, lower, num_words, oov):
    tok = Tokenizer(num_words=num_words, char_level=char_level, lower=lower, oov_token=oov)
    tok.fit_on_texts(texts)
    seqs = tok.texts_to_sequences(texts)
    assert len(seqs) == len(texts)
    top = len(tok.word_index) + 1
    for s in seqs:
        assert all(1 <= i < top for i in s)
        if num_words:
            assert all(i < num_words or i == tok.word_index.get(oov) for i in s)
    back = tok.sequences_to_texts(seqs)
    assert len(back) == len(texts)
    if tok.word_index and tok.document_count:
        tok.texts_to_matrix(texts, mode="tfidf")
    assert tokenizer_from_json(tok.to_json()).texts_to_sequences(texts) == seqs


def test_other_whitespace_is_part_of_words_as_in_keras():
    # only `split` (after filters) separates words: \r, no-break and ideographic spaces stay inside
    tok = Tokenizer()
    tok.fit_on_texts(["a\rb c\xa0d e\u3000f  g"])
    assert tok.word_index == {"a\rb": 1, "c\xa0d": 2, "e\u3000f": 3, "g": 4}
    assert tok.texts_to_sequences(["g a\rb x"]) == [[4, 1]]


@settings(max_examples=50, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("ab ,.\t\n\r\x0b\x1c\xa0\u3000\u2028İ字")), max_size=40))
def test_word_splitting_matches_split_then_drop_empty(text):
    filters = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
    table = str.maketrans({c: " " for c in filters})
    expected = [w for w in text.lower().translate(table).split(" ") if w]
    tok = Tokenizer()
    tok.fit_on_texts([text])
    assert sum(tok.word_counts.values()) == len(expected)
    assert tok.sequences_to_texts(tok.texts_to_sequences([text])) == [" ".join(expected)]


def test_out_of_range_matrix_indices_are_ignored():
    tok = Tokenizer(num_words=3)
    np.testing.assert_array_equal(tok.sequences_to_matrix([[-1, 1, 5]], mode="count"), [[0, 1, 0]])



def _reference_sequences(tok, texts):
    """Keras' rule written out: lower, filters -> split, split, drop empties, then the index cut."""
    table = str.maketrans({c: tok.split for c in tok.filters})
    oov = tok.word_index.get(tok.oov_token) if tok.oov_token else None
    out = []
    for text in texts:
        text = text.lower() if tok.lower else text
        words = list(text) if tok.char_level else [w for w in text.translate(table).split(tok.split) if w]
        seq = []
        for w in words:
            i = tok.word_index.get(w)
            if i is not None and (not tok.num_words or i < tok.num_words):
                seq.append(i)
            elif oov is not None:
                seq.append(oov)
        out.append(seq)
    return out


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=st.sampled_from(list("abc ,.!\n\xa0é字")), max_size=25), max_size=8),
    num_words=st.one_of(st.none(), st.integers(1, 5)),
    oov=st.sampled_from([None, "<OOV>"]),
    char_level=st.booleans(),
)
def test_sequences_of_the_fitted_texts_match_the_rule(texts, num_words, oov, char_level):
    # the first call after fit maps the ids kept by fit; the second splits again: both follow the rule
    tok = Tokenizer(num_words=num_words, oov_token=oov, char_level=char_level)
    tok.fit_on_texts(texts)
    expected = _reference_sequences(tok, texts)
    assert tok.texts_to_sequences(texts) == expected
    assert tok.texts_to_sequences(texts) == expected


def test_kept_ids_are_not_used_for_other_texts_or_changed_settings():
    tok = Tokenizer()
    texts = ["b a b", "c b"]
    tok.fit_on_texts(texts)
    texts[1] = "a a"  # the list changed after fit
    assert tok.texts_to_sequences(texts) == [[1, 2, 1], [2, 2]]
    tok.fit_on_texts(["x y", "Y"])
    tok.lower = False  # settings changed after fit: split again with the new ones
    assert tok.texts_to_sequences(["x y", "Y"]) == [[tok.word_index["x"], tok.word_index["y"]], []]
    tok = Tokenizer(num_words=3)
    tok.fit_on_texts(["a a a b b c"])
    tok.num_words = 2  # the cut is applied at conversion time, as Keras does
    assert tok.texts_to_sequences(["a a a b b c"]) == [[1, 1, 1]]


# ---------------------------------------------------------------- analyzer

def test_text_analyzer_uses_tokenize():
    tok = Tokenizer(analyzer="text")
    tok.fit_on_texts(["It's great!<br />不错", "great."])
    # counts: great 2, then first appearance: it's, !, 不, 错, .
    assert tok.word_index == {"great": 1, "it's": 2, "!": 3, "不": 4, "错": 5, ".": 6}
    assert tok.texts_to_sequences(["GREAT! it's"]) == [[1, 3, 2]]
    char = Tokenizer(analyzer="text", char_level=True)
    char.fit_on_texts(["好 看!"])
    assert char.word_index == {"好": 1, "看": 2, "!": 3}  # no space token, unlike Keras' char_level
    keep = Tokenizer(analyzer="text", lower=False)
    keep.fit_on_texts(["A a"])
    assert keep.word_index == {"A": 1, "a": 2}


def test_callable_analyzer_as_in_keras():
    tok = Tokenizer(analyzer=lambda text: text.split("|"))
    tok.fit_on_texts(["A|b|b"])
    assert tok.word_index == {"b": 1, "A": 2}  # the text as it is: no lower-casing, no filters
    chars = Tokenizer(analyzer=lambda text: ["never"], char_level=True)
    chars.fit_on_texts(["ab"])
    assert chars.word_index == {"a": 1, "b": 2}  # char_level wins, as in Keras
    with pytest.raises(ConfigError, match="analyzer='text'"):
        tok.to_json()


def test_text_analyzer_round_trips_and_keras_json_has_none():
    tok = Tokenizer(analyzer="text")
    tok.fit_on_texts(["Don't stop!"])
    back = tokenizer_from_json(tok.to_json())
    assert back.analyzer == "text" and back.texts_to_sequences(["stop, don't"]) == [[2, 1]]
    assert "analyzer" not in Tokenizer().get_config()
    assert tokenizer_from_json(Tokenizer().to_json()).analyzer is None


def test_bad_analyzer():
    with pytest.raises(ConfigError, match="`analyzer` must be None, 'text' or a function"):
        Tokenizer(analyzer="words")
