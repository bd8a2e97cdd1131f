"""An independent NumPy (float64) reference for the recurrent cells, and the cells checked against it.

The first half of this file is the reference itself, written from the equations
in the docstrings of :mod:`rnnkit.cells` and Keras' masking rule, without any
rnnkit or torch code:

* ``step``: one forward step of SimpleRNN / LSTM / GRU (``reset_after`` True and
  False) with any activation of :data:`ACT`, optionally with a recurrent-dropout
  mask on the state (Keras' rule: the mask multiplies ``h_{t-1}`` where it enters
  a recurrent product, never the ``z * h_{t-1}`` carry of the GRU nor ``c``);
* ``run``: the loop over time with Keras' mask rule;
* ``step_backward`` / ``run_backward``: hand-written BPTT for the loss
  ``L = sum(outputs * R_out) + sum(last * R_last) + sum_k sum(final_k * R_k)``.

The reference is validated on its own (finite differences, ``torch.nn`` cells,
per-row runs of unpadded segments) before the cells are compared with it.
``tests/layers/test_recurrent_reference.py`` loads this module by path and uses
the same reference for the layers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from rnnkit.cells import GRUCell, LSTMCell, SimpleRNNCell


# =============================================================================
# The reference (NumPy, float64): plain NumPy, no rnnkit or torch code.
# =============================================================================


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


#: name -> (f(a), f'(a)), both in terms of the pre-activation a
ACT = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "sigmoid": (_sigmoid, lambda a: _sigmoid(a) * (1.0 - _sigmoid(a))),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(np.float64)),
    "linear": (lambda a: a, lambda a: np.ones_like(a)),
    "hard_sigmoid": (
        lambda a: np.clip(a / 6.0 + 0.5, 0.0, 1.0),
        lambda a: ((a > -3.0) & (a < 3.0)).astype(np.float64) / 6.0,
    ),
    # no kernel computes it: rnnkit runs it on the reference path only
    "softplus": (lambda a: np.logaddexp(0.0, a), _sigmoid),
}


@dataclass(frozen=True)
class Spec:
    """What one cell computes: kind 'simple' | 'lstm' | 'gru', width and activations."""

    kind: str
    units: int
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    reset_after: bool = True

    @property
    def gates(self) -> int:
        return {"simple": 1, "lstm": 4, "gru": 3}[self.kind]

    @property
    def n_states(self) -> int:
        return 2 if self.kind == "lstm" else 1

    def __str__(self) -> str:  # readable pytest ids
        extra = "" if self.kind != "gru" else f"-ra{int(self.reset_after)}"
        ract = "" if self.kind == "simple" else f"-{self.recurrent_activation}"
        return f"{self.kind}{extra}-{self.activation}{ract}"


PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def random_params(spec: Spec, input_size: int, rng: np.random.Generator, *, use_bias: bool = True, scale: float = 0.5):
    """Random weights in PyTorch layout; the biases are zeros when ``use_bias`` is False."""
    rows = spec.gates * spec.units
    p = {
        "weight_ih": rng.uniform(-scale, scale, (rows, input_size)),
        "weight_hh": rng.uniform(-scale, scale, (rows, spec.units)),
        "bias_ih": rng.uniform(-scale, scale, rows) if use_bias else np.zeros(rows),
        "bias_hh": rng.uniform(-scale, scale, rows) if use_bias else np.zeros(rows),
    }
    return p


def zero_state(spec: Spec, batch: int):
    return tuple(np.zeros((batch, spec.units)) for _ in range(spec.n_states))


def step(spec: Spec, p: dict, x, state, rmask=None):
    """One step: returns (output, new_state tuple, cache for the backward pass)."""
    act = ACT[spec.activation][0]
    ract = ACT[spec.recurrent_activation][0]
    U = spec.units
    W_ih, W_hh, b_ih, b_hh = (p[k] for k in PARAM_NAMES)
    h = state[0]
    hd = h if rmask is None else h * rmask  # the state as it enters the recurrent products
    cache = {"x": x, "h": h, "hd": hd, "rmask": rmask}
    if spec.kind == "simple":
        a = x @ W_ih.T + b_ih + hd @ W_hh.T + b_hh
        h_new = act(a)
        cache.update(a=a)
        return h_new, (h_new,), cache
    if spec.kind == "lstm":
        c = state[1]
        a = x @ W_ih.T + b_ih + hd @ W_hh.T + b_hh
        a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)
        i, f, g, o = ract(a_i), ract(a_f), act(a_g), ract(a_o)
        c_new = f * c + i * g
        h_new = o * act(c_new)
        cache.update(c=c, a_i=a_i, a_f=a_f, a_g=a_g, a_o=a_o, i=i, f=f, g=g, o=o, c_new=c_new)
        return h_new, (h_new, c_new), cache
    assert spec.kind == "gru"
    xp = x @ W_ih.T + b_ih
    x_r, x_z, x_n = np.split(xp, 3, axis=1)
    if spec.reset_after:
        hp = hd @ W_hh.T + b_hh
        h_r, h_z, h_n = np.split(hp, 3, axis=1)
        a_r, a_z = x_r + h_r, x_z + h_z
        r, z = ract(a_r), ract(a_z)
        a_n = x_n + r * h_n
        cache.update(h_n=h_n)
    else:
        a_r = x_r + hd @ W_hh[:U].T + b_hh[:U]
        a_z = x_z + hd @ W_hh[U : 2 * U].T + b_hh[U : 2 * U]
        r, z = ract(a_r), ract(a_z)
        a_n = x_n + b_hh[2 * U :] + (r * hd) @ W_hh[2 * U :].T
    n = act(a_n)
    h_new = (1.0 - z) * n + z * h
    cache.update(a_r=a_r, a_z=a_z, a_n=a_n, r=r, z=z, n=n)
    return h_new, (h_new,), cache


def zero_grads(p: dict) -> dict:
    return {k: np.zeros_like(p[k]) for k in PARAM_NAMES}


def step_backward(spec: Spec, p: dict, cache: dict, dh, dstate_rest, grads: dict):
    """Backward through one step (with the recurrent-dropout mask the forward step used, if any).

    ``dh``: dL/dh_new (output and state h together); ``dstate_rest``: (dL/dc_new,)
    for the LSTM, () otherwise.  Accumulates into ``grads``; returns
    (dL/dx_t, dL/dstate_prev tuple).
    """
    dact = ACT[spec.activation][1]
    dract = ACT[spec.recurrent_activation][1]
    U = spec.units
    W_ih, W_hh = p["weight_ih"], p["weight_hh"]
    x, h, hd = cache["x"], cache["h"], cache["hd"]
    # d(hd)/dh: the recurrent products see hd = h * rmask
    through_mask = (lambda g: g) if cache["rmask"] is None else (lambda g: g * cache["rmask"])
    if spec.kind in ("simple", "lstm"):
        if spec.kind == "simple":
            da = dh * dact(cache["a"])
            extra = ()
        else:
            act = ACT[spec.activation][0]
            c_new, o = cache["c_new"], cache["o"]
            do = dh * act(c_new)
            dc = dstate_rest[0] + dh * o * dact(c_new)
            di, df, dg = dc * cache["g"], dc * cache["c"], dc * cache["i"]
            da = np.concatenate(
                [
                    di * dract(cache["a_i"]),
                    df * dract(cache["a_f"]),
                    dg * dact(cache["a_g"]),
                    do * dract(cache["a_o"]),
                ],
                axis=1,
            )
            extra = (dc * cache["f"],)
        grads["weight_ih"] += da.T @ x
        grads["weight_hh"] += da.T @ hd
        grads["bias_ih"] += da.sum(0)
        grads["bias_hh"] += da.sum(0)
        return da @ W_ih, (through_mask(da @ W_hh), *extra)
    # GRU: h_new = (1 - z) n + z h
    r, z, n = cache["r"], cache["z"], cache["n"]
    dn = dh * (1.0 - z)
    dz = dh * (h - n)
    dh_prev = dh * z
    da_n = dn * dact(cache["a_n"])
    da_z = dz * dract(cache["a_z"])
    if spec.reset_after:
        dr = da_n * cache["h_n"]
        da_r = dr * dract(cache["a_r"])
        dhp = np.concatenate([da_r, da_z, da_n * r], axis=1)
        grads["weight_hh"] += dhp.T @ hd
        grads["bias_hh"] += dhp.sum(0)
        dh_prev = dh_prev + through_mask(dhp @ W_hh)
    else:
        d_rh = da_n @ W_hh[2 * U :]
        dr = d_rh * hd
        da_r = dr * dract(cache["a_r"])
        d_rz = np.concatenate([da_r, da_z], axis=1)
        grads["weight_hh"][: 2 * U] += d_rz.T @ hd
        grads["weight_hh"][2 * U :] += da_n.T @ (r * hd)
        grads["bias_hh"] += np.concatenate([da_r, da_z, da_n], axis=1).sum(0)
        dh_prev = dh_prev + through_mask(d_rh * r + d_rz @ W_hh[: 2 * U])
    dxp = np.concatenate([da_r, da_z, da_n], axis=1)
    grads["weight_ih"] += dxp.T @ x
    grads["bias_ih"] += dxp.sum(0)
    return dxp @ W_ih, (dh_prev,)


def run(spec: Spec, p: dict, x, state0=None, mask=None, zero_output_for_mask=False, rmask=None):
    """The loop over time with Keras' mask rule.

    ``x`` (B, T, F); ``mask`` (B, T) bool or None.  Masked steps keep the state;
    the output there is the previous output (zeros before the first valid step),
    or zeros with ``zero_output_for_mask``.  Returns a dict with ``outputs``
    (B, T, U), ``last`` (the last valid output), ``final`` (state tuple) and what
    :func:`run_backward` needs.
    """
    B, T, _ = x.shape
    state = zero_state(spec, B) if state0 is None else tuple(np.array(s, dtype=np.float64) for s in state0)
    mask = np.ones((B, T), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    prev = np.zeros((B, spec.units))
    outputs, caches = [], []
    for t in range(T):
        out, new_state, cache = step(spec, p, x[:, t], state, rmask)
        caches.append(cache)
        m = mask[:, t][:, None]
        state = tuple(np.where(m, n_, s) for n_, s in zip(new_state, state))
        prev = np.where(m, out, prev)
        outputs.append(np.where(m, out, 0.0) if zero_output_for_mask else prev)
    return {
        "outputs": np.stack(outputs, axis=1),
        "last": prev,
        "final": state,
        "caches": caches,
        "mask": mask,
        "zero_output_for_mask": zero_output_for_mask,
    }


def run_backward(spec: Spec, p: dict, fwd: dict, d_outputs=None, d_last=None, d_final=None):
    """BPTT through :func:`run`; returns (param grads, dL/dx (B, T, F), dL/dstate0 tuple)."""
    mask = fwd["mask"]
    B, T = mask.shape
    U = spec.units
    grads = zero_grads(p)
    dx = np.zeros((B, T, fwd["caches"][0]["x"].shape[1]))
    d_outputs = np.zeros((B, T, U)) if d_outputs is None else d_outputs
    dprev = np.zeros((B, U)) if d_last is None else np.array(d_last, dtype=np.float64)
    dstate = [np.zeros((B, U)) for _ in range(spec.n_states)] if d_final is None else [np.array(d) for d in d_final]
    for t in reversed(range(T)):
        m = mask[:, t][:, None].astype(np.float64)
        dy = d_outputs[:, t]
        if fwd["zero_output_for_mask"]:
            dout = m * dy
        else:
            dprev = dprev + dy
            dout = np.zeros((B, U))
        dout = dout + m * dprev  # prev_t = out_t at valid steps ...
        dprev = (1.0 - m) * dprev  # ... and prev_{t-1} at masked ones
        dnew = [m * d for d in dstate]
        dkept = [(1.0 - m) * d for d in dstate]
        dx_t, dstate_prev = step_backward(spec, p, fwd["caches"][t], dout + dnew[0], tuple(dnew[1:]), grads)
        dx[:, t] = dx_t
        dstate = [k + d for k, d in zip(dkept, dstate_prev)]
    return grads, dx, tuple(dstate)


def run_stack(specs, params, x, states0, mask=None, zero_output_for_mask=False):
    """Stacked cells as a chain of loops: each one runs over the previous one's outputs."""
    fwds, seq = [], x
    for spec, p, s0 in zip(specs, params, states0):
        fwd = run(spec, p, seq, s0, mask, zero_output_for_mask)
        fwd["input"] = seq
        fwds.append(fwd)
        seq = fwd["outputs"]
    return fwds


