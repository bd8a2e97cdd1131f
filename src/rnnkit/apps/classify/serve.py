"""``rnnkit serve`` for a classify run: up to 256 texts a request, concurrent requests labelled in one batch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import ConfigError

from ..framework import AppConfig, Service, setting
from .recipe import label_texts, load_run

__all__ = ["ClassifyRequest", "service", "MAX_TEXTS"]

MAX_TEXTS = 256  # texts one request may hold


@dataclass
class ClassifyRequest(AppConfig):
    """The body of ``POST /models/NAME/predict`` for a classify run.

    >>> ClassifyRequest(texts=["fine", " "])
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `texts`[1] is empty; give it some words (or drop it)
    """

    texts: list[str] = setting([], help=f"the texts to label (1 to {MAX_TEXTS})", min=1, max=MAX_TEXTS)

    def validate(self) -> None:
        for i, text in enumerate(self.texts):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{self.option('texts')}[{i}] is empty; give it some words (or drop it)")


def service(run: Path) -> Service:
    """The :class:`~rnnkit.apps.framework.Service` of classify run folder ``run`` (its model loaded once)."""
    model, vocab, classes, cfg = load_run(run)

    def predict(requests: list[ClassifyRequest]) -> list[dict]:
        texts = [text for request in requests for text in request.texts]
        found = iter(label_texts(model, vocab, classes, cfg, texts))  # one batch for every request
        replies = []
        for request in requests:
            rows = [next(found) for _ in request.texts]
            replies.append({"predictions": [{"label": p.label, "probabilities": p.probabilities} for p in rows]})
        return replies

    return Service(ClassifyRequest, predict=predict, batch=64,
                   example={"texts": ["a wonderful film, I loved it", "dull and far too long"]},
                   info={"classes": list(classes)})
