"""Hostile checkpoint and model files for rnnkit.saving.load_file, rnnkit.load_model and load_weights: random
bytes, valid files flipped, cut and spliced, and files whose header was edited and then signed again (so
that a case gets past the checksum, as a forger's would): wrong dtypes, shapes and offsets, offsets past
the end, huge declared header lengths, JSON bombs, mangled model configs and training state.

Only rnnkit's errors may come out, naming the file; a model that loads computes; nothing a header claims
is allocated before it is checked against the file's size.
"""
import json
import struct

import pytest
import torch

from fuzz_support import BATCH, BOUNDARY, cases, cheaply, deep_json, hostile, json_value, mutate, replace_in, \
    run_cases
from rnnkit import load_model
from rnnkit.errors import RnnkitError
from rnnkit.layers import LSTM, Dense, Embedding
from rnnkit.models import Sequential
from rnnkit.random import get_rng_state, set_rng_state
from rnnkit.saving import restore_training_state
from rnnkit.saving.checkpoint import _digest, load_file


def split(raw: bytes) -> tuple[dict, bytes]:
    """(header, data section) of a safetensors file (8-byte little-endian length, JSON, data)."""
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def signed(header: dict, data: bytes, *, sign: bool = True) -> bytes:
    """A checkpoint of ``header`` and ``data``, with rnnkit's checksum recomputed over them (a forgery)."""
    header = json.loads(json.dumps(header))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if sign and isinstance(meta, dict):
        meta.pop("rnnkit_sha256", None)
        meta["rnnkit_sha256"] = _digest(header, data)
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + data


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A whole model (compiled, trained one step: optimizer state too) and a weights file, as bytes."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    model = Sequential([Embedding(20, 4), LSTM(3), Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(torch.randint(1, 20, (4, 5)), torch.randint(0, 2, (4,)), epochs=1, batch_size=4, verbose=0)
    model.save(folder / "model.safetensors")
    model.save_weights(folder / "weights.safetensors")
    return {name: (folder / f"{name}.safetensors").read_bytes() for name in ("model", "weights")}


def forged(rnd, raw: bytes) -> bytes:
    """``raw`` with one edit of its header, or of the rnnkit metadata inside it, signed again."""
    header, data = split(raw)
    r = rnd.random()
    if r < 0.35:  # the rnnkit metadata: the model's config, compile settings, optimizer and training state
        meta = json.loads(header["__metadata__"]["rnnkit"])
        header["__metadata__"]["rnnkit"] = json.dumps(replace_in(rnd, meta))
    elif r < 0.7:  # a tensor's dtype, shape or offsets, or the metadata's entries
        header = replace_in(rnd, header, lambda rnd: rnd.choice(
            [json_value(rnd), rnd.choice(["F16", "BF16", "F64", "I8", "U8", "BOOL", "I64", "X9"]),
             [rnd.choice(BOUNDARY)], [rnd.randint(-2, 40) for _ in range(rnd.randint(0, 3))], [0, rnd.choice(BOUNDARY)]]))
    elif r < 0.8:  # a tensor's data section cut or grown, the offsets kept
        data = data[:rnd.randrange(len(data))] if rnd.random() < 0.5 else data + rnd.randbytes(rnd.randint(1, 64))
    elif r < 0.9:  # the tensors renamed or dropped
        names = [k for k in header if k != "__metadata__"]
        name = rnd.choice(names)
        entry = header.pop(name)
        if rnd.random() < 0.5:
            header[rnd.choice([name + "x", "model/" + name, name.replace("model/", "optimizer/9/"), "rng/torch",
                               "optimizer/0/" + "step", "optimizer/x/y"])] = entry
    else:  # a JSON bomb in the metadata
        header["__metadata__"]["rnnkit"] = rnd.choice([deep_json(100_000), '{"a": ' + deep_json(5000) + "}",
                                                       json.dumps({"format": "rnnkit.model", "x": "y" * 100_000})])
    return signed(header, data, sign=rnd.random() < 0.95)


@pytest.fixture(scope="module")
def target():
    """A compiled model of the files' architecture, to load weights and training state into."""
    model = Sequential([Embedding(20, 4), LSTM(3), Dense(2)])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model(torch.randint(1, 20, (1, 3)))
    model.optimizer = model._build_optimizer()
    return model


def _load_all(path, target, case):
    """load_file, load_model, load_weights and resume's restore on ``path``; a loaded model must compute."""
    hostile(load_file, path, name=path.name, case=case)
    model = hostile(load_model, path, name=path.name, case=case)
    if not isinstance(model, RnnkitError):
        out = hostile(model, torch.randint(1, 20, (2, 5)), case=case)
        assert isinstance(out, RnnkitError) or out.shape[0] == 2
    hostile(target.load_weights, path, name=path.name, case=case)
    hostile(restore_training_state, target, path, name=path.name, case=case)


@cases(250, 5000)
def test_checkpoints_forged_mutated_or_random(files, target, scratch, count):
    path = scratch / "ckpt.safetensors"
    rng = get_rng_state()  # a forged training state sets the random generators: put them back after
    try:
        run_cases(count, lambda rnd: _cases(files, target, path, rnd))
    finally:
        set_rng_state(rng)


def _cases(files, target, path, rnd):
    for _ in range(BATCH):
        raw = files[rnd.choice(["model", "model", "weights"])]
        r = rnd.random()
        if r < 0.6:
            raw = forged(rnd, raw)
        elif r < 0.85:
            raw = mutate(rnd, raw)
        elif r < 0.95:  # the header length: boundary values, 100 MiB (the limit) and past it
            raw = struct.pack("<Q", rnd.choice(BOUNDARY + (100 << 20, (100 << 20) + 1, len(raw) - 8))) + raw[8:]
        else:
            raw = rnd.randbytes(rnd.randint(0, 64))
        path.write_bytes(raw)
        _load_all(path, target, raw)


@pytest.mark.parametrize("claim", ["header", "tensor", "config"])
def test_checkpoint_claims_cost_no_memory(files, tmp_path, claim):
    """A header length of 2^63, a tensor of 10^12 float64 elements, a config of a 40-GB Dense layer: each is
    refused fast, with less than 50 MB of memory."""
    header, data = split(files["model"])
    if claim == "header":
        raw = struct.pack("<Q", (1 << 63) - 1) + files["model"][8:]
    elif claim == "tensor":
        name = next(k for k in header if k.startswith("model/"))
        header[name].update(dtype="F64", shape=[10**6, 10**6])
        raw = signed(header, data)
    else:
        meta = json.loads(header["__metadata__"]["rnnkit"])
        dense = meta["config"]["layers"][-1]["config"]
        dense.update(units=100_000, input_size=100_000)
        header["__metadata__"]["rnnkit"] = json.dumps(meta)
        raw = signed(header, data)
    path = tmp_path / "claim.safetensors"
    path.write_bytes(raw)
    cheaply(lambda: load_model(path), refused=path.name)
