"""CTC decoding (rnnkit.decoding.ctc): hand-made matrices, brute force over every alignment, lengths, errors."""
import math
from collections import defaultdict
from itertools import product

import numpy as np
import pytest
import torch

from rnnkit.decoding import ctc_alignment, ctc_beam_decode, ctc_greedy_decode
from rnnkit.errors import ConfigError, ShapeError

# classes in the hand-made cases: 0 = blank "-", 1 = "a", 2 = "b"
B_, A_, BB = 0, 1, 2


def frames(*rows):
    """log-probabilities (1, T, C) from rows of probabilities (each normalised)."""
    p = torch.tensor(rows, dtype=torch.float64)
    return (p / p.sum(dim=1, keepdim=True)).log()[None]


def onehot_path(path, classes=3, high=0.9):
    """Frames whose most probable class follows ``path``."""
    rows = []
    for k in path:
        row = [(1 - high) / (classes - 1)] * classes
        row[k] = high
        rows.append(row)
    return frames(*rows)


def collapse(path, blank=0):
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return tuple(out)


def labelling_probs(p, blank=0):
    """{labelling: p(labelling | x)} summed over every alignment of the (T, C) probability matrix ``p``."""
    totals = defaultdict(float)
    for path in product(range(p.shape[1]), repeat=p.shape[0]):
        totals[collapse(path, blank)] += math.prod(p[t, k] for t, k in enumerate(path))
    return totals


# ----------------------------------------------------------------------------- greedy, hand-made
@pytest.mark.parametrize("path,want", [
    ([A_, B_, A_], [A_, A_]),              # a blank between repeats keeps both
    ([A_, A_], [A_]),                      # repeats merge
    ([A_, A_, B_, A_, A_], [A_, A_]),
    ([B_, B_, A_, BB, B_], [A_, BB]),      # leading and trailing blanks
    ([B_, B_, B_], []),                    # all blank: nothing
    ([BB, A_, BB, BB, A_], [BB, A_, BB, A_]),
    ([], []),                              # no frames
])
def test_greedy_reads_the_best_path(path, want):
    lp = onehot_path(path) if path else torch.zeros(1, 0, 3)
    tokens, scores = ctc_greedy_decode(lp)
    assert tokens == [want]
    assert scores[0] == pytest.approx(len(path) * math.log(0.9))


def test_greedy_score_is_the_best_path_and_ties_go_to_the_lowest_class():
    lp = frames([0.4, 0.4, 0.2],   # blank and a tie: the blank (class 0)
                [0.1, 0.45, 0.45],  # a and b tie: a
                [0.2, 0.3, 0.5])
    tokens, scores = ctc_greedy_decode(lp)
    assert tokens == [[A_, BB]]
    assert scores[0] == pytest.approx(math.log(0.4 * 0.45 * 0.5))


def test_greedy_on_logits_equals_log_probabilities_and_half_precision():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 4) * 3
    assert ctc_greedy_decode(logits) == ctc_greedy_decode(logits.log_softmax(-1))
    assert ctc_greedy_decode(logits.double())[0] == ctc_greedy_decode(logits.log_softmax(-1))[0]
    tokens, scores = ctc_greedy_decode(logits.log_softmax(-1).to(torch.bfloat16))
    assert len(tokens) == 3 and all(isinstance(s, float) for s in scores)


def test_lengths_are_respected_by_every_decoder():
    torch.manual_seed(1)
    lp = torch.randn(3, 6, 4, dtype=torch.float64).log_softmax(-1)
    lengths = [6, 2, 0]
    # frames beyond a length hold anything: the result is that of the truncated utterance
    noisy = lp.clone()
    noisy[1, 2:] = torch.tensor([-9.0, 0.0, -9.0, -9.0]).log_softmax(0)
    for decode in (ctc_greedy_decode, lambda x, lengths: ctc_beam_decode(x, lengths, beam_width=4)):
        tokens, scores = decode(noisy, lengths=torch.tensor(lengths))
        for b, n in enumerate(lengths):
            one_tokens, one_scores = decode(lp[b : b + 1, :n], lengths=None)
            assert tokens[b] == one_tokens[0] and scores[b] == pytest.approx(one_scores[0])
        assert tokens[2] == [] and scores[2] == 0.0
    spans, scores = ctc_alignment(noisy, [[1], [2], []], lengths=lengths)
    assert spans[2] == [] and scores[2] == 0.0
    assert ctc_alignment(lp[1:2, :2], [[2]])[0][0] == spans[1]


