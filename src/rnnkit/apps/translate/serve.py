"""``rnnkit serve`` for a translate run: up to 256 sentences a request, concurrent requests with one beam width
translated in one batch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import ConfigError

from ..framework import AppConfig, Service, setting
from .recipe import load_run

__all__ = ["TranslateRequest", "service", "MAX_TEXTS", "MAX_CHARS"]

MAX_TEXTS = 256  # sentences one request may hold
# characters of one sentence: its translation may run to twice its tokens, each step over every beam, in one call
# nothing can stop; a 1 MB sentence held the model (and a core) for far longer than any request's time
MAX_CHARS = 1_000


@dataclass
class TranslateRequest(AppConfig):
    """The body of ``POST /models/NAME/predict`` for a translate run.

    >>> TranslateRequest(texts=["hello"], beam=0)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `beam` must be a whole number from 1 to 16, got 0
    """

    texts: list[str] = setting([], help=f"the sentences to translate (1 to {MAX_TEXTS}, each at most {MAX_CHARS:,} "
                                        "characters)", min=1, max=MAX_TEXTS)
    beam: int = setting(5, help="beam width (1 = greedy)", min=1, max=16)

    def validate(self) -> None:
        for i, text in enumerate(self.texts):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{self.option('texts')}[{i}] is empty; give it some words (or drop it)")
            if len(text) > MAX_CHARS:
                raise ConfigError(f"{self.option('texts')}[{i}] has {len(text):,} characters, over the {MAX_CHARS:,} "
                                  "one sentence may have; split it into sentences")


def service(run: Path) -> Service:
    """The :class:`~rnnkit.apps.framework.Service` of translate run folder ``run`` (its model loaded once)."""
    translator = load_run(run)

    def predict(requests: list[TranslateRequest]) -> list[dict]:
        replies: list[dict] = [{} for _ in requests]
        for beam in sorted({r.beam for r in requests}):  # one batch per beam width
            group = [i for i, r in enumerate(requests) if r.beam == beam]
            found = iter(translator.translate([t for i in group for t in requests[i].texts], beam=beam))
            for i in group:
                replies[i] = {"translations": [next(found).text for _ in requests[i].texts]}
        return replies

    return Service(TranslateRequest, predict=predict, batch=32, example={"texts": ["I am cold."], "beam": 5},
                   info={"source": translator.source_lang, "target": translator.target_lang})
