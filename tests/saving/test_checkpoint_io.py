"""Crash-safe checkpoint files: round trips, independent parsing, failed writes, refused files."""
import errno
import hashlib
import io
import json
import os
import pathlib
import pickle
import signal
import struct
import time

import pytest
import safetensors
import safetensors.torch
import torch

from rnnkit.errors import CheckpointError, ConfigError, RnnkitError
from rnnkit.saving import checkpoint
from rnnkit.saving.checkpoint import FORMAT_VERSION, load_file, save_file


def _tensors():
    g = torch.Generator().manual_seed(0)
    return {
        "w": torch.randn(3, 4, generator=g),
        "b64": torch.randn(5, generator=g, dtype=torch.float64),
        "half": torch.randn(2, 2, generator=g).to(torch.bfloat16),
        "ids": torch.arange(7, dtype=torch.int64),
        "mask": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
    }


def _header(path):
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, n, json.loads(raw[8:8 + n])


def _listing(folder):
    return sorted(os.listdir(folder))


# ----------------------------------------------------------------------------- round trips and layout
def test_round_trip_keeps_every_dtype_shape_and_value(tmp_path):
    path = tmp_path / "a.safetensors"
    meta = {"epoch": 3, "config": {"units": [8, 16], "name": "lstm"}, "best": float("inf"), "none": None}
    tensors = _tensors()
    save_file(path, tensors, meta)
    loaded, meta2 = load_file(path)
    assert set(loaded) == set(tensors)
    for k, v in tensors.items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape, k
        assert torch.equal(loaded[k], v), k
    assert meta2 == meta
    assert _listing(tmp_path) == ["a.safetensors"]


def test_file_is_plain_safetensors_with_the_documented_metadata(tmp_path):
    path = tmp_path / "b.safetensors"
    save_file(path, {"x": torch.arange(6.0).reshape(2, 3)}, {"k": [1, 2]})
    # an independent reader (safetensors itself) sees the tensors and the three metadata entries
    plain = safetensors.torch.load_file(str(path))
    assert torch.equal(plain["x"], torch.arange(6.0).reshape(2, 3))
    with safetensors.safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert set(meta) == {"rnnkit", "rnnkit_format_version", "rnnkit_sha256"}
    assert json.loads(meta["rnnkit"]) == {"k": [1, 2]}
    assert meta["rnnkit_format_version"] == str(FORMAT_VERSION) == "1"
    # the checksum is the documented SHA-256 over (canonical header without the checksum, data)
    raw, n, header = _header(path)
    assert (8 + n) % 8 == 0
    data = raw[8 + n:]
    assert data == struct.pack("<6f", 0, 1, 2, 3, 4, 5)
    head = dict(header)
    head["__metadata__"] = {k: v for k, v in header["__metadata__"].items() if k != "rnnkit_sha256"}
    canon = json.dumps(head, sort_keys=True, separators=(",", ":")).encode()
    expected = hashlib.sha256(struct.pack("<Q", len(canon)) + canon + data).hexdigest()
    assert meta["rnnkit_sha256"] == expected


def test_tied_noncontiguous_and_grad_tensors_are_saved(tmp_path):
    base = torch.randn(4, 6, requires_grad=True)
    tensors = {"a": base, "tied": base, "view_t": base.detach().t(), "slice": base.detach()[1:3]}
    save_file(tmp_path / "t.safetensors", tensors)
    loaded, _ = load_file(tmp_path / "t.safetensors")
    for k, v in tensors.items():
        assert torch.equal(loaded[k], v.detach()), k


def test_overwrite_replaces_and_creates_parent_dirs(tmp_path):
    path = tmp_path / "deep" / "er" / "c.safetensors"
    save_file(path, {"v": torch.tensor([1.0])}, {"n": 1})
    save_file(str(path), {"v": torch.tensor([2.0])}, {"n": 2})
    t, m = load_file(str(path))
    assert t["v"].item() == 2.0 and m == {"n": 2}
    assert _listing(path.parent) == ["c.safetensors"]


def test_large_tensor_spanning_several_write_chunks(tmp_path):
    big = torch.arange(700_000, dtype=torch.float32)  # 2.8 MB > the 1 MiB chunk
    save_file(tmp_path / "big.safetensors", {"big": big})
    t, m = load_file(tmp_path / "big.safetensors")
    assert torch.equal(t["big"], big) and m == {}


