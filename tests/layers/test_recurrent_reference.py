"""rnnkit's recurrent layers against the independent NumPy reference, in float64, on every path.

The reference (forward loop with Keras' mask rule and hand-written BPTT, itself
checked against finite differences) lives in
``tests/cells/test_numpy_reference.py`` and is loaded here by path.  Every test
compares rnnkit with that reference (outputs, final states and the gradients of
``L = sum(result * R) + sum_k sum(final_k * S_k)`` with respect to the weights,
the input and the initial state); path-vs-path or layer-vs-layer comparisons
only come on top of that.  The three paths — ``fused`` (PyTorch's kernel),
``compiled`` (the C loop) and ``reference`` (autograd over the cell's own
``recurrence``) — each meet the NumPy reference on their own.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit._kernels as kernels
from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell
from rnnkit.errors import ConfigError
from rnnkit.layers import GRU, LSTM, RNN, SimpleRNN

from kernel_support import require_kernel


def _load_reference():
    name = "_rnnkit_numpy_reference"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "cells" / "test_numpy_reference.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


ref = _load_reference()
Spec = ref.Spec


TOL = 1e-10
B, T, F, U = 4, 6, 3, 5

# (B, T) masks, True = a real step
MASKS = {
    "right": np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5, [1] * 3 + [0] * 3], dtype=bool),
    "left": np.array([[1] * 6, [0] * 4 + [1] * 2, [0] + [1] * 5, [0] * 5 + [1]], dtype=bool),
    "empty-row": np.array([[1] * 6, [0] * 6, [1] * 3 + [0] * 3, [1] * 5 + [0]], dtype=bool),
    "middle": np.array([[0, 1, 1, 1, 0, 0], [1] * 6, [0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 1]], dtype=bool),
    "non-contiguous": np.array([[1, 1, 0, 1, 1, 0], [1] * 6, [0, 1, 0, 1, 0, 0], [0] * 6], dtype=bool),
}
CONTIGUOUS = ("right", "left", "empty-row", "middle")

DEFAULT_SPECS = [Spec("simple", U), Spec("lstm", U), Spec("gru", U)]


# ----------------------------------------------------------------------------- helpers
# The implementations a layer can run on:
#   fused     - PyTorch's fused kernel (use_fused=True)
#   compiled  - the compiled C loop, rnn_loop.c (use_fused=False where it is built; the
#               tests of this impl need the kernel: skipped without a C compiler, failed
#               when one exists and the kernel does not build)
#   reference - autograd over the cell's own annotated recurrence (use_fused='reference'),
#               what runs wherever no kernel applies
#   subclass  - trivial subclasses of the built-in cells under use_fused='auto': a cell that
#               is not exactly a built-in one may change the maths, so it gets the
#               reference path too
IMPLS = ["fused", "compiled", "reference", "subclass"]
EXPECTED_PATH = {"fused": "fused", "compiled": "compiled", "reference": "reference", "subclass": "reference"}


def fallback_path() -> str:
    """Where use_fused='auto' goes when the fused kernel cannot run a built-in cell whose
    activations the C loop knows: the compiled loop where it is built, else the reference."""
    return "compiled" if kernels.load_rnn_loop() is not None else "reference"


def auto_path(spec: Spec) -> str:
    """The path use_fused='auto' takes where the fused kernel could run: the compiled loop for
    SimpleRNN and GRU where it is built (faster on both CPU kinds), the fused kernel for LSTM."""
    if spec.kind in ("simple", "gru") and kernels.load_rnn_loop() is not None:
        return "compiled"
    return "fused"


@pytest.fixture(autouse=True)
def _compiled_impl_needs_the_kernel(request):
    """Tests parametrized with impl='compiled' need the C loop kernel (see kernel_support)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("impl") == "compiled":
        require_kernel("rnn_loop")


_LAYER_KW = ("use_fused", "return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask")


class _LoopSimpleRNNCell(SimpleRNNCell):
    pass


