"""rnnkit serve fuzzed over a real socket: hypothesis writes the requests, a uvicorn on 127.0.0.1 answers them.

Each app's predict route gets bodies built from its request's fields (values near and past their bounds, of the
wrong type, huge numbers, unicode junk with lone surrogates, deep nesting), then mangled (truncated, bytes
flipped, invalid UTF-8, other top-level values, oversized), under odd content types and chunked framing; the speech
route gets multipart forms (WAV files with junk headers, broken boundaries, too many parts, junk fields); and every
route gets odd methods, paths and headers.  Whatever comes back must be a success or a 4xx (or a 503 for a
request cut off) JSON ``{"error": "..."}``: never a 5xx, never a traceback or a path of the server's, and the
server stays up.  The default run sends 1,900 requests in all, ``-m slow`` ten
times as many; both are derandomized (the same requests each run, so that CI passes or fails on the code, not on the
draw), unless ``RNNKIT_FUZZ_SCALE`` is set above 1 (a campaign: that many times as many, new ones each run).
"""
from __future__ import annotations

import dataclasses
import json
import os
import random
import string
import struct
import sys
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rnnkit
from rnnkit.apps.framework import setting_rules
from rnnkit.serve.app import Limits

JSON_APPS = ("textgen", "classify", "forecast", "translate")
PER = 4  # requests an example sends (hypothesis's time per example is the larger part)
MAX_BODY = Limits().max_body
EXAMPLES = {"json": 75, "speech": 75, "odd": 100}  # per app / route family
# the default run and -m slow (ten times as many); a campaign multiplies both and draws new examples
SCALE = float(os.environ.get("RNNKIT_FUZZ_SCALE", "1"))
SIZES = [pytest.param(1, id="default"), pytest.param(10, id="many", marks=pytest.mark.slow)]
COUNTS: dict[str, int] = {}  # requests sent per target, for the report (pytest -s prints them)


@pytest.fixture(scope="module")
def server(loaded, http):
    """A uvicorn over every app's run with short limits (a request taking over 0.25 s, such as a long generation,
    is cut off: a 503); ``.http``: the socket tools (``tests/serve/conftest.py``)."""
    from rnnkit.serve.app import create_app
    live = http.Server(create_app(loaded, limits=Limits(timeout=0.25, read_timeout=5)), read_timeout=5)
    live.http = http
    yield live
    live.stop()
    print("\nfuzzed requests per target:", json.dumps(COUNTS))


@pytest.fixture(scope="module")
def leaks(runs) -> list[str]:
    """Text no reply may hold: the server's paths (runs, package, Python), a traceback."""
    return [str(Path(next(iter(runs.values()))).parent), str(Path(rnnkit.__file__).parent), sys.prefix,
            "site-packages", "Traceback", 'File "']


def check(reply, leaks: list[str], what: str, head: bool = False) -> None:
    """A success, a redirect, or a 4xx/503 JSON ``{"error": text}``; no 5xx; no leak, whatever the status."""
    text = reply.body.decode("utf-8", "replace")
    assert reply.status < 500 or (reply.status == 503 and "error" in text), (what, reply)
    for leak in leaks:
        assert leak not in text, (what, leak, reply)
    kind = reply.headers.get("content-type", "")
    if reply.status >= 400 and not head:
        assert kind.startswith("application/json"), (what, reply)
        error = json.loads(reply.body)
        assert list(error) == ["error"] and isinstance(error["error"], str) and error["error"], (what, reply)
    elif reply.status == 200 and not head and kind.startswith("application/json"):
        json.loads(reply.body)
    elif reply.status == 200 and kind.startswith("text/event-stream"):  # a generation ends with `done` or `error`
        assert b"event: done" in reply.body or b"event: error" in reply.body, (what, reply)


