"""ONNX export of a model or a run folder, its check with ONNX Runtime, and the ``model.json`` beside it.

:func:`export_onnx` writes

* ``model.onnx``: the whole model, inputs (batch, time[, features]) with dynamic batch
  and time axes (opset :data:`OPSET`); recurrent layers are ONNX's own LSTM/GRU/RNN
  nodes and padding is masked inside the graph (see :mod:`.forms`);
* ``step.onnx`` (text generation): the same model with each recurrent layer's state
  as explicit inputs ``h_in_i`` (``c_in_i``) and outputs ``h_out_i`` (``c_out_i``), so a
  caller feeds a token (or a chunk) and the state back in, and generates token by token;
* ``model.json``: app, each graph's inputs and outputs (names, dtypes, shapes with
  named dynamic axes), padding conventions, and the run's preprocessing files and
  config copied as the app saved them.

Before anything is written, each graph is run by ONNX Runtime on inputs of a batch size
and length other than the traced ones (padded where the model masks) and compared
with PyTorch; a difference above :data:`TOLERANCE` is an ExportError.  Files are written
atomically, ``model.json`` last.  The exporter is PyTorch's TorchScript-based one
(``dynamo=False``): the recurrent nodes are written by :mod:`.ops`' symbolic functions.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from .._io import atomic_write
from ..errors import ConfigError, ExportError
from ..layers import Bidirectional, Conv1D, Dense, Embedding, HashedNGrams, Masking
from ..cells import LSTMCell
from ..layers.recurrent import RNN
from ..runs import read_json
from ..models import Ensemble
from .forms import (RecurrentForm, SequentialForm, layer_label, model_form, require_sequential, sequential_form,
                    speech_layers)

__all__ = ["OPSET", "TOLERANCE", "FORMAT", "export_onnx", "check_onnx", "require_onnx", "StepForm", "step_form"]

#: the ONNX opset written (ONNX Runtime 1.14 and later run it)
OPSET = 17
#: the largest |ONNX Runtime - PyTorch| difference the check accepts
TOLERANCE = 1e-4
#: ``model.json``'s ``format``: how an export's model.json is told from a run folder's architecture file
FORMAT = "rnnkit.onnx"
#: the preprocessing files each app saves in its run folder (copied into model.json)
APP_FILES = {"classify": ("vocab.json", "classes.json"), "textgen": ("vocab.json",),
             "forecast": ("preprocess.json",), "speech": ("speech.json",)}
#: how each app's inputs are prepared (model.json's ``preprocessing.notes``)
APP_NOTES = {
    "classify": "ids: each text's tokens (config.level, as rnnkit.data.tokenize gives them) looked up in "
                "files['vocab.json'].tokens (index = id; unknown tokens -> 1 '<unk>'); a text longer than "
                "config.max_len keeps its last max_len tokens; a batch is right-padded with 0 ('<pad>', masked in "
                "the graph). logits: one per class of files['classes.json'].classes; argmax is the label.",
    "textgen": "ids: token ids from files['vocab.json'].tokens (config.level); logits over the same vocabulary at "
               "every step. step.onnx: feed ids (batch, steps) with the state of the previous call (zeros at the "
               "start) and read the next-token logits at the last step and the new state.",
    "forecast": "x: the last config.lookback rows, transformed and scaled as files['preprocess.json'] says (log, "
                "transform, scaler and its fitted values), columns in files['preprocess.json'].columns order (the "
                "target first); y: the next config.horizon scaled, transformed target values (invert the scaler, "
                "then the transform).",
    "speech": "features: (batch, frames, features) frames as files['speech.json'] describes (features, n_mels / "
              "n_mfcc, win_ms, hop_ms; normalisation 'utterance': each utterance to zero mean and unit variance per "
              "feature; 'speaker': by the mean and variance of the speaker's frames pooled with speaker_prior's "
              "counted as prior_frames frames); a batch is right-padded with frames whose "
              "features all equal the pad value (masked in the graph). words: logits (batch, classes); rnnkit "
              "recognises a word from the mean of log_softmax(logits) over the recording played at each speed of "
              "files['speech.json'].test_speeds (resampled from p to q Hz, p / q = the speed, and kept at the old "
              "rate), each speed's features normalised by the speaker statistics of the unperturbed recordings "
              "(per utterance: each speed's features by their own); digits: CTC logits (batch, steps, classes + 1), "
              "class 0 the blank.",
}


def require_onnx() -> tuple[Any, Any]:
    """``(onnx, onnxruntime)``, or a one-line ConfigError naming the extra to install."""
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:
        raise ConfigError(f"ONNX export needs the onnx and onnxruntime packages ({exc.name} is missing): "
                          "pip install rnnkit[onnx]") from None
    return onnx, onnxruntime


# ----------------------------------------------------------------------------- the step graph
class StepForm(nn.Module):
    """A stateful language model with its states explicit: ``(ids, *states) -> (logits, *new_states)``.

    ``ids`` (B, T) int64 (T = 1 for one token), each state (B, U); the forms of the
    model's layers run in order, recurrent ones from the given states.
    """

    def __init__(self, forms: SequentialForm) -> None:
        super().__init__()
        self.forms = forms.forms
        self.state_counts = [len(f.state_size) if isinstance(f, RecurrentForm) else 0 for f in self.forms]

    def forward(self, ids: torch.Tensor, *states: torch.Tensor):
        x, mask, offset, finals = ids, None, 0, []
        for form, n in zip(self.forms, self.state_counts):
            if n:
                x, _, final = form.run(x, mask, tuple(states[offset:offset + n]))
                offset += n
                finals.extend(final)
            else:
                x, mask = form(x, mask)
        return (x, *finals)


def step_form(model: nn.Module) -> tuple[StepForm, list[str], list[int]]:
    """The step form of ``model``, its state names (``h_0``, ``c_0``, ...) and widths; an ExportError if it has none."""
    forms = sequential_form(model)
    names, widths, k = [], [], 0
    for i, (layer, form) in enumerate(zip(model.layers, forms.forms)):
        if isinstance(layer, Bidirectional):
            raise ExportError(f"{layer_label(layer, i)}: a step graph carries state forwards in time; a Bidirectional "
                              "layer needs the whole sequence")
        if isinstance(form, RecurrentForm):
            if not layer.return_sequences or layer.go_backwards:
                raise ExportError(f"{layer_label(layer, i)}: a step graph needs return_sequences=True and "
                                  "go_backwards=False on every recurrent layer")
            for cell in layer.cells:
                for kind in ("h", "c") if isinstance(cell, LSTMCell) else ("h",):
                    names.append(f"{kind}_{k}")
                    widths.append(cell.units)
                k += 1
    if not names:
        raise ExportError(f"{type(model).__name__} has no recurrent layer: there is no state for a step graph")
    return StepForm(forms).eval(), names, widths


# ----------------------------------------------------------------------------- inputs
def _same_input(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two members' inputs agree: equal but for a vocabulary that one of them leaves open (None)."""
    known = a.get("vocabulary"), b.get("vocabulary")
    return {**a, "vocabulary": None} == {**b, "vocabulary": None} and (None in known or known[0] == known[1])


