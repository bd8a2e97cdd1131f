"""TensorBoard event files, decoded by an independent reader written here (and by tensorboard if installed)."""
import math
import os
import pathlib
import random
import re
import socket
import struct
import time

import numpy as np
import pytest
import torch

from rnnkit.errors import ConfigError
from rnnkit.training.callbacks import TensorBoard
from rnnkit.training.tensorboard import EventFileWriter, crc32c


# ----------------------------------------------------------------------------- an independent reader
def _crc32c_bitwise(data):
    """CRC-32C bit by bit, straight from the definition (reflected polynomial 0x82F63B78)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 * (crc & 1))
    return crc ^ 0xFFFFFFFF


def _mask(crc):
    rotated = ((crc >> 15) | (crc << 17)) & 0xFFFFFFFF
    return (rotated + 0xA282EAD8) & 0xFFFFFFFF


def _read_varint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return result, pos


def _fields(buf):
    """Decode one protobuf message into a list of (field number, wire type, value)."""
    pos, out = 0, []
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 2:
            n, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
        out.append((field, wire, value))
    assert pos == len(buf)
    return out


def _read_events(path):
    """Parse the TFRecord framing (checking both CRCs) and decode each Event."""
    raw = pathlib.Path(path).read_bytes()
    pos, events = 0, []
    while pos < len(raw):
        header = raw[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (len_crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        assert len_crc == _mask(_crc32c_bitwise(header))
        data = raw[pos + 12:pos + 12 + length]
        assert len(data) == length
        (data_crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
        assert data_crc == _mask(_crc32c_bitwise(data))
        pos += 16 + length
        event = {"values": []}
        for field, wire, value in _fields(data):
            if field == 1:
                assert wire == 1
                event["wall_time"] = struct.unpack("<d", value)[0]
            elif field == 2:
                assert wire == 0
                event["step"] = value - (1 << 64) if value >= 1 << 63 else value
            elif field == 3:
                assert wire == 2
                event["file_version"] = value.decode()
            elif field == 5:
                assert wire == 2
                for vfield, vwire, val in _fields(value):
                    assert (vfield, vwire) == (1, 2)
                    entry = {}
                    for f, w, x in _fields(val):
                        if (f, w) == (1, 2):
                            entry["tag"] = x.decode()
                        elif (f, w) == (2, 5):
                            entry["simple_value"] = struct.unpack("<f", x)[0]
                    event["values"].append(entry)
            else:
                raise AssertionError(f"unexpected Event field {field}")
        events.append(event)
    assert pos == len(raw)
    return events


def _scalars(path):
    return [(v["tag"], e["step"], v["simple_value"]) for e in _read_events(path)[1:] for v in e["values"]]


def _only_file(folder):
    names = os.listdir(folder)
    assert len(names) == 1, names
    return os.path.join(folder, names[0])


# ----------------------------------------------------------------------------- CRC32C
def test_crc32c_known_vectors():
    assert crc32c(b"123456789") == 0xE3069283
    # RFC 3720 (iSCSI), appendix B.4
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_crc32c_matches_the_bitwise_definition():
    rng = random.Random(0)
    for n in (0, 1, 2, 7, 8, 100, 1000):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert crc32c(data) == _crc32c_bitwise(data)
        assert crc32c(bytearray(data)) == crc32c(memoryview(data))


# ----------------------------------------------------------------------------- the writer
def test_writer_output_decodes_independently(tmp_path):
    before = time.time()
    writer = EventFileWriter(tmp_path)
    writer.add_scalar("epoch_loss", 0.5, step=0)
    writer.add_scalar("epoch_loss", 0.25, step=1)
    writer.add_scalar("epoch_accuracy", np.float32(0.75), step=1)
    writer.add_scalar("batch_loss", torch.tensor(1.0 / 3.0), step=300)
    writer.add_scalar("big_step", 7, step=2**40)
    writer.add_scalar("neg_step", -2.0, step=-1)
    writer.add_scalar("fixed_time", 1.0, step=5, wall_time=1234.5)
    writer.close()
    after = time.time()
    assert writer.closed

    name = os.path.basename(writer.path)
    match = re.fullmatch(r"events\.out\.tfevents\.(\d+)\.(.+)", name)
    assert match and match.group(2) == socket.gethostname()
    assert int(before) <= int(match.group(1)) <= after

    events = _read_events(writer.path)
    assert events[0]["file_version"] == "brain.Event:2" and events[0]["values"] == []
    assert before - 1 <= events[0]["wall_time"] <= after + 1
    got = [(v["tag"], e["step"], v["simple_value"]) for e in events[1:] for v in e["values"]]
    assert got == [
        ("epoch_loss", 0, 0.5),
        ("epoch_loss", 1, 0.25),
        ("epoch_accuracy", 1, 0.75),
        ("batch_loss", 300, struct.unpack("<f", struct.pack("<f", 1 / 3))[0]),
        ("big_step", 2**40, 7.0),
        ("neg_step", -1, -2.0),
        ("fixed_time", 5, 1.0),
    ]
    assert events[-1]["wall_time"] == 1234.5
    assert all(before - 1 <= e["wall_time"] <= after + 1 for e in events[1:-1])


def test_special_values(tmp_path):
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalar("nan", float("nan"), step=0)
        writer.add_scalar("inf", float("inf"), step=0)
        writer.add_scalar("huge", 1e300, step=0)
    values = {tag: v for tag, _, v in _scalars(writer.path)}
    assert math.isnan(values["nan"]) and values["inf"] == math.inf and values["huge"] == math.inf


def test_exact_bytes_of_a_scalar_record(tmp_path):
    """Hand-assembled expectation for one record (tag 'a', value 1.0, step 3, wall time 2.0)."""
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalar("a", 1.0, step=3, wall_time=2.0)
    raw = pathlib.Path(writer.path).read_bytes()
    first_len = struct.unpack("<Q", raw[:8])[0]
    record = raw[16 + first_len:]
    value = b"\x0a\x01a" + b"\x15" + struct.pack("<f", 1.0)  # tag, simple_value
    summary = b"\x0a" + bytes([len(value)]) + value  # Summary.value
    event = b"\x09" + struct.pack("<d", 2.0) + b"\x10\x03" + b"\x2a" + bytes([len(summary)]) + summary
    assert record[12:-4] == event
    assert record[:8] == struct.pack("<Q", len(event))


def test_flush_makes_records_visible_and_names_do_not_collide(tmp_path):
    a = EventFileWriter(tmp_path)
    b = EventFileWriter(tmp_path)
    assert a.path != b.path
    a.add_scalar("x", 1.0, step=0)
    a.flush()
    assert _scalars(a.path) == [("x", 0, 1.0)]
    a.close()
    b.close()
    assert len(os.listdir(tmp_path)) == 2


@pytest.mark.parametrize(
    "args,match",
    [(("", 1.0, 0), "tag"), (("t", "high", 0), "real number"), (("t", 1.0, 1.5), "step"),
     (("t", torch.ones(2), 0), "real number"), (("t", 1.0, True), "step")],
)
def test_add_scalar_rejects_bad_arguments(tmp_path, args, match):
    with EventFileWriter(tmp_path) as writer:
        with pytest.raises(ConfigError, match=match):
            writer.add_scalar(*args)


def test_closed_writer_refuses(tmp_path):
    writer = EventFileWriter(tmp_path)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ConfigError, match="closed"):
        writer.add_scalar("x", 1.0, step=0)


# ----------------------------------------------------------------------------- the callback
def test_tensorboard_callback_splits_train_and_validation(tmp_path):
    tb = TensorBoard(log_dir=tmp_path / "run", update_freq=2)
    tb.on_train_begin()
    for epoch in range(2):
        tb.on_epoch_begin(epoch)
        for batch in range(3):
            tb.on_train_batch_begin(batch)
            tb.on_train_batch_end(batch, {"loss": float(10 * epoch + batch)})
        tb.on_epoch_end(epoch, {"loss": 1.0 - epoch / 4, "accuracy": 0.5, "val_loss": 2.0, "val_accuracy": 0.25,
                                "note": "text is skipped"})
    tb.on_train_end()
    assert sorted(os.listdir(tmp_path / "run")) == ["train", "validation"]
    train = _scalars(_only_file(tmp_path / "run" / "train"))
    val = _scalars(_only_file(tmp_path / "run" / "validation"))
    # batches seen: 1..6; every 2nd is written, against that count
    assert [t for t in train if t[0].startswith("batch_")] == [
        ("batch_loss", 2, 1.0), ("batch_loss", 4, 10.0), ("batch_loss", 6, 12.0)]
    assert [t for t in train if t[0].startswith("epoch_")] == [
        ("epoch_loss", 0, 1.0), ("epoch_accuracy", 0, 0.5), ("epoch_loss", 1, 0.75), ("epoch_accuracy", 1, 0.5)]
    assert val == [("epoch_loss", 0, 2.0), ("epoch_accuracy", 0, 0.25), ("epoch_loss", 1, 2.0),
                   ("epoch_accuracy", 1, 0.25)]


def test_tensorboard_callback_epoch_only_and_config(tmp_path):
    tb = TensorBoard(log_dir=str(tmp_path))
    tb.on_train_begin()
    tb.on_train_batch_end(0, {"loss": 1.0})
    tb.on_epoch_end(0, {"loss": 3.0})
    # visible before training ends: flushed each epoch
    assert _scalars(_only_file(tmp_path / "train")) == [("epoch_loss", 0, 3.0)]
    tb.on_train_end()
    assert os.listdir(tmp_path) == ["train"]
    assert tb.get_config() == {"log_dir": str(tmp_path), "update_freq": "epoch"}
    assert TensorBoard.from_config(tb.get_config()).get_config() == tb.get_config()
    for bad in ("step", 0, -1, 1.5, None):
        with pytest.raises(ConfigError, match="update_freq"):
            TensorBoard(str(tmp_path), update_freq=bad)


# ----------------------------------------------------------------------------- tensorboard itself, when installed
def test_tensorboard_package_reads_the_file(tmp_path):
    loader_mod = pytest.importorskip(
        "tensorboard.backend.event_processing.event_file_loader",
        reason="the tensorboard package is not installed in this environment (optional check)",
    )
    with EventFileWriter(tmp_path) as writer:
        writer.add_scalar("epoch_loss", 0.5, step=0)
        writer.add_scalar("epoch_loss", 0.25, step=1)
    events = list(loader_mod.EventFileLoader(writer.path).Load())
    assert events[0].file_version == "brain.Event:2"
    got = []
    for event in events[1:]:
        for value in event.summary.value:
            number = value.simple_value if value.HasField("simple_value") else float(value.tensor.float_val[0])
            got.append((value.tag, event.step, number))
    assert got == [("epoch_loss", 0, 0.5), ("epoch_loss", 1, 0.25)]
