"""The state-carrying protocol (rnnkit.protocols) against torch.nn, and fit(tbptt_steps=) finding carriers by duck typing."""
import contextlib

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, Bidirectional, Dense, MinGRU, to_torch
from rnnkit.models import Model, Sequential
from rnnkit.protocols import CarriesState, state_carriers


def test_carry_states_chains_chunks_like_one_torch_call_and_restores_the_layer():
    rnnkit.set_seed(0)
    layer = LSTM(4, return_sequences=True, input_size=3)
    reference = to_torch(layer)
    x = torch.randn(2, 9, 3)
    with torch.no_grad():
        expect, (h, c) = reference(x)
        with layer.carry_states():
            chunks = [layer(x[:, s : s + 4]) for s in range(0, 9, 4)]
            carried = layer.states
    torch.testing.assert_close(torch.cat(chunks, dim=1), expect)
    torch.testing.assert_close(carried[0], h[0])
    torch.testing.assert_close(carried[1], c[0])
    assert layer.stateful is False and layer.states is None  # as it was


def test_carry_states_keeps_a_stateful_layers_own_state():
    layer = GRU(3, stateful=True, input_size=2)
    x = torch.randn(2, 5, 2)
    layer(x)
    before = layer.states
    with layer.carry_states():
        layer(x)
    assert layer.stateful is True and layer.states is not None
    assert not torch.equal(layer.states[0], before[0])


def test_detach_states_cuts_the_graph():
    layer = MinGRU(3, input_size=2)
    with layer.carry_states():
        layer._states = (torch.ones(2, 3, requires_grad=True) * 2,)  # a state still in a graph
        assert layer.states[0].grad_fn is not None
        layer.detach_states()
        assert layer.states[0].grad_fn is None and not layer.states[0].requires_grad


def test_protocol_is_found_by_duck_typing_and_bidirectional_refuses():
    assert isinstance(LSTM(2), CarriesState) and isinstance(MinGRU(2), CarriesState)
    assert not isinstance(Dense(2), CarriesState)
    bi = Bidirectional(LSTM(2))
    model = Sequential([bi, Dense(1)])
    assert list(state_carriers(model)) == [bi]  # it speaks for its two directions
    with pytest.raises(ConfigError, match="backward pass needs the whole sequence"):
        bi.carry_states()


class _CountingCarrier(torch.nn.Module):
    """A layer of the user's own that takes part in truncated BPTT through the protocol alone."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(2, 1)
        self.log = []
        self._carrying = False

    @contextlib.contextmanager
    def carry_states(self):
        self.log.append("enter")
        yield self
        self.log.append("exit")

    def detach_states(self):
        self.log.append("detach")

    def reset_states(self, states=None):
        self.log.append("reset")

    def forward(self, x):
        return self.proj(x)


class _Net(Model):
    def __init__(self):
        super().__init__()
        self.body = _CountingCarrier()

    def forward(self, x):
        return self.body(x)


def test_fit_tbptt_uses_any_layer_with_the_protocol():
    model = _Net()
    model.compile(optimizer="sgd", loss="mse", device="cpu")
    x, y = np.zeros((4, 7, 2), np.float32), np.zeros((4, 7, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, tbptt_steps=3)
    # one batch of 7 steps: chunks of 3, 3, 1, each followed by a detach
    assert model.body.log == ["enter", "detach", "detach", "detach", "exit"]