def _input_spec(model: nn.Module, features: int | None) -> dict[str, Any]:
    """The model's input: name, dtype, shape with named axes, the feature count, and whether it masks (an
    ensemble's: its members', which must agree)."""
    if isinstance(model, Ensemble):
        specs = [_input_spec(member, features) for member in model.members]
        for i, spec in enumerate(specs[1:], 1):
            if not _same_input(specs[0], spec):
                raise ExportError(f"Ensemble members 0 and {i} take different inputs ({specs[0]} and {spec}); the "
                                  "graph has one input")
        # ids: the members' vocabulary (a HashedNGrams member takes any id)
        return max(specs, key=lambda spec: spec.get("vocabulary") is not None)
    first = model.layers[0]
    if isinstance(first, Embedding):
        return {"name": "ids", "dtype": "int64", "shape": ["batch", "time"], "vocabulary": first.input_dim,
                "padding": 0 if first.mask_zero else None}
    if isinstance(first, HashedNGrams):  # hashes any id >= 0; 0 is padding
        return {"name": "ids", "dtype": "int64", "shape": ["batch", "time"], "vocabulary": None, "padding": 0}
    feats = features or _features(model)
    if feats is None:
        raise ExportError(f"{layer_label(first, 0)}: cannot tell how many features each step has; pass features=")
    name = "features" if isinstance(first, Masking) else "x"
    return {"name": name, "dtype": "float32", "shape": ["batch", "time", feats],
            "padding": first.mask_value if isinstance(first, Masking) else None}