# ----------------------------------------------------------------------------- failed writes never replace a good file
def _good_file(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file(path, {"w": torch.full((300_000,), 1.0)}, {"version": "good"})
    return path, path.read_bytes()


def _assert_good_and_clean(path, good_bytes):
    assert path.read_bytes() == good_bytes
    tensors, meta = load_file(path)
    assert meta == {"version": "good"} and torch.all(tensors["w"] == 1.0)
    assert _listing(path.parent) == [path.name]  # no temporary file left


def test_disk_full_halfway_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    path, good = _good_file(tmp_path)
    real_write = os.write
    calls = {"n": 0}

    def full_disk(fd, data):
        calls["n"] += 1
        if calls["n"] == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])  # a partial write first ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device") as info:
        save_file(path, {"w": torch.full((300_000,), 2.0)}, {"version": "new"})
    monkeypatch.undo()
    assert calls["n"] == 2
    assert info.value.errno == errno.ENOSPC
    assert isinstance(info.value, OSError) and isinstance(info.value, RnnkitError)
    assert "untouched" in str(info.value)
    _assert_good_and_clean(path, good)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failure_before_the_rename_keeps_the_old_file(tmp_path, monkeypatch, failing):
    path, good = _good_file(tmp_path)

    def boom(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, failing, boom)
    with pytest.raises(CheckpointError) as info:
        save_file(path, {"w": torch.full((300_000,), 2.0)}, {"version": "new"})
    monkeypatch.undo()
    assert info.value.errno == errno.EIO
    _assert_good_and_clean(path, good)