def run_stack_backward(specs, params, fwds, d_outputs=None, d_last=None, d_finals=None):
    """BPTT through :func:`run_stack`: returns ([param grads per cell], dL/dx, [dL/dstate0 per cell])."""
    n = len(specs)
    all_grads, all_dstate = [None] * n, [None] * n
    d_seq = d_outputs
    for k in reversed(range(n)):
        grads, dx, dstate = run_backward(
            specs[k], params[k], fwds[k], d_seq, d_last if k == n - 1 else None, d_finals[k] if d_finals else None
        )
        all_grads[k], all_dstate[k] = grads, dstate
        d_seq = dx
    return all_grads, d_seq, all_dstate


# =============================================================================
# Checks of the reference itself.
# =============================================================================

REF_SPECS = [
    Spec("simple", 2),
    Spec("simple", 2, activation="sigmoid"),
    Spec("simple", 2, activation="linear"),
    Spec("lstm", 2),
    Spec("lstm", 2, recurrent_activation="hard_sigmoid"),
    Spec("gru", 2, reset_after=True),
    Spec("gru", 2, reset_after=False),
]

# rows: all valid, right-padded, left-padded, fully masked, non-contiguous, in the middle
TINY_MASK = np.array(
    [
        [1, 1, 1, 1],
        [1, 1, 0, 0],
        [0, 0, 1, 1],
        [0, 0, 0, 0],
        [1, 0, 1, 0],
        [0, 1, 1, 0],
    ],
    dtype=bool,
)