class _LoopLSTMCell(LSTMCell):
    pass


class _LoopGRUCell(GRUCell):
    pass


def make_layer(spec: Spec, p: dict, *, impl: str = "auto", use_bias: bool = True, input_size: int = F, **kw):
    """A float64 layer on implementation ``impl`` (see IMPLS, or 'auto') holding the weights ``p``."""
    layer_kw = {k: kw.pop(k) for k in _LAYER_KW if k in kw}
    cell_kw = dict(input_size=input_size, use_bias=use_bias, activation=spec.activation, **kw)
    if spec.kind != "simple":
        cell_kw["recurrent_activation"] = spec.recurrent_activation
    if spec.kind == "gru":
        cell_kw["reset_after"] = spec.reset_after
    if impl == "subclass":
        cls = {"simple": _LoopSimpleRNNCell, "lstm": _LoopLSTMCell, "gru": _LoopGRUCell}[spec.kind]
        layer = RNN(cls(spec.units, **cell_kw), **layer_kw)
    else:
        if impl != "auto":
            layer_kw["use_fused"] = {"fused": True, "compiled": False, "reference": "reference"}[impl]
        cls = {"simple": SimpleRNN, "lstm": LSTM, "gru": GRU}[spec.kind]
        layer = cls(spec.units, **cell_kw, **layer_kw)
    layer = layer.double()
    ref.load_params(layer.cell, p, use_bias)
    return layer


def grad_tol(spec: Spec) -> float:
    return max(TOL, ref.grad_tol(spec))


def close(actual: torch.Tensor, expected, what: str, tol: float = TOL) -> None:
    assert actual.dtype == torch.float64, what
    np.testing.assert_allclose(actual.detach().numpy(), expected, rtol=tol, atol=tol, err_msg=what)


class Case:
    """Random inputs, states and loss weights for one comparison."""

    def __init__(self, spec: Spec, *, seed: int = 0, batch: int = B, steps: int = T, features: int = F,
                 use_bias: bool = True, with_state: bool = False, scale: float = 0.5):
        rng = np.random.default_rng(seed)
        self.spec = spec
        self.p = ref.random_params(spec, features, rng, use_bias=use_bias, scale=scale)
        self.x = rng.normal(size=(batch, steps, features))
        self.s0 = tuple(rng.normal(size=(batch, spec.units)) for _ in range(spec.n_states)) if with_state else None
        self.R_seq = rng.normal(size=(batch, steps, spec.units))
        self.R_last = rng.normal(size=(batch, spec.units))
        self.S = [rng.normal(size=(batch, spec.units)) for _ in range(spec.n_states)]

    def reference(self, *, mask=None, go_backwards=False, return_sequences=True, zero_output_for_mask=False,
                  rmask=None):
        """Reference result, final state and gradients (x and state0 grads in the caller's time order)."""
        x, m = self.x, mask
        if go_backwards:
            x = x[:, ::-1]
            m = None if mask is None else mask[:, ::-1]
        fwd = ref.run(self.spec, self.p, x, self.s0, m, zero_output_for_mask, rmask)
        if return_sequences:
            result, d_out, d_last = fwd["outputs"], self.R_seq, None
        else:
            result, d_out, d_last = fwd["last"], None, self.R_last
        grads, dx, ds0 = ref.run_backward(self.spec, self.p, fwd, d_out, d_last, self.S)
        if go_backwards:
            dx = dx[:, ::-1]
        return result, fwd["final"], grads, dx, ds0

    def torch_run(self, layer, *, mask=None, return_sequences=True):
        """Call ``layer`` (return_state=True) and backprop the same loss; returns (result, finals, x, s0)."""
        tx = torch.tensor(self.x, requires_grad=True)
        ts0 = None if self.s0 is None else [torch.tensor(s, requires_grad=True) for s in self.s0]
        tmask = None if mask is None else torch.from_numpy(mask)
        result, *finals = layer(tx, mask=tmask, initial_state=ts0)
        R = self.R_seq if return_sequences else self.R_last
        loss = (result * torch.from_numpy(R)).sum()
        loss = loss + sum((f * torch.from_numpy(s)).sum() for f, s in zip(finals, self.S))
        loss.backward()
        return result, finals, tx, ts0

    def check(self, layer, *, mask=None, go_backwards=False, return_sequences=True, zero_output_for_mask=False,
              use_bias=True, rmask=None, where=""):
        exp, exp_final, grads, dx, ds0 = self.reference(
            mask=mask, go_backwards=go_backwards, return_sequences=return_sequences,
            zero_output_for_mask=zero_output_for_mask, rmask=rmask,
        )
        result, finals, tx, ts0 = self.torch_run(layer, mask=mask, return_sequences=return_sequences)
        tol = grad_tol(self.spec)
        close(result, exp, f"{where}output")
        assert len(finals) == self.spec.n_states
        for i, (f, e) in enumerate(zip(finals, exp_final)):
            close(f, e, f"{where}final state {i}")
        ref.check_param_grads(layer.cell, grads, use_bias, tol=tol, where=where)
        close(tx.grad, dx, f"{where}dL/dx", tol)
        if ts0 is not None:
            for i, (t_, e) in enumerate(zip(ts0, ds0)):
                close(t_.grad, e, f"{where}dL/dstate0[{i}]", tol)


