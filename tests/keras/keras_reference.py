"""For the rnnkit.keras tests (imported as `keras_reference`): Keras' weights copied into rnnkit layers, Keras' outputs."""
import numpy as np
import torch


def copy_keras_weights(theirs, ours):
    """Give each rnnkit layer of ``ours`` the weights of the same-position Keras layer of ``theirs`` (Sequential
    models or lists of layers): recurrent layers through their Keras-layout ``set_weights``, Dense and Embedding by
    hand."""
    their_layers = [layer for layer in getattr(theirs, "layers", theirs) if layer.weights]
    our_layers = [layer for layer in getattr(ours, "layers", ours) if any(True for _ in layer.parameters())]
    assert len(their_layers) == len(our_layers), (their_layers, our_layers)
    for k, r in zip(their_layers, our_layers):
        weights = [np.asarray(w) for w in k.get_weights()]
        kind = type(r).__name__
        if kind == "Dense":
            with torch.no_grad():
                r.weight.copy_(torch.from_numpy(weights[0].T))
                r.bias.copy_(torch.from_numpy(weights[1]))
        elif kind == "Embedding":
            with torch.no_grad():
                r.weight.copy_(torch.from_numpy(weights[0]))
        else:
            r.set_weights(weights)


def as_numpy(value):
    """A Keras (torch backend) or rnnkit tensor as a NumPy array."""
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def keras_outputs(model, x):
    """A Keras model's (or layer's) outputs for ``x`` as a NumPy array (torch backend)."""
    return as_numpy(model(x))