def send(server, leaks: list[str], target: str, strategy, examples: int, fresh: bool = False) -> None:
    """Send each example's requests (``[(bytes, is_head), ...]``) and :func:`check` each reply; kept alive, or on a
    ``fresh`` connection each (the framing may be broken on purpose); then the server must still be up."""
    client = server.http.Raw(server.port, timeout=20)

    def one(requests) -> None:
        for data, head in requests:
            COUNTS[target] = COUNTS.get(target, 0) + 1
            try:
                reply = client.request(data, head)
            except ConnectionError:
                # over the limit, the server answers 413 and closes at once; the kernel may reset the connection
                # before that answer is read (uvicorn does not linger): a refusal, as long as the server stays up
                if len(data) <= MAX_BODY:
                    raise
                client.close()
                continue
            check(reply, leaks, data[:300], head)
            if fresh:
                client.close()

    try:
        fuzz(strategy, examples, one)
    finally:
        client.close()
    assert server.http.Raw(server.port).request(server.http.request("GET", "/health")).status == 200


def fuzz(strategy, examples: int, body) -> None:
    """Run ``body(example)`` on ``examples`` examples of ``strategy`` (times ``RNNKIT_FUZZ_SCALE``)."""
    @settings(max_examples=max(1, round(examples * SCALE)), deadline=None, database=None, derandomize=SCALE == 1,
              print_blob=True, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(example):
        body(example)

    run()


# ---------------------------------------------------------------- JSON pieces
class Raw(str):
    """JSON text put in as it is (numbers Python's json cannot write, tokens that are no JSON)."""


def dump(value, ascii: bool = True) -> str:
    """``value`` as JSON text, :class:`Raw` pieces as they are, tuples as arrays."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{dump(str(k), ascii)}:{dump(v, ascii)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dump(v, ascii) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii)


numbers = st.one_of(
    st.integers(-2**70, 2**70), st.floats(), st.integers(300, 6000).map(lambda n: Raw("9" * n)),
    st.sampled_from([Raw(t) for t in ("1e999", "-1e999", "1e-999", "NaN", "-Infinity", "-0", "0e0", "1E400", "01",
                                      ".5", "+1", "1.", "0x10", "1_000")]))
NASTY = ["\ud800", "\udfff\ud800", "\x00", "\u202e", "\u2028", "\ufeff", "\U0001f600" * 3, "e\u0301" * 5, "\\",
         '"', "%s%n", "<script>", "../../etc/passwd", "\uffff", "\x1b[31m", " " * 50]
junk_text = (st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates, controls, anything
             | st.sampled_from(NASTY) | st.lists(st.sampled_from(NASTY), max_size=6).map("".join))
words = st.text(alphabet="the quick brown fox w0123456789 .", max_size=30)
junk = st.recursive(st.none() | st.booleans() | numbers | junk_text,
                    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(junk_text, kids, max_size=3),
                    max_leaves=6)


def months(lo: int = 0, hi: int = 40):
    """A monthly history ``[["YYYY-MM", value], ...]``, consecutive (as the forecast app needs) or not."""
    def rows(start: int, n: int, step: int, values: list) -> list:
        return [[f"{(start + i * step) // 12:04d}-{(start + i * step) % 12 + 1:02d}", values[i % len(values)]]
                for i in range(n)]
    return st.builds(rows, st.integers(0, 12 * 10_000), st.integers(lo, hi), st.sampled_from([1, 1, 1, 0, -1, 2]),
                     st.lists(st.floats(allow_nan=False) | numbers, min_size=1, max_size=5))


def plausible(request_cls, name: str, hint):
    """Values a field of ``request_cls`` takes, near and past its bounds (then junk, by the caller)."""
    rules = setting_rules(next(f for f in dataclasses.fields(request_cls) if f.name == name))
    if name == "history":
        return months()
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if type(None) in args:
        return st.none() | plausible(request_cls, name, next(a for a in args if a is not type(None)))
    if hint is bool:
        return st.booleans()
    if hint in (int, float):
        lo = rules.min if rules.min is not None else (rules.gt if rules.gt is not None else -10)
        hi = rules.max if rules.max is not None else lo + 100
        edges = [lo - 1, lo, hi + 1, -1, 0, 2**63, -2**63 - 1]  # not `hi`: the longest run (test_api has it)
        near = st.integers(int(lo), int(min(hi, lo + 30))) if hint is int else st.floats(lo, hi)
        return near | near | st.sampled_from(edges) | (st.floats() if hint is float else st.nothing())
    if origin is list:
        items = words | junk_text
        longest = rules.max or 5
        return st.lists(items, max_size=5) | st.builds(lambda s: [s] * (longest + 1), items)
    if hint is str:
        return words | junk_text
    return junk


def objects(app: str, service):
    """Request objects for ``service``: its fields (some left out), plausible or junk, an unknown one at times."""
    hints = typing.get_type_hints(service.request)
    fields = [f for f in hints if f != service.upload]
    parts = {f: plausible(service.request, f, hints[f]) | plausible(service.request, f, hints[f]) | junk
             for f in fields}
    # a generation's length is always given (the default, 200 tokens, would make most examples a long generation)
    required = {f: parts.pop(f) for f in ("length",) if f in parts}
    known = st.fixed_dictionaries(required, optional=parts)
    extra = st.dictionaries(st.sampled_from(["Texts", "prompt ", "", "__proto__", "\ud800"]) | junk_text, junk,
                            max_size=1)
    return st.builds(lambda a, b: {**a, **b}, known, extra | st.just({}) | st.just({}))


def mangle(data: bytes, how: int, at: int, noise: bytes) -> bytes:
    """One of a few ways to break a body; ``how`` 0-3 keep it whole."""
    cut = at % (len(data) + 1)
    ways = (lambda: data[:cut],  # truncated
            lambda: data[:cut] + noise + data[cut:],  # bytes put in
            lambda: data[:cut] + bytes([data[cut] ^ 0x80]) + data[cut + 1:] if cut < len(data) else data + b"\xff",
            lambda: b"[" * (at % 200_000) + data + b"]" * (at % 200_000),  # deep nesting
            lambda: b"\xef\xbb\xbf" + data,  # a BOM
            lambda: data.decode("latin-1").encode("utf-16"),  # another encoding
            lambda: b'{"texts": ["' + b"a" * 1_000_100 + b'"]}',  # over the 1 MB limit
            lambda: noise)
    return data if how < 4 else ways[how - 4]()


CONTENT_TYPES = ["application/json", "application/json", "application/json; charset=utf-8", None, "text/plain",
                 "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/ld+json",
                 "application/json; charset=latin-1", "application/json; charset=\"", "\u00e9/\u00e9", "*/*"]


def json_requests(app: str, service, name: str, http_request):
    """Lists of requests to ``name``'s predict route: one request object, sent :data:`PER` ways."""
    def build(obj, ways):
        return [(one(obj, *way), False) for way in ways]

    def one(obj, ascii, how, at, noise, kind, chunked):
        data = dump(obj, ascii).encode("utf-8", "surrogatepass")
        data = mangle(data, how, at, noise)
        headers = {} if kind is None else {"Content-Type": kind}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(data[i:i + 7000]), data[i:i + 7000])
                              for i in range(0, len(data), 7000))
            return http_request("POST", f"/models/{name}/predict", chunks + b"0\r\n\r\n", headers)
        return http_request("POST", f"/models/{name}/predict", data, headers)
    way = st.tuples(st.booleans(), st.integers(0, 11), st.integers(0, 10**6), st.binary(max_size=20),
                    st.sampled_from(CONTENT_TYPES).map(lambda k: k and k.encode("utf-8").decode("latin-1")),
                    st.integers(0, 7).map(lambda n: n == 0))
    return st.builds(build, objects(app, service), st.lists(way, min_size=PER, max_size=PER))