# ----------------------------------------------------------------------------- plain sequences
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["fwd", "bwd"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_layer_matches_reference(spec, use_bias, return_sequences, go_backwards, impl):
    case = Case(spec, seed=10, use_bias=use_bias)
    layer = make_layer(spec, case.p, impl=impl, use_bias=use_bias, return_sequences=return_sequences,
                       return_state=True, go_backwards=go_backwards)
    case.check(layer, go_backwards=go_backwards, return_sequences=return_sequences, use_bias=use_bias)
    assert layer.last_path == EXPECTED_PATH[impl]


@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_return_state_false_returns_the_tensor_only(spec):
    case = Case(spec, seed=11)
    layer = make_layer(spec, case.p, return_sequences=False)
    out = layer(torch.from_numpy(case.x))
    assert isinstance(out, torch.Tensor)
    close(out, case.reference(return_sequences=False)[0], "output")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_initial_state_and_its_gradient(spec, impl):
    case = Case(spec, seed=12, with_state=True)
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True)
    case.check(layer)
    assert layer.last_path == EXPECTED_PATH[impl]
    if spec.n_states == 1:  # a bare tensor is accepted for a one-tensor state
        out = layer(torch.from_numpy(case.x), initial_state=torch.from_numpy(case.s0[0]))[0]
        close(out, case.reference()[0], "output (bare-tensor initial_state)")


