"""Translating sentences with a trained :class:`~rnnkit.models.Seq2Seq`, and scoring them with sacreBLEU.

:class:`Translator` holds what a run folder needs besides the model (the
vocabularies, languages, token levels and the true-caser) and translates
batches of sentences with :mod:`rnnkit.decoding` (greedy or beam search),
sorted by length so each batch pads little.  :func:`corpus_scores` gives BLEU
and chrF as sacreBLEU computes them (corpus level, its default ``13a``
tokeniser, ``zh`` for Chinese), with every reference of a source sentence.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from rnnkit.data import Vocab
from rnnkit.decoding import beam_search, greedy_search
from rnnkit.errors import ConfigError

from .text import TrueCaser, bleu_tokenizer, detokenize, segment

__all__ = ["Translator", "Translation", "corpus_scores"]


@dataclass
class Translation:
    """One sentence's translation: the text, its tokens, the source tokens and those the model did not know."""

    text: str
    tokens: list[str]
    source_tokens: list[str]
    unknown: list[str] = field(default_factory=list)  # source tokens read as <unk>
    score: float = 0.0


@dataclass
class Translator:
    """A trained model with its vocabularies and text steps: ``translate(sentences, beam=5)``."""

    model: Any
    source_vocab: Vocab
    target_vocab: Vocab
    source_lang: str
    target_lang: str
    source_level: str = "word"
    target_level: str = "word"
    truecaser: TrueCaser | None = None
    alpha: float = 0.6

    def source_ids(self, sentence: str) -> tuple[list[int], list[str], list[str]]:
        """(ids, tokens, unknown tokens) of a source sentence."""
        tokens = segment(sentence, self.source_lang, self.source_level)
        ids = self.source_vocab.encode(tokens)
        unknown = [t for t, i in zip(tokens, ids) if i == Vocab.unk_id]
        return ids, tokens, unknown

    @torch.inference_mode()
    def translate_ids(self, sources: Sequence[Sequence[int]], beam: int = 5, batch_size: int = 128,
                      max_len: int | None = None) -> list[tuple[list[int], float]]:
        """(target ids without ``<eos>``, score) of each source; batched by length, beam 1 = greedy."""
        model = self.model
        model.eval()
        device = next(model.parameters()).device
        order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
        out: list[tuple[list[int], float]] = [([], 0.0)] * len(sources)
        banned = torch.tensor([Vocab.pad_id, Vocab.bos_id], device=device)

        def step(tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
            log_probs, state = model.step(tokens, state)
            return log_probs.index_fill_(-1, banned, float("-inf")), state  # never padding or a new start

        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            width = max(1, max(len(sources[i]) for i in index))
            src = torch.zeros(len(index), width, dtype=torch.long)  # (B, S), right-padded
            for row, i in enumerate(index):
                src[row, : len(sources[i])] = torch.as_tensor(list(sources[i]) or [Vocab.unk_id], dtype=torch.long)
            src = src.to(device)
            state = model.encode(src)
            starts = torch.full((len(index),), Vocab.bos_id, dtype=torch.long, device=device)
            limit = max_len or 2 * width + 10
            if beam <= 1:
                found = greedy_search(step, state, starts, max_len=limit, end_token=Vocab.eos_id)
            else:
                found = beam_search(step, state, starts, beam_size=beam, alpha=self.alpha, max_len=limit,
                                    end_token=Vocab.eos_id)
            for row, i in enumerate(index):
                out[i] = (list(found.tokens[row]), float(found.scores[row]))
        return out

    def text_of(self, ids: Sequence[int]) -> tuple[str, list[str]]:
        """(the detokenised, true-cased sentence, its tokens) of target ids."""
        tokens = [self.target_vocab.id_to_token(int(i)) for i in ids]
        return detokenize(tokens, self.target_lang, self.target_level, self.truecaser), tokens

    def translate(self, sentences: Sequence[str], beam: int = 5, batch_size: int = 128) -> list[Translation]:
        """Translate ``sentences`` (one string each); ``beam`` 1 decodes greedily."""
        if isinstance(sentences, str):
            sentences = [sentences]
        if not isinstance(beam, int) or isinstance(beam, bool) or beam < 1:
            raise ConfigError(f"--beam must be a whole number >= 1 (1 = greedy), got {beam!r}")
        read = [self.source_ids(s) for s in sentences]
        found = self.translate_ids([ids for ids, _, _ in read], beam=beam, batch_size=batch_size)
        out = []
        for (ids, tokens, unknown), (target, score) in zip(read, found):
            text, target_tokens = self.text_of(target)
            out.append(Translation(text, target_tokens, tokens, unknown, score))
        return out

    def attention(self, sentence: str, target_ids: Sequence[int]) -> np.ndarray | None:
        """The attention weights ``(T + 1, S)`` of the model reading its translation ``target_ids`` (then ``<eos>``)."""
        ids, _, _ = self.source_ids(sentence)
        src = torch.tensor([ids or [Vocab.unk_id]])
        tgt_in = torch.tensor([[Vocab.bos_id, *target_ids]])
        with torch.inference_mode():
            weights = self.model.attention_weights(src, tgt_in)
        return None if weights is None else weights[0].float().numpy()


def corpus_scores(hypotheses: Sequence[str], references: Sequence[Sequence[str]], target_lang: str) -> dict[str, float]:
    """``{'bleu', 'chrf'}``: sacreBLEU's corpus BLEU (default smoothing, ``13a``/``zh`` tokeniser) and chrF,
    with ``references[i]`` every reference of sentence ``i`` (any number, at least one)."""
    try:
        from sacrebleu.metrics import BLEU, CHRF
    except ImportError:
        raise ConfigError("scoring translations needs sacreBLEU: pip install 'rnnkit[translate]'") from None
    most = max(len(r) for r in references)
    # sacreBLEU takes one stream per reference position; a sentence with fewer references pads with None
    streams = [[refs[k] if k < len(refs) else None for refs in references] for k in range(most)]
    bleu = BLEU(tokenize=bleu_tokenizer(target_lang)).corpus_score(list(hypotheses), streams)
    chrf = CHRF().corpus_score(list(hypotheses), streams)
    return {"bleu": round(bleu.score, 2), "chrf": round(chrf.score, 2)}
