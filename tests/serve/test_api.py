"""rnnkit serve's HTTP API without a socket (FastAPI's TestClient): every route, every bad input (table-driven),
the API key, concurrent answers equal to sequential ones, micro-batching, and the 503 of a request cut off."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnkit.apps.framework import AppConfig, Service, setting
from rnnkit.serve.app import Limits, create_app
from rnnkit.serve.loading import ServedRun, load_runs

JSON = {"content-type": "application/json"}


# ---------------------------------------------------------------- every route
def test_health_and_models_list_every_run_with_its_app_created_and_metrics(client, runs):
    assert client.get("/health").json() == {"status": "ok"}
    models = client.get("/models").json()
    assert [m["name"] for m in models] == [p.name for p in runs.values()]
    for m, (app, path) in zip(models, runs.items()):
        assert m["app"] == app and m["created"] and isinstance(m["metrics"], dict) and m["metrics"]
        assert set(m["images"]) == {p.name for p in path.glob("*.png")}
    streams = {m["app"]: m["streams"] for m in models}
    assert streams["textgen"] and not streams["classify"]
    assert {m["app"]: m["upload"] for m in models}["speech"] == "audio"


def test_an_ensemble_run_answers_with_its_members_averaged(runs, tmp_path):
    from fastapi.testclient import TestClient

    from rnnkit.apps.classify import ClassifyConfig, predict, train
    run = tmp_path / "ensemble-run"
    train(ClassifyConfig(data=str(runs["classify"].parent / "reviews.csv"), embed_dim=8, units=8, epochs=1,
                         ensemble=2, out=str(run)), print_fn=lambda line: None, verbose=0)
    texts = ["good film", "bad plot", "the film"]
    members = [[p.probabilities for p in predict(run / "members" / str(k), texts)] for k in (1, 2)]
    with TestClient(create_app(load_runs([str(run)]), limits=Limits(timeout=20))) as c:
        answer = c.post("/models/ensemble-run/predict", json={"texts": texts}).json()["predictions"]
        assert c.get("/models").json()[0]["metrics"]["ensemble"] == 2
    for got, first, second in zip(answer, *members):
        for label in ("neg", "pos"):
            assert got["probabilities"][label] == pytest.approx((first[label] + second[label]) / 2, abs=1e-6)


def test_each_app_answers_its_request(client, runs, tmp_path, wav):
    name = {app: p.name for app, p in runs.items()}
    text = client.post(f"/models/{name['textgen']}/predict", json={"prompt": "the ", "length": 30, "seed": 3}).json()
    assert isinstance(text["text"], str) and len(text["text"]) >= 30  # 30 tokens (<eos> is one)
    labels = client.post(f"/models/{name['classify']}/predict", json={"texts": ["good film", "bad plot"]}).json()
    assert len(labels["predictions"]) == 2
    for p in labels["predictions"]:
        assert p["label"] in ("neg", "pos") and sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    ahead = client.post(f"/models/{name['forecast']}/predict", json={"steps": 4}).json()["forecast"]
    assert [d for d, _ in ahead] == ["2000-01", "2000-02", "2000-03", "2000-04"]  # after the series' last month
    history = [[f"2003-{m:02d}", 50.0 + m] for m in range(1, 13)] + [["2004-01", 60]]
    given = client.post(f"/models/{name['forecast']}/predict", json={"steps": 2, "history": history}).json()["forecast"]
    assert [d for d, _ in given] == ["2004-02", "2004-03"] and all(isinstance(v, float) for _, v in given)
    out = client.post(f"/models/{name['translate']}/predict", json={"texts": ["w1 w2", "w3"], "beam": 2}).json()
    assert len(out["translations"]) == 2 and all(isinstance(t, str) for t in out["translations"])
    clip = wav(tmp_path / "high.wav", wav.tone(1500.0, seed=1))
    heard = client.post(f"/models/{name['speech']}/predict", files={"audio": ("clip.wav", clip, "audio/wav")},
                        data={"beam": "1"}).json()
    assert heard["tokens"] in (["high"], ["low"]) and heard["text"] == heard["tokens"][0]


def test_the_schema_docs_page_and_plots(client, runs):
    paths = client.get("/openapi.json").json()["paths"]
    assert {f"/models/{p.name}/predict" for p in runs.values()} <= set(paths)
    schema = paths[f"/models/{runs['classify'].name}/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert "schema" in schema
    assert "multipart/form-data" in paths[f"/models/{runs['speech'].name}/predict"]["post"]["requestBody"]["content"]
    assert "swagger" in client.get("/docs").text.lower()
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200 and client.get("/static/style.css").status_code == 200
    plot = client.get(f"/models/{runs['classify'].name}/files/training.png")
    assert plot.status_code == 200 and plot.headers["content-type"] == "image/png" and plot.content[:4] == b"\x89PNG"


# ---------------------------------------------------------------- bad input never reaches the model
TG, CL, FC, TR, SP = "textgen-run", "classify-run", "forecast-run", "translate-run", "speech-run"
BAD = [
    # (model, body as sent, status, words the error must hold)
    (CL, '{"texts": ["a"', 400, "malformed JSON"),
    (CL, "", 422, "JSON body"),
    (CL, "[1, 2]", 422, "JSON object"),
    (CL, '{"texts": "one text"}', 422, "`texts`"),
    (CL, '{"texts": []}', 422, "`texts`"),
    (CL, '{"texts": ["fine", 3]}', 422, "`texts`[1]"),
    (CL, '{"texts": ["fine", "  "]}', 422, "`texts`[1] is empty"),
    (CL, '{"texts": ["fine"], "labels": 1}', 422, "`labels` is not a field"),
    (CL, '{"text": ["fine"]}', 422, "`text`"),
    (CL, '{"texts": [' + ",".join(['"a"'] * 257) + "]}", 422, "`texts`"),
    (TG, '{"length": "20"}', 422, "`length`"),
    (TG, '{"length": 2001}', 422, "`length`"),
    (TG, '{"length": 0}', 422, "`length`"),
    (TG, '{"length": true}', 422, "`length`"),
    (TG, '{"temperature": 0}', 422, "`temperature`"),
    (TG, '{"temperature": NaN}', 422, "`temperature`"),
    (TG, '{"top_k": -1}', 422, "`top_k`"),
    (TG, '{"seed": 1.5}', 422, "`seed`"),
    (TG, '{"prompt": 5}', 422, "`prompt`"),
    (TG, '{"prompt": "QZ#"}', 422, "`prompt` holds characters the model never saw"),
    (TG, '{"stream": "yes"}', 422, "`stream`"),
    (TG, '{"prompt": "' + "the " * 2500 + 'a"}', 422, "`prompt` has 10,001 characters"),
    (FC, '{"steps": 0}', 422, "`steps`"),
    (FC, '{"steps": 1001}', 422, "`steps`"),
    (FC, '{"steps": 2, "history": [["2020-01", "x"]]}', 422, "`history`[0]"),
    (FC, '{"steps": 2, "history": [["2020-13", 1]]}', 422, "`history`[0]"),
    (FC, '{"steps": 2, "history": [["2020-02", 1], ["2020-01", 2]]}', 422, "`history`[1]"),
    (FC, '{"steps": 2, "history": [["2020-01", 1], ["2020-02", 2]]}', 422, "`history` has 2 rows"),
    (FC, '{"steps": 2, "history": "/etc/passwd"}', 422, "`history`"),
    (FC, '{"steps": 2, "history": [["2020-01", 1], ["2020-02", -1e300]]}', 422, "`history`[1]: value -1e+300 is beyond"),
    (TR, '{"texts": ["w1"], "beam": 0}', 422, "`beam`"),
    (TR, '{"texts": ["w1"], "beam": 17}', 422, "`beam`"),
    (TR, '{"texts": [""]}', 422, "`texts`[0] is empty"),
    (TR, '{"texts": ["w1", "' + "w2 " * 333 + 'w3"]}', 422, "`texts`[1] has 1,001 characters"),
    ("nonesuch", '{"texts": ["a"]}', 404, "no model 'nonesuch'"),
]


@pytest.mark.parametrize("model, body, status, words", BAD, ids=[f"{m}:{b[:30]}" for m, b, _, _ in BAD])
def test_bad_input_is_a_4xx_json_error_naming_the_field(client, model, body, status, words):
    reply = client.post(f"/models/{model}/predict", content=body, headers=JSON)
    assert reply.status_code == status, reply.text
    assert set(reply.json()) == {"error"} and words in reply.json()["error"], reply.json()


@pytest.mark.parametrize("files, data, status, words", [
    ({"audio": ("a.wav", b"hello, not audio", "audio/wav")}, {}, 422, "`audio`"),
    ({"audio": ("a.wav", b"", "audio/wav")}, {}, 422, "`audio`"),
    ({"other": ("a.wav", b"RIFF", "audio/wav")}, {}, 422, "`audio` is required"),
    (None, {"beam": "1"}, 422, "`audio` is required"),  # a form without the file
    ({"audio": ("a.wav", b"RIFF....", "audio/wav")}, {"beam": "0"}, 422, "`beam`"),
    ({"audio": ("a.wav", b"RIFF....", "audio/wav")}, {"beam": "x"}, 422, "`beam`"),
    ({"audio": ("a.wav", b"RIFF....", "audio/wav")}, {"colour": "red"}, 422, "`colour` is not a field"),
])
def test_bad_uploads_are_4xx_json_errors_naming_the_field(client, files, data, status, words):
    reply = client.post(f"/models/{SP}/predict", files=files or {"other": ("x.txt", b"x", "text/plain")}, data=data)
    assert reply.status_code == status, reply.text
    assert set(reply.json()) == {"error"} and words in reply.json()["error"], reply.json()


def test_a_short_and_a_silent_clip_are_refused_naming_the_audio(client, tmp_path, wav):
    import numpy as np
    short = wav(tmp_path / "short.wav", np.full(80, 0.5))
    silent = wav(tmp_path / "silent.wav", np.zeros(wav.rate))
    for clip, words in ((short, "too short"), (silent, "silent")):
        reply = client.post(f"/models/{SP}/predict", files={"audio": ("a.wav", clip, "audio/wav")})
        assert reply.status_code == 422 and reply.json()["error"].startswith("`audio`") and words in reply.json()["error"]


def test_json_sent_to_the_upload_route_is_refused(client):
    reply = client.post(f"/models/{SP}/predict", json={"audio": "/etc/passwd"})
    assert reply.status_code == 415 and "multipart" in reply.json()["error"]


def test_bodies_over_the_limit_are_refused_before_parsing(client):
    big = b'{"texts": ["' + b"a" * 1_100_000 + b'"]}'
    reply = client.post(f"/models/{CL}/predict", content=big, headers=JSON)
    assert reply.status_code == 413 and "1,000,000 bytes" in reply.json()["error"]

    def chunks():  # no Content-Length: counted as it comes
        yield b'{"texts": ["'
        for _ in range(12):
            yield b"a" * 100_000
        yield b'"]}'
    reply = client.post(f"/models/{CL}/predict", content=chunks(), headers=JSON)
    assert reply.status_code == 413 and set(reply.json()) == {"error"}
    audio = b"RIFF" + b"\0" * 10_500_000
    reply = client.post(f"/models/{SP}/predict", files={"audio": ("a.wav", audio, "audio/wav")})
    assert reply.status_code == 413 and "10,000,000" in reply.json()["error"]


def test_plots_are_looked_up_by_name_never_opened_as_a_client_path(client, runs):
    for file in ("config.json", "..%2Fconfig.json", "%2Fetc%2Fpasswd", "model.safetensors"):
        reply = client.get(f"/models/{CL}/files/{file}")
        assert reply.status_code == 404 and "error" in reply.json()
    assert client.get("/models/nonesuch/files/loss.png").status_code == 404


@pytest.mark.parametrize("path", ["/", "/static/app.js", f"/models/{CL}/files/training.png"])
def test_a_range_header_is_ignored_the_whole_file_comes(client, path):
    whole = client.get(path).content
    for value in ("bytes=x", "bytes=9-1", "bytes=999999999-", "bytes=0-1"):  # malformed ones were plain-text 400s
        reply = client.get(path, headers={"Range": value, "If-Range": "x"})
        assert reply.status_code == 200 and reply.content == whole and len(whole) > 100


def test_unknown_routes_and_methods_answer_json_errors(client):
    assert client.get("/nonesuch").json()["error"].startswith("no route /nonesuch")
    reply = client.get(f"/models/{CL}/predict")
    assert reply.status_code == 405 and "error" in reply.json()


# ---------------------------------------------------------------- the API key
def test_the_api_key_is_checked_on_every_route_but_health(loaded):
    from fastapi.testclient import TestClient
    with TestClient(create_app(loaded, api_key="s3cret-key")) as c:
        assert c.get("/health").status_code == 200
        for method, path in (("get", "/models"), ("get", "/openapi.json"), ("get", "/docs"), ("get", "/"),
                             ("get", "/static/app.js"), ("get", "/favicon.ico"),
                             ("get", f"/models/{CL}/files/training.png"), ("post", f"/models/{CL}/predict")):
            reply = getattr(c, method)(path)
            assert reply.status_code == 401 and "API key" in reply.json()["error"], path
            assert getattr(c, method)(path, headers={"X-API-Key": "wrong-key!"}).status_code == 401
            assert getattr(c, method)(path, auth=("user", "wrong-key!")).status_code == 401
        # a browser is asked for the key (its Basic prompt: the key as the password)
        assert c.get("/").headers["www-authenticate"].startswith("Basic realm=")
        assert c.post(f"/models/{CL}/predict").headers["www-authenticate"].startswith("Basic realm=")
        assert c.get("/", auth=("anyone", "s3cret-key")).status_code == 200
        assert c.get("/static/app.js", auth=("", "s3cret-key")).status_code == 200
        assert c.get("/models", headers={"Authorization": "Basic !!not base64"}).status_code == 401
        body = {"texts": ["good"]}
        assert c.post(f"/models/{CL}/predict", json=body, headers={"X-API-Key": "s3cret-key"}).status_code == 200
        assert c.post(f"/models/{CL}/predict", json=body,
                      headers={"Authorization": "Bearer s3cret-key"}).status_code == 200
        assert c.get("/models", headers={"X-API-Key": "s3cret-key"}).status_code == 200


# ---------------------------------------------------------------- concurrency
def test_concurrent_requests_get_the_answers_sequential_ones_get(client, runs):
    bodies = [{"texts": [f"{w} film {i}" for w in ("good", "bad", "the plot was awful", "love")[: 1 + i % 4]]}
              for i in range(24)]
    alone = [client.post(f"/models/{CL}/predict", json=b).json() for b in bodies]
    with ThreadPoolExecutor(12) as pool:
        together = list(pool.map(lambda b: client.post(f"/models/{CL}/predict", json=b).json(), bodies))
    for a, t in zip(alone, together):
        assert [p["label"] for p in a["predictions"]] == [p["label"] for p in t["predictions"]]
        for pa, pt in zip(a["predictions"], t["predictions"]):
            assert pa["probabilities"] == pytest.approx(pt["probabilities"], abs=1e-5)
    # generations: each request's state is its own, so the same seeds give the same texts at once as alone
    gens = [{"prompt": "the ", "length": 40, "seed": s} for s in (1, 2, 3, 1)]
    alone = [client.post(f"/models/{TG}/predict", json=g).json()["text"] for g in gens]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda g: client.post(f"/models/{TG}/predict", json=g).json()["text"], gens))
    assert together == alone and alone[0] == alone[3]


@dataclass
class EchoRequest(AppConfig):
    """A request of the fake service below."""

    value: int = setting(0, help="a number", min=0, max=1000)
    sleep: float = setting(0.0, help="seconds the model takes", min=0, max=10)


def _fake(predict, batch: int = 64) -> dict[str, ServedRun]:
    return {"echo": ServedRun("echo", "echo", Path("."), Service(EchoRequest, predict=predict, batch=batch))}


def test_concurrent_requests_are_answered_in_batches_off_the_event_loop():
    sizes, threads = [], set()

    def predict(requests):
        sizes.append(len(requests))
        threads.add(threading.current_thread().name)
        time.sleep(0.02)
        return [{"value": r.value * 2} for r in requests]

    from fastapi.testclient import TestClient
    with TestClient(create_app(_fake(predict), limits=Limits(window=0.02, batch=8))) as c:
        with ThreadPoolExecutor(16) as pool:
            replies = list(pool.map(lambda v: c.post("/models/echo/predict", json={"value": v}).json(), range(32)))
    assert replies == [{"value": 2 * v} for v in range(32)]
    assert max(sizes) > 1 and max(sizes) <= 8 and sum(sizes) == 32
    assert all(name.startswith("rnnkit-model") for name in threads)


def test_a_request_that_runs_too_long_is_a_503_and_the_server_stays_up():
    def predict(requests):
        time.sleep(max(r.sleep for r in requests))
        return [{"value": r.value} for r in requests]

    from fastapi.testclient import TestClient
    with TestClient(create_app(_fake(predict, batch=1), limits=Limits(timeout=0.3))) as c:
        reply = c.post("/models/echo/predict", json={"value": 1, "sleep": 0.8})
        assert reply.status_code == 503 and "cut off" in reply.json()["error"]
        time.sleep(0.6)  # the cut-off call ends on its own
        assert c.post("/models/echo/predict", json={"value": 7}).json() == {"value": 7}
        assert c.get("/health").json() == {"status": "ok"}


def test_a_failing_model_is_a_500_json_error_the_log_has_the_details_and_the_worker_goes_on(caplog):
    calls = []

    def predict(requests):
        calls.append(len(requests))
        if len(calls) == 1:
            raise FileNotFoundError(2, "No such file or directory", "/srv/runs/echo/vocab.json")
        return [{"value": r.value} for r in requests]

    from fastapi.testclient import TestClient
    with TestClient(create_app(_fake(predict, batch=1)), raise_server_exceptions=False) as c:
        reply = c.post("/models/echo/predict", json={"value": 1})
        assert reply.status_code == 500 and set(reply.json()) == {"error"}
        assert "FileNotFoundError" in reply.json()["error"] and "/srv" not in reply.text  # the path stays inside
        assert c.post("/models/echo/predict", json={"value": 2}).json() == {"value": 2}
    lines = [r.getMessage() for r in caplog.records if r.name == "rnnkit.serve"]
    assert len(lines) == 1 and "echo" in lines[0] and "/srv/runs/echo/vocab.json" in lines[0]


def test_loading_refuses_what_it_cannot_serve(runs, tmp_path):
    from rnnkit.errors import ConfigError
    with pytest.raises(ConfigError, match="no such folder"):
        load_runs([str(tmp_path / "nonesuch")])
    with pytest.raises(ConfigError, match="no config.json"):
        load_runs([str(tmp_path)])
    twin = tmp_path / "twin" / runs["classify"].name
    twin.parent.mkdir()
    __import__("shutil").copytree(runs["classify"], twin)
    with pytest.raises(ConfigError, match="both named 'classify-run'"):
        load_runs([str(runs["classify"]), str(twin)])


def test_a_fast_generation_is_streamed_merged_and_whole_the_first_piece_at_once():
    """Pieces made faster than the pace reach the client merged (far fewer events than the 302 pieces), in order,
    all of them; the first is sent at once, not after a pace."""

    def generate(request, emit):
        emit("first ")
        time.sleep(0.2)  # the client sees the first piece before the model goes on
        for i in range(300):  # a piece a millisecond or so, for 0.3 s or more: 15 hand-overs at most at the pace
            emit(f"{i} ")
            time.sleep(0.001)
        emit("end")
        return {"text": "first " + "".join(f"{i} " for i in range(300)) + "end"}

    runs = {"gen": ServedRun("gen", "echo", Path("."), Service(StreamRequest, generate=generate, batch=1))}
    from fastapi.testclient import TestClient
    with TestClient(create_app(runs)) as c:
        with c.stream("POST", "/models/gen/predict", json={"stream": True}) as response:
            t0, pieces, first_at = time.perf_counter(), [], None
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event is None:
                        pieces.append(json.loads(line[6:])["text"])
                        first_at = first_at or time.perf_counter() - t0
                    else:
                        done = json.loads(line[6:])
                    event = None
    assert "".join(pieces) == done["text"] and pieces[0] == "first "
    assert first_at < 0.2 and len(pieces) < 40


@dataclass
class StreamRequest(AppConfig):
    """A request of the fake generation above."""

    stream: bool = setting(False, help="stream the pieces")


def test_the_models_get_every_core_but_one_unless_told(monkeypatch):
    from rnnkit.serve import model_threads
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert model_threads() == 3 and model_threads(2) == 2
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert model_threads() == 1
