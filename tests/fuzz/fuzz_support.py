"""Shared machinery of the hostile-input tests (imported as ``fuzz_support``): the hypothesis profile, cases
derived from valid files (byte mutations, JSON edits), random JSON and text, and the check that only rnnkit's
errors, in one line, come out.

Hypothesis drives every fuzz test: it draws a seeded ``random.Random`` per example (reproducible from the
printed blob or ``--hypothesis-seed``), and each example runs :data:`BATCH` cases generated from it, since
hypothesis' own bookkeeping (about a millisecond per example) would otherwise cost more than the cases.
The profile ``rnnkit-fuzz`` holds what every fuzz test shares: no example database in the repository, and
a deadline far above a normal example but far below a hang.  :func:`fuzz` sets a target's number of cases,
multiplied by ``RNNKIT_FUZZ_SCALE`` (default 1) for a longer campaign.  The default run is derandomized (the
same cases each run, so that CI passes or fails on the code, not on the draw); a campaign draws new ones::

    RNNKIT_FUZZ_SCALE=50 python -m pytest tests/fuzz -m "slow or not slow"

A case that lets a non-rnnkit exception out fails with that exception and the case's input in the message.
:func:`limited_memory` bounds the address space around a call and :func:`peak_rss_growth` measures the
growth of the resident-memory peak of one (Linux: writing 5 to ``/proc/self/clear_refs`` resets the peak).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import re
import resource
import struct
import time
from datetime import timedelta
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.errors import RnnkitError

settings.register_profile(
    "rnnkit-fuzz",
    database=None,  # nothing written into the repository; a failure prints its reproduction blob
    print_blob=True,
    deadline=timedelta(seconds=10),  # a batch of cases takes milliseconds; this only catches one that spins
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SCALE = float(os.environ.get("RNNKIT_FUZZ_SCALE", "1"))
#: cases run per hypothesis example
BATCH = 25
#: what each fuzz test draws: a seeded generator of cases
seeds = st.randoms(use_true_random=True)


def fuzz(cases: int) -> settings:
    """The ``rnnkit-fuzz`` profile with enough examples for ``cases`` cases (times ``RNNKIT_FUZZ_SCALE``)."""
    return settings(settings.get_profile("rnnkit-fuzz"), max_examples=max(1, math.ceil(cases * SCALE / BATCH)),
                    derandomize=SCALE == 1)


def cases(default: int, slow: int) -> Any:
    """Parametrize a test over its number of cases: ``default`` in the default suite, ``slow`` marked slow
    (for the targets whose cases take milliseconds: a model built, a process forked)."""
    return pytest.mark.parametrize("count", [default, pytest.param(slow, marks=pytest.mark.slow)], ids=["default", "long"])


def hostile(call: Callable[..., Any], *args: Any, name: str | None = None, case: Any = None, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``: its result, or the :class:`RnnkitError` it raised (returned, not raised).

    Any other exception fails the test, naming ``case`` (the input; default: the arguments). An rnnkit error
    must be one line, and name ``name`` (the file) when given.
    """
    try:
        return call(*args, **kwargs)
    except RnnkitError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"not a one-line message: {message!r}"
        if name is not None:
            assert name in message, f"the message does not name {name!r}: {message!r}"
        return exc
    except Exception as exc:
        shown = repr(case if case is not None else (args, kwargs))
        raise AssertionError(f"{type(exc).__name__} escaped {getattr(call, '__qualname__', call)} "
                             f"({exc}) for the case {shown[:3000]}") from exc


# --------------------------------------------------------------------------- bytes
#: boundary values written over 2/4/8-byte little-endian fields: sizes, counts, rates, offsets
BOUNDARY = (0, 1, 2, 3, 7, 8, 16, 255, 256, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
            1 << 40, (1 << 63) - 1, (1 << 64) - 1)


def mutate(rnd: random.Random, valid: bytes, max_ops: int = 4) -> bytes:
    """``valid`` after 1 to ``max_ops`` random edits of a few bytes each, so most cases keep its framing:
    a bit flipped, a byte set, the end cut, bytes spliced over, inserted, deleted or repeated, or a 2/4/8-byte
    field overwritten by a boundary value (little- or big-endian)."""
    data = bytearray(valid)
    for _ in range(rnd.randint(1, max_ops)):
        op = rnd.choice(("flip", "set", "truncate", "splice", "insert", "delete", "field", "field", "duplicate"))
        at = rnd.randrange(len(data)) if data else 0
        if op == "flip" and data:
            data[at] ^= 1 << rnd.randrange(8)
        elif op == "set" and data:
            data[at] = rnd.randrange(256)
        elif op == "truncate":
            del data[at:]
        elif op == "splice":
            chunk = rnd.randbytes(rnd.randint(1, 16))
            data[at:at + len(chunk)] = chunk
        elif op == "insert":
            data[at:at] = rnd.randbytes(rnd.randint(1, 16))
        elif op == "delete":
            del data[at:at + rnd.randint(1, 16)]
        elif op == "duplicate":
            data[at:at] = data[at:at + rnd.randint(1, 64)]
        elif op == "field":
            width = rnd.choice((2, 4, 8))
            code = rnd.choice("<>") + {2: "H", 4: "I", 8: "Q"}[width]
            data[at:at + width] = struct.pack(code, rnd.choice(BOUNDARY) % (1 << (8 * width)))
    return bytes(data)


