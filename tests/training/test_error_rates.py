"""Edit distance and error rates: hand cases, the plain dynamic programme, jiwer, and properties (hypothesis)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.errors import ConfigError
from rnnkit.metrics import character_error_rate, edit_distance, token_error_rate, word_error_rate


def levenshtein(a, b):
    """The textbook dynamic programme, the whole table (the reference for the bit-vector algorithm)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] != b[j - 1]))
    return d[len(a)][len(b)]


# ----------------------------------------------------------------------------- hand cases
@pytest.mark.parametrize("ref,hyp,want", [
    ("kitten", "sitting", 3),        # k->s, e->i, +g
    ("flaw", "lawn", 2),             # -f, +n
    ("", "", 0),
    ("abc", "", 3),
    ("", "ab", 2),
    ("abc", "abc", 0),
    ("abc", "cba", 2),
    (["the", "cat", "sat"], ["the", "sat"], 1),
    ([1, 2, 3, 4], [1, 9, 3], 2),    # 2->9, -4
    ((5, 5, 5), (5,), 2),
])
def test_edit_distance_hand_cases(ref, hyp, want):
    assert edit_distance(ref, hyp) == want
    assert levenshtein(ref, hyp) == want


def test_edit_distance_reads_tensors_and_arrays_of_ids_and_long_sequences():
    assert edit_distance(torch.tensor([1, 2, 3]), torch.tensor([1, 3])) == 1
    assert edit_distance(np.array([4, 4, 2]), [4, 2]) == 1
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 3, 150).tolist(), rng.integers(0, 3, 130).tolist()   # bit vectors wider than 64
    assert edit_distance(a, b) == levenshtein(a, b)


def test_error_rates_are_ratios_of_sums():
    # 3 edits over 2 + 4 reference words, not the mean of 1/2 and 2/4
    refs, hyps = ["a b", "c d e f"], ["a", "c x e f y"]
    assert word_error_rate(refs, hyps) == pytest.approx(3 / 6)
    assert token_error_rate([r.split() for r in refs], [h.split() for h in hyps]) == pytest.approx(3 / 6)
    assert word_error_rate("a b", "a b c d") == 1.0                  # insertions: the rate may pass 1 ...
    assert word_error_rate("a b", "x y z w v") == 2.5
    assert character_error_rate(["ab c"], ["abc"]) == pytest.approx(1 / 4)   # the space counts
    assert token_error_rate("abcd", "abd") == pytest.approx(1 / 4)   # one string: one utterance of characters
    assert word_error_rate(["", "a b"], ["x", "a b"]) == pytest.approx(1 / 2)  # an empty reference adds edits only


def test_errors_are_one_line_and_name_the_fix():
    with pytest.raises(ConfigError, match=r"word_error_rate: got 2 references but 1 hypotheses"):
        word_error_rate(["a", "b"], ["a"])
    with pytest.raises(ConfigError, match=r"the references hold no tokens"):
        word_error_rate(["", " "], ["a", ""])
    with pytest.raises(ConfigError, match=r"word_error_rate: `hyps`\[0\] must be a string of words, got list"):
        word_error_rate(["a"], [["a"]])
    with pytest.raises(ConfigError, match=r"one token sequence per utterance, got a int at \[0\].*wrap it in a list"):
        token_error_rate([1, 2], [1, 2])
    with pytest.raises(ConfigError, match=r"character_error_rate: `refs`\[0\] must be a string"):
        character_error_rate([[1, 2]], ["ab"])
    with pytest.raises(ConfigError, match=r"edit_distance: `ref` must be a sequence of tokens"):
        edit_distance(3, [3])


# ----------------------------------------------------------------------------- jiwer
@pytest.fixture(scope="module")
def jiwer():
    return pytest.importorskip("jiwer", reason="jiwer (the test-only reference for error rates) is not installed")


def random_sentences(rng, n, vocab):
    return [" ".join(rng.choice(vocab, size=int(rng.integers(0, 9)))) for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_matches_jiwer_on_random_sentences(jiwer, seed):
    rng = np.random.default_rng(seed)
    vocab = ["the", "cat", "sat", "on", "mat", "a", "dog"]
    refs = random_sentences(rng, 20, vocab)
    refs[0] = refs[0] or "the cat"      # at least one reference word (jiwer accepts empty references too)
    hyps = random_sentences(rng, 20, vocab)
    assert word_error_rate(refs, hyps) == pytest.approx(jiwer.wer(refs, hyps), rel=1e-12)
    out = jiwer.process_words(refs, hyps)
    edits = out.substitutions + out.deletions + out.insertions
    assert sum(edit_distance(r.split(), h.split()) for r, h in zip(refs, hyps)) == edits
    # the character error rate on text without leading, trailing or repeated spaces (jiwer strips them)
    refs_c = [r for r in refs if r]
    hyps_c = hyps[: len(refs_c)]
    assert character_error_rate(refs_c, hyps_c) == pytest.approx(jiwer.cer(refs_c, hyps_c), rel=1e-12)
    # token ids: the same as the words they name
    ids = {w: i for i, w in enumerate(vocab)}
    as_ids = [[[ids[w] for w in s.split()] for s in side] for side in (refs, hyps)]
    assert token_error_rate(*as_ids) == pytest.approx(jiwer.wer(refs, hyps), rel=1e-12)


# ----------------------------------------------------------------------------- properties
tokens = st.lists(st.integers(0, 3), max_size=12)


@settings(max_examples=150, deadline=None)
@given(tokens, tokens)
def test_distance_is_the_dynamic_programme_symmetric_and_bounded(a, b):
    d = edit_distance(a, b)
    assert d == levenshtein(a, b)
    assert d == edit_distance(b, a)
    assert (d == 0) == (a == b)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))


@settings(max_examples=60, deadline=None)
@given(tokens, tokens, tokens)
def test_distance_obeys_the_triangle_inequality(a, b, c):
    assert edit_distance(a, c) <= edit_distance(a, b) + edit_distance(b, c)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab ", max_size=10), st.text(alphabet="ab ", max_size=10))
def test_word_error_rate_is_token_error_rate_over_split_words(ref, hyp):
    if ref.split():
        assert word_error_rate(ref, hyp) == token_error_rate([ref.split()], [hyp.split()])