def test_blank_may_be_another_class():
    torch.manual_seed(2)
    lp = torch.randn(2, 5, 4, dtype=torch.float64).log_softmax(-1)
    # blank = 3 is blank = 0 with the classes 0 and 3 swapped
    swapped = lp[:, :, [3, 1, 2, 0]]
    swap = {0: 3, 3: 0, 1: 1, 2: 2}
    for decode in (ctc_greedy_decode, ctc_beam_decode):
        t3, s3 = decode(lp, blank=3)
        t0, s0 = decode(swapped, blank=0)
        assert t3 == [[swap[k] for k in seq] for seq in t0] and s3 == pytest.approx(s0)


# ----------------------------------------------------------------------------- prefix beam search
@pytest.mark.parametrize("seed", range(12))
def test_beam_search_equals_brute_force_with_a_wide_beam(seed):
    rng = np.random.default_rng(seed)
    time, classes = int(rng.integers(1, 6)), int(rng.integers(2, 5))
    p = rng.dirichlet(np.ones(classes) * 0.7, size=time)          # (T, C) probabilities
    totals = labelling_probs(p)
    best = max(totals, key=totals.get)
    # every labelling of up to T labels over C - 1 classes fits in the beam
    wide = sum((classes - 1) ** n for n in range(time + 1))
    tokens, scores = ctc_beam_decode(torch.tensor(p).log()[None], beam_width=wide)
    assert tuple(tokens[0]) == best
    assert scores[0] == pytest.approx(math.log(totals[best]), rel=1e-9)
    # the greedy path's score is the probability of one alignment: no more than its labelling's
    g_tokens, g_scores = ctc_greedy_decode(torch.tensor(p).log()[None])
    assert g_scores[0] <= math.log(totals[tuple(g_tokens[0])]) + 1e-12


def test_beam_search_batched_equals_one_by_one_and_logits_work():
    torch.manual_seed(3)
    logits = torch.randn(4, 7, 5) * 2
    lengths = [7, 3, 5, 1]
    tokens, scores = ctc_beam_decode(logits, lengths, beam_width=3)
    for b, n in enumerate(lengths):
        one = ctc_beam_decode(logits[b : b + 1, :n].log_softmax(-1), beam_width=3)
        assert one[0][0] == tokens[b] and one[1][0] == pytest.approx(scores[b])


def test_beam_one_keeps_the_most_probable_prefix_which_is_not_the_best_path():
    # frame 1: a 0.6, - 0.4; frame 2: - 0.3, a 0.3, b 0.4
    lp = frames([0.4, 0.6, 0.0], [0.3, 0.3, 0.4])
    # best path: a b (0.24)
    assert ctc_greedy_decode(lp)[0] == [[A_, BB]]
    # beam 1: after frame 1 the prefix "a" (0.6); after frame 2: "a" = a- + aa = 0.18 + 0.18 = 0.36, "ab" = 0.24
    tokens, scores = ctc_beam_decode(lp, beam_width=1)
    assert tokens == [[A_]] and math.exp(scores[0]) == pytest.approx(0.36)
    # the exact answer: "a" also has - a (0.12): 0.48
    tokens, scores = ctc_beam_decode(lp, beam_width=10)
    assert tokens == [[A_]] and math.exp(scores[0]) == pytest.approx(0.48)


def test_beam_one_can_lose_what_a_wider_beam_finds():
    lp = frames([0.6, 0.4], [0.6, 0.4])
    # beam 1 keeps "" (0.6) over "a" (0.4) after frame 1, and "" (0.36) over "a" (0.24) after frame 2
    assert ctc_beam_decode(lp, beam_width=1)[0] == [[]]
    # beam 2: "a" = a- + -a + aa = 0.24 + 0.24 + 0.16 = 0.64
    tokens, scores = ctc_beam_decode(lp, beam_width=2)
    assert tokens == [[1]] and math.exp(scores[0]) == pytest.approx(0.64)


def test_prune_skips_unlikely_labels_but_never_a_staying_prefix():
    rng = np.random.default_rng(4)
    p = rng.dirichlet(np.ones(4), size=6) * 0.9 + 0.1 / 4          # every probability > 0.025
    lp = torch.tensor(p).log()[None]
    assert ctc_beam_decode(lp, beam_width=50, prune=math.log(0.01)) == ctc_beam_decode(lp, beam_width=50)
    # "b" is never above 0.5, so with prune = log 0.5 it starts no prefix; "a" at 0.9 is kept over two frames
    lp = frames([0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.4, 0.2, 0.4])
    # p("a") sums a a -, a a a (.324 + .162), - a -, - a a (.018 + .009), a - - (.018) and - - a (.0005)
    tokens, scores = ctc_beam_decode(lp, beam_width=20)
    assert tokens == [[A_]] and math.exp(scores[0]) == pytest.approx(0.5315)
    # pruned at log 0.5, "a" (0.2) starts no prefix at frame 3, so - - a is lost; a a a stays (a repeat)
    tokens, scores = ctc_beam_decode(lp, beam_width=20, prune=math.log(0.5))
    assert tokens == [[A_]] and math.exp(scores[0]) == pytest.approx(0.531)