@pytest.mark.parametrize("times", SIZES)
@pytest.mark.parametrize("app", JSON_APPS)
def test_fuzzed_json_bodies_are_answered_or_refused_in_json(server, runs, loaded, leaks, app, times):
    name = runs[app].name
    send(server, leaks, app, json_requests(app, loaded[name].service, name, server.http.request),
         times * EXAMPLES["json"])


# ---------------------------------------------------------------- multipart uploads (speech)
def wav_file(rate: int, channels: int, bits: int, tag: int, declared: int, payload: bytes, riff: bytes) -> bytes:
    """A WAV file whose header says what it is told, whatever follows."""
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * channels * bits // 8) & 0xFFFFFFFF,
                      (channels * bits // 8) & 0xFFFF, bits)
    return (riff + struct.pack("<I", 36 + len(payload)) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", declared) + payload)


noise_bytes = st.builds(lambda seed, n: random.Random(seed).randbytes(n), st.integers(0, 2**32), st.integers(0, 4000))
audio_files = st.one_of(
    st.builds(wav_file, st.sampled_from([8000, 8000, 16000, 0, 1, 2**32 - 1, 44100]),
              st.sampled_from([1, 1, 2, 0, 65535]), st.sampled_from([16, 16, 8, 24, 32, 0, 7, 64]),
              st.sampled_from([1, 1, 3, 0xFFFE, 0, 85]), st.integers(0, 2**32 - 1) | st.just(3200),
              noise_bytes | st.integers(0, 3200).map(bytes), st.sampled_from([b"RIFF", b"RIFX", b"XXXX"])),
    st.binary(max_size=64), noise_bytes, st.just(b""))


def form(parts: list[tuple[str, str | None, bytes, str | None]], boundary: str, ending: str) -> bytes:
    """A multipart body of (field, filename, content, content type) parts."""
    out = b""
    for field, filename, content, kind in parts:
        disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode("utf-8", "surrogatepass")
        if kind is not None:
            out += f"Content-Type: {kind}\r\n".encode("utf-8", "surrogatepass")
        out += b"\r\n" + content + b"\r\n"
    return out + ending.format(b=boundary).encode("utf-8", "surrogatepass")


field_names = st.sampled_from(["audio", "audio", "audio", "beam", "beam", "colour", "", "a\"b", "audio\r\nX: y",
                               "\u00e9"]) | junk_text
parts = st.tuples(field_names, st.none() | st.sampled_from(["clip.wav", "../../etc/passwd", "/tmp/x.wav", "", "\u00e9"])
                  | junk_text, audio_files | st.sampled_from([b"1", b"2", b"0", b"-1", b"x", b"99999999999999999999"])
                  | st.binary(max_size=40), st.none() | st.sampled_from(["audio/wav", "text/plain", "x"]))


def uploads(name: str, http_request):
    """Lists of :data:`PER` multipart requests to ``name``'s predict route."""
    def build(many, boundary, ending, kind, how, at, noise):
        data = mangle(form(many, boundary, ending), how if how < 7 or how == 11 else 0, at, noise)
        header = {"quoted": f'multipart/form-data; boundary="{boundary}"', "plain": f"multipart/form-data; "
                  f"boundary={boundary}", "none": "multipart/form-data", "other": "multipart/form-data; boundary=zz",
                  "json": "application/json", "mixed": f"multipart/mixed; boundary={boundary}"}[kind]
        return http_request("POST", f"/models/{name}/predict", data, {"Content-Type": header}), False
    many = st.lists(parts, max_size=4) | st.builds(lambda p, n: [p] * n, parts, st.integers(21, 25))
    boundary = (st.sampled_from(["b0undary", "x" * 71, "a b", "--", "\u00e9"])
                | st.text(string.ascii_letters, min_size=1, max_size=20))
    ending = st.sampled_from(["--{b}--\r\n", "--{b}--", "--{b}\r\n", "", "--{b}--\r\njunk"])
    kind = st.sampled_from(["plain", "plain", "quoted", "none", "other", "json", "mixed"])
    one = st.builds(build, many, boundary, ending, kind, st.integers(0, 11), st.integers(0, 10**6),
                    st.binary(max_size=20))
    return st.lists(one, min_size=PER, max_size=PER)


@pytest.mark.parametrize("times", SIZES)
def test_fuzzed_uploads_are_answered_or_refused_in_json(server, runs, leaks, times):
    send(server, leaks, "speech", uploads(runs["speech"].name, server.http.request), times * EXAMPLES["speech"])


# ---------------------------------------------------------------- odd methods, paths, headers (every route)
def routes(runs) -> list[str]:
    names = [p.name for p in runs.values()]
    return (["/", "/health", "/models", "/docs", "/openapi.json", "/static/app.js", "/static/style.css", "/redoc",
             "/favicon.ico", "/models/nonesuch/predict", f"/models/{names[1]}/files/training.png",
             f"/models/{names[1]}/files/config.json"] + [f"/models/{n}/predict" for n in names])


METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT", "get", "FOO", "M-SEARCH"]
PATH_JUNK = ["", "/", "//", "/..", "/../../etc/passwd", "%00", "%ff", "%2e%2e%2f", "?", "?a=%ZZ&b", "#x", ";x",
             "/\u00e9", "%c0%af", "/" + "a" * 9000, "\\..\\", "/%2fetc%2fpasswd", "*"]
HEADERS = {
    "Content-Length": ["0", "-1", "abc", "99999999999999999999", "1, 1", " 5", "1e3"],
    "Transfer-Encoding": ["chunked", "gzip", "chunked, gzip", "identity", "x"],
    "Content-Type": ["application/json", "multipart/form-data", "text/plain", "\u00ff", ""],
    "Expect": ["100-continue", "x"], "Connection": ["close", "upgrade", "keep-alive", "x"],
    "Upgrade": ["websocket", "h2c", "x"], "X-API-Key": ["", "k" * 5000, "\u00e9"],
    "Authorization": ["Bearer", "Basic !!", "Basic " + "QQ==" * 2000, "Digest x"],
    "Range": ["bytes=0-1", "bytes=9-1", "bytes=x", "bytes=0-0,0-0,0-0", "bytes=999999999-"],
    "If-Range": ["x"], "If-None-Match": ["*", "\"x\""], "If-Modified-Since": ["x", "Thu, 01 Jan 1970 00:00:00 GMT"],
    "Accept-Encoding": ["gzip", "x"], "Host": ["", "a b", "\u00e9", "x" * 20000], "Cookie": ["a=b; " * 200],
    "X-Junk\u00e9": ["1"], "X Junk": ["1"], "X-Ctl": ["a\x00b", "a\x7fb", "a\rb"],
}


def odd_requests(paths: list[str]):
    """Lists of :data:`PER` requests with odd methods, paths, headers or framing."""
    def build(method, path, junk, headers, body, version):
        head = f"{method} {path}{junk} {version}\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n"
                                                                                  for k, v in headers) + "\r\n"
        return head.encode("utf-8", "surrogatepass") + body, method == "HEAD"
    header = st.builds(lambda k, i: (k, HEADERS[k][i % len(HEADERS[k])]), st.sampled_from(sorted(HEADERS)),
                       st.integers(0, 6))
    method = st.sampled_from(METHODS) | st.text(string.ascii_letters + "!#$%&'*+-.^_`|~", min_size=1, max_size=8)
    version = st.sampled_from(["HTTP/1.1", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "X"])
    one = st.builds(build, method, st.sampled_from(paths), st.sampled_from(PATH_JUNK) | st.just(""),
                    st.lists(header, max_size=4), st.binary(max_size=30), version)
    return st.lists(one, min_size=PER, max_size=PER)


@pytest.mark.parametrize("times", SIZES)
def test_odd_methods_paths_and_headers_are_answered_or_refused_in_json(server, runs, leaks, times):
    send(server, leaks, "odd", odd_requests(routes(runs)), times * EXAMPLES["odd"], fresh=True)
