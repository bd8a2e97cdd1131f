"""Greedy and beam search (rnnkit.decoding): hand-made tables, length penalty, brute force, batching, errors."""
import math
from itertools import product

import pytest
import torch

from rnnkit.decoding import Decoded, beam_search, greedy_search, length_penalty, select_state
from rnnkit.errors import ConfigError, ShapeError

NEG = -math.inf


def table_step(probs):
    """A step function from a table ``probs[previous token][next token]`` (the state is passed through)."""
    table = torch.tensor(probs, dtype=torch.float64).log()

    def step(tokens, state):
        return table[tokens], state
    return step


# ----------------------------------------------------------------------------- hand-made cases
def test_beam_finds_the_best_sequence_greedy_misses():
    # tokens: 0 = <bos> (start), 1..3; no end token, 2 steps
    step = table_step([
        [0.0, 0.6, 0.4, 0.0],   # after <bos>: 1 (0.6) or 2 (0.4)
        [0.0, 0.3, 0.3, 0.4],   # after 1: at best 0.4
        [0.0, 0.05, 0.05, 0.9],  # after 2: 3 (0.9)
        [0.0, 0.4, 0.3, 0.3],
    ])
    start = torch.tensor([0])
    # greedy: 1 (0.6), then 3 (0.4): p = 0.24
    greedy = greedy_search(step, None, start, max_len=2)
    assert greedy.tokens == [[1, 3]] and greedy.finished == [False] and greedy.nbest is None
    assert greedy.scores[0] == pytest.approx(math.log(0.24)) and greedy.log_probs == greedy.scores
    # beam 2 keeps 1 (0.6) and 2 (0.4); then 1 3 = 0.24, 1 1 = 1 2 = 0.18, 2 3 = 0.36: the best is 2 3
    beam = beam_search(step, None, start, beam_size=2, max_len=2)
    assert beam.tokens == [[2, 3]] and beam.finished == [False]
    assert beam.scores[0] == pytest.approx(math.log(0.36)) and beam.log_probs[0] == pytest.approx(math.log(0.36))
    # at max_len the two live hypotheses are finalised: 2 3 (0.36) and 1 3 (0.24)
    assert [t for t, _ in beam.nbest[0]] == [[2, 3], [1, 3]]
    assert [s for _, s in beam.nbest[0]] == pytest.approx([math.log(0.36), math.log(0.24)])


def test_beam_with_an_end_token_finalises_and_stops():
    # tokens: 0 = <eos> (end), 1 = <bos>, 2, 3
    step = table_step([
        [0.25, 0.25, 0.25, 0.25],  # after <eos>: never asked for a live hypothesis
        [0.3, 0.0, 0.5, 0.2],      # after <bos>: <eos> 0.3, 2 0.5, 3 0.2
        [0.5, 0.0, 0.1, 0.4],      # after 2
        [0.9, 0.0, 0.05, 0.05],    # after 3
    ])
    start = torch.tensor([1])
    # greedy: 2 (0.5), then <eos> (0.5): 0.25
    greedy = greedy_search(step, None, start, max_len=5, end_token=0)
    assert greedy.tokens == [[2]] and greedy.finished == [True]
    assert greedy.log_probs[0] == pytest.approx(math.log(0.25))
    # beam 2, step 1: ranked 2 (0.5), <eos> (0.3), 3 (0.2): <eos> ranks 2nd < K, finalised "" (0.3);
    #   live: 2 (0.5), 3 (0.2)
    # step 2: 2 <eos> 0.25, 3 <eos> 0.18, 2 3 0.2, 2 2 0.05, ...: ranked 2<eos> .25, 2 3 .2, 3<eos> .18, ...
    #   2 <eos> ranks 1st: finalised (0.25); the sentence has K = 2 finalised hypotheses and is done
    #   (3 <eos> ranks 3rd, not within K).  Best: "" (0.3) over "2" (0.25)
    beam = beam_search(step, None, start, beam_size=2, max_len=5, end_token=0)
    assert beam.tokens == [[]] and beam.finished == [True]
    assert beam.scores[0] == pytest.approx(math.log(0.3))
    assert [(t, round(math.exp(s), 6)) for t, s in beam.nbest[0]] == [([], 0.3), ([2], 0.25)]


