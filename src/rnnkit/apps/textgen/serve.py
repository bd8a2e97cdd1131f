"""``rnnkit serve`` for a textgen run: the request's fields and generation one request at a time, streamed.

The language model keeps its recurrent state in its layers (the prompt is read
once, then one step per token), so the server gives it one request at a time
(:attr:`~rnnkit.apps.framework.Service.generate`): two requests never share a state.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rnnkit.errors import ConfigError

from ..framework import AppConfig, Service, setting
from .data import check_known
from .generate import generate
from .recipe import load_run

__all__ = ["GenerateRequest", "service", "MAX_LENGTH", "MAX_PROMPT"]

MAX_LENGTH = 2000  # tokens one request may ask for
# characters of a prompt: the model reads a prompt whole, in one call nothing can stop, at about a millisecond a
# character on a busy 2-core CPU; a 1 MB body held the model (and a core) for many minutes
MAX_PROMPT = 10_000


@dataclass
class GenerateRequest(AppConfig):
    """The body of ``POST /models/NAME/predict`` for a textgen run.

    >>> GenerateRequest(length=3000)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `length` must be a whole number from 1 to 2000, got 3000
    """

    prompt: str = setting("", help="the text to continue (its characters, or words, must be in the run's vocabulary; "
                                   f"at most {MAX_PROMPT:,} characters)")
    length: int = setting(200, help="tokens to generate (characters for a character-level model)", min=1,
                          max=MAX_LENGTH)
    temperature: float = setting(0.8, help="divides the logits before sampling (< 1 is more conservative)", gt=0,
                                 max=100)
    top_k: int = setting(40, help="sample among the k most likely tokens (0 = all)", min=0, max=1_000_000)
    top_p: float = setting(0.95, help="sample within the nucleus of this probability (1 = off)", gt=0, max=1)
    seed: int | None = setting(None, help="fixes the sampling: the same seed gives the same text", min=0,
                               max=2**63 - 1)
    stream: bool = setting(False, help="send each piece as a server-sent event as it is made")

    def validate(self) -> None:
        if len(self.prompt) > MAX_PROMPT:
            raise ConfigError(f"{self.option('prompt')} has {len(self.prompt):,} characters, over the {MAX_PROMPT:,} "
                              "a request may send; send its last part (the model's state forgets far sooner)")


def service(run: Path) -> Service:
    """The :class:`~rnnkit.apps.framework.Service` of textgen run folder ``run`` (its model loaded once)."""
    model, vocab, cfg = load_run(run)

    def check(request: GenerateRequest) -> None:
        check_known(vocab, request.prompt, "`prompt`")

    def answer(request: GenerateRequest, emit: Callable[[str], None]) -> dict:
        text = generate(model, vocab, request.prompt, request.length, temperature=request.temperature,
                        top_k=request.top_k, top_p=request.top_p, seed=request.seed, stream=emit)
        return {"text": text}

    prompt = cfg.sample_prompt if cfg.sample_prompt and all(c in vocab for c in (
        list(cfg.sample_prompt) if vocab.level == "char" else cfg.sample_prompt.split())) else ""
    return Service(GenerateRequest, generate=answer, check=check, batch=1,
                   example={"prompt": prompt, "length": 200, "temperature": 0.8, "top_k": 40, "seed": 1},
                   info={"level": vocab.level, "vocabulary": len(vocab)})