# ----------------------------------------------------------------------------- masks
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("zofm", [False, True], ids=["repeat", "zeros"])
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("mask_kind", list(MASKS))
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_masked_layer_matches_reference(spec, mask_kind, return_sequences, zofm, impl):
    mask = MASKS[mask_kind]
    case = Case(spec, seed=13, with_state=True)
    kw = dict(return_sequences=return_sequences, return_state=True, zero_output_for_mask=zofm)
    expected_path = EXPECTED_PATH[impl]
    if mask_kind == "non-contiguous" and impl == "fused":
        layer = make_layer(spec, case.p, impl="fused", **kw)
        with pytest.raises(ConfigError, match="contiguous"):
            layer(torch.from_numpy(case.x), mask=torch.from_numpy(mask))
        impl, expected_path = "auto", fallback_path()  # 'auto' falls back to the compiled loop
    layer = make_layer(spec, case.p, impl=impl, **kw)
    case.check(layer, mask=mask, return_sequences=return_sequences, zero_output_for_mask=zofm)
    assert layer.last_path == expected_path


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("mask_kind", ["right", "empty-row", "middle"])
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_masked_go_backwards_matches_reference(spec, mask_kind, impl):
    case = Case(spec, seed=14, with_state=True)
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True, go_backwards=True)
    case.check(layer, mask=MASKS[mask_kind], go_backwards=True)
    assert layer.last_path == EXPECTED_PATH[impl]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_all_true_mask_equals_no_mask_and_fully_masked_batch_keeps_state(spec, impl):
    case = Case(spec, seed=15, with_state=True)
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True)
    case.check(layer, mask=np.ones((B, T), dtype=bool), where="all-true: ")
    for zofm in (False, True):
        layer.zero_output_for_mask = zofm
        out, *finals = layer(torch.from_numpy(case.x), mask=torch.zeros(B, T, dtype=torch.bool),
                             initial_state=[torch.from_numpy(s) for s in case.s0])
        assert torch.equal(out, torch.zeros(B, T, spec.units, dtype=torch.float64))
        for f, s in zip(finals, case.s0):
            close(f, s, "all-false: final state", tol=0)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("padding", ["right", "left"])
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_padded_batch_equals_each_sequence_alone(spec, padding, impl):
    lengths = [6, 2, 4, 1]
    mask = np.array([[t < n for t in range(T)] for n in lengths], dtype=bool)
    if padding == "left":
        mask = mask[:, ::-1].copy()
    case = Case(spec, seed=16, with_state=True)
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True)
    out, *finals = layer(torch.from_numpy(case.x), mask=torch.from_numpy(mask),
                         initial_state=[torch.from_numpy(s) for s in case.s0])
    assert layer.last_path == EXPECTED_PATH[impl]
    close(out, case.reference(mask=mask)[0], "padded output vs reference")
    last_layer = make_layer(spec, case.p, impl=impl, return_state=True)
    for b in range(B):
        valid = np.flatnonzero(mask[b])
        x_alone = torch.from_numpy(case.x[b : b + 1, valid])
        row_state = [torch.from_numpy(s[b : b + 1]) for s in case.s0]
        alone_seq, *alone_final = layer(x_alone, initial_state=row_state)
        alone_last = last_layer(x_alone, initial_state=row_state)[0]
        close(out[b, valid], alone_seq[0].detach().numpy(), f"row {b}: outputs at valid steps")
        close(out[b, valid[-1]], alone_last[0].detach().numpy(), f"row {b}: last output")
        for i, (f, a) in enumerate(zip(finals, alone_final)):
            close(f[b], a[0].detach().numpy(), f"row {b}: final state {i}")
        single = ref.run(spec, case.p, case.x[b : b + 1, valid], tuple(s[b : b + 1] for s in case.s0))
        close(alone_seq[0], single["outputs"][0], f"row {b} alone vs reference")