def test_candidates_ending_in_the_end_token_leave_the_live_places_to_the_next_ones():
    # tokens: 0 = <eos>, 1 = <bos>, 2, 3
    step = table_step([
        [0.25, 0.25, 0.25, 0.25],
        [0.5, 0.0, 0.3, 0.2],     # after <bos>
        [0.1, 0.0, 0.45, 0.45],   # after 2
        [0.9, 0.0, 0.05, 0.05],   # after 3
    ])
    # beam 2, step 1: ranked <eos> .5 (finalised), 2 .3, 3 .2: both 2 and 3 stay live (the 2nd and 3rd candidates)
    # step 2: ranked 3 <eos> .18, 2 2 .135, 2 3 .135, 2 <eos> .03: 3 <eos> finalised: two finalised, done
    out = beam_search(step, None, torch.tensor([1]), beam_size=2, max_len=5, end_token=0)
    assert [(t, round(math.exp(s), 6)) for t, s in out.nbest[0]] == [([], 0.5), ([3], 0.18)]


def test_ties_go_to_the_earlier_beam_and_the_lower_token_id():
    vocab = 40
    step = lambda tokens, state: (torch.full((tokens.shape[0], vocab), -math.log(vocab)), state)  # noqa: E731
    # every candidate ties: step 1 keeps tokens 0, 1, 2 of beam 0; step 2 extends beam 0 (ex-token 0) by 0, 1, 2
    out = beam_search(step, None, torch.tensor([5, 6]), beam_size=3, max_len=2)
    assert [[t for t, _ in n] for n in out.nbest] == [[[0, 0], [0, 1], [0, 2]]] * 2
    assert greedy_search(step, None, torch.tensor([5, 6]), max_len=3).tokens == [[0, 0, 0]] * 2
    # with an end token (7): beam 0's <eos> ties with the others but ranks after tokens 0..6 of beam 0
    out = beam_search(step, None, torch.tensor([5]), beam_size=3, max_len=2, end_token=7)
    assert [t for t, _ in out.nbest[0]] == [[0, 0], [0, 1], [0, 2]] and out.finished == [False]
    out = beam_search(step, None, torch.tensor([5]), beam_size=3, max_len=2, end_token=1)
    # step 1: ranked 0, <eos>=1, 2, 3, ...: "" finalised; live 0, 2, 3; step 2: 0 0, 0 <eos> (finalised), 0 2, ...
    assert [(t, f) for t, f in zip(out.tokens, out.finished)] == [([], True)]
    assert [t for t, _ in out.nbest[0]] == [[], [0], [0, 0]]


def test_length_penalty_alpha_0_prefers_the_short_and_alpha_1_the_long_hypothesis():
    # tokens: 0 = <eos>, 1 = <bos>, 2 = x, 3 = a
    step = table_step([
        [0.25, 0.25, 0.25, 0.25],
        [0.0, 0.0, 1.0, 0.0],     # after <bos>: x, surely (log 1 = 0; the rest -inf)
        [0.3, 0.0, 0.1, 0.6],     # after x: <eos> 0.3, x 0.1, a 0.6
        [0.45, 0.0, 0.2, 0.35],   # after a: <eos> 0.45, x 0.2, a 0.35
    ])
    start = torch.tensor([1])
    # step 1: x (log 0) is the only finite candidate; the -inf <eos> candidate is not finalised; live: x, (dead)
    # step 2: x a 0.6, x <eos> 0.3, x x 0.1: x <eos> ranks 2nd < K = 2: finalised, |Y| = 2 (x, <eos>)
    # step 3: x a <eos> 0.27, x a a 0.21, x a x 0.12: x a <eos> ranks 1st, finalised, |Y| = 3: done
    short, long = math.log(0.3), math.log(0.6 * 0.45)  # -1.2040, -1.3093
    # alpha = 0: lp = 1, the plain sums: the short one wins (-1.2040 > -1.3093)
    out = beam_search(step, None, start, beam_size=2, alpha=0.0, max_len=6, end_token=0)
    assert out.tokens == [[2]] and out.scores[0] == pytest.approx(short)
    # alpha = 1: lp(2) = (5 + 2) / 6 = 7/6, lp(3) = 8/6
    #   short: -1.2040 / (7/6) = -1.0320, long: -1.3093 / (8/6) = -0.9820: the long one wins
    out = beam_search(step, None, start, beam_size=2, alpha=1.0, max_len=6, end_token=0)
    assert out.tokens == [[2, 3]] and out.finished == [True]
    assert out.scores[0] == pytest.approx(long / (8 / 6)) and abs(out.scores[0] - -0.98200) < 1e-5
    assert out.log_probs[0] == pytest.approx(long)
    assert [s for _, s in out.nbest[0]] == pytest.approx([long * 6 / 8, short * 6 / 7])


