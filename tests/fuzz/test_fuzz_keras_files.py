"""Hostile Keras model files for rnnkit.load_keras: random bytes, real Keras files (tests/fixtures/keras)
flipped, cut and spliced, zips rebuilt with a mangled config.json or metadata.json, unsafe member names,
zip bombs (declared or real), and HDF5 files whose datasets and attributes claim huge shapes.

Only rnnkit's errors may come out, naming the file; a model that loads computes; nothing a header claims
is allocated before it is checked against the file's size.
"""
import io
import json
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from fuzz_support import BATCH, cases, cheaply, hostile, mutate, replace_in, run_cases
from rnnkit import load_keras
from rnnkit.errors import RnnkitError
from rnnkit.saving import _h5_isolated

h5py = pytest.importorskip("h5py")
FIXTURES = Path(__file__).parents[1] / "fixtures" / "keras"
KERAS = {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.keras"))}
H5 = {p.name: p.read_bytes() for p in sorted(FIXTURES.glob("*.h5"))}


def members(raw: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def zipped(files: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as z:
        for name, data in files:
            z.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def declared(raw: bytes, name: bytes, size: int) -> bytes:
    """A zip whose member ``name`` declares ``size`` bytes uncompressed (local header and central directory)."""
    data = bytearray(raw)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = 0
        while (at := data.find(signature, at)) >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[at + offset:at + offset + 4] = struct.pack("<I", size & 0xFFFFFFFF)
            at += 4
    return bytes(data)


def rezipped(rnd, raw: bytes) -> bytes:
    """A real .keras file taken apart and zipped again with one thing changed."""
    files = members(raw)
    r = rnd.random()
    if r < 0.55:  # the config: a node replaced, a key dropped, a list item repeated
        files["config.json"] = json.dumps(replace_in(rnd, json.loads(files["config.json"]))).encode()
    elif r < 0.65:
        files["metadata.json"] = json.dumps(replace_in(rnd, json.loads(files["metadata.json"]))).encode()
    elif r < 0.75:  # the weights file mutated inside an intact zip
        files["model.weights.h5"] = mutate(rnd, files["model.weights.h5"])
    elif r < 0.85:  # a member under an unsafe or repeated name, or an extra or missing member
        name = rnd.choice(["../config.json", "/etc/x", "a\\b", "C:x", "x/../../y", "", "model.weights.npz",
                           "config.json", "a\x00b", "./config.json"])
        items = list(files.items()) + [(name, b"{}")]
        rnd.shuffle(items)
        if rnd.random() < 0.3:
            items.pop()
        return zipped(items)
    elif r < 0.93:  # a member that declares a size it does not have: 4 GiB, 0, one byte off
        out = zipped(list(files.items()))
        target = rnd.choice([b"config.json", b"model.weights.h5", b"metadata.json"])
        return declared(out, target, rnd.choice([0xFFFFFFFF, 0, 1, len(files[target.decode()]) + 1, 1 << 30]))
    else:  # stored instead of deflated, or another compression method
        return zipped(list(files.items()), rnd.choice([zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]))
    return zipped(list(files.items()))


def _load(path, case):
    model = hostile(load_keras, path, name=path.name, case=case)
    if not isinstance(model, RnnkitError):
        # any input of the model's input shape: the model must compute (or refuse in one rnnkit line)
        shape = getattr(getattr(model, "input_layer", None), "batch_shape", None)
        if shape is not None and all(isinstance(d, (int, type(None))) for d in shape) and len(shape) <= 4:
            x = torch.zeros([2] + [d or 3 for d in shape[1:]], dtype=torch.long if "int" in str(
                getattr(model.input_layer, "dtype", "")) else torch.float32)
            hostile(model, x, case=case)


@pytest.mark.filterwarnings("ignore::UserWarning")
@cases(75, 3000)
def test_keras_files_mutated_rezipped_or_random(scratch, count, monkeypatch):
    # a mutated .h5 can make the HDF5 library spin: refused here after a second, not the usual 30 s
    monkeypatch.setattr(_h5_isolated, "TIMEOUT", 1.0)
    run_cases(count, lambda rnd: _keras_cases(scratch, rnd))


def _keras_cases(folder, rnd):
    for _ in range(BATCH):
        kind = rnd.random()
        if kind < 0.45:
            raw, suffix = rezipped(rnd, rnd.choice(list(KERAS.values()))), ".keras"
        elif kind < 0.65:
            raw, suffix = mutate(rnd, rnd.choice(list(KERAS.values()))), ".keras"
        elif kind < 0.9:
            raw, suffix = mutate(rnd, rnd.choice(list(H5.values()))), ".h5"
        else:
            raw = rnd.choice([b"PK\x03\x04", b"\x89HDF\r\n\x1a\n", b""]) + rnd.randbytes(rnd.randint(0, 64))
            suffix = rnd.choice([".keras", ".h5"])
        path = folder / f"model{suffix}"
        path.write_bytes(raw)
        _load(path, raw)


def _h5_with(tmp_path, build) -> Path:
    """A legacy .h5 model file (a real Keras one) with ``build(file)`` applied to it."""
    path = tmp_path / "hostile.h5"
    path.write_bytes(H5["keras2_gru.h5"])
    with h5py.File(path, "r+") as f:
        build(f)
    return path


def _huge_dataset(f):
    """The first weight replaced by a dataset of 10^12 float64 (chunked, never written: a few KB on disk)."""
    group = f["model_weights"]
    name = f["model_weights"].attrs["layer_names"][-1].decode()
    weight = group[name].attrs["weight_names"][0].decode()
    del group[name][weight]
    group[name].create_dataset(weight, shape=(10**6, 10**6), dtype="f8", chunks=(1, 1024))


def _huge_attribute(path: Path) -> None:
    """The Dense layer's ``weight_names`` as an attribute whose dataspace claims 2^31 strings (7 are stored)."""
    with h5py.File(path, "r+") as f:
        group = f["model_weights/dense"]
        names = list(group.attrs["weight_names"])
        del group.attrs["weight_names"]
        group.attrs["weight_names"] = np.array(names + [b"pad%d" % i for i in range(7 - len(names))])
    raw = bytearray(path.read_bytes())
    at = raw.rfind(b"weight_names")  # the dataspace message follows the name: dims and max dims, 8 bytes each
    for i in range(at, at + 64):
        if raw[i:i + 8] == struct.pack("<Q", 7):
            raw[i:i + 8] = struct.pack("<Q", 1 << 31)
    path.write_bytes(raw)


def _zip_bomb(tmp_path) -> Path:
    """A real deflate bomb: 32 MiB of zeros as model.weights.h5, 32 KB compressed."""
    files = members(KERAS["stacked_gru.keras"])
    files["model.weights.h5"] = bytes(32 << 20)
    path = tmp_path / "bomb.keras"
    path.write_bytes(zipped(list(files.items())))
    return path


@pytest.mark.parametrize("make", ["dataset", "attribute", "bomb", "declared"])
def test_keras_claims_cost_no_memory(tmp_path, make):
    if make == "dataset":
        path = _h5_with(tmp_path, _huge_dataset)
    elif make == "attribute":
        path = tmp_path / "attribute.h5"
        path.write_bytes(H5["keras2_gru.h5"])
        _huge_attribute(path)
    elif make == "bomb":
        path = _zip_bomb(tmp_path)
    else:
        raw = declared(KERAS["stacked_gru.keras"], b"model.weights.h5", 0xFFFFFFFF)
        path = tmp_path / "declared.keras"
        path.write_bytes(raw)
    cheaply(lambda: load_keras(path), refused=path.name)


def test_keras_config_claiming_a_huge_layer_costs_no_memory(tmp_path):
    """A config.json whose Dense layer claims 100,000 x 100,000 weights (40 GB) in a file of a few KB."""
    files = members(KERAS["stacked_gru.keras"])
    config = json.loads(files["config.json"])
    layers = config["config"]["layers"]
    next(e for e in layers if e["class_name"] == "Embedding")["config"]["output_dim"] = 100_000
    next(e for e in layers if e["class_name"] == "GRU")["config"]["units"] = 100_000
    files["config.json"] = json.dumps(config).encode()
    path = tmp_path / "huge.keras"
    path.write_bytes(zipped(list(files.items())))
    cheaply(lambda: load_keras(path), refused=path.name)


def test_keras_h5_that_makes_hdf5_spin_is_refused_in_time(tmp_path, monkeypatch):
    """50 bytes repeated before a global heap (a case the fuzzer found) make the HDF5 library spin forever,
    holding Python's lock, when model_config is read: the child process reading the file is stopped and the
    file refused, and this process goes on."""
    original = H5["keras2_functional.h5"]
    path = tmp_path / "spin.h5"
    path.write_bytes(original[:2065] + original[2015:])
    monkeypatch.setattr(_h5_isolated, "TIMEOUT", 0.5)
    start = time.perf_counter()
    err = hostile(load_keras, path, name=path.name)
    assert isinstance(err, RnnkitError), err
    assert time.perf_counter() - start < 10
