"""rnnkit serve under faults, on a real socket: a client gone mid-stream or before its reply, slow clients (request
heads and bodies trickled a byte at a time), a run folder deleted and a model file corrupted while served, a model
failing mid-stream.  In each the faulty request is stopped or refused, the others are answered, the server logs
one line per fault (the ``rnnkit.serve`` logger) and no reply holds a path of the server's or a traceback."""
from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from dataclasses import replace

import pytest

from rnnkit.serve.app import Limits, create_app
from rnnkit.serve.loading import load_runs


def logged(caplog) -> list[str]:
    """The lines the server logged (its own logger), and any warning of asyncio or uvicorn (there should be none)."""
    return [r.getMessage() for r in caplog.records
            if r.name == "rnnkit.serve" or (r.name.split(".")[0] in ("asyncio", "uvicorn") and r.levelno >= 30)]


def wait_for(condition, seconds: float) -> bool:
    deadline = time.perf_counter() + seconds
    while not condition():
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.01)
    return True


def paced(run, pace: float = 0.002):
    """``run`` (a textgen ServedRun) whose generation records each piece made and how it ended, a piece at least
    every ``pace`` seconds (a bigger model's speed: 2,000 pieces take 4 s or more)."""
    made: list[float] = []
    ended: list[tuple[str, float]] = []

    def generate(request, emit):
        def each(piece):
            time.sleep(pace)
            made.append(time.perf_counter())
            emit(piece)
        try:
            reply = run.service.generate(request, each)
        except BaseException as exc:
            ended.append((type(exc).__name__, time.perf_counter()))
            raise
        ended.append(("done", time.perf_counter()))
        return reply

    served = replace(run, name="gen", service=replace(run.service, generate=generate))
    return served, made, ended


@pytest.fixture()
def paced_server(loaded, runs, http, caplog):
    """A uvicorn over a paced textgen run (``gen``) and the classify run; ``.made``, ``.ended``: the generations'."""
    gen, made, ended = paced(loaded[runs["textgen"].name])
    classify = loaded[runs["classify"].name]
    server = http.Server(create_app({"gen": gen, classify.name: classify}, limits=Limits(timeout=30)))
    server.made, server.ended, server.classify = made, ended, classify.name
    caplog.clear()
    yield server
    server.stop()


def test_a_client_gone_mid_stream_stops_its_generation_and_the_others_are_answered(paced_server, http, caplog):
    s = paced_server
    body = json.dumps({"prompt": "the ", "length": 2000, "seed": 1, "stream": True}).encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(http.request("POST", "/models/gen/predict", body, {"Content-Type": "application/json"}))
    got = b""
    while b"data: " not in got:
        got += sock.recv(65536)
    assert got.startswith(b"HTTP/1.1 200")
    other = http.Raw(s.port).request(http.request("POST", f"/models/{s.classify}/predict", b'{"texts": ["good"]}',
                                                  {"Content-Type": "application/json"}))
    assert other.status == 200 and "predictions" in json.loads(other.body)  # answered during the stream
    sock.close()
    gone = time.perf_counter()
    assert wait_for(lambda: s.ended, 5), "the generation did not stop"
    how, when = s.ended[0]
    assert how == "Cut" and when - gone < 1.0 and len(s.made) < 2000, (how, when - gone, len(s.made))
    pieces = len(s.made)
    time.sleep(0.2)
    assert len(s.made) == pieces  # nothing made since: no runaway generation
    again = http.Raw(s.port).request(http.request("POST", "/models/gen/predict", b'{"length": 5, "seed": 2}',
                                                  {"Content-Type": "application/json"}))
    assert again.status == 200 and "text" in json.loads(again.body)  # the model serves the next request
    lines = logged(caplog)
    assert len(lines) == 1 and "gen: a client went away in the middle of a stream" in lines[0], lines


def test_a_client_gone_before_its_reply_has_its_generation_stopped(paced_server, http, caplog):
    s = paced_server
    body = json.dumps({"prompt": "the ", "length": 2000, "seed": 1}).encode()
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    sock.sendall(http.request("POST", "/models/gen/predict", body, {"Content-Type": "application/json"}))
    assert wait_for(lambda: len(s.made) > 10, 5)
    sock.close()
    gone = time.perf_counter()
    assert wait_for(lambda: s.ended, 5), "the generation did not stop"
    how, when = s.ended[0]
    assert how == "Cut" and when - gone < 1.0 and len(s.made) < 2000, (how, when - gone, len(s.made))
    assert wait_for(lambda: logged(caplog), 2)
    lines = logged(caplog)
    assert len(lines) == 1 and "gen: a client went away before its reply" in lines[0], lines