def test_a_first_save_that_fails_leaves_nothing(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", boom)
    with pytest.raises(CheckpointError):
        save_file(tmp_path / "new.safetensors", {"w": torch.ones(3)})
    monkeypatch.undo()
    assert _listing(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork to kill a writer mid-write")
def test_process_killed_mid_write_leaves_the_old_file_loadable(tmp_path):
    path, good = _good_file(tmp_path)
    pid = os.fork()
    if pid == 0:  # child: write half of the new file, then die as SIGKILL would make it
        try:
            real_write = os.write

            def dying_write(fd, data):
                real_write(fd, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)

            os.write = dying_write
            save_file(path, {"w": torch.full((300_000,), 2.0)}, {"version": "new"})
        finally:
            os._exit(3)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the writer child did not finish")
        time.sleep(0.01)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert path.read_bytes() == good
    assert load_file(path)[1] == {"version": "good"}
    leftovers = [n for n in _listing(tmp_path) if n != path.name]
    assert len(leftovers) == 1 and leftovers[0].startswith(".model.safetensors.") and leftovers[0].endswith(".tmp")


# ----------------------------------------------------------------------------- refused files
def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file") as info:
        load_file(tmp_path / "nope.safetensors")
    assert info.value.errno == errno.ENOENT


def test_directory_and_empty_file(tmp_path):
    with pytest.raises(CheckpointError, match="directory"):
        load_file(tmp_path)
    (tmp_path / "empty.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_file(tmp_path / "empty.safetensors")


def test_every_truncation_is_refused(tmp_path):
    path = tmp_path / "full.safetensors"
    save_file(path, {"w": torch.randn(10), "b": torch.randn(3)}, {"e": 1})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    cut = tmp_path / "cut.safetensors"
    for size in sorted({1, 4, 7, 8, 9, 8 + n // 2, 8 + n, 8 + n + 1, len(raw) - 4, len(raw) - 1}):
        cut.write_bytes(raw[:size])
        with pytest.raises(CheckpointError, match="truncated|too short"):
            load_file(cut)


def test_truncated_checkpoint_whose_length_bytes_resemble_a_pickle_is_called_truncated(tmp_path):
    # a header of 640 bytes starts the file with 0x80 0x02, as a protocol-2 pickle starts
    path = tmp_path / "x.safetensors"
    save_file(path, {"w": torch.randn(8)}, {"pad": ""})
    raw, n, _ = _header(path)
    unpadded = len(raw[8:8 + n].rstrip(b" "))
    save_file(path, {"w": torch.randn(8)}, {"pad": "p" * (640 - unpadded)})
    raw = path.read_bytes()
    assert raw[:2] == b"\x80\x02" and struct.unpack("<Q", raw[:8])[0] == 640
    path.write_bytes(raw[:-5])
    with pytest.raises(CheckpointError, match="truncated") as info:
        load_file(path)
    assert "pickle" not in str(info.value)


def test_extra_bytes_at_the_end_are_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file(path, {"w": torch.randn(4)})
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(CheckpointError, match="unexpected bytes"):
        load_file(path)


def test_each_tampered_data_byte_is_caught(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file(path, {"w": torch.randn(16)})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    for pos in range(8 + n, len(raw), 5):
        bad = bytearray(raw)
        bad[pos] ^= 0x01
        path.write_bytes(bytes(bad))
        with pytest.raises(CheckpointError, match="checksum mismatch"):
            load_file(path)


@pytest.mark.parametrize("old,new", [(b'"F32"', b'"I32"'), (b'[2,2]', b'[4,1]'), (b'hello', b'jello')])
def test_a_consistent_edit_of_the_header_is_caught(tmp_path, old, new):
    path = tmp_path / "x.safetensors"
    save_file(path, {"w": torch.randn(2, 2)}, {"msg": "hello"})
    raw = path.read_bytes()
    assert raw.count(old) == 1
    path.write_bytes(raw.replace(old, new))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_file(path)


def test_header_garbage_is_refused(tmp_path):
    path = tmp_path / "x.safetensors"
    save_file(path, {"w": torch.randn(2)})
    raw = bytearray(path.read_bytes())
    raw[8] = ord("[")
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="not valid JSON|not a JSON object"):
        load_file(path)


def test_plain_safetensors_file_is_not_an_rnnkit_checkpoint(tmp_path):
    path = tmp_path / "plain.safetensors"
    safetensors.torch.save_file({"w": torch.ones(2)}, str(path))
    with pytest.raises(CheckpointError, match="not one written by rnnkit"):
        load_file(path)


def test_newer_format_version_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "v.safetensors"
    save_file(path, {"w": torch.ones(2)})
    raw, n, header = _header(path)
    header["__metadata__"]["rnnkit_format_version"] = "2"
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    path.write_bytes(struct.pack("<Q", len(head)) + head + raw[8 + n:])
    with pytest.raises(CheckpointError, match="format version 2.*upgrade rnnkit"):
        load_file(path)


class _Touch:
    """Unpickling this creates the marker file: a stand-in for malicious code in a pickle."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_renamed_pickle_is_refused_without_running_it(tmp_path, protocol):
    control = tmp_path / "control-marker"
    # control: this payload kind really runs code when unpickled (this test's own payload)
    pickle.loads(pickle.dumps(_Touch(str(control)), protocol=protocol))
    assert control.exists()
    marker = tmp_path / "marker"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"state": _Touch(str(marker))}, protocol=protocol))
    with pytest.raises(CheckpointError) as info:
        load_file(path)
    assert not marker.exists()
    if protocol >= 2:
        assert "pickle" in str(info.value) and "NOT loaded" in str(info.value)


@pytest.mark.parametrize("zipfile", [True, False])
def test_torch_save_file_is_refused_without_running_it(tmp_path, zipfile):
    marker = tmp_path / "marker"
    path = tmp_path / "model.safetensors"
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2), "evil": _Touch(str(marker))}, buf, _use_new_zipfile_serialization=zipfile)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError, match="torch.save|pickle"):
        load_file(path)
    assert not marker.exists()


def test_modules_never_use_pickle_or_torch_load():
    import ast

    from rnnkit.saving import model_files, registry
    from rnnkit.training import callbacks, tensorboard

    files = [pathlib.Path(m.__file__) for m in (checkpoint, model_files, registry, tensorboard)]
    files += sorted(pathlib.Path(callbacks.__file__).parent.glob("*.py"))  # every file of the callbacks package
    assert len(files) > 10
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & {"pickle", "dill", "marshal", "shelve", "joblib"}, path
            if isinstance(node, ast.Attribute) and node.attr == "load":
                assert not (isinstance(node.value, ast.Name) and node.value.id in {"torch", "pickle"}), path


# ----------------------------------------------------------------------------- argument checks
@pytest.mark.parametrize(
    "tensors,metadata,match",
    [
        ([torch.ones(1)], None, "dict of name"),
        ({"w": [1.0]}, None, "not a torch.Tensor"),
        ({1: torch.ones(1)}, None, "non-empty str"),
        ({"w": torch.ones(1)}, {"obj": object()}, "not JSON-serialisable"),
        ({"w": torch.ones(1)}, ["a"], "must be a dict"),
        ({"w": torch.ones(2).to_sparse()}, None, "to_dense"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path, tensors, metadata, match):
    with pytest.raises(ConfigError, match=match):
        save_file(tmp_path / "x.safetensors", tensors, metadata)
    assert _listing(tmp_path) == []


def test_bad_path_and_device(tmp_path):
    with pytest.raises(ConfigError, match="path"):
        save_file(3, {"w": torch.ones(1)})
    with pytest.raises(CheckpointError, match="is a directory"):
        save_file(tmp_path, {"w": torch.ones(1)})
    save_file(tmp_path / "ok.safetensors", {"w": torch.ones(1)})
    with pytest.raises(ConfigError, match="device"):
        load_file(tmp_path / "ok.safetensors", device="toaster")
    tensors, _ = load_file(tmp_path / "ok.safetensors", device=torch.device("cpu"))
    assert tensors["w"].device.type == "cpu"
