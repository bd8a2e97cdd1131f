"""Generating text from a trained language model: sampling (temperature, top-k, top-p), greedy, beam search.

The model's recurrent layers are stateful, so the prompt is read once and each
new token costs one step of every layer (the fused kernel's single step for
LSTM/GRU/SimpleRNN): the prefix is never re-run.  Greedy and beam search are
:mod:`rnnkit.decoding`'s, over a step function that loads the layers' states
from the search's state, runs the model on one token per row and returns the
log-probabilities and the layers' new states; sampling is done here.
"""
from __future__ import annotations

from typing import Callable

import torch

from rnnkit.data import Vocab
from rnnkit.decoding import StepFn, beam_search, greedy_search
from rnnkit.errors import ConfigError
from rnnkit.protocols import state_carriers

from .data import check_known

__all__ = ["generate", "filter_logits"]

# never produced: padding, the start marker, and the unknown-token stand-in
_BANNED = (Vocab.pad_id, Vocab.bos_id, Vocab.unk_id)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Set to -inf every logit outside the ``top_k`` largest and outside the top-``p`` nucleus.

    The nucleus is the smallest set of most likely tokens whose probabilities
    sum to at least ``top_p`` (Holtzman et al. 2020); the most likely token is
    always kept.

    >>> filter_logits(torch.tensor([[1.0, 3.0, 2.0]]), top_k=2).tolist()
    [[-inf, 3.0, 2.0]]
    >>> filter_logits(torch.log(torch.tensor([[0.5, 0.3, 0.2]])), top_p=0.7).isinf().tolist()
    [[False, False, True]]
    """
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        # drop a token when the tokens before it already reach top_p
        drop_sorted = (cumulative - torch.softmax(sorted_logits, dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _token_text(vocab: Vocab, idx: int) -> str:
    token = vocab.id_to_token(idx)
    if vocab.level == "char":
        return token
    return "\n" if token == Vocab.EOS else token + " "


def _prompt_ids(vocab: Vocab, prompt: str) -> list[int]:
    check_known(vocab, prompt)
    ids = vocab.encode(list(prompt) if vocab.level == "char" else prompt.split())
    if not ids:  # no prompt: start as after a line break
        start = "\n" if vocab.level == "char" else Vocab.EOS
        ids = [vocab.token_to_id(start) if start in vocab else len(Vocab.SPECIALS)]
    return ids


def _reset(model: torch.nn.Module) -> list:
    layers = list(state_carriers(model))
    for layer in layers:
        layer.reset_states()
    return layers


def _check(length: int, temperature: float, top_k: int, top_p: float, beam: int) -> None:
    if not isinstance(length, int) or length < 1:
        raise ConfigError(f"--length must be a whole number >= 1, got {length!r}")
    if not temperature > 0:
        raise ConfigError(f"--temperature must be > 0, got {temperature!r}; use --greedy for the most likely text")
    if not isinstance(top_k, int) or top_k < 0:
        raise ConfigError(f"--top-k must be a whole number >= 0 (0 = off), got {top_k!r}")
    if not 0 < top_p <= 1:
        raise ConfigError(f"--top-p must be in (0, 1], got {top_p!r}")
    if not isinstance(beam, int) or beam < 0:
        raise ConfigError(f"--beam must be a whole number >= 1, got {beam!r}")


def _log_probs(logits: torch.Tensor, banned: torch.Tensor) -> torch.Tensor:
    """log_softmax of the logits (N, V), the banned tokens masked out (-inf)."""
    return torch.log_softmax(logits.index_fill(-1, banned, float("-inf")), dim=-1)


def _lm_step(model: torch.nn.Module, layers: list, banned: torch.Tensor,
             on_token: Callable[[torch.Tensor], None] | None = None) -> StepFn:
    """The language model as the step function of :mod:`rnnkit.decoding`.

    The search's state is ``(states, ready)``: ``states`` holds each stateful
    layer's states (rows on dim 0), ``ready`` the log-probabilities (N, V) of the
    next token when they are known already (the prompt's, for the first step;
    None after).  ``on_token`` sees every token fed back to the model.
    """
    def step(tokens: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        states, ready = state
        if ready is not None:  # the first step: the prompt's last logits answer it, the prompt is read once
            return ready, (states, None)
        if on_token is not None:
            on_token(tokens)
        for layer, layer_states in zip(layers, states):  # each row continues its own hypothesis' state
            layer.reset_states(layer_states)
        logits = model(tokens[:, None])[:, -1]  # (N, V): one step of every layer
        return _log_probs(logits, banned), (tuple(layer.states for layer in layers), None)
    return step


@torch.inference_mode()
def generate(model: torch.nn.Module, vocab: Vocab, prompt: str = "", length: int = 500, *,
             temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, greedy: bool = False,
             beam: int = 0, seed: int | None = None, stream: Callable[[str], None] | None = None) -> str:
    """Continue ``prompt`` by ``length`` tokens; returns the new text (without the prompt).

    Args:
        temperature: divides the logits before sampling (< 1 is more conservative).
        top_k / top_p: sample only among the k most likely tokens / the nucleus (0 and 1 = off).
        greedy: always take the most likely token (:func:`rnnkit.decoding.greedy_search`).
        beam: beam width; ``beam > 1`` returns the most likely continuation found
            by beam search (:func:`rnnkit.decoding.beam_search`, no end token:
            exactly ``length`` tokens), streamed once finished.
        seed: fixes the sampling generator, so the same seed gives the same text.
        stream: called with each new piece of text as soon as it is chosen.
    """
    _check(length, temperature, top_k, top_p, beam)
    model.eval()
    layers = _reset(model)
    try:
        device = next(model.parameters()).device
        ids = torch.tensor([_prompt_ids(vocab, prompt)], device=device)  # (1, P)
        logits = model(ids)[:, -1]  # (1, V): the prompt is read once
        banned = torch.tensor(_BANNED, device=device)
        if beam > 1 or greedy:
            return _search(model, vocab, layers, logits, banned, length, beam, stream)
        return _sample(model, vocab, logits, banned, length, temperature, top_k, top_p, seed, stream)
    finally:
        _reset(model)


def _search(model: torch.nn.Module, vocab: Vocab, layers: list, logits: torch.Tensor, banned: torch.Tensor,
            length: int, beam: int, stream: Callable[[str], None] | None) -> str:
    """Greedy (``beam <= 1``) or beam search from the prompt's state and its last logits (1, V)."""
    state = (tuple(layer.states for layer in layers), _log_probs(logits, banned))
    start = torch.zeros(1, dtype=torch.long, device=logits.device)  # never read: `ready` answers the first step
    if beam > 1:
        found = beam_search(_lm_step(model, layers, banned), state, start, beam_size=beam, max_len=length)
        text = "".join(_token_text(vocab, i) for i in found.tokens[0])
        if stream:
            stream(text)
        return text
    streamed = 0

    def on_token(tokens: torch.Tensor) -> None:  # a chosen token is fed back at the next step: stream it then
        nonlocal streamed
        if stream:
            stream(_token_text(vocab, int(tokens[0])))
            streamed += 1

    found = greedy_search(_lm_step(model, layers, banned, on_token), state, start, max_len=length)
    pieces = [_token_text(vocab, i) for i in found.tokens[0]]
    if stream:
        for piece in pieces[streamed:]:  # the last token, never fed back
            stream(piece)
    return "".join(pieces)


def _sample(model: torch.nn.Module, vocab: Vocab, logits: torch.Tensor, banned: torch.Tensor, length: int,
            temperature: float, top_k: int, top_p: float, seed: int | None,
            stream: Callable[[str], None] | None) -> str:
    """Draw ``length`` tokens from the filtered, tempered distribution, starting from the prompt's logits (1, V)."""
    device = logits.device
    gen = torch.Generator(device=device)
    # without a seed, draw one from torch's global generator: rnnkit.set_seed still makes the text reproducible,
    # and the global generator is advanced, never re-seeded (torch.seed() would clobber the caller's state)
    gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,))))
    pieces = []
    for _ in range(length):
        logits = logits.index_fill(-1, banned, float("-inf"))
        probs = torch.softmax(filter_logits(logits / temperature, top_k, top_p), dim=-1)
        nxt = torch.multinomial(probs, 1, generator=gen)  # (1, 1)
        piece = _token_text(vocab, int(nxt))
        pieces.append(piece)
        if stream:
            stream(piece)
        logits = model(nxt)[:, -1]  # one step of every layer, from the carried state
    return "".join(pieces)