def trickle(port: int, first: bytes, rest: bytes, pace: float = 0.05) -> tuple[float, bytes]:
    """Send ``first``, then ``rest`` a byte every ``pace`` seconds until the server answers or closes; (seconds from
    the start to the close, what came back).  The clock starts before connecting: the server's read deadline starts
    when it accepts, which can come before ``create_connection`` returns here, so a clock started after it could
    see a 2 s cut-off as 1.9999 s."""
    start, got = time.perf_counter(), b""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(first)
        sock.settimeout(pace)
        for byte in rest:
            sock.sendall(bytes([byte]))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            got += chunk
            break  # answered (or closed: b"")
        sock.settimeout(10)
        while chunk := sock.recv(65536):
            got += chunk
    except OSError:  # reset: the server closed the connection
        pass
    finally:
        sock.close()
    return time.perf_counter() - start, got


def slow_plans(http, path: str) -> dict[str, tuple[bytes, bytes]]:
    """What a slow client sends at once and then byte by byte: a request's head (and body), or its body (300 bytes)."""
    request = http.request("POST", path, b'{"texts": ["good"]}'.ljust(300), {"Content-Type": "application/json"})
    head = request.index(b"\r\n\r\n") + 4
    return {"head": (b"", request), "body": (request[:head], request[head:])}


def cut_off(got: bytes) -> bool:
    """Whether ``got`` is a JSON 408 that closes the connection."""
    head, _, body = got.partition(b"\r\n\r\n")
    return (head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
            and list(json.loads(body)) == ["error"])


def test_a_slow_request_head_or_body_is_cut_off_with_a_json_408(loaded, runs, http, caplog):
    """One client trickles its head, one its body, one is silent; with a 0.5 s read timeout the first two get a
    408 and are closed after 0.5 s (one log line each), the silent one is closed without a word, others answered."""
    server = http.Server(create_app(loaded, limits=Limits(read_timeout=0.5)), read_timeout=0.5)
    caplog.clear()
    name = runs["classify"].name
    request = http.request("POST", f"/models/{name}/predict", b'{"texts": ["good"]}',
                           {"Content-Type": "application/json"})
    try:
        results = {}
        plans = {**slow_plans(http, f"/models/{name}/predict"), "silent": (b"", b"")}
        clients = [threading.Thread(target=lambda k=k: results.update({k: trickle(server.port, *plans[k])}))
                   for k in plans]
        for c in clients:
            c.start()
        normal = http.Raw(server.port)
        for _ in range(5):
            assert normal.request(request).status == 200
            time.sleep(0.05)
        for c in clients:
            c.join(10)
        for kind in ("head", "body"):
            seconds, got = results[kind]
            assert 0.5 <= seconds < 2.5 and cut_off(got), (kind, seconds, got)  # 2 s of slack for a busy machine
        seconds, got = results["silent"]
        assert 0.5 <= seconds < 2.5 and got == b"", results["silent"]
        lines = logged(caplog)
        assert len(lines) == 2, lines
        assert any("no whole request head in 0.5 s" in line for line in lines)
        assert any("of a body to" in line and "in 0.5 s" in line for line in lines)
    finally:
        server.stop()


def test_a_body_over_the_limit_is_refused_and_its_connection_closed(live, runs, http):
    sock = socket.create_connection(("127.0.0.1", live.port), timeout=10)
    try:
        sock.sendall(http.request("POST", f"/models/{runs['classify'].name}/predict", b"",
                                  {"Content-Type": "application/json", "Content-Length": "2000000"}) + b"{" * 1000)
        got = b""
        while chunk := sock.recv(65536):  # the server closes: the rest of the body is not waited for
            got += chunk
    finally:
        sock.close()
    assert got.startswith(b"HTTP/1.1 413") and b"connection: close" in got.lower()
    assert list(json.loads(got.partition(b"\r\n\r\n")[2])) == ["error"]