def _loss(spec, p, x, s0, mask, zofm, R, rmask=None):
    fwd = run(spec, p, x, s0, mask, zofm, rmask)
    total = np.sum(fwd["outputs"] * R["out"]) + np.sum(fwd["last"] * R["last"])
    total += sum(np.sum(f * r) for f, r in zip(fwd["final"], R["final"]))
    return total, fwd


@pytest.mark.parametrize("spec", REF_SPECS, ids=str)
@pytest.mark.parametrize(
    "masked,zofm,dropout",
    [(False, False, False), (True, False, False), (True, True, False), (True, False, True)],
    ids=["nomask", "mask", "mask-zofm", "mask-rdropout"],
)
def test_reference_bptt_matches_finite_differences(spec, masked, zofm, dropout):
    rng = np.random.default_rng(0)
    B, T, F = TINY_MASK.shape[0], TINY_MASK.shape[1], 2
    p = random_params(spec, F, rng, scale=0.8)
    x = rng.normal(size=(B, T, F))
    s0 = tuple(rng.normal(size=(B, spec.units)) for _ in range(spec.n_states))
    mask = TINY_MASK if masked else None
    rmask = rng.choice([0.0, 2.0], size=(B, spec.units)) if dropout else None
    R = {
        "out": rng.normal(size=(B, T, spec.units)),
        "last": rng.normal(size=(B, spec.units)),
        "final": [rng.normal(size=(B, spec.units)) for _ in range(spec.n_states)],
    }
    _, fwd = _loss(spec, p, x, s0, mask, zofm, R, rmask)
    grads, dx, ds0 = run_backward(spec, p, fwd, R["out"], R["last"], R["final"])

    eps = 1e-6

    def numeric(arr):
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            lp = _loss(spec, p, x, s0, mask, zofm, R, rmask)[0]
            arr[idx] = old - eps
            lm = _loss(spec, p, x, s0, mask, zofm, R, rmask)[0]
            arr[idx] = old
            g[idx] = (lp - lm) / (2 * eps)
        return g

    for k in PARAM_NAMES:
        np.testing.assert_allclose(grads[k], numeric(p[k]), rtol=1e-6, atol=1e-7, err_msg=k)
    np.testing.assert_allclose(dx, numeric(x), rtol=1e-6, atol=1e-7, err_msg="x")
    for i, s in enumerate(s0):
        np.testing.assert_allclose(ds0[i], numeric(s), rtol=1e-6, atol=1e-7, err_msg=f"state0[{i}]")
    if masked:
        # masked rows and steps really carry no gradient to x
        assert np.all(dx[~TINY_MASK] == 0.0)


