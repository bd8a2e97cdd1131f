"""The CTC loss against hand-summed alignments, brute-force enumeration and Keras 3's keras.losses.CTC."""
import json
import math
from itertools import product

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.training import losses
from rnnkit.training.ctc import ctc_loss


def collapse(path, blank=0):
    """B: merge repeated classes, then drop blanks (written plainly, independently of the package)."""
    out, prev = [], None
    for k in path:
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


def brute_force_nll(probs, labels):
    """-log of the summed probability of every alignment of the T x C matrix ``probs`` collapsing to ``labels``."""
    total = 0.0
    for path in product(range(probs.shape[1]), repeat=probs.shape[0]):
        if collapse(path) == list(labels):
            total += math.prod(probs[t, k] for t, k in enumerate(path))
    return -math.log(total) if total > 0 else math.inf


# ----------------------------------------------------------------------------- hand-computed
def test_hand_computed_three_frames():
    # classes: 0 = blank "-", 1 = "a", 2 = "b"; T = 3 frames
    p = [[0.2, 0.7, 0.1],   # frame 1: -, a, b
         [0.3, 0.2, 0.5],   # frame 2
         [0.6, 0.1, 0.3]]   # frame 3
    probs = torch.tensor([p], dtype=torch.float64)
    # "ab": the alignments are a b -, a - b, - a b, a a b, a b b (5 of the 27)
    ab = (0.7 * 0.5 * 0.6) + (0.7 * 0.3 * 0.3) + (0.2 * 0.2 * 0.3) + (0.7 * 0.2 * 0.3) + (0.7 * 0.5 * 0.3)
    # = 0.21 + 0.063 + 0.012 + 0.042 + 0.105 = 0.432
    assert ab == pytest.approx(0.432)
    got = ctc_loss(torch.tensor([[1, 2]]), probs.log())
    assert got.item() == pytest.approx(-math.log(0.432), rel=1e-12)
    # "aa": the repeated label needs a blank between: a - a is the only alignment
    aa = 0.7 * 0.3 * 0.1
    assert ctc_loss(torch.tensor([[1, 1]]), probs.log()).item() == pytest.approx(-math.log(aa), rel=1e-12)
    # "": only - - -
    assert ctc_loss(torch.tensor([[0, 0]]), probs.log()).item() == pytest.approx(-math.log(0.2 * 0.3 * 0.6), rel=1e-12)
    # "aba" needs 3 frames, one per label: exactly a b a
    assert ctc_loss(torch.tensor([[1, 2, 1]]), probs.log()).item() == pytest.approx(-math.log(0.7 * 0.5 * 0.1),
                                                                                      rel=1e-12)
    # the loss object on probabilities gives the same values, averaged over the batch
    loss = losses.CTC(from_logits=False)
    labels = torch.tensor([[1, 2], [1, 1]])
    want = (-math.log(0.432) - math.log(aa)) / 2
    assert loss(labels, probs.expand(2, -1, -1)).item() == pytest.approx(want, rel=1e-6)