def test_length_penalty_formula():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(1, 1.0) == 1.0  # (5 + 1) / 6
    assert length_penalty(7, 0.5) == pytest.approx(math.sqrt(2.0))
    assert length_penalty(19, 2.0) == pytest.approx(16.0)


# ----------------------------------------------------------------------------- random step functions
def rnn_step(vocab, hidden=6, seed=0, end_bias=0.0, end_token=None):
    """An RNN-like step (float64) whose log-probabilities depend on the whole prefix: state = (h,)."""
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(vocab, hidden, generator=g, dtype=torch.float64)
    w = torch.randn(hidden, hidden, generator=g, dtype=torch.float64)
    out = torch.randn(hidden, vocab, generator=g, dtype=torch.float64) * 2
    bias = torch.zeros(vocab, dtype=torch.float64)
    if end_token is not None:
        bias[end_token] = end_bias

    def step(tokens, state):
        (h,) = state
        h = torch.tanh(h @ w + emb[tokens])
        return torch.log_softmax(h @ out + bias, dim=-1), (h,)
    return step


def every_log_prob(step, h0, start, vocab, max_len, end_token):
    """``{sequence: log-probability}`` for every sequence of 1..max_len tokens after ``start`` (nothing after the
    end token), read one token at a time from the state ``h0`` (1, H): one step call per prefix."""
    found = {}

    def walk(prefix, token, state, total):
        log_probs, state = step(torch.tensor([token]), state)
        for y in range(vocab):
            seq, score = prefix + (y,), total + float(log_probs[0, y])
            found[seq] = score
            if len(seq) < max_len and y != end_token:
                walk(seq, y, state, score)
    walk((), start, (h0,), 0.0)
    return found


@pytest.mark.parametrize("vocab, end_token", [(4, None), (5, None), (4, 0), (5, 2)])
def test_beam_wider_than_every_sequence_equals_exhaustive_search(vocab, end_token):
    max_len = 4
    step = rnn_step(vocab, seed=vocab * 10 + (end_token or 0), end_bias=1.0, end_token=end_token)
    h0 = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    starts = [1, 3, 0]
    for alpha in (0.0, 0.7):
        out = beam_search(step, (h0,), torch.tensor(starts), beam_size=vocab ** max_len, alpha=alpha,
                          max_len=max_len, end_token=end_token)
        for i, start in enumerate(starts):
            # the complete sequences: those ending in the end token (|Y| counts it) and those of max_len tokens
            scored = [(total / ((5 + len(seq)) / 6) ** alpha, seq, end_token is not None and seq[-1] == end_token)
                      for seq, total in every_log_prob(step, h0[i:i + 1], start, vocab, max_len, end_token).items()
                      if len(seq) == max_len or seq[-1] == end_token]
            best_score, best, ended = max(scored)
            assert out.tokens[i] == list(best[:-1] if ended else best), (alpha, i)
            assert out.finished[i] == ended
            assert out.scores[i] == pytest.approx(best_score, abs=1e-9)
            # every complete sequence was finalised (none is lost to a full beam), the best first
            assert len(out.nbest[i]) == len(scored) and out.nbest[i][0] == (out.tokens[i], out.scores[i])
            assert [s for _, s in out.nbest[i]] == pytest.approx(sorted((s for s, _, _ in scored), reverse=True))