@pytest.mark.parametrize("spec", REF_SPECS, ids=str)
def test_reference_mask_rule_equals_unpadded_runs(spec):
    """The masked loop, row by row, against a plain loop over that row's valid steps only."""
    rng = np.random.default_rng(1)
    B, T, F = TINY_MASK.shape[0], TINY_MASK.shape[1], 3
    p = random_params(spec, F, rng)
    x = rng.normal(size=(B, T, F))
    s0 = tuple(rng.normal(size=(B, spec.units)) for _ in range(spec.n_states))
    for zofm in (False, True):
        fwd = run(spec, p, x, s0, TINY_MASK, zofm)
        for b in range(B):
            valid = np.flatnonzero(TINY_MASK[b])
            row_s0 = tuple(s[b : b + 1] for s in s0)
            if valid.size == 0:
                for f, s in zip(fwd["final"], row_s0):
                    np.testing.assert_array_equal(f[b], s[0])
                assert np.all(fwd["outputs"][b] == 0) and np.all(fwd["last"][b] == 0)
                continue
            alone = run(spec, p, x[b : b + 1, valid], row_s0)
            for f, a in zip(fwd["final"], alone["final"]):
                np.testing.assert_allclose(f[b], a[0], rtol=0, atol=1e-14)
            np.testing.assert_allclose(fwd["last"][b], alone["last"][0], rtol=0, atol=1e-14)
            np.testing.assert_allclose(fwd["outputs"][b, valid], alone["outputs"][0], rtol=0, atol=1e-14)
            for t in range(T):
                if TINY_MASK[b, t]:
                    continue
                before = valid[valid < t]
                if zofm or before.size == 0:
                    expected = np.zeros(spec.units)
                else:
                    expected = fwd["outputs"][b, before[-1]]
                np.testing.assert_array_equal(fwd["outputs"][b, t], expected)