# ----------------------------------------------------------------------------- stacked cells
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("return_sequences", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("mask_kind", [None, "right", "left", "non-contiguous"])
def test_stacked_cells_match_chained_reference(mask_kind, return_sequences, impl):
    rng = np.random.default_rng(17)
    specs = [Spec("lstm", 4), Spec("gru", U)]
    params = [ref.random_params(specs[0], F, rng), ref.random_params(specs[1], 4, rng)]
    x = rng.normal(size=(B, T, F))
    s0 = [tuple(rng.normal(size=(B, s.units)) for _ in range(s.n_states)) for s in specs]
    R = rng.normal(size=(B, T, U) if return_sequences else (B, U))
    S = [[rng.normal(size=(B, s.units)) for _ in range(s.n_states)] for s in specs]
    mask = None if mask_kind is None else MASKS[mask_kind]

    fwds = ref.run_stack(specs, params, x, s0, mask)
    exp = fwds[-1]["outputs"] if return_sequences else fwds[-1]["last"]
    all_grads, dx, ds0 = ref.run_stack_backward(
        specs, params, fwds, R if return_sequences else None, None if return_sequences else R, S
    )

    if impl == "subclass":
        cells, use_fused, expected = [_LoopLSTMCell(4, input_size=F), _LoopGRUCell(U, input_size=4)], "auto", "reference"
    else:
        cells = [LSTMCell(4, input_size=F), GRUCell(U, input_size=4)]
        use_fused = {"fused": True, "compiled": False, "reference": "reference"}[impl]
        expected = EXPECTED_PATH[impl]
        if mask_kind == "non-contiguous" and impl == "fused":
            use_fused, expected = "auto", fallback_path()
    layer = RNN(cells, use_fused=use_fused, return_sequences=return_sequences, return_state=True).double()
    for cell, p in zip(layer.cells, params):
        ref.load_params(cell, p)
    tx = torch.tensor(x, requires_grad=True)
    ts0 = [torch.tensor(s, requires_grad=True) for cell_s in s0 for s in cell_s]
    out, h1, c1, h2 = layer(tx, mask=None if mask is None else torch.from_numpy(mask), initial_state=ts0)
    assert layer.last_path == expected
    close(out, exp, "output")
    for got, e, what in zip((h1, c1, h2), (*fwds[0]["final"], *fwds[1]["final"]), ("h1", "c1", "h2")):
        close(got, e, what)
    flat_S = [s for cell_S in S for s in cell_S]
    loss = (out * torch.from_numpy(R)).sum() + sum((f * torch.from_numpy(s)).sum() for f, s in zip((h1, c1, h2), flat_S))
    loss.backward()
    for k in range(2):
        ref.check_param_grads(layer.cells[k], all_grads[k], where=f"cell {k}: ")
    close(tx.grad, dx, "dL/dx")
    for t_, e in zip(ts0, (*ds0[0], *ds0[1])):
        close(t_.grad, e, "dL/dstate0")


def test_stack_with_one_unfusable_cell_joins_the_paths_and_matches_reference():
    rng = np.random.default_rng(18)
    specs = [Spec("lstm", 4), Spec("gru", U, reset_after=False)]
    params = [ref.random_params(specs[0], F, rng), ref.random_params(specs[1], 4, rng)]
    x = rng.normal(size=(B, T, F))
    mask = MASKS["right"]
    R = rng.normal(size=(B, T, U))
    layer = RNN([LSTMCell(4, input_size=F), GRUCell(U, input_size=4, reset_after=False)],
                return_sequences=True, return_state=True).double()
    for cell, p in zip(layer.cells, params):
        ref.load_params(cell, p)
    tx = torch.tensor(x, requires_grad=True)
    out, h1, c1, h2 = layer(tx, mask=torch.from_numpy(mask))
    assert layer.last_path == f"fused+{fallback_path()}"  # the cells' paths, in order
    assert layer.last_path_reason.startswith("GRU with reset_after=False")  # + why not compiled, without a compiler
    fwds = ref.run_stack(specs, params, x, [None, None], mask)
    close(out, fwds[1]["outputs"], "output")
    close(h2, fwds[1]["final"][0], "h2")
    close(c1, fwds[0]["final"][1], "c1")
    (out * torch.from_numpy(R)).sum().backward()
    all_grads, dx, _ = ref.run_stack_backward(specs, params, fwds, R)
    for k in range(2):
        ref.check_param_grads(layer.cells[k], all_grads[k], where=f"cell {k}: ")
    close(tx.grad, dx, "dL/dx")


# ----------------------------------------------------------------------------- other activations
NON_DEFAULT = [
    # (spec, impl, expected path; "fallback": the compiled loop where it is built, else the reference)
    (Spec("simple", U, activation="relu"), "fused", "fused"),
    (Spec("simple", U, activation="relu"), "auto", "fused"),
    (Spec("simple", U, activation="relu"), "compiled", "compiled"),
    (Spec("simple", U, activation="relu"), "reference", "reference"),
    (Spec("simple", U, activation="sigmoid"), "auto", "fallback"),
    (Spec("simple", U, activation="linear"), "auto", "fallback"),
    (Spec("simple", U, activation="softplus"), "auto", "reference"),
    (Spec("lstm", U, recurrent_activation="hard_sigmoid"), "auto", "fallback"),
    (Spec("lstm", U, recurrent_activation="hard_sigmoid"), "subclass", "reference"),
    (Spec("lstm", U, recurrent_activation="hard_sigmoid"), "reference", "reference"),
    (Spec("lstm", U, activation="relu"), "auto", "fallback"),
    (Spec("lstm", U, activation="softplus"), "auto", "reference"),
    (Spec("gru", U, reset_after=False), "auto", "fallback"),
    (Spec("gru", U, reset_after=False), "subclass", "reference"),
    (Spec("gru", U, reset_after=False), "reference", "reference"),
    (Spec("gru", U, reset_after=False, recurrent_activation="hard_sigmoid"), "auto", "fallback"),
    (Spec("gru", U, recurrent_activation="hard_sigmoid"), "auto", "fallback"),
    (Spec("gru", U, recurrent_activation="softplus"), "auto", "reference"),
]


@pytest.mark.parametrize("mask_kind", [None, "left", "non-contiguous"])
@pytest.mark.parametrize("spec,impl,expected", NON_DEFAULT, ids=[f"{s}-{i}" for s, i, _ in NON_DEFAULT])
def test_non_default_activations_match_reference(spec, impl, expected, mask_kind):
    case = Case(spec, seed=19, with_state=True, scale=0.4)
    mask = None if mask_kind is None else MASKS[mask_kind]
    no_kernel_computes_it = expected == "reference" and impl == "auto"  # softplus
    if mask_kind == "non-contiguous" and impl == "fused":
        impl, expected = "auto", "fallback"
    elif mask_kind == "non-contiguous" and expected == "fused":
        expected = "fallback"
    if expected == "fallback":
        expected = fallback_path()
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True)
    case.check(layer, mask=mask)
    assert layer.last_path == (auto_path(spec) if impl == "auto" and expected == "fused" else expected)
    if expected != "fused" and impl == "auto" and mask is None:
        forced = make_layer(spec, case.p, impl="fused")
        with pytest.raises(ConfigError):
            forced(torch.from_numpy(case.x))
    if no_kernel_computes_it:
        assert "compiled loop does not compute" in layer.last_path_reason