# ----------------------------------------------------------------------------- forced alignment
def spans_of(path, blank=0):
    """(label, start, end) per label of an alignment, written plainly."""
    spans, prev = [], None
    for t, k in enumerate(path):
        if k != blank and k == prev:
            spans[-1] = (k, spans[-1][1], t + 1)
        elif k != blank:
            spans.append((k, t, t + 1))
        prev = k
    return spans


@pytest.mark.parametrize("seed", range(8))
def test_alignment_equals_the_best_alignment_by_brute_force(seed):
    rng = np.random.default_rng(seed)
    time, classes = int(rng.integers(1, 6)), int(rng.integers(2, 4))
    p = rng.dirichlet(np.ones(classes), size=time)
    by_labels = {}
    for path in product(range(classes), repeat=time):
        prob = math.prod(p[t, k] for t, k in enumerate(path))
        labels = collapse(path)
        if prob > by_labels.get(labels, (-1.0, None))[0]:
            by_labels[labels] = (prob, path)
    for labels, (prob, path) in by_labels.items():
        spans, scores = ctc_alignment(torch.tensor(p).log()[None], [list(labels)])
        assert spans[0] == spans_of(path) and scores[0] == pytest.approx(math.log(prob), rel=1e-9)


def test_alignment_of_the_greedy_labels_is_the_greedy_path():
    lp = frames([0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.6, 0.3], [0.1, 0.1, 0.8])
    tokens, scores = ctc_greedy_decode(lp)
    spans, a_scores = ctc_alignment(lp, tokens)
    assert spans == [[(A_, 0, 2), (A_, 3, 4), (BB, 4, 5)]]
    assert a_scores[0] == pytest.approx(scores[0])


def test_alignment_needs_a_blank_between_repeats():
    lp = frames([0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1])
    spans, scores = ctc_alignment(lp, [[A_, A_]])
    assert spans == [[(A_, 0, 1), (A_, 2, 3)]] and math.exp(scores[0]) == pytest.approx(0.8 * 0.1 * 0.8)
    with pytest.raises(ConfigError, match=r"utterance 0: 3 labels \(1 repeated neighbours.*at least 4 frames, got 3"):
        ctc_alignment(lp, [[A_, A_, BB]])


# ----------------------------------------------------------------------------- devices and errors
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_inputs_give_the_cpu_results():
    torch.manual_seed(5)
    lp = torch.randn(3, 9, 5).log_softmax(-1)
    lengths = torch.tensor([9, 4, 6])
    for fn in (ctc_greedy_decode, ctc_beam_decode):
        cpu, gpu = fn(lp, lengths), fn(lp.cuda(), lengths.cuda())
        assert cpu[0] == gpu[0] and cpu[1] == pytest.approx(gpu[1], rel=1e-5)
    tokens = ctc_greedy_decode(lp, lengths)[0]
    assert ctc_alignment(lp.cuda(), tokens, lengths.cuda())[0] == ctc_alignment(lp, tokens, lengths)[0]


def test_errors_name_the_argument_and_the_fix():
    lp = torch.zeros(2, 3, 4)
    with pytest.raises(ShapeError, match=r"expected log_probs of 3 dims .* for one utterance add the batch axis"):
        ctc_greedy_decode(torch.zeros(3, 4))
    with pytest.raises(ShapeError, match=r"expected floating-point log_probs"):
        ctc_greedy_decode(torch.zeros(2, 3, 4, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"`blank` must be a class id in \[0, 4\).*got 4"):
        ctc_beam_decode(lp, blank=4)
    with pytest.raises(ShapeError, match=r"`lengths` must lie in \[0, 3\].*got 5"):
        ctc_greedy_decode(lp, lengths=[3, 5])
    with pytest.raises(ShapeError, match=r"expected `lengths` as 2 whole numbers"):
        ctc_greedy_decode(lp, lengths=[3])
    with pytest.raises(ConfigError, match=r"`beam_width` must be a whole number >= 1.*got 0"):
        ctc_beam_decode(lp, beam_width=0)
    with pytest.raises(ConfigError, match=r"`prune` must be a finite number <= 0, got 0.5"):
        ctc_beam_decode(lp, prune=0.5)
    with pytest.raises(ShapeError, match=r"log_probs holds NaN"):
        ctc_beam_decode(torch.full((1, 2, 3), math.nan))
    with pytest.raises(ConfigError, match=r"`tokens` must be a list of 2 label lists.*of length 1"):
        ctc_alignment(lp, [[1]])
    with pytest.raises(ConfigError, match=r"utterance 1: labels must be class ids in \[0, 4\) other than the blank 0"):
        ctc_alignment(lp, [[1], [0]])