@pytest.mark.parametrize("kind", ["simple-tanh", "simple-relu", "lstm", "gru"])
def test_reference_step_matches_torch_nn_cells(kind):
    """The gate order / equations of the reference agree with torch.nn's cells (independent of rnnkit)."""
    rng = np.random.default_rng(2)
    B, F, U = 3, 4, 5
    spec = {
        "simple-tanh": Spec("simple", U),
        "simple-relu": Spec("simple", U, activation="relu"),
        "lstm": Spec("lstm", U),
        "gru": Spec("gru", U, reset_after=True),
    }[kind]
    p = random_params(spec, F, rng)
    x = rng.normal(size=(B, F))
    state = tuple(rng.normal(size=(B, U)) for _ in range(spec.n_states))
    if spec.kind == "simple":
        cell = torch.nn.RNNCell(F, U, nonlinearity=spec.activation)
    elif spec.kind == "lstm":
        cell = torch.nn.LSTMCell(F, U)
    else:
        cell = torch.nn.GRUCell(F, U)
    cell = cell.double()
    with torch.no_grad():
        for k in PARAM_NAMES:
            getattr(cell, k).copy_(torch.from_numpy(p[k]))
        ts = tuple(torch.from_numpy(s) for s in state)
        got = cell(torch.from_numpy(x), ts if spec.kind == "lstm" else ts[0])
    got = got if isinstance(got, tuple) else (got,)
    _, new_state, _ = step(spec, p, x, state)
    for g, e in zip(got, new_state):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-12, atol=1e-13)