# ----------------------------------------------------------------------------- stateful
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_stateful_chunks_equal_one_run(spec, impl):
    steps = 9
    case = Case(spec, seed=20, steps=steps)
    exp = ref.run(spec, case.p, case.x)
    whole = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True)
    stateful = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True, stateful=True)
    assert stateful.states is None
    outs, start = [], 0
    for size in (3, 2, 4):
        out, *finals = stateful(torch.from_numpy(case.x[:, start : start + size]))
        assert stateful.last_path == EXPECTED_PATH[impl]
        outs.append(out)
        start += size
        for f, s in zip(finals, stateful.states):
            assert torch.equal(f, s) and not s.requires_grad
    close(torch.cat(outs, 1), exp["outputs"], "chunked outputs")
    for f, e in zip(finals, exp["final"]):
        close(f, e, "chunked final state")
    whole_out = whole(torch.from_numpy(case.x))[0]
    close(torch.cat(outs, 1), whole_out.detach().numpy(), "chunked vs whole")

    # reset_states() forgets: the next call starts from zeros again
    stateful.reset_states()
    assert stateful.states is None
    out, *finals = stateful(torch.from_numpy(case.x[:, :3]))
    first = ref.run(spec, case.p, case.x[:, :3])
    close(out, first["outputs"], "after reset_states")
    for f, e in zip(finals, first["final"]):
        close(f, e, "after reset_states: final")

    # reset_states(states) sets the state the next call starts from
    given = tuple(np.random.default_rng(21).normal(size=(B, spec.units)) for _ in range(spec.n_states))
    stateful.reset_states([torch.from_numpy(s) for s in given])
    out = stateful(torch.from_numpy(case.x[:, 3:5]))[0]
    close(out, ref.run(spec, case.p, case.x[:, 3:5], given)["outputs"], "after reset_states(states)")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_stateful_with_masked_chunks(spec, impl):
    """Padding in a later chunk: the carried state is the state at each row's last valid step."""
    case = Case(spec, seed=26, steps=8)
    mask = np.ones((B, 8), dtype=bool)
    mask[1, 6:] = False
    mask[2, 4:] = False  # row 2 ends exactly at the chunk boundary: chunk 2 is fully masked for it
    exp = ref.run(spec, case.p, case.x, mask=mask)
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True, stateful=True)
    out1 = layer(torch.from_numpy(case.x[:, :4]), mask=torch.from_numpy(mask[:, :4]))[0]
    out2, *finals = layer(torch.from_numpy(case.x[:, 4:]), mask=torch.from_numpy(mask[:, 4:]))
    close(out1, exp["outputs"][:, :4], "chunk 1")
    for f, e in zip(finals, exp["final"]):
        close(f, e, "final state")
    # in chunk 2 the output rule restarts: zeros until the row's first valid step of this call
    close(out2[[0, 1, 3]], exp["outputs"][[0, 1, 3], 4:], "chunk 2 (rows with valid steps)")
    assert torch.equal(out2[2], torch.zeros(4, spec.units, dtype=torch.float64))


