"""rnnkit serve on a real socket (uvicorn on a free 127.0.0.1 port, started and stopped here): a generation streamed
as server-sent events, and the command line's refusals (one line, exit code 2)."""
from __future__ import annotations

import json
import sys

import httpx
import pytest

from rnnkit.cli import main


def _events(response: httpx.Response) -> list[tuple[str, dict]]:
    events, event, data = [], "message", ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data += line[6:]
        elif line == "" and data:
            events.append((event, json.loads(data)))
            event, data = "message", ""
    return events


def test_a_generation_streams_as_server_sent_events_and_ends_with_the_whole_text(live, runs):
    name = runs["textgen"].name
    body = {"prompt": "the ", "length": 60, "seed": 5, "stream": True}
    with httpx.stream("POST", f"{live.url}/models/{name}/predict", json=body, timeout=20) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = _events(response)
    pieces = [data["text"] for event, data in events if event == "message"]
    assert events[-1][0] == "done" and "".join(pieces) == events[-1][1]["text"] and len(events[-1][1]["text"]) >= 60
    # the same seed without streaming: the same text
    plain = httpx.post(f"{live.url}/models/{name}/predict", json={**body, "stream": False}, timeout=20).json()
    assert plain == {"text": events[-1][1]["text"]}


def test_a_bad_streamed_request_is_refused_before_the_stream_starts(live, runs):
    reply = httpx.post(f"{live.url}/models/{runs['textgen'].name}/predict",
                       json={"prompt": "QZ#", "stream": True}, timeout=20)
    assert reply.status_code == 422 and "`prompt`" in reply.json()["error"]


@pytest.mark.parametrize("argv, words", [
    (["serve"], "nothing to serve: give --run RUN"),
    (["serve", "--run", "x", "--host", "0.0.0.0"], "--host 0.0.0.0 is not a loopback address"),
    (["serve", "--run", "x", "--host", "0.0.0.0", "--api-key", "short"], "--api-key is too short"),
    (["serve", "--run", "no/such/run"], "--run no/such/run: no such folder"),
    (["serve", "--run", "x", "--port", "70000"], "--port must be a whole number from 0 to 65535"),
])
def test_the_command_refuses_in_one_line(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


def test_a_missing_serve_extra_names_the_install(capsys, monkeypatch, runs):
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["serve", "--run", str(runs["classify"])]) == 2
    assert "pip install 'rnnkit[serve]'" in capsys.readouterr().err


def test_run_repeats_or_takes_several_folders():
    from rnnkit.cli import _parser
    from rnnkit.apps.framework import options_from_args
    from rnnkit.serve import ServeOptions
    for argv in (["serve", "--run", "a", "--run", "b"], ["serve", "--run", "a", "b"]):
        args = _parser().parse_args(argv)
        assert options_from_args(ServeOptions, args)["run"] == ["a", "b"]