def test_reference_hard_sigmoid_and_gru_variants_by_hand():
    """Scalar cases worked out by hand, for the parts torch.nn cannot check."""
    assert ACT["hard_sigmoid"][0](np.array([-4.0, -3.0, 0.0, 1.5, 3.0, 7.0])).tolist() == [0, 0, 0.5, 0.75, 1, 1]
    # GRU with U = F = 1, all weights and biases chosen so the two variants differ
    p = {
        "weight_ih": np.array([[0.5], [-0.25], [1.0]]),
        "weight_hh": np.array([[0.3], [0.2], [-0.7]]),
        "bias_ih": np.array([0.1, -0.1, 0.2]),
        "bias_hh": np.array([0.05, 0.15, 0.4]),
    }
    x, h = np.array([[2.0]]), np.array([[0.5]])
    s = _sigmoid
    r = s(0.5 * 2 + 0.1 + 0.3 * 0.5 + 0.05)
    z = s(-0.25 * 2 - 0.1 + 0.2 * 0.5 + 0.15)
    n_after = np.tanh(1.0 * 2 + 0.2 + r * (-0.7 * 0.5 + 0.4))
    n_before = np.tanh(1.0 * 2 + 0.2 + 0.4 + (r * 0.5) * -0.7)
    got_after = step(Spec("gru", 1, reset_after=True), p, x, (h,))[0][0, 0]
    got_before = step(Spec("gru", 1, reset_after=False), p, x, (h,))[0][0, 0]
    assert got_after == pytest.approx((1 - z) * n_after + z * 0.5, abs=1e-15)
    assert got_before == pytest.approx((1 - z) * n_before + z * 0.5, abs=1e-15)
    assert abs(got_after - got_before) > 1e-3


# =============================================================================
# rnnkit's cells, one step, against the reference.
# =============================================================================

def make_cell(spec: Spec, input_size: int, p: dict, use_bias: bool = True):
    """An rnnkit cell in float64 holding the weights ``p``."""
    if spec.kind == "simple":
        cell = SimpleRNNCell(spec.units, activation=spec.activation, input_size=input_size, use_bias=use_bias)
    elif spec.kind == "lstm":
        cell = LSTMCell(
            spec.units,
            activation=spec.activation,
            recurrent_activation=spec.recurrent_activation,
            input_size=input_size,
            use_bias=use_bias,
        )
    else:
        cell = GRUCell(
            spec.units,
            activation=spec.activation,
            recurrent_activation=spec.recurrent_activation,
            reset_after=spec.reset_after,
            input_size=input_size,
            use_bias=use_bias,
        )
    cell = cell.double()
    load_params(cell, p, use_bias)
    return cell


def load_params(cell, p: dict, use_bias: bool = True) -> None:
    with torch.no_grad():
        cell.weight_ih.data.copy_(torch.from_numpy(p["weight_ih"]))
        cell.weight_hh.data.copy_(torch.from_numpy(p["weight_hh"]))
        if use_bias:
            cell.bias_ih.data.copy_(torch.from_numpy(p["bias_ih"]))
            cell.bias_hh.data.copy_(torch.from_numpy(p["bias_hh"]))
        else:
            assert cell.bias_ih is None and cell.bias_hh is None


def check_param_grads(cell, grads: dict, use_bias: bool = True, tol: float = 1e-10, where: str = "") -> None:
    for k in PARAM_NAMES:
        param = getattr(cell, k)
        if k.startswith("bias") and not use_bias:
            assert param is None
            continue
        assert param.grad is not None, f"{where}{k} got no gradient"
        np.testing.assert_allclose(param.grad.numpy(), grads[k], rtol=tol, atol=tol, err_msg=f"{where}{k}")


def grad_tol(spec: Spec) -> float:
    """Gradient tolerance (the same for every activation since hard_sigmoid's float64 gradient is exact)."""
    return 1e-10


def test_hard_sigmoid_gradient_is_exact_in_float64():
    """d/dx hard_sigmoid = 1/6 on (-3, 3) to float64 precision (an LSTMCell with it inherits the error)."""
    from rnnkit import activations

    x = torch.tensor([-2.5, -0.3, 0.0, 0.7, 2.9], dtype=torch.float64, requires_grad=True)
    y = activations.get("hard_sigmoid")(x)
    np.testing.assert_allclose(y.detach().numpy(), x.detach().numpy() / 6 + 0.5, rtol=0, atol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(5, 1.0 / 6.0), rtol=1e-13, atol=0)


