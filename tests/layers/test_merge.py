"""Merge layers against torch's own operations, and their masks against Keras' merge layers."""
import numpy as np
import pytest
import torch

from rnnkit import errors
from rnnkit.layers import Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract

A, B, C = torch.randn(2, 4, 3), torch.randn(2, 4, 3), torch.randn(2, 4, 3)


@pytest.mark.parametrize("layer, expected", [
    (Add(), A + B + C),
    (Multiply(), A * B * C),
    (Average(), (A + B + C) / 3),
    (Maximum(), torch.stack([A, B, C]).amax(0)),
    (Minimum(), torch.stack([A, B, C]).amin(0)),
    (Concatenate(), torch.cat([A, B, C], -1)),
    (Concatenate(axis=1), torch.cat([A, B, C], 1)),
])
def test_merges_compute_what_torch_computes(layer, expected):
    torch.testing.assert_close(layer([A, B, C]), expected)


def test_subtract_takes_exactly_two_and_shapes_must_fit():
    torch.testing.assert_close(Subtract()([A, B]), A - B)
    with pytest.raises(errors.ShapeError, match="expected exactly 2 tensors, got 3"):
        Subtract()([A, B, C])
    with pytest.raises(errors.ShapeError, match=r"cannot merge tensors of shapes \(2, 4, 3\), \(2, 5, 3\)"):
        Add()([A, torch.randn(2, 5, 3)])
    with pytest.raises(errors.ShapeError, match="expected a list of tensors"):
        Add()(A)


@pytest.mark.parametrize("name, axis", [("Add", None), ("Maximum", None), ("Concatenate", -1), ("Concatenate", 1)])
@pytest.mark.parametrize("masked", [(True, True), (True, False), (False, False)])
def test_masks_follow_keras(keras, name, axis, masked):
    m1 = torch.tensor([[True, True, False, False], [True, False, False, False]])
    m2 = torch.tensor([[True, False, False, False], [True, True, True, False]])
    masks = [m1 if masked[0] else None, m2 if masked[1] else None]
    kwargs = {} if axis is None else {"axis": axis}
    ours = {"Add": Add, "Maximum": Maximum, "Concatenate": Concatenate}[name](**kwargs)
    theirs = getattr(keras.layers, name)(**kwargs)
    got = ours.compute_mask([A, B], masks)
    expected = theirs.compute_mask([keras.ops.convert_to_tensor(A.numpy()), keras.ops.convert_to_tensor(B.numpy())],
                                   [None if m is None else keras.ops.convert_to_tensor(m.numpy()) for m in masks])
    if expected is None:
        assert got is None
    else:
        np.testing.assert_array_equal(got.numpy(), keras.ops.convert_to_numpy(expected))
