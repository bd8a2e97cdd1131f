"""Recurrent layers' API: argument checks, shapes, configs, masks across layers, Bidirectional."""
import json

import pytest
import torch

from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell
from rnnkit.errors import ConfigError, NotBuiltError, RnnkitError, ShapeError
from rnnkit.layers import GRU, LSTM, RNN, Bidirectional, Embedding, SimpleRNN, deserialize, serialize


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: LSTM(0), r"LSTM: `units` must be a positive integer, got 0"),
        (lambda: LSTM(-3), r"`units` must be a positive integer, got -3"),
        (lambda: LSTM(2.5), r"`units` must be a positive integer, got 2.5 \(float\)"),
        (lambda: GRU(4, dropout=1.0), r"GRU: `dropout` must be a float in \[0, 1\), got 1.0"),
        (lambda: SimpleRNN(4, recurrent_dropout=-0.1), r"`recurrent_dropout` must be a float in \[0, 1\)"),
        (lambda: SimpleRNN(4, activation="tanhh"), r"unknown activation 'tanhh'; expected one of"),
        (lambda: LSTM(4, kernel_initializer="glorot"), r"unknown initializer 'glorot'"),
        (lambda: LSTM(4, return_sequences="yes"), r"LSTM: `return_sequences` must be True or False, got 'yes'"),
        (lambda: LSTM(4, use_fused="always"), r"`use_fused` must be one of 'auto', True, False, 'reference', got 'always'"),
        (lambda: LSTM(4, reset_after=True), r"LSTM: got an unexpected keyword argument 'reset_after'"),
        (lambda: RNN([]), r"RNN: expected a cell or a non-empty list of cells"),
        (lambda: RNN(torch.nn.Linear(2, 2)), r"RNN: expected cells with forward\(x_t, state\) and state_size, got Linear"),
        (lambda: Bidirectional(torch.nn.LSTM(2, 2)), r"Bidirectional: expected a recurrent layer"),
        (lambda: Bidirectional(LSTM(2), merge_mode="max"), r"`merge_mode` must be one of 'concat', 'sum', 'mul', 'ave', None"),
    ],
)
def test_bad_arguments_raise_config_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()