@pytest.mark.parametrize("end_token", [None, 0])
def test_beam_of_one_is_greedy_exactly(end_token):
    lengths = set()
    for seed in range(6):
        step = rnn_step(5, seed=seed, end_bias=1.5, end_token=end_token)
        h0 = torch.randn(8, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        start = torch.arange(8) % 5
        greedy = greedy_search(step, (h0,), start, max_len=7, end_token=end_token)
        for alpha in (0.0, 0.8):
            beam = beam_search(step, (h0,), start, beam_size=1, alpha=alpha, max_len=7, end_token=end_token)
            assert beam.tokens == greedy.tokens and beam.finished == greedy.finished
            assert beam.log_probs == greedy.log_probs  # the same additions in the same order: equal, not close
            if alpha == 0.0:
                assert beam.scores == greedy.scores
            assert [n[0] for n in beam.nbest] == list(zip(beam.tokens, beam.scores))
        lengths.update(len(t) for t in greedy.tokens)
    if end_token is None:
        assert lengths == {7}
    else:
        assert len(lengths) >= 3  # sentences of different lengths in the batches


def attention_step(vocab=7, hidden=5, seed=3):
    """An RNN decoder with attention over a per-sentence memory: state = ((h, c), memory (N, S, H))."""
    g = torch.Generator().manual_seed(seed)
    emb = torch.randn(vocab, hidden, generator=g)
    w = torch.randn(2 * hidden, hidden, generator=g) * 0.7
    out = torch.randn(2 * hidden, vocab, generator=g) * 1.5

    def step(tokens, state):
        (h, c), memory = state
        c = 0.5 * c + torch.tanh(h @ w[:hidden] + emb[tokens])                 # (N, H)
        h = torch.tanh(c)                                                      # (N, H)
        weights = torch.softmax(torch.einsum("nsh,nh->ns", memory, h), dim=1)  # (N, S)
        context = torch.einsum("ns,nsh->nh", weights, memory)                  # (N, H)
        features = torch.cat([h, context], dim=1)                               # (N, 2H)
        return torch.log_softmax(features @ out, dim=1), ((h, c), memory)
    return step


def test_batched_search_equals_one_sentence_at_a_time():
    step = attention_step()
    g = torch.Generator().manual_seed(0)
    batch, hidden = 6, 5
    h, c = torch.randn(batch, hidden, generator=g), torch.randn(batch, hidden, generator=g)
    memory = torch.randn(batch, 4, hidden, generator=g) * 2
    start = torch.tensor([1, 2, 3, 1, 2, 3])
    for search, kwargs in ((greedy_search, {}), (beam_search, {"beam_size": 3, "alpha": 0.6}),
                           (beam_search, {"beam_size": 4})):
        together = search(step, ((h, c), memory), start, max_len=9, end_token=0, **kwargs)
        assert len({len(t) for t in together.tokens}) > 1  # the sentences end at different steps
        for i in range(batch):
            one = search(step, ((h[i:i + 1], c[i:i + 1]), memory[i:i + 1]), start[i:i + 1], max_len=9, end_token=0,
                         **kwargs)
            assert together.tokens[i] == one.tokens[0] and together.finished[i] == one.finished[0]
            assert together.scores[i] == pytest.approx(one.scores[0], abs=1e-6)
            assert together.log_probs[i] == pytest.approx(one.log_probs[0], abs=1e-6)
            if together.nbest is not None:
                assert [t for t, _ in together.nbest[i]] == [t for t, _ in one.nbest[0]]
                assert [s for _, s in together.nbest[i]] == pytest.approx([s for _, s in one.nbest[0]], abs=1e-6)


def test_the_rows_of_ended_sentences_leave_the_batch():
    step = attention_step()
    g = torch.Generator().manual_seed(0)
    state = ((torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)), torch.randn(6, 4, 5, generator=g) * 2)
    start = torch.tensor([1, 2, 3, 1, 2, 3])
    for search, kwargs, per_sentence in ((greedy_search, {}, 1), (beam_search, {"beam_size": 3}, 3)):
        rows = []

        def counting(tokens, state):
            rows.append(tokens.shape[0])
            return step(tokens, state)
        out = search(counting, state, start, max_len=9, end_token=0, **kwargs)
        assert rows[0] == 6 * per_sentence and rows == sorted(rows, reverse=True) and rows[-1] < rows[0]
        if search is greedy_search:  # the rows of step k: the sentences that generate a k-th token
            generated = [len(t) + f for t, f in zip(out.tokens, out.finished)]
            assert rows == [sum(n >= k for n in generated) for k in range(1, len(rows) + 1)]