@pytest.mark.slow
def test_many_slow_clients_are_cut_off_in_time_and_the_others_keep_their_latency(loaded, runs, http, caplog):
    """16 slow clients (8 trickling their heads, 8 their bodies, a byte each 50 ms) against a 2 s read timeout: each
    is cut off 2 s after it began (a 408, one log line each) while a normal client's requests keep their latency."""
    server = http.Server(create_app(loaded, limits=Limits(read_timeout=2.0)), read_timeout=2.0)
    caplog.clear()
    name = runs["classify"].name
    request = http.request("POST", f"/models/{name}/predict", b'{"texts": ["good film"]}',
                           {"Content-Type": "application/json"})
    normal = http.Raw(server.port)

    def latencies(seconds: float) -> list[float]:
        out, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            assert normal.request(request).status == 200
            out.append(time.perf_counter() - t0)
        return out

    try:
        alone = latencies(1.0)
        cut: list[tuple[str, float, bytes]] = []
        plans = slow_plans(http, f"/models/{name}/predict")
        slow = [threading.Thread(target=lambda k=k: cut.append((k, *trickle(server.port, *plans[k]))))
                for k in ["head", "body"] * 8]
        for t in slow:
            t.start()
        during = latencies(2.5)
        for t in slow:
            t.join(10)
        assert len(cut) == 16
        for kind, seconds, got in cut:
            assert 2.0 <= seconds < 4.0 and cut_off(got), (kind, seconds, got[:200])
        lines = logged(caplog)
        assert len(lines) == 16 and sum("request head" in line for line in lines) == 8, lines
        p50 = sorted(alone)[len(alone) // 2]
        print(f"\nclassify latency alone: p50 {1000 * p50:.1f} ms, max {1000 * max(alone):.1f} ms; "
              f"with 16 slow clients: p50 {1000 * sorted(during)[len(during) // 2]:.1f} ms, "
              f"max {1000 * max(during):.1f} ms ({len(during)} requests)")
        # never held up until a slow client is cut off (2 s); the median barely moves (this process runs the slow
        # clients' 16 threads beside the server: a busy machine's spikes show in the maximum, not in the median)
        assert max(during) < 2.0 and sorted(during)[len(during) // 2] < 3 * p50 + 0.02
    finally:
        server.stop()


def test_a_run_folder_deleted_or_its_model_file_corrupted_while_served(runs, tmp_path, caplog):
    """The weights were read whole at start: a run deleted or corrupted while served answers as before; its plots,
    read per request, are a 404 naming the file, never its path (the log has it, one line each)."""
    from fastapi.testclient import TestClient
    gone, broken = tmp_path / "cls-gone", tmp_path / "cls-broken"
    shutil.copytree(runs["classify"], gone)
    shutil.copytree(runs["classify"], broken)
    served = load_runs([str(gone), str(broken), str(runs["forecast"])])
    body = {"texts": ["good film", "the plot was awful"]}
    with TestClient(create_app(served)) as c:
        before = {n: c.post(f"/models/{n}/predict", json=body).json() for n in ("cls-gone", "cls-broken")}
        forecast = c.post(f"/models/{runs['forecast'].name}/predict", json={"steps": 3}).json()
        caplog.clear()
        shutil.rmtree(gone)
        (broken / "model.safetensors").write_bytes(b"\0" * 64)
        (broken / "training.png").write_bytes(b"")  # truncated: served as it is now (an empty image)
        (broken / "confusion.png").unlink()
        for n in ("cls-gone", "cls-broken"):
            assert c.post(f"/models/{n}/predict", json=body).json() == before[n]
        assert c.post(f"/models/{runs['forecast'].name}/predict", json={"steps": 3}).json() == forecast
        for n, plot in (("cls-gone", "training.png"), ("cls-broken", "confusion.png")):
            reply = c.get(f"/models/{n}/files/{plot}")
            assert reply.status_code == 404 and list(reply.json()) == ["error"], reply.text
            assert plot in reply.json()["error"] and str(tmp_path) not in reply.text
        assert c.get("/models/cls-broken/files/training.png").content == b""
        assert [m["name"] for m in c.get("/models").json()] == ["cls-gone", "cls-broken", runs["forecast"].name]
    lines = logged(caplog)
    assert len(lines) == 2 and all(str(tmp_path) in line for line in lines), lines


def test_a_model_failing_mid_stream_ends_the_stream_with_an_error_event_and_one_log_line(loaded, runs, caplog):
    from fastapi.testclient import TestClient

    calls = []

    def generate(request, emit):
        calls.append(1)
        emit("a")
        emit("b")
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", "/srv/runs/gen/vocab.json")
        return {"text": "ab"}

    real = loaded[runs["textgen"].name]
    served = {"gen": replace(real, name="gen", service=replace(real.service, generate=generate))}
    with TestClient(create_app(served)) as c:
        caplog.clear()
        reply = c.post("/models/gen/predict", json={"stream": True})
        assert reply.status_code == 200 and "/srv" not in reply.text
        last = reply.text.strip().split("\n\n")[-1]
        assert last.startswith("event: error") and "FileNotFoundError" in last, reply.text
        assert c.post("/models/gen/predict", json={"stream": True, "length": 3}).status_code == 200
    lines = logged(caplog)
    assert len(lines) == 1 and "/srv/runs/gen/vocab.json" in lines[0], lines