def test_bad_inputs_raise_shape_errors():
    layer = LSTM(4)
    with pytest.raises(ShapeError, match=r"LSTM: expected input of 3 dims \(batch, time, features\), got 2 dims with shape \(5, 3\)"):
        layer(torch.zeros(5, 3))
    with pytest.raises(ShapeError, match="expected a floating-point input, got dtype torch.int64"):
        layer(torch.zeros(2, 5, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match="at least one time step"):
        layer(torch.zeros(2, 0, 3))
    with pytest.raises(ShapeError, match=r"expected input as a torch.Tensor or NumPy array, got list"):
        layer([[[1.0]]])
    layer(torch.zeros(2, 5, 3))
    with pytest.raises(ShapeError, match=r"LSTM: built for input_size=3, got inputs with 7 features \(shape \(2, 5, 7\)\)"):
        LSTM(4, input_size=3)(torch.zeros(2, 5, 7))
    with pytest.raises(ShapeError, match="LSTM: built for input_size=3, got inputs with 4 features"):
        layer(torch.zeros(2, 5, 4))
    with pytest.raises(ShapeError, match=r"GRUCell: built for input_size=2, got inputs with 5 features \(shape \(1, 5\)\)"):
        GRUCell(3, input_size=2)(torch.zeros(1, 5))
    with pytest.raises(ShapeError, match=r"expected a mask of shape \(batch, time\) = \(2, 5\) for input of shape \(2, 5, \d+\), got mask shape \(2, 4\)"):
        layer(torch.zeros(2, 5, 3), mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ShapeError, match=r"`initial_state` needs 2 tensor\(s\) of sizes \(4, 4\), got 1"):
        layer(torch.zeros(2, 5, 3), initial_state=torch.zeros(2, 4))
    with pytest.raises(ShapeError, match=r"`initial_state`\[1\] expected shape \(2, 4\), got \(3, 4\)"):
        layer(torch.zeros(2, 5, 3), initial_state=[torch.zeros(2, 4), torch.zeros(3, 4)])
    with pytest.raises(ShapeError, match=r"LSTMCell: expected input of 2 dims \(batch, features\)"):
        LSTMCell(3)(torch.zeros(1, 2, 3))
    with pytest.raises(ShapeError, match=r"LSTMCell: expected a state of 2 tensor\(s\)"):
        LSTMCell(3, input_size=2)(torch.zeros(1, 2), (torch.zeros(1, 3),))
    assert issubclass(ShapeError, RnnkitError) and issubclass(ShapeError, ValueError)


def test_stateful_errors_and_weights_before_build():
    with pytest.raises(ConfigError, match="reset_states\\(\\) is for layers created with stateful=True"):
        LSTM(3).reset_states()
    layer = GRU(3, stateful=True)
    layer(torch.zeros(4, 2, 5))
    with pytest.raises(ShapeError, match="holds states for batch size 4, got a batch of 2; keep the batch size fixed or call reset_states"):
        layer(torch.zeros(2, 2, 5))
    layer.reset_states()
    assert layer(torch.zeros(2, 2, 5)).shape == (2, 3)
    with pytest.raises(NotBuiltError, match="pass `input_size=`"):
        LSTM(3).get_weights()


def test_lazy_build_infers_input_size_and_dtype():
    layer = LSTM(4)
    assert not layer.built and list(layer.parameters()) == []
    layer(torch.zeros(2, 3, 6, dtype=torch.float64))
    assert layer.built and layer.cell.input_size == 6
    assert layer.cell.weight_ih.shape == (16, 6) and layer.cell.weight_ih.dtype == torch.float64
    assert LSTM(4, input_size=6).cell.weight_hh.shape == (16, 4)


def test_unit_forget_bias_and_initializers():
    torch.manual_seed(0)
    layer = LSTM(5, input_size=3)
    b = layer.cell.bias_ih.detach()
    assert torch.equal(b[5:10], torch.ones(5)) and torch.equal(b[:5], torch.zeros(5))
    w = layer.cell.weight_hh.detach()  # orthogonal (20, 5): orthonormal columns
    torch.testing.assert_close(w.T @ w, torch.eye(5), atol=1e-5, rtol=0)
    limit = (6 / (3 + 20)) ** 0.5  # glorot_uniform with Keras' fans of the (3, 20) kernel
    assert layer.cell.weight_ih.abs().max() <= limit
    assert LSTM(5, input_size=3, unit_forget_bias=False).cell.bias_ih.abs().sum() == 0


@pytest.mark.parametrize(
    "layer",
    [
        lambda: LSTM(4, activation="relu", return_sequences=True, go_backwards=True, dropout=0.1, unit_forget_bias=False),
        lambda: GRU(3, reset_after=False, return_state=True, recurrent_initializer="glorot_normal"),
        lambda: SimpleRNN(2, activation="sigmoid", use_bias=False, stateful=True, zero_output_for_mask=True),
        lambda: RNN([LSTMCell(4), GRUCell(3), SimpleRNNCell(2)], return_sequences=True),
        lambda: Bidirectional(GRU(3, return_sequences=True), merge_mode="ave"),
        lambda: Bidirectional(LSTM(3), merge_mode=None),
    ],
)
def test_config_round_trip_gives_same_function(layer):
    torch.manual_seed(0)
    original = layer()
    x = torch.randn(2, 5, 3)
    original.eval()
    expected = original(x)
    config = json.loads(json.dumps(serialize(original)))
    rebuilt = deserialize(config)
    rebuilt.eval()
    rebuilt(x)  # build
    rebuilt.load_state_dict(original.state_dict())
    if getattr(original, "stateful", False):
        rebuilt.reset_states()
        original.reset_states()
        expected = original(x)
    got = rebuilt(x)
    flat = lambda v: list(v) if isinstance(v, (list, tuple)) else [v]  # noqa: E731
    for a, b in zip(flat(got), flat(expected)):
        torch.testing.assert_close(a, b)
    assert serialize(rebuilt)["config"] == config["config"]


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
@pytest.mark.parametrize("cls", [LSTM, GRU, SimpleRNN])
def test_bidirectional_padded_batch_equals_each_sequence_alone(cls, merge_mode):
    torch.manual_seed(0)
    bi = Bidirectional(cls(4, return_sequences=True, return_state=True), merge_mode=merge_mode)
    lengths = [6, 3, 1]
    x = torch.randn(3, 6, 2)
    mask = torch.arange(6)[None] < torch.tensor(lengths)[:, None]
    out, *states = bi(x, mask=mask)
    n = len(bi.forward_layer.state_size)
    for b, length in enumerate(lengths):
        alone, *alone_states = bi(x[b : b + 1, :length])
        torch.testing.assert_close(out[b, :length], alone[0], atol=1e-6, rtol=1e-5)
        for s, a in zip(states, alone_states):
            torch.testing.assert_close(s[b], a[0], atol=1e-6, rtol=1e-5)
    # the backward direction's output at step 0 is its final state (it ends there)
    if merge_mode == "concat":
        torch.testing.assert_close(out[:, 0, 4:], states[n])


def test_bidirectional_initial_state_and_return_state_order():
    bi = Bidirectional(LSTM(3, return_state=True))
    x = torch.randn(2, 4, 5)
    h = [torch.randn(2, 3) for _ in range(4)]
    out, hf, cf, hb, cb = bi(x, initial_state=h)
    fw_alone = bi.forward_layer(x, initial_state=h[:2])
    torch.testing.assert_close(hf, fw_alone[1])
    torch.testing.assert_close(out[:, :3], fw_alone[0])
    with pytest.raises(ConfigError, match="needs 4 tensors"):
        bi(x, initial_state=h[:2])


def test_embedding_mask_flows_into_lstm_and_out_of_return_sequences():
    torch.manual_seed(0)
    emb = Embedding(20, 5, mask_zero=True)
    lstm = LSTM(3, return_sequences=True)
    tokens = torch.tensor([[4, 7, 9, 0, 0], [3, 0, 0, 0, 0]])
    mask = emb.compute_mask(tokens)
    out = lstm(emb(tokens), mask=mask)
    assert lstm.compute_mask(out, mask) is mask
    assert LSTM(3).compute_mask(out, mask) is None
    alone = lstm(emb(tokens[:1, :3]))
    torch.testing.assert_close(out[0, :3], alone[0])
    torch.testing.assert_close(out[0, 3], out[0, 2])  # Keras: masked steps repeat the last output


def test_stacked_cells_equal_layers_in_a_row():
    torch.manual_seed(0)
    stacked = RNN([LSTMCell(4, input_size=3), GRUCell(2, input_size=4)], return_sequences=True, return_state=True)
    first = RNN(stacked.cells[0], return_sequences=True, return_state=True)
    second = RNN(stacked.cells[1], return_sequences=True, return_state=True)
    x = torch.randn(2, 5, 3)
    out, h1, c1, h2 = stacked(x)
    mid, h1_ref, c1_ref = first(x)
    out_ref, h2_ref = second(mid)
    for a, b in [(out, out_ref), (h1, h1_ref), (c1, c1_ref), (h2, h2_ref)]:
        torch.testing.assert_close(a, b)
    assert stacked.state_size == (4, 4, 2)


def test_custom_cell_runs_on_the_reference_path():
    class Accumulator(torch.nn.Module):
        """h_t = h_{t-1} + x_t (a running sum), written as a user would."""

        state_size = (2,)
        output_size = 2

        def forward(self, x_t, state):
            (h,) = state
            return h + x_t, (h + x_t,)

    layer = RNN(Accumulator(), return_sequences=True)
    x = torch.randn(3, 4, 2)
    torch.testing.assert_close(layer(x), x.cumsum(1))
    assert layer.last_path == "reference"
    assert layer.last_path_reason == "Accumulator is not a built-in cell"
    with pytest.raises(ConfigError, match="use_fused=True, but the fused kernel cannot run it: Accumulator is not a built-in cell"):
        RNN(Accumulator(), use_fused=True)(x)


def test_fast_path_blocker_explains_why_not_fused():
    import rnnkit._kernels as kernels

    not_fused = "compiled" if kernels.load_rnn_loop() is not None else "reference"
    layer = LSTM(3, recurrent_dropout=0.2, input_size=2)
    assert layer.fast_path_blocker() == "recurrent_dropout > 0 while training"
    layer.eval()
    assert layer.fast_path_blocker() is None
    layer(torch.randn(1, 3, 2))
    assert layer.last_path == "fused"
    layer.train()
    layer(torch.randn(1, 3, 2))
    assert layer.last_path == not_fused
    holes = torch.tensor([[True, False, True]])
    layer.eval()
    layer(torch.randn(1, 3, 2), mask=holes)
    assert layer.last_path == not_fused
    assert layer.last_path_reason.startswith("a mask whose valid steps are not contiguous")
    assert LSTM(3, use_fused=False).fast_path_blocker() == "use_fused=False"
    assert LSTM(3, use_fused="reference").fast_path_blocker() == "use_fused='reference'"


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: Bidirectional(LSTM(3, return_sequences=True)), (2, 4, 5)),
        (lambda: RNN([GRUCell(3), SimpleRNNCell(2)]), (2, 4, 5)),
        (lambda: __import__("rnnkit").layers.MinGRU(3), (2, 4, 5)),
        (lambda: __import__("rnnkit").layers.Dense(3), (2, 5)),
        (lambda: __import__("rnnkit").layers.Conv1D(3, 2), (2, 6, 5)),
        (lambda: __import__("rnnkit").layers.LayerNormalization(), (2, 4, 5)),
    ],
)
def test_load_state_dict_builds_a_lazy_layer(make, shape):
    torch.manual_seed(0)
    trained = make()
    x = torch.randn(*shape, dtype=torch.float64)
    trained.double()(x)
    for p in trained.parameters():
        p.data.uniform_(-1, 1)
    fresh = make()
    assert not fresh.built and list(fresh.parameters()) == []
    fresh.load_state_dict(trained.state_dict())
    assert all(p.dtype == torch.float64 for p in fresh.parameters())
    torch.testing.assert_close(fresh(x), trained(x))