# --------------------------------------------------------------------------- text and JSON
_ALPHABETS = (
    "abcxyz ABC019",
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u2029\u3000",  # every kind of whitespace
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "不错很好的电影。，！",
    "\u0301\u0308\u200b\u200d\ufeff\ufffd",  # combining marks, zero widths, BOM, replacement
    "\x00\x01\x7f\ud800\udfff",  # NUL, controls, lone surrogates
    "é߷😀𝔘",
)


def text(rnd: random.Random, max_size: int = 24) -> str:
    """A random string mixing the alphabets above and any code point."""
    out = []
    for _ in range(rnd.randint(0, max_size)):
        if rnd.random() < 0.1:
            out.append(chr(rnd.randrange(0x110000)))
        else:
            out.append(rnd.choice(rnd.choice(_ALPHABETS)))
    return "".join(out)


SCALARS = (None, True, False, 0, 1, -1, 2, 3, 255, 1 << 31, 1 << 63, 1 << 70, -(1 << 70), 0.0, -0.0, 0.5, 1.5, 1e308,
           float("nan"), float("inf"), float("-inf"), "", "x", "-1", "0", "nan", "{}", "[]", "\x00", "\ud800", "relu")


def json_value(rnd: random.Random, depth: int = 3) -> Any:
    """A random JSON value (NaN and infinities included, as Python's json reads and writes them)."""
    kind = rnd.random()
    if depth <= 0 or kind < 0.6:
        return rnd.choice(SCALARS) if rnd.random() < 0.8 else text(rnd, 8)
    if kind < 0.8:
        return [json_value(rnd, depth - 1) for _ in range(rnd.randint(0, 3))]
    return {text(rnd, 6): json_value(rnd, depth - 1) for _ in range(rnd.randint(0, 3))}


def replace_in(rnd: random.Random, tree: Any, value: Callable[[random.Random], Any] = json_value) -> Any:
    """``tree`` (JSON data) with one node replaced by ``value(rnd)``, a dict key dropped, or a list item repeated."""
    paths: list[tuple] = []

    def walk(node: Any, path: tuple) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + (i,))

    walk(tree, ())
    path = rnd.choice(paths)
    op = rnd.choice(("replace", "replace", "drop", "duplicate"))

    def rebuild(node: Any, rest: tuple) -> Any:
        if not rest:
            return value(rnd) if op == "replace" or not path else node
        key, tail = rest[0], rest[1:]
        out = dict(node) if isinstance(node, dict) else list(node)
        if not tail and op == "drop":
            del out[key]
        elif not tail and op == "duplicate" and isinstance(out, list):
            out.insert(key, node[key])
        else:
            out[key] = rebuild(node[key], tail)
        return out

    return rebuild(tree, path)


def deep_json(depth: int) -> str:
    """``[[[...]]]`` nested ``depth`` times: a JSON bomb for the recursion of a parser."""
    return "[" * depth + "]" * depth


# --------------------------------------------------------------------------- memory and time
def _vm(field: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"{field}:\s+(\d+)", f.read()).group(1)) * 1024


@contextlib.contextmanager
def limited_memory(extra: int = 1 << 30) -> Iterator[None]:
    """Bound the address space to what is mapped now plus ``extra`` bytes, so that a runaway allocation fails
    at once (MemoryError) instead of taking the machine's memory; restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm("VmSize") + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def peak_rss_growth(call: Callable[[], Any]) -> tuple[Any, int, float]:
    """``(result or rnnkit error, growth of the resident-memory peak in bytes, seconds)`` of ``call()``."""
    with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM, the peak resident set, to the current one
        f.write("5")
    before = _vm("VmHWM")
    start = time.perf_counter()
    result = hostile(call)
    return result, _vm("VmHWM") - before, time.perf_counter() - start


def cheaply(call: Callable[[], Any], refused: str | None = None) -> Any:
    """``call()``'s result or rnnkit error, after checking that it took less than 2 s and grew the peak of
    resident memory by less than 50 MB (the address space bounded meanwhile to 1 GiB more); with
    ``refused``, it must be an rnnkit error whose message holds that text (the file's name)."""
    with limited_memory(1 << 30):
        got, growth, seconds = peak_rss_growth(call)
    if refused is not None:
        assert isinstance(got, RnnkitError) and refused in str(got), got
    assert growth < 50 << 20 and seconds < 2, (growth, seconds)
    return got


def run_cases(count: int, body: Callable[[random.Random], None]) -> None:
    """``body(rnd)`` on enough hypothesis examples for ``count`` cases (for a test parametrized by :func:`cases`)."""
    @fuzz(count)
    @given(rnd=seeds)
    def run(rnd: random.Random) -> None:
        body(rnd)

    run()