def _features(model: nn.Module) -> int | None:
    """The input features per step, read from the first layer that has weights or knows its input width (StackFrames
    divides by k)."""
    factor, speech = 1, speech_layers()  # (StackFrames, SpectrogramConv)
    for layer in model.layers:
        if speech is not None and isinstance(layer, speech[0]):
            factor *= layer.k
            continue
        rnn = layer.forward_layer if isinstance(layer, Bidirectional) else layer
        if isinstance(rnn, RNN):
            size = rnn.cells[0].input_size
        elif isinstance(layer, (Dense, Conv1D)) and layer.weight is not None:
            size = layer.weight.shape[1]
        elif speech is not None and isinstance(layer, speech[1]):  # SpectrogramConv: bands per frame, set when built
            size = layer.input_size
        else:
            continue
        return None if size is None or size % factor else size // factor
    return None


def _example(spec: dict[str, Any], batch: int, steps: int, *, pad: bool, seed: int = 0) -> np.ndarray:
    """An input of ``spec``; with ``pad`` some rows padded at the end, one padded at step 1 only, one empty."""
    rng = np.random.default_rng(seed)
    if spec["dtype"] == "int64":
        x = rng.integers(1, spec["vocabulary"] or 1000, size=(batch, steps)).astype(np.int64)
    else:
        x = rng.standard_normal((batch, steps, spec["shape"][2])).astype(np.float32)
    if pad and spec.get("padding") is not None and batch >= 3 and steps >= 3:
        x[0, steps // 2:] = spec["padding"]  # right padding
        x[1, 1:] = spec["padding"]  # one real step
        x[2, steps - 1:] = spec["padding"]
    return x


# ----------------------------------------------------------------------------- export and check
def _trace(form: nn.Module, args: tuple, input_names: list[str], output_names: list[str],
           dynamic_axes: dict[str, dict[int, str]]) -> bytes:
    """The ONNX bytes of ``form`` traced on ``args`` (TorchScript-based exporter, opset OPSET)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python checks, and the exporter's deprecation notice
        torch.onnx.export(form, args, buffer, dynamo=False, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=OPSET, do_constant_folding=True)
    return buffer.getvalue()


def _session(data: bytes):
    _, ort = require_onnx()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


@torch.no_grad()
def _torch_outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """PyTorch's outputs for ``x``, every stateful layer started from zeros (its own state put back after)."""
    layers = [m for m in model.modules() if getattr(m, "stateful", False) and hasattr(m, "_states")]
    kept = [m._states for m in layers]
    try:
        for m in layers:
            m._states = None
        return model(torch.from_numpy(x)).float().numpy()
    finally:
        for m, states in zip(layers, kept):
            m._states = states


def check_onnx(model: nn.Module, onnx_model: bytes | str | Path, spec: dict[str, Any], *, batch: int = 5,
               steps: int = 9) -> float:
    """Largest |ONNX Runtime - PyTorch| of the whole-model graph on a padded (batch, steps) input."""
    data = Path(onnx_model).read_bytes() if isinstance(onnx_model, (str, Path)) else onnx_model
    x = _example(spec, batch, steps, pad=True, seed=1)
    got = _session(data).run(None, {spec["name"]: x})[0]
    want = _torch_outputs(model, x)
    if got.shape != want.shape:
        raise ExportError(f"the ONNX graph gives shape {got.shape}, PyTorch {want.shape}, at batch {batch}, {steps} steps")
    return float(np.abs(got - want).max()) if want.size else 0.0


def _state_name(name: str, side: str) -> str:
    """``h_0`` -> ``h_in_0`` / ``h_out_0``: the step graph's input and output of a state."""
    kind, k = name.split("_")
    return f"{kind}_{side}_{k}"


def _check_step(model: nn.Module, data: bytes, names: list[str], widths: list[int], spec: dict[str, Any],
                batch: int = 3, steps: int = 4) -> float:
    """Feed a chunk then tokens one by one through the step graph; compare each logit with the whole model's."""
    ids = _example(spec, batch, steps + 3, pad=False, seed=2)
    want = _torch_outputs(model, ids)  # (B, T, V) from zero states
    session = _session(data)
    states = {_state_name(n, "in"): np.zeros((batch, w), np.float32) for n, w in zip(names, widths)}
    outs = session.run(None, {"ids": ids[:, :steps], **states})
    worst = float(np.abs(outs[0] - want[:, :steps]).max())
    for t in range(steps, ids.shape[1]):
        states = {_state_name(n, "in"): s for n, s in zip(names, outs[1:])}
        outs = session.run(None, {"ids": ids[:, t:t + 1], **states})
        worst = max(worst, float(np.abs(outs[0][:, 0] - want[:, t]).max()))
    return worst


def _export_model(model: nn.Module, spec: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    form = model_form(model)
    example = torch.from_numpy(_example(spec, 2, 3, pad=False))
    with torch.no_grad():
        out = form(example)
    out_axes = {0: "batch", **({1: "time"} if out.dim() == 3 else {})}
    out_shape = ["batch"] + (["time"] if out.dim() == 3 else []) + [int(out.shape[-1])]
    output_name = "y" if spec["name"] == "x" else "logits"  # a forecast's values, else class or token scores
    data = _trace(form, (example,), [spec["name"]], [output_name],
                  {spec["name"]: {0: "batch", 1: "time"}, output_name: out_axes})
    graph = {"file": None, "inputs": [{k: spec[k] for k in ("name", "dtype", "shape")}],
             "outputs": [{"name": output_name, "dtype": "float32", "shape": out_shape}]}
    return data, graph


def _export_step(model: nn.Module, spec: dict[str, Any]) -> tuple[bytes, dict[str, Any], list[str], list[int]]:
    form, names, widths = step_form(model)
    example = torch.from_numpy(_example(spec, 2, 3, pad=False))
    states = tuple(torch.zeros(2, w) for w in widths)
    ins = ["ids"] + [_state_name(n, "in") for n in names]
    outs = ["logits"] + [_state_name(n, "out") for n in names]
    axes = {"ids": {0: "batch", 1: "time"}, "logits": {0: "batch", 1: "time"},
            **{name: {0: "batch"} for name in ins[1:] + outs[1:]}}
    data = _trace(form, (example, *states), ins, outs, axes)
    vocab = int(form(example, *states)[0].shape[-1])
    graph = {"file": None,
             "inputs": [{"name": "ids", "dtype": "int64", "shape": ["batch", "time"]}]
             + [{"name": n, "dtype": "float32", "shape": ["batch", w]} for n, w in zip(ins[1:], widths)],
             "outputs": [{"name": "logits", "dtype": "float32", "shape": ["batch", "time", vocab]}]
             + [{"name": n, "dtype": "float32", "shape": ["batch", w]} for n, w in zip(outs[1:], widths)],
             "state": [{"input": i, "output": o, "cell": int(n.split("_")[1]), "kind": n.split("_")[0]}
                       for i, o, n in zip(ins[1:], outs[1:], names)]}
    return data, graph, names, widths


def _run_folder(path: Path) -> tuple[str | None, dict[str, Any]]:
    """The app of run folder ``path`` and its preprocessing: config.json and the app's own files, as saved."""
    run = read_json(path / "run.json")
    app = run.get("app")
    pre: dict[str, Any] = {"config": read_json(path / "config.json") if (path / "config.json").is_file() else None,
                           "files": {}}
    for name in APP_FILES.get(app, ()):
        if (path / name).is_file():
            pre["files"][name] = read_json(path / name)
    if app in APP_NOTES:
        pre["notes"] = APP_NOTES[app]
    return app, pre


def _check_sidecar(meta_path: Path) -> None:
    if meta_path.exists():
        try:
            ours = json.loads(meta_path.read_text(encoding="utf-8")).get("format") == FORMAT
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise ExportError(f"{meta_path} exists and is not an ONNX export's model.json (a run folder's model.json "
                              "describes its model); choose another --out, e.g. RUN/onnx/model.onnx")


def export_onnx(source: Any, out: str | Path | None = None, *, step: bool | None = None,
                features: int | None = None, check: bool = True, print_fn: Any = None) -> Path:
    """Export ``source`` (a run folder or a built Sequential) to ONNX; returns the path of ``model.onnx``.

    Args:
        source: a run folder (``run.json`` inside; its whole model is loaded) or a model.
        out: the ``.onnx`` file (default ``RUN/onnx/model.onnx``; needed for a model).  ``model.json``
            (and ``step.onnx``) are written beside it: ``out`` with the suffix ``.json`` (``_step.onnx``),
            or ``model.json`` / ``step.onnx`` when the file is called ``model.onnx``.
        step: also write the step graph with explicit states (default: for text generation runs).
        features: input features per step, where the model cannot tell (a float input whose first layers
            have no weights).
        check: compare ONNX Runtime with PyTorch before writing (ExportError above :data:`TOLERANCE`).
    """
    require_onnx()
    app, pre, run = None, {"config": None, "files": {}}, None
    if isinstance(source, (str, Path)):
        run = Path(source)
        if not run.is_dir():
            raise ConfigError(f"--run {run}: no such folder; pass the folder an app trained into")
        if not (run / "run.json").is_file():
            raise ConfigError(f"{run} is not a run folder (no run.json); pass the folder an app trained into")
        from ..saving import load_model

        model = load_model(run, compile=False)
        app, pre = _run_folder(run)
        if out is None:
            out = run / "onnx" / "model.onnx"
    elif isinstance(source, nn.Module):
        model = source
        if out is None:
            raise ConfigError("export_onnx(model): give out=, the .onnx file to write")
    else:
        raise ConfigError(f"export_onnx: expected a run folder or a model, got {type(source).__name__}")
    out = Path(out)
    if out.suffix != ".onnx":
        raise ConfigError(f"the output file should end in .onnx, got {out}")
    meta_path = out.with_suffix(".json")
    step_path = out.with_name("step.onnx" if out.name == "model.onnx" else f"{out.stem}_step.onnx")
    _check_sidecar(meta_path)
    model = model.cpu().eval().float()
    if step is None:
        step = app == "textgen"

    if isinstance(model, Ensemble):
        if step:
            raise ExportError("an Ensemble has no step graph (step.onnx carries one model's recurrent state); "
                              "export its members one by one")
        step = False
    else:
        require_sequential(model)
    spec = _input_spec(model, features)
    data, graph = _export_model(model, spec)
    graph["file"] = out.name
    meta: dict[str, Any] = {
        "format": FORMAT, "version": 1, "rnnkit": __version__, "app": app, "opset": OPSET,
        "graphs": {"model": graph},
        "padding": None if spec.get("padding") is None else {
            "value": spec["padding"], "side": "right (any padded step is masked; right is the convention)",
            "meaning": "padded steps change nothing: the recurrent layers skip them as the PyTorch model does"},
        "state": "the whole-model graph starts every recurrent layer from zeros",
        "preprocessing": pre,
    }
    checks = {}
    if check:
        checks["model"] = check_onnx(model, data, spec)
    if step:
        step_data, step_graph, names, widths = _export_step(model, spec)
        step_graph["file"] = step_path.name
        meta["graphs"]["step"] = step_graph
        if check:
            checks["step"] = _check_step(model, step_data, names, widths, spec)
    for name, diff in checks.items():
        if not diff <= TOLERANCE:
            raise ExportError(f"the exported {name} graph differs from PyTorch by {diff:.3g} (> {TOLERANCE:g}); "
                              "please report it with the model's config")
    if checks:
        meta["checked"] = {"tolerance": TOLERANCE, "max_abs_diff": checks,
                           "against": "PyTorch eager, padded batch of 5 x 9 steps (step: chunk then token by token)"}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(out) as f:
        f.write(data)
    if step:
        with atomic_write(step_path) as f:
            f.write(step_data)
    with atomic_write(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    if print_fn is not None:
        print_fn(f"exported {out}" + (f" and {step_path.name}" if step else "") + f", with {meta_path.name} beside it"
                 + (f"; ONNX Runtime matches PyTorch within {max(checks.values()):.1e}" if checks else ""))
    return out