# ----------------------------------------------------------------------------- which path 'auto' takes
def test_auto_path_choice_and_its_reason():
    """use_fused='auto' on the CPU: the compiled loop for GRU and SimpleRNN where it is built, the fused
    kernel for LSTM, for one step and under a bfloat16 autocast; last_path_reason says why."""
    import warnings

    import rnnkit._kernels as kernels

    compiled = kernels.load_rnn_loop() is not None
    x = torch.randn(3, 5, 4)
    for cls in (GRU, SimpleRNN):
        layer = cls(6)
        layer(x)
        if compiled:
            assert layer.last_path == "compiled"
            assert "use_fused='auto'" in layer.last_path_reason and "faster" in layer.last_path_reason
            assert layer.fast_path_blocker() is None  # the fused kernel could have run it
        else:
            assert (layer.last_path, layer.last_path_reason) == ("fused", None)
        layer(x[:, :1])  # one step: the fused cell op
        assert (layer.last_path, layer.last_path_reason) == ("fused", None)
        with torch.autocast("cpu", dtype=torch.bfloat16), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # CPUs without native bf16 say so
            layer(x)
        assert layer.last_path == "fused"
    lstm = LSTM(6)
    lstm(x)
    assert (lstm.last_path, lstm.last_path_reason) == ("fused", None)
    forced = GRU(6, use_fused=False)
    forced(x)
    assert (forced.last_path, forced.last_path_reason) == ("compiled" if compiled else "reference",
                                                           "use_fused=False" + ("" if compiled else f"; the compiled loop is not built here ({kernels.rnn_loop_unavailable_reason()})"))
    dropped = LSTM(6, recurrent_dropout=0.5).train()
    dropped(x)
    assert dropped.last_path == ("compiled" if compiled else "reference") and "recurrent_dropout" in dropped.last_path_reason
    reference = LSTM(6, use_fused="reference")
    reference(x)
    assert (reference.last_path, reference.last_path_reason) == ("reference", "use_fused='reference'")
    assert LSTM.from_config(reference.get_config()).use_fused == "reference"
