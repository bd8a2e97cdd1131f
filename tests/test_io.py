"""The one atomic-write helper: the old file or the whole new one, never a part, and no temporary left."""
import errno
import os
import stat

import pytest

from rnnkit._io import atomic_path, atomic_write


def _fsync_recorder(monkeypatch):
    """Record what os.fsync is called on: 'file' or 'dir'."""
    real = os.fsync
    seen = []

    def record(fd):
        seen.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    return seen


@pytest.mark.parametrize("text", [True, False])
def test_writes_replaces_and_fsyncs_file_then_folder(tmp_path, monkeypatch, text):
    path = tmp_path / "out.txt"
    path.write_text("old")
    seen = _fsync_recorder(monkeypatch)
    with atomic_write(path, "w" if text else "wb", encoding="utf-8" if text else None) as f:
        f.write("new" if text else b"new")
        assert path.read_text() == "old"  # nothing visible before the block ends
    assert path.read_text() == "new"
    assert seen == ["file", "dir"]
    assert os.listdir(tmp_path) == ["out.txt"]


def test_new_file_gets_the_permissions_open_would_give(tmp_path):
    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.bin") as f:
            f.write(b"x")
        with open(tmp_path / "b.bin", "wb") as f:
            f.write(b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "a.bin").st_mode) == stat.S_IMODE(os.stat(tmp_path / "b.bin").st_mode) == 0o644


def test_an_error_in_the_block_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old content")
    with pytest.raises(OSError, match="No space left"):
        with atomic_write(path) as f:
            f.write(b"half of the new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["data.bin"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failing_fsync_or_rename_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch, failing):
    path = tmp_path / "data.bin"
    path.write_bytes(b"old content")

    def boom(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        with atomic_write(path) as f:
            f.write(b"new content")
            monkeypatch.setattr(os, failing, boom)
    monkeypatch.undo()
    assert path.read_bytes() == b"old content"
    assert os.listdir(tmp_path) == ["data.bin"]


def test_a_first_write_that_fails_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "new.txt", "w") as f:
            f.write("partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_atomic_path_for_a_writer_that_takes_a_name(tmp_path, monkeypatch):
    target = tmp_path / "lib.so"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target, suffix=".so.tmp") as tmp:
            assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".so.tmp") and os.path.exists(tmp)
            with open(tmp, "wb") as f:
                f.write(b"half")
            raise RuntimeError("the compiler failed")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["lib.so"]
    seen = _fsync_recorder(monkeypatch)
    with atomic_path(target) as tmp:
        os.unlink(tmp)  # a writer may replace the file (as a linker does)
        with open(tmp, "wb") as f:
            f.write(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["lib.so"]
    assert seen == ["file", "dir"]
