"""``rnnkit serve`` for a speech run: one uploaded audio file a request, concurrent requests decoded in one batch."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.errors import ConfigError, DatasetError

from ..framework import AppConfig, Service, setting
from .recipe import decode_waves, load_run, read_wave

__all__ = ["TranscribeRequest", "service", "MAX_BYTES"]

MAX_BYTES = 10_000_000  # the largest audio file a request may upload


@dataclass
class TranscribeRequest(AppConfig):
    """The multipart form of ``POST /models/NAME/predict`` for a speech run: the file ``audio`` and ``beam``.

    >>> TranscribeRequest(audio=b"RIFF", beam=0)
    Traceback (most recent call last):
    rnnkit.errors.ConfigError: `beam` must be a whole number from 1 to 64, got 0
    """

    audio: bytes = setting(b"", help="the audio file (WAV; FLAC, OGG ... with soundfile installed)")
    beam: int = setting(1, help="CTC beam width for digit strings (1 = greedy)", min=1, max=64)

    def validate(self) -> None:
        if not isinstance(self.audio, bytes) or not self.audio:
            raise ConfigError(f"{self.option('audio')} is empty; upload an audio file")


def service(run: Path) -> Service:
    """The :class:`~rnnkit.apps.framework.Service` of speech run folder ``run`` (its model loaded once)."""
    model, info, _ = load_run(run)

    def check(request: TranscribeRequest) -> TranscribeRequest:
        try:  # decoded once, here, before the model
            request.wave = read_wave(request.audio, info["sample_rate"], f"`audio` ({len(request.audio):,} bytes)")
        except DatasetError as exc:
            text = str(exc)
            raise ConfigError(text if text.startswith("`audio`") else f"`audio`: {text}") from None
        return request

    def predict(requests: list[TranscribeRequest]) -> list[dict]:
        replies = []
        by_beam: dict[int, list[int]] = {}
        for i, r in enumerate(requests):
            by_beam.setdefault(r.beam, []).append(i)
        found: dict[int, dict] = {}
        for beam, group in by_beam.items():  # one batch per beam width
            # each upload its own speaker: requests in one batch may come from different people
            for i, t in zip(group, decode_waves(model, info, [requests[i].wave for i in group],
                                                ["audio"] * len(group), beam, speakers=group)):
                reply = {"text": t.text(), "tokens": t.tokens}
                if t.probability is not None:
                    reply["probability"] = t.probability
                if t.spans is not None:
                    reply["spans"] = t.spans
                found[i] = reply
        replies = [found[i] for i in range(len(requests))]
        return replies

    return Service(TranscribeRequest, predict=predict, check=check, batch=16, upload="audio", max_bytes=MAX_BYTES,
                   example={"beam": 1}, info={"task": info["task"], "classes": list(info["classes"]),
                                              "sample_rate": info["sample_rate"]})