# ----------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("impl", ["auto", "reference", "subclass"])
@pytest.mark.parametrize("spec", DEFAULT_SPECS + [Spec("gru", U, reset_after=False)], ids=str)
def test_recurrent_dropout_train_not_fused_and_random_eval_fused_and_exact(spec, impl):
    case = Case(spec, seed=22, with_state=True)
    layer = make_layer(spec, case.p, impl=impl, recurrent_dropout=0.5, return_sequences=True, return_state=True)
    x = torch.from_numpy(case.x)
    s0 = [torch.from_numpy(s) for s in case.s0]
    layer.train()
    torch.manual_seed(0)
    a = layer(x, initial_state=s0)[0]
    assert layer.last_path == (fallback_path() if impl == "auto" else "reference")
    b = layer(x, initial_state=s0)[0]
    assert not torch.allclose(a, b), "two training calls should draw different recurrent-dropout masks"
    if impl == "auto":
        forced = make_layer(spec, case.p, impl="fused", recurrent_dropout=0.5)
        with pytest.raises(ConfigError, match="recurrent_dropout"):
            forced(x)

    # eval: exactly the layer without dropout, on the fused path when it can
    layer.eval()
    case.check(layer)
    fusable = impl == "auto" and not (spec.kind == "gru" and not spec.reset_after)
    assert layer.last_path == (auto_path(spec) if fusable else fallback_path() if impl == "auto" else "reference")


@pytest.mark.parametrize("impl", ["compiled", "reference", "subclass"])
@pytest.mark.parametrize("spec", DEFAULT_SPECS + [Spec("gru", U, reset_after=False)], ids=str)
def test_recurrent_dropout_mask_applies_to_the_recurrent_products(spec, impl):
    """Train mode with a known recurrent mask == the reference with that mask (Keras' rule), masks too."""
    case = Case(spec, seed=23, with_state=True)
    rmask = np.random.default_rng(24).choice([0.0, 2.0], size=(B, spec.units))
    layer = make_layer(spec, case.p, impl=impl, recurrent_dropout=0.5, return_sequences=True,
                       return_state=True).train()
    calls = []

    def fixed_mask(batch, device, dtype):
        calls.append(batch)
        return torch.from_numpy(rmask).to(device=device, dtype=dtype)

    layer.cell.recurrent_dropout_mask = fixed_mask
    for mask in (None, MASKS["middle"]):
        calls.clear()
        layer.zero_grad()
        case.check(layer, mask=mask, rmask=rmask, where=f"mask={mask is not None}: ")
        assert calls == [B], "one recurrent-dropout mask per call, shared by every step"
        assert layer.last_path == EXPECTED_PATH[impl]


