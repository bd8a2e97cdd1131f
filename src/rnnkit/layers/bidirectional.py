"""Bidirectional: run a recurrent layer forwards and a copy of it backwards, and merge."""
from __future__ import annotations

from typing import Any

import torch

from .._base_layer import Layer
from .._validation import check_choice
from ..errors import ConfigError
from ..saving import deserialize, register_serializable, serialize
from .recurrent import RecurrentLayer, StateArg

__all__ = ["Bidirectional"]

_MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register_serializable
class Bidirectional(Layer):
    r"""Bidirectional wrapper for any recurrent layer (Keras ``Bidirectional``).

    The forward layer reads :math:`x_1 \dots x_T`; a fresh copy of it with
    ``go_backwards`` flipped reads :math:`x_T \dots x_1`, and its outputs are
    put back in input order before merging:

    .. math::
        y_t = \mathrm{merge}(\overrightarrow{h}_t, \overleftarrow{h}_t)

    ``merge_mode``: 'concat' (default, (B, T, 2U)), 'sum', 'mul', 'ave', or None
    (returns the list ``[forward, backward]``).  With a mask, each direction
    sees only the valid steps (padding is skipped by both), so a padded batch
    gives the same result as each sequence run alone.  With ``return_state``
    the states follow the output: forward states, then backward states
    (``out, h_f, c_f, h_b, c_b`` for an LSTM).  ``initial_state`` takes them in
    the same order.

    The two directions are ``layer.forward_layer`` and ``layer.backward_layer``;
    each chooses its path on its own (``last_path`` is the one both ran, or
    ``'forward/backward'``, e.g. ``'fused/reference'``, when they differ).

    Example:
        >>> import torch
        >>> from rnnkit.layers import LSTM
        >>> bi = Bidirectional(LSTM(4, return_sequences=True))
        >>> bi(torch.randn(2, 5, 3)).shape
        torch.Size([2, 5, 8])
    """

    supports_masking = True

    def __init__(
        self,
        layer: RecurrentLayer,
        merge_mode: str | None = "concat",
        backward_layer: RecurrentLayer | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if not isinstance(layer, RecurrentLayer):
            raise ConfigError(f"Bidirectional: expected a recurrent layer (LSTM, GRU, ...), got {type(layer).__name__}")
        self.merge_mode = check_choice("Bidirectional", "merge_mode", merge_mode, _MERGE_MODES)
        if backward_layer is None:
            config = layer.get_config()
            config["go_backwards"] = not layer.go_backwards
            config["name"] = f"backward_{layer.name}"
            backward_layer = type(layer).from_config(config)
        elif not isinstance(backward_layer, RecurrentLayer):
            raise ConfigError(f"Bidirectional: `backward_layer` must be a recurrent layer, got {type(backward_layer).__name__}")
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(layer, attr) != getattr(backward_layer, attr):
                raise ConfigError(
                    f"Bidirectional: forward and backward layers must agree on {attr}, got "
                    f"{getattr(layer, attr)} and {getattr(backward_layer, attr)}"
                )
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.built = layer.built and backward_layer.built

    @property
    def return_sequences(self) -> bool:
        return self.forward_layer.return_sequences

    @property
    def return_state(self) -> bool:
        return self.forward_layer.return_state

    @property
    def state_size(self) -> tuple[int, ...]:
        return self.forward_layer.state_size + self.backward_layer.state_size

    @property
    def last_path(self) -> str | None:
        """The path both directions ran ('fused', 'compiled', 'reference'), or 'forward/backward' when they differ."""
        forward, backward = self.forward_layer.last_path, self.backward_layer.last_path
        return forward if forward == backward else f"{forward}/{backward}"

    @property
    def last_path_reason(self) -> str | None:
        """Why a direction did not run the fused kernel ('forward: ...; backward: ...'), None when both did."""
        reasons = [f"{name}: {layer.last_path_reason}" for name, layer in
                   (("forward", self.forward_layer), ("backward", self.backward_layer)) if getattr(layer, "last_path_reason", None)]
        return "; ".join(reasons) or None

    def build(self, input_shape: tuple[int, ...], *, device: Any = None, dtype: torch.dtype | None = None) -> None:
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(input_shape, device=device, dtype=dtype)
        super().build(input_shape)

    def reset_states(self, states: Any = None) -> None:
        """Forget the states of both directions (stateful layers); ``states`` splits as ``state_size``."""
        if states is None:
            self.forward_layer.reset_states()
            self.backward_layer.reset_states()
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        n = len(self.forward_layer.state_size)
        self.forward_layer.reset_states(states[:n])
        self.backward_layer.reset_states(states[n:])

    def carry_states(self) -> Any:
        """Refused: carrying state from one chunk of a sequence to the next cannot serve the backward direction.

        >>> from rnnkit.layers import LSTM
        >>> Bidirectional(LSTM(2)).carry_states()
        Traceback (most recent call last):
        ...
        rnnkit.errors.ConfigError: Bidirectional cannot carry state from one call to the next: the backward pass needs the whole sequence; train it on whole sequences
        """
        raise ConfigError(
            "Bidirectional cannot carry state from one call to the next: the backward pass needs the whole sequence; "
            "train it on whole sequences"
        )

    def detach_states(self) -> None:
        """Cut both directions' stored states (stateful layers) from the autograd graph."""
        self.forward_layer.detach_states()
        self.backward_layer.detach_states()

    def get_weights(self) -> list:
        """Keras-layout weights of the forward layer, then of the backward layer."""
        return self.forward_layer.get_weights() + self.backward_layer.get_weights()

    def set_weights(self, weights: list) -> None:
        n = len(self.forward_layer.get_weights())
        self.forward_layer.set_weights(weights[:n])
        self.backward_layer.set_weights(weights[n:])

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, initial_state: StateArg = None) -> Any:
        fw_state = bw_state = None
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            n = len(self.forward_layer.state_size)
            if len(states) != len(self.state_size):
                raise ConfigError(
                    f"Bidirectional: `initial_state` needs {len(self.state_size)} tensors "
                    f"(forward states then backward states), got {len(states)}"
                )
            fw_state, bw_state = states[:n], states[n:]
        fw = self.forward_layer(x, mask=mask, initial_state=fw_state)
        bw = self.backward_layer(x, mask=mask, initial_state=bw_state)
        fw_states: tuple = ()
        bw_states: tuple = ()
        if self.return_state:
            fw, *fw_states = fw
            bw, *bw_states = bw
        if self.return_sequences:
            # the backward layer returns its outputs in processing order: back to input order
            bw = bw.flip(1)
        out = self._merge(fw, bw)
        return (out, *fw_states, *bw_states) if self.return_state else out

    def _merge(self, fw: torch.Tensor, bw: torch.Tensor) -> Any:
        mode = self.merge_mode
        if mode == "concat":
            return torch.cat([fw, bw], dim=-1)
        if mode == "sum":
            return fw + bw
        if mode == "mul":
            return fw * bw
        if mode == "ave":
            return (fw + bw) / 2
        return [fw, bw]

    def compute_mask(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        return mask if self.return_sequences else None

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "layer": serialize(self.forward_layer),
            "merge_mode": self.merge_mode,
            "backward_layer": serialize(self.backward_layer),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Bidirectional":
        config = dict(config)
        layer = deserialize(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        return cls(layer, backward_layer=None if backward is None else deserialize(backward), **config)
