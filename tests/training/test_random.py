"""set_seed reproducibility and the RNG state round trip (also through safetensors + JSON)."""
import json
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rnnkit.errors import ConfigError
from rnnkit.random import get_rng_state, set_rng_state, set_seed


def _draw():
    """A small computation touching every global generator."""
    x = torch.nn.functional.dropout(torch.ones(20), p=0.5, training=True)
    return x, torch.randn(4), np.random.rand(3), np.random.normal(size=2), random.random(), random.gauss(0, 1)


def _same(a, b):
    return all(
        torch.equal(x, y) if isinstance(x, torch.Tensor) else np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for x, y in zip(a, b)
    )


def test_set_seed_makes_runs_identical():
    assert set_seed(123) is None
    first = _draw()
    set_seed(123)
    assert _same(first, _draw())
    set_seed(124)
    assert not any(_same((x,), (y,)) for x, y in zip(first, _draw()))


def test_set_seed_reproduces_a_tiny_training_step():
    def train():
        set_seed(5)
        layer = torch.nn.LSTM(3, 4, batch_first=True)
        opt = torch.optim.SGD(layer.parameters(), lr=0.1)
        out, _ = layer(torch.randn(2, 5, 3))
        out.square().mean().backward()
        opt.step()
        return torch.cat([p.detach().flatten() for p in layer.parameters()])

    assert torch.equal(train(), train())


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True, "1"])
def test_bad_seed(seed):
    with pytest.raises(ConfigError, match=r"set_seed: `seed` must be an integer in \[0, 4294967295\]"):
        set_seed(seed)


def test_state_round_trip_in_memory():
    set_seed(9)
    _draw()  # move every generator, including numpy's cached gaussian
    state = get_rng_state()
    first = _draw()
    set_rng_state(state)
    assert _same(first, _draw())


def test_state_round_trip_through_safetensors_and_json(tmp_path):
    set_seed(11)
    random.gauss(0, 1)  # leaves a cached gauss_next in Python's generator
    state = get_rng_state()
    assert state["python"]["gauss_next"] is not None
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    meta = {k: v for k, v in state.items() if not isinstance(v, torch.Tensor)}
    assert set(meta) == {"python", "numpy"} and "torch" in tensors
    save_file(tensors, str(tmp_path / "rng.safetensors"), metadata={"rng": json.dumps(meta)})
    first = _draw()

    set_seed(0)  # scramble
    loaded = {**load_file(str(tmp_path / "rng.safetensors")), **json.loads(json.dumps(meta))}
    set_rng_state(loaded)
    assert _same(first, _draw())


def test_bad_state_is_refused_and_changes_nothing():
    set_seed(3)
    state = get_rng_state()
    with pytest.raises(ConfigError, match="unknown key.*'jax'"):
        set_rng_state({**state, "jax": 1})
    bad = {**state, "torch": state["torch"].to(torch.int64)}
    with pytest.raises(ConfigError, match="`torch` must be a 1-D uint8 tensor.*int64"):
        set_rng_state(bad)
    with pytest.raises(ConfigError, match="`python` must be"):
        set_rng_state({"python": {"state": []}})
    with pytest.raises(ConfigError, match="expected the dict"):
        set_rng_state([1, 2])
    after = _draw()
    set_rng_state(state)
    assert _same(after, _draw())  # the refused calls left the generators where they were