def test_too_few_frames_give_inf_or_zero_with_zero_infinity():
    logits = torch.zeros(1, 2, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([[1, 1]])  # "aa" needs a - a: 3 frames
    assert ctc_loss(labels, logits).item() == math.inf
    value = losses.CTC(zero_infinity=True)(labels, logits)
    assert value.item() == 0.0
    value.backward()
    assert torch.equal(logits.grad, torch.zeros_like(logits))


# ----------------------------------------------------------------------------- brute force
@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_lengths_and_padding(seed):
    rng = np.random.default_rng(seed)
    batch, time, classes, width = 4, 4, int(rng.integers(2, 4)), 3
    logits = torch.tensor(rng.normal(size=(batch, time, classes)) * 2)
    frames = rng.integers(0, time + 1, size=batch)
    frames[0] = time
    labels = np.zeros((batch, width), dtype=np.int64)
    for b in range(batch):
        n = int(rng.integers(0, width + 1))
        labels[b, :n] = rng.integers(1, classes, size=n)
    probs = torch.softmax(logits, dim=-1).numpy()
    want = [brute_force_nll(probs[b, : frames[b]], labels[b][labels[b] != 0]) for b in range(batch)]
    got = ctc_loss(torch.tensor(labels), logits, input_lengths=torch.tensor(frames))
    assert got.tolist() == pytest.approx(want, rel=1e-9)
    # the loss object: the valid frames from the mask (padded at the end or at the start), the mean over the batch
    post = torch.arange(time)[None, :] < torch.tensor(frames)[:, None]
    pre = post.flip(1)
    finite = [b for b in range(batch) if math.isfinite(want[b])]
    keep = torch.tensor(finite)
    mean = sum(want[b] for b in finite) / len(finite)
    loss = losses.get("ctc")
    assert loss(torch.tensor(labels)[keep], logits[keep], mask=post[keep]).item() == pytest.approx(mean, rel=1e-9)
    pre_logits = torch.stack([logits[b].roll(int(time - frames[b]), dims=0) for b in range(batch)])
    assert loss(torch.tensor(labels)[keep], pre_logits[keep], mask=pre[keep]).item() == pytest.approx(mean, rel=1e-9)


def test_labels_are_the_non_zero_entries_wherever_the_padding_is():
    logits = torch.randn(3, 5, 4, dtype=torch.float64)
    at_end = torch.tensor([[3, 1, 0, 0], [2, 2, 1, 0], [0, 0, 0, 0]])
    at_start = torch.tensor([[0, 0, 3, 1], [0, 2, 2, 1], [0, 0, 0, 0]])
    want = ctc_loss(at_end, logits)
    assert torch.allclose(ctc_loss(at_start, logits), want, rtol=1e-12)
    # explicit target lengths read the start of each row, as PyTorch does
    assert torch.allclose(ctc_loss(at_end, logits, target_lengths=[2, 3, 0]), want, rtol=1e-12)


def test_no_division_by_target_length_unlike_torch_mean():
    logits = torch.randn(3, 6, 5, dtype=torch.float64)
    labels = torch.tensor([[1, 2, 3], [4, 0, 0], [2, 2, 0]])
    ours = losses.CTC()(labels, logits)
    lengths = torch.tensor([3, 1, 2])
    args = (logits.log_softmax(-1).transpose(0, 1), labels, torch.full((3,), 6), lengths)
    assert ours.item() == pytest.approx(torch.nn.functional.ctc_loss(*args, reduction="sum").item() / 3, rel=1e-12)
    assert ours.item() != pytest.approx(torch.nn.functional.ctc_loss(*args, reduction="mean").item(), rel=1e-3)


def test_logits_log_probabilities_and_probabilities_agree():
    logits = torch.randn(2, 4, 3, dtype=torch.float64)
    labels = torch.tensor([[1, 2], [2, 0]])
    want = losses.CTC()(labels, logits)
    assert torch.allclose(losses.CTC()(labels, logits.log_softmax(-1)), want, rtol=1e-12)
    assert torch.allclose(losses.CTC(from_logits=False)(labels, logits.softmax(-1)), want, rtol=1e-9)
    # half precision is computed in float32
    assert losses.CTC()(labels, logits.to(torch.bfloat16)).dtype == torch.float32


# ----------------------------------------------------------------------------- Keras 3


@pytest.mark.parametrize("seed", range(3))
def test_matches_keras_ctc(keras, seed):
    rng = np.random.default_rng(seed)
    batch, time, classes = 5, 7, 6
    logits = rng.normal(size=(batch, time, classes)).astype(np.float32) * 3
    labels = np.zeros((batch, 4), dtype=np.int64)
    for b in range(batch):
        n = int(rng.integers(0, 5))
        labels[b, :n] = rng.integers(1, classes, size=n)
    theirs_each = keras.losses.ctc(labels, logits).detach().cpu().numpy()   # the torch backend returns tensors
    theirs = float(keras.losses.CTC()(labels, logits).detach().cpu())
    ours_each = ctc_loss(labels, logits).numpy()
    assert np.allclose(ours_each, theirs_each, rtol=1e-5)
    assert losses.CTC()(labels, logits).item() == pytest.approx(theirs, rel=1e-5)


# ----------------------------------------------------------------------------- gradients and training
def test_gradient_flows_and_matches_finite_differences():
    logits = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([[1, 2], [1, 0]])
    mask = torch.tensor([[True, True, True, True], [True, True, True, False]])
    assert torch.autograd.gradcheck(lambda z: losses.CTC()(labels, z, mask=mask), (logits,))
    losses.CTC()(labels, logits, mask=mask).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    assert torch.equal(logits.grad[1, 3], torch.zeros(3))  # the masked frame gets no gradient


def test_compile_with_ctc_fits_a_tiny_model():
    from rnnkit.layers import Dense, LSTM

    # each frame's one-hot input names the class to emit (0 = silence): the labels are the collapsed frames
    torch.manual_seed(0)
    frames = torch.randint(0, 4, (64, 8))
    x = torch.nn.functional.one_hot(frames, 4).float()
    labels = torch.zeros(64, 8, dtype=torch.long)
    for b in range(64):
        seq = collapse(frames[b].tolist())
        labels[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    model = rnnkit.Sequential([LSTM(16, return_sequences=True), Dense(4)])
    model.compile(optimizer=rnnkit.optimizers.Adam(learning_rate=0.03), loss="ctc", device="cpu")
    history = model.fit(x, labels, epochs=8, batch_size=16, verbose=0, shuffle=False)
    loss = history.history["loss"]
    assert all(math.isfinite(v) for v in loss)
    assert loss[-1] < 0.5 * loss[0], loss
    assert model.evaluate(x, labels, verbose=0) < 0.5 * loss[0]


# ----------------------------------------------------------------------------- registry and errors
def test_registered_and_serialised():
    assert "ctc" in losses.available()
    loss = losses.get("ctc")
    assert isinstance(loss, losses.CTC) and loss.name == "ctc" and loss.from_logits and not loss.zero_infinity
    config = json.loads(json.dumps(losses.serialize(losses.CTC(from_logits=False, zero_infinity=True))))
    assert config == {"class_name": "CTC", "config": {"name": "ctc", "from_logits": False, "zero_infinity": True}}
    again = losses.deserialize(config)
    assert isinstance(again, losses.CTC) and not again.from_logits and again.zero_infinity
    assert rnnkit.losses.CTC is losses.CTC and rnnkit.losses.ctc_loss is ctc_loss


def test_accuracy_is_refused_for_ctc_with_the_fix():
    from rnnkit.training import metrics

    with pytest.raises(ConfigError, match=r"'accuracy' has no per-frame meaning for a CTC model.*token_error_rate"):
        metrics.resolve("accuracy", "ctc", torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 5, 4))


@pytest.mark.parametrize("labels,pattern", [
    (torch.tensor([[1, -1]]), r"labels must lie in \[1, 3\).*got values from -1 to 1; pad labels with 0, not -1"),
    (torch.tensor([[1, 3]]), r"labels must lie in \[1, 3\) for y_pred with 3 classes"),
    (torch.tensor([1, 2]), r"expected y_true of 2 dims \(batch, max_label_len\)"),
    (torch.tensor([[1], [2]]), r"y_true has 2 rows of labels but y_pred 1 utterances"),
    (torch.tensor([[1.5, 0.0]]), r"expected y_true of integer labels, got fractional values"),
])
def test_bad_labels_are_one_line_errors(labels, pattern):
    with pytest.raises(ShapeError, match=pattern):
        losses.CTC()(labels, torch.zeros(1, 4, 3))


def test_bad_lengths_masks_and_arguments():
    logits, labels = torch.zeros(2, 4, 3), torch.tensor([[1, 0], [1, 2]])
    with pytest.raises(ShapeError, match=r"`input_lengths` must lie in \[0, 4\] \(frames\), got values from 4 to 5"):
        ctc_loss(labels, logits, input_lengths=[4, 5])
    with pytest.raises(ShapeError, match=r"expected `input_lengths` of shape \(2,\)"):
        ctc_loss(labels, logits, input_lengths=[4])
    with pytest.raises(ShapeError, match=r"a label within `target_lengths` is 0, the blank"):
        ctc_loss(labels, logits, target_lengths=[2, 2])
    with pytest.raises(ShapeError, match=r"expected a \(batch, time\) mask of valid frames"):
        losses.CTC()(labels, logits, mask=torch.ones(2, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"y_pred of 3 dims \(batch, time, classes\)"):
        losses.CTC()(labels, torch.zeros(2, 3))
    with pytest.raises(ShapeError, match=r"at least 2 classes"):
        losses.CTC()(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 4, 1))
    with pytest.raises(ConfigError, match=r"CTC: `from_logits` must be True or False, got 'yes'"):
        losses.CTC(from_logits="yes")