def test_reorder_state_serves_a_state_with_its_rows_on_dim_1():
    step = rnn_step(5, seed=4, end_bias=1.0, end_token=0)
    h0 = torch.randn(4, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    start = torch.tensor([1, 2, 3, 4])
    calls = []

    def step_dim1(tokens, state):  # the same decoder, its state (1, N, H) as torch.nn.GRU keeps it
        log_probs, (h,) = step(tokens, (state[0],))
        return log_probs, h[None]

    def reorder(state, index):
        calls.append(index.shape[0])
        return state.index_select(1, index)

    for search, kwargs in ((greedy_search, {}), (beam_search, {"beam_size": 3})):
        calls.clear()
        want = search(step, (h0,), start, max_len=6, end_token=0, **kwargs)
        got = search(step_dim1, h0[None], start, max_len=6, end_token=0, reorder_state=reorder, **kwargs)
        assert got == want and calls
    with pytest.raises(IndexError):  # without it, dim 0 (of size 1) is taken for the rows
        beam_search(step_dim1, h0[None], start, beam_size=3, max_len=6, end_token=0)


def test_select_state_keeps_the_nesting():
    from collections import namedtuple

    Pair = namedtuple("Pair", "h c")
    state = {"rnn": [Pair(torch.tensor([[1.0], [2.0]]), torch.tensor([3, 4]))], "memory": None, "layers": 2}
    out = select_state(state, torch.tensor([1, 0, 1]))
    assert isinstance(out["rnn"][0], Pair) and out["memory"] is None and out["layers"] == 2
    assert out["rnn"][0].h.tolist() == [[2.0], [1.0], [2.0]] and out["rnn"][0].c.tolist() == [4, 3, 4]
    with pytest.raises(ConfigError, match="reorder_state"):
        select_state({"x": object()}, torch.tensor([0]))
    with pytest.raises(ShapeError, match="0-dim"):
        select_state((torch.tensor(1.0),), torch.tensor([0]))


def test_decoded_of_an_empty_batch():
    step = table_step([[0.5, 0.5], [0.5, 0.5]])
    empty = torch.zeros(0, dtype=torch.long)
    assert greedy_search(step, None, empty, max_len=3) == Decoded([], [], [], [], None)
    assert beam_search(step, None, empty, max_len=3) == Decoded([], [], [], [], [])


# ----------------------------------------------------------------------------- errors
def test_errors_name_the_argument_and_the_bad_value():
    step = table_step([[0.5, 0.5], [0.5, 0.5]])
    start = torch.tensor([0, 1])

    def error(search=beam_search, kind=ConfigError, s=step, tokens=start, **kwargs):
        kwargs.setdefault("max_len", 3)
        with pytest.raises(kind) as info:
            search(s, None, tokens, **kwargs)
        message = str(info.value)
        assert "\n" not in message
        return message

    for bad in (0, 1.5, True, "3"):
        assert "`beam_size` must be a whole number >= 1" in error(beam_size=bad) and repr(bad) in error(beam_size=bad)
    assert "`alpha` must be a finite number >= 0, got -0.5" in error(alpha=-0.5)
    for search in (greedy_search, beam_search):
        assert f"{search.__name__}: `max_len` must be a whole number >= 1" in error(search, max_len=0)
        assert "got 2.0" in error(search, max_len=2.0)
        assert "`end_token` must be a token id >= 0" in error(search, end_token=-1)
        assert "below the vocabulary size 2" in error(search, end_token=2)
        assert "1-D LongTensor (B,)" in error(search, ShapeError, tokens=start[None])
        assert "dtype torch.float32" in error(search, ShapeError, tokens=start.float())
        assert "got list" in error(search, ShapeError, tokens=[0, 1])
        assert "`reorder_state` must be a function" in error(search, reorder_state=3)
        # the step's answers
        assert "(N, V) = (" in error(search, ShapeError, s=lambda t, st: (torch.zeros(t.shape[0]), st))
        assert "got shape (1, 2)" in error(search, ShapeError, s=lambda t, st: (torch.zeros(1, 2), st))
        assert "dtype torch.int64" in error(search, ShapeError, s=lambda t, st: (torch.zeros(t.shape[0], 2).long(), st))
        assert "pair (log_probs, new_state), got Tensor" in error(search, ShapeError, s=lambda t, st: torch.zeros(2, 2))
        assert "NaN" in error(search, ShapeError, s=lambda t, st: (torch.full((t.shape[0], 2), math.nan), st))
        sizes = iter([2, 3, 3, 3])
        assert "over 3 tokens, but over 2 at the first step" in error(
            search, ShapeError, s=lambda t, st: (torch.zeros(t.shape[0], next(sizes)).log_softmax(1), st))
    assert "`length` must be a whole number >= 0" in str(pytest.raises(ConfigError, length_penalty, -1, 0.5).value)
    assert "`alpha`" in str(pytest.raises(ConfigError, length_penalty, 3, -1.0).value)


def test_searches_run_under_inference_mode():
    step = attention_step()
    state = ((torch.zeros(2, 5), torch.zeros(2, 5)), torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0)))
    for search, kwargs in ((greedy_search, {}), (beam_search, {"beam_size": 3})):
        with torch.inference_mode():
            inside = search(step, state, torch.tensor([1, 2]), max_len=5, end_token=0, **kwargs)
        assert inside == search(step, state, torch.tensor([1, 2]), max_len=5, end_token=0, **kwargs)