@pytest.mark.parametrize("impl", ["auto", "compiled", "reference", "subclass"])
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_input_dropout(spec, impl):
    case = Case(spec, seed=25, with_state=True)
    layer = make_layer(spec, case.p, impl=impl, dropout=0.5, return_sequences=True, return_state=True)
    # eval: exactly the layer without dropout
    layer.eval()
    case.check(layer, where="eval: ")
    expected_path = auto_path(spec) if impl == "auto" else EXPECTED_PATH[impl]
    assert layer.last_path == expected_path

    # train: one input mask per sequence, shared by every step (Keras), so the
    # pattern of zero input gradients is the same at every step
    layer.train()
    torch.manual_seed(1)
    x = torch.tensor(case.x, requires_grad=True)
    out = layer(x)[0]
    assert layer.last_path == expected_path
    (out * torch.from_numpy(case.R_seq)).sum().backward()
    dropped = x.grad == 0  # (B, T, F)
    assert dropped.any() and not dropped.all()
    assert torch.equal(dropped, dropped[:, :1].expand_as(dropped))


# ----------------------------------------------------------------------------- float32
F32_CASES = [(s, i) for s in DEFAULT_SPECS for i in IMPLS] + [(Spec("gru", U, reset_after=False), i) for i in ("compiled", "reference")]


@pytest.mark.parametrize("spec,impl", F32_CASES, ids=[f"{s}-{i}" for s, i in F32_CASES])
def test_float32_matches_reference(spec, impl):
    """float32 (the compiled path has a float32-only oneDNN branch) against the float64 reference."""
    case = Case(spec, seed=27, with_state=True)
    mask = MASKS["empty-row"]
    layer = make_layer(spec, case.p, impl=impl, return_sequences=True, return_state=True).float()
    tx = torch.tensor(case.x, dtype=torch.float32, requires_grad=True)
    out, *finals = layer(tx, mask=torch.from_numpy(mask), initial_state=[torch.tensor(s, dtype=torch.float32) for s in case.s0])
    assert out.dtype == torch.float32 and layer.last_path == EXPECTED_PATH[impl]
    (out * torch.tensor(case.R_seq, dtype=torch.float32)).sum().backward()
    fwd = ref.run(spec, case.p, case.x, case.s0, mask)
    grads, dx, _ = ref.run_backward(spec, case.p, fwd, case.R_seq)
    tol = dict(rtol=1e-4, atol=2e-5)
    np.testing.assert_allclose(out.detach().numpy(), fwd["outputs"], **tol)
    for f, e in zip(finals, fwd["final"]):
        np.testing.assert_allclose(f.detach().numpy(), e, **tol)
    for k in ref.PARAM_NAMES:
        np.testing.assert_allclose(getattr(layer.cell, k).grad.numpy(), grads[k], rtol=1e-4, atol=1e-4, err_msg=k)
    np.testing.assert_allclose(tx.grad.numpy(), dx, rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- edge shapes
EDGE_MASKS = {
    (1, 1): [np.array([[1]], dtype=bool), np.array([[0]], dtype=bool)],
    (1, 6): [np.array([[0, 0, 1, 1, 1, 0]], dtype=bool)],
    (4, 1): [np.array([[1], [0], [1], [0]], dtype=bool)],
}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("shape", list(EDGE_MASKS), ids=lambda s: f"B{s[0]}T{s[1]}")
@pytest.mark.parametrize("spec", DEFAULT_SPECS, ids=str)
def test_edge_shapes_match_reference(spec, shape, impl):
    batch, steps = shape
    for k, mask in enumerate([None, *EDGE_MASKS[shape]]):
        for return_sequences in (True, False):
            case = Case(spec, seed=28 + k, batch=batch, steps=steps, with_state=True)
            layer = make_layer(spec, case.p, impl=impl, return_sequences=return_sequences, return_state=True)
            case.check(layer, mask=mask, return_sequences=return_sequences, where=f"mask #{k}, seq={return_sequences}: ")
            assert layer.last_path == EXPECTED_PATH[impl]
