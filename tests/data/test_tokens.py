"""Tests of rnnkit.data.tokens: tokenize, the rule the apps share (words, punctuation marks, CJK characters).

Every expected token list is written by hand; these are the tokens classify's own
tokenizer gave before it moved here (tests/apps/fixtures/classify_run_0.1 holds
the tokens that code wrote down for its probe texts).
"""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data import tokenize
from rnnkit.errors import ConfigError


@pytest.mark.parametrize("text, expected", [
    # moved from tests/apps/test_classify.py
    ("Don't   STOP!<br /><br />Great.", ["don't", "stop", "!", "great", "."]),
    ("我很喜欢 this movie", ["我", "很", "喜", "欢", "this", "movie"]),
    # inner apostrophes stay, outer ones are marks of their own
    ("o'brien's 'quoted' rock'n'roll", ["o'brien's", "'", "quoted", "'", "rock'n'roll"]),
    ("dogs' toys", ["dogs", "'", "toys"]),
    # every punctuation mark alone, repeated ones too
    ("Wait...what?!", ["wait", ".", ".", ".", "what", "?", "!"]),
    ("well-made, 3.5/5", ["well", "-", "made", ",", "3", ".", "5", "/", "5"]),
    # HTML line breaks in any spelling are spaces; other tags are punctuation and words
    ("a<br>b<BR/>c<br  />d", ["a", "b", "c", "d"]),
    ("<b>bold</b>", ["<", "b", ">", "bold", "<", "/", "b", ">"]),
    # underscores go, as spaces would; letters with accents and digits make words
    ("snake_case naïve Café 2024", ["snake", "case", "naïve", "café", "2024"]),
    # kana, hangul and ideographs one by one, glued Latin words kept whole
    ("すごいgood한국어", ["す", "ご", "い", "good", "한", "국", "어"]),
    ("", []),
    ("   \t\n", []),
])
def test_word_level(text, expected):
    assert tokenize(text, "word") == expected
    assert tokenize(text) == expected  # 'word' is the default


@pytest.mark.parametrize("text, expected", [
    ("好 看!", ["好", "看", "!"]),  # moved from tests/apps/test_classify.py
    ("Ab c\td\ne", ["a", "b", "c", "d", "e"]),
    ("x<br />y", ["x", "y"]),
    ("It's", ["i", "t", "'", "s"]),
])
def test_char_level_keeps_every_non_space_character(text, expected):
    assert tokenize(text, "char") == expected


def test_lower_false_keeps_the_case():
    assert tokenize("It's GREAT<BR>Ω", lower=False) == ["It's", "GREAT", "Ω"]
    assert tokenize("Ab", "char", lower=False) == ["A", "b"]


@pytest.mark.parametrize("call, fragment", [
    (lambda: tokenize("a", "byte"), "'word', 'char'"),
    (lambda: tokenize(["a"]), "one text at a time"),
    (lambda: tokenize(b"a"), "bytes"),
    (lambda: tokenize("a", lower="yes"), "lower"),
])
def test_errors_are_one_line_and_name_the_fix(call, fragment):
    with pytest.raises(ConfigError) as info:
        call()
    assert fragment in str(info.value) and "\n" not in str(info.value)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZé9_ '.,!-\t\nİ字すº<br/>")), max_size=40))
def test_no_character_is_lost_or_made_up(text):
    # word level: the tokens hold every character of the text but spaces, underscores and <br> tags
    words = tokenize(text)
    kept = re.sub(r"<br\s*/?>", " ", text).lower()
    assert "".join(words) == "".join(c for c in kept if not c.isspace() and c != "_")
    assert all(w and not any(c.isspace() for c in w) for w in words)
    assert "".join(tokenize(text, "char")) == "".join(c for c in kept if not c.isspace())