CELL_SPECS = [
    Spec("simple", 5),
    Spec("simple", 5, activation="relu"),
    Spec("simple", 5, activation="sigmoid"),
    Spec("simple", 5, activation="linear"),
    Spec("lstm", 5),
    Spec("lstm", 5, recurrent_activation="hard_sigmoid"),
    Spec("lstm", 5, activation="relu"),
    Spec("gru", 5, reset_after=True),
    Spec("gru", 5, reset_after=False),
    Spec("gru", 5, reset_after=False, recurrent_activation="hard_sigmoid"),
]


@pytest.mark.parametrize("spec", CELL_SPECS, ids=str)
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("with_state", [True, False], ids=["state", "zero-state"])
def test_cell_step_matches_reference(spec, use_bias, with_state):
    rng = np.random.default_rng(3)
    B, F = 4, 3
    p = random_params(spec, F, rng, use_bias=use_bias, scale=0.7)
    x = rng.normal(size=(B, F))
    state = tuple(rng.normal(size=(B, spec.units)) for _ in range(spec.n_states)) if with_state else zero_state(spec, B)
    R_out = rng.normal(size=(B, spec.units))
    R_state = [rng.normal(size=(B, spec.units)) for _ in range(spec.n_states)]

    out_ref, state_ref, cache = step(spec, p, x, state)
    grads = zero_grads(p)
    dx_ref, dstate_ref = step_backward(spec, p, cache, R_out + R_state[0], tuple(R_state[1:]), grads)

    cell = make_cell(spec, F, p, use_bias)
    tx = torch.tensor(x, requires_grad=True)
    if with_state:
        tstate = tuple(torch.tensor(s, requires_grad=True) for s in state)
        out, new_state = cell(tx, tstate)
    else:
        out, new_state = cell(tx)  # None means zeros
    assert isinstance(new_state, tuple) and len(new_state) == spec.n_states
    assert out.dtype == torch.float64
    np.testing.assert_allclose(out.detach().numpy(), out_ref, rtol=1e-12, atol=1e-12)
    for s, e in zip(new_state, state_ref):
        np.testing.assert_allclose(s.detach().numpy(), e, rtol=1e-12, atol=1e-12)

    loss = (out * torch.from_numpy(R_out)).sum() + sum((s * torch.from_numpy(r)).sum() for s, r in zip(new_state, R_state))
    loss.backward()
    tol = grad_tol(spec)
    check_param_grads(cell, grads, use_bias, tol=tol)
    np.testing.assert_allclose(tx.grad.numpy(), dx_ref, rtol=tol, atol=tol)
    if with_state:
        for ts, e in zip(tstate, dstate_ref):
            np.testing.assert_allclose(ts.grad.numpy(), e, rtol=tol, atol=tol)


@pytest.mark.parametrize("spec", [Spec("simple", 3), Spec("gru", 3, reset_after=False)], ids=str)
def test_cell_accepts_bare_tensor_state(spec):
    rng = np.random.default_rng(4)
    p = random_params(spec, 2, rng)
    x, h = rng.normal(size=(2, 2)), rng.normal(size=(2, 3))
    cell = make_cell(spec, 2, p)
    out, (h_new,) = cell(torch.from_numpy(x), torch.from_numpy(h))
    np.testing.assert_allclose(out.detach().numpy(), step(spec, p, x, (h,))[0], rtol=1e-12, atol=1e-12)
    assert torch.equal(out, h_new)