def _reference_beam(table: torch.Tensor, start: int, beams: int, alpha: float, max_len: int, end: int):
    """The fairseq rule written plainly for one sentence: every candidate of every live beam, sorted in Python."""
    live = [(0.0, [start])]  # (sum of log-probs, tokens with the start token)
    final = []  # (score, order finalised, tokens without the end token)
    for t in range(1, max_len + 1):
        cands = []
        for k, (total, seq) in enumerate(live):
            for v in range(table.shape[1]):
                cands.append((total + float(table[seq[-1], v]), k, v, seq))
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))  # best first; ties: earlier beam, lower token
        cands = [c for c in cands if c[0] > -math.inf][: 2 * beams]
        for rank, (s, _, v, seq) in enumerate(cands):
            if v == end and rank < beams and len(final) < beams:
                final.append((s / ((5 + t) / 6) ** alpha, len(final), seq[1:]))
        live = [(s, seq + [v]) for s, _, v, seq in cands if v != end][:beams]
        if len(final) >= beams:
            break
    if len(final) < beams:  # at max_len the live ones fill the free places, best first
        for s, seq in live[: beams - len(final)]:
            final.append((s / ((5 + max_len) / 6) ** alpha, len(final), seq[1:]))
    best = max(final, key=lambda f: (f[0], -f[1]))
    return best[2], best[0]


@pytest.mark.parametrize("vocab, beams, alpha", [(7, 2, 0.0), (11, 3, 0.6), (20, 5, 1.0), (9, 4, 0.6)])
def test_beam_over_a_large_vocabulary_follows_the_rule_written_plainly(vocab, beams, alpha):
    # vocabularies larger than 2K take the per-beam preselection path; a plain Python search is the reference
    gen = torch.Generator().manual_seed(vocab * 10 + beams)
    table = torch.log_softmax(torch.randn(vocab, vocab, generator=gen) * 2, dim=1).double()
    step = lambda tokens, state: (table[tokens], state)
    starts = torch.arange(1, 6) % vocab
    out = beam_search(step, None, starts, beam_size=beams, alpha=alpha, max_len=6, end_token=0)
    for i, start in enumerate(starts.tolist()):
        tokens, score = _reference_beam(table, start, beams, alpha, 6, 0)
        assert out.tokens[i] == tokens
        assert out.scores[i] == pytest.approx(score, abs=1e-9)