@pytest.mark.parametrize("spec", [Spec("simple", 4), Spec("lstm", 4), Spec("gru", 4), Spec("gru", 4, reset_after=False)], ids=str)
def test_cell_unrolled_by_hand_matches_reference_bptt(spec):
    """Stepping a cell by hand over a sequence gives the reference's outputs and BPTT gradients."""
    rng = np.random.default_rng(5)
    B, T, F = 3, 4, 2
    p = random_params(spec, F, rng)
    x = rng.normal(size=(B, T, F))
    s0 = tuple(rng.normal(size=(B, spec.units)) for _ in range(spec.n_states))
    R = rng.normal(size=(B, T, spec.units))
    fwd = run(spec, p, x, s0)
    grads, dx, ds0 = run_backward(spec, p, fwd, R)

    cell = make_cell(spec, F, p)
    tx = torch.tensor(x, requires_grad=True)
    ts0 = tuple(torch.tensor(s, requires_grad=True) for s in s0)
    state, outs = ts0, []
    for t in range(T):
        out, state = cell(tx[:, t], state)
        outs.append(out)
    outs = torch.stack(outs, 1)
    np.testing.assert_allclose(outs.detach().numpy(), fwd["outputs"], rtol=1e-11, atol=1e-11)
    (outs * torch.from_numpy(R)).sum().backward()
    check_param_grads(cell, grads)
    np.testing.assert_allclose(tx.grad.numpy(), dx, rtol=1e-10, atol=1e-10)
    for t_, e in zip(ts0, ds0):
        np.testing.assert_allclose(t_.grad.numpy(), e, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("spec", [Spec("simple", 4), Spec("lstm", 4), Spec("gru", 4), Spec("gru", 4, reset_after=False)], ids=str)
def test_cell_step_with_recurrent_dropout_matches_reference(spec):
    """In training, cell.forward draws a recurrent mask and applies it by Keras' rule (values and gradients)."""
    rng = np.random.default_rng(6)
    B, F = 3, 2
    p = random_params(spec, F, rng)
    x = rng.normal(size=(B, F))
    state = tuple(rng.normal(size=(B, spec.units)) for _ in range(spec.n_states))
    rmask = rng.choice([0.0, 2.0], size=(B, spec.units))
    R_out = rng.normal(size=(B, spec.units))
    out_ref, state_ref, cache = step(spec, p, x, state, rmask)
    grads = zero_grads(p)
    dx_ref, dstate_ref = step_backward(spec, p, cache, R_out, tuple(np.zeros_like(s) for s in state[1:]), grads)

    cell = make_cell(spec, F, p)
    cell.recurrent_dropout = 0.5
    cell.recurrent_dropout_mask = lambda batch, device, dtype: torch.from_numpy(rmask)
    tx = torch.tensor(x, requires_grad=True)
    tstate = tuple(torch.tensor(s, requires_grad=True) for s in state)
    out, new_state = cell.train()(tx, tstate)
    np.testing.assert_allclose(out.detach().numpy(), out_ref, rtol=1e-12, atol=1e-12)
    for s_, e in zip(new_state, state_ref):
        np.testing.assert_allclose(s_.detach().numpy(), e, rtol=1e-12, atol=1e-12)
    (out * torch.from_numpy(R_out)).sum().backward()
    check_param_grads(cell, grads)
    np.testing.assert_allclose(tx.grad.numpy(), dx_ref, rtol=1e-10, atol=1e-10)
    for ts, e in zip(tstate, dstate_ref):
        np.testing.assert_allclose(ts.grad.numpy(), e, rtol=1e-10, atol=1e-10)
    # in eval mode the mask is not used
    cell.eval()
    out_eval = cell(torch.from_numpy(x), tuple(torch.from_numpy(s) for s in state))[0]
    np.testing.assert_allclose(out_eval.detach().numpy(), step(spec, p, x, state)[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("spec", [Spec("simple", 4), Spec("lstm", 4), Spec("gru", 4)], ids=str)
def test_cell_step_with_input_dropout(spec):
    """Training: the input is inverted-dropped (x * mask / keep); eval: no dropout at all."""
    rng = np.random.default_rng(7)
    B, F = 4, 6
    p = random_params(spec, F, rng)
    x = rng.normal(size=(B, F))
    state = tuple(rng.normal(size=(B, spec.units)) for _ in range(spec.n_states))
    cell = make_cell(spec, F, p)
    cell.dropout = 0.5
    torch.manual_seed(0)
    tx = torch.tensor(x, requires_grad=True)
    out = cell.train()(tx, tuple(torch.from_numpy(s) for s in state))[0]
    out.sum().backward()
    kept = (tx.grad != 0).numpy()  # a dropped input feature gets no gradient
    assert kept.any() and not kept.all()
    np.testing.assert_allclose(out.detach().numpy(), step(spec, p, x * kept * 2.0, state)[0], rtol=1e-12, atol=1e-12)
    cell.eval()
    out_eval = cell(torch.from_numpy(x), tuple(torch.from_numpy(s) for s in state))[0]
    np.testing.assert_allclose(out_eval.detach().numpy(), step(spec, p, x, state)[0], rtol=1e-12, atol=1e-12)
