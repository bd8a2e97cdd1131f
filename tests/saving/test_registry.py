"""The registry of serializable classes: self-registration, names, clashes, custom objects, round trips."""
import json

import pytest
import torch

import rnnkit
from rnnkit import cells, layers, models, saving
from rnnkit.errors import ConfigError
from rnnkit.layers import LSTM, Bidirectional, Dense, Layer
from rnnkit.models import Sequential
from rnnkit.saving import (custom_object_scope, deserialize, get_registered_name, get_registered_object,
                           register_serializable, serialize)


def _public_classes():
    """Every public class the packages export that can be saved (the reference: the packages' __all__)."""
    for package in (cells, layers, models):
        for name in package.__all__:
            obj = getattr(package, name)
            if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
                yield name, obj


@pytest.mark.parametrize("name,cls", list(_public_classes()))
def test_every_built_in_class_registered_itself_under_its_name(name, cls):
    name = cls.__name__  # a second public name (LockedDropout) saves under the class's own
    assert get_registered_object(name) is cls
    assert get_registered_name(cls) == name


def test_package_and_name_give_a_separate_name_and_serialize_writes_it():
    @register_serializable(package="test_pkg", name="Scale")
    class Dense(Layer):  # the same class name as rnnkit's Dense, kept apart by the package
        def __init__(self, factor=2.0, name=None):
            super().__init__(name=name)
            self.factor = factor

        def forward(self, x):
            return self.factor * x

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    assert get_registered_name(Dense) == "test_pkg>Scale"
    data = json.loads(json.dumps(serialize(Dense(3.0, name="s"))))
    assert data == {"class_name": "Dense", "config": {"name": "s", "factor": 3.0}, "registered_name": "test_pkg>Scale"}
    back = deserialize(data)
    assert type(back) is Dense and back.factor == 3.0
    assert type(deserialize({"class_name": "Dense", "config": {"units": 2}})) is layers.Dense  # rnnkit's is untouched


def test_keras_style_positional_package_and_bare_forms():
    @register_serializable("test_pkg2")
    class A(Layer):
        pass

    @register_serializable()
    class TestOnlyB(Layer):
        pass

    assert get_registered_name(A) == "test_pkg2>A"
    assert get_registered_object("TestOnlyB") is TestOnlyB


def test_a_name_taken_by_another_class_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"the name 'LSTM' is taken by rnnkit\.layers\.recurrent\.LSTM; .*package="):
        @register_serializable
        class LSTM(Layer):  # noqa: F811 - the clash is the point
            pass

    assert get_registered_object("LSTM") is layers.LSTM  # the built-in is still the one found


def test_registering_again_the_same_class_or_a_reloaded_one_is_fine():
    def define():
        class TestOnlyReloaded(Layer):
            pass
        TestOnlyReloaded.__qualname__ = "TestOnlyReloaded"
        return TestOnlyReloaded

    first, second = define(), define()
    assert first is not second
    register_serializable(first)
    register_serializable(first)
    register_serializable(second)  # same module and qualified name: a reload, not a clash
    assert get_registered_object("TestOnlyReloaded") is second


@pytest.mark.parametrize("bad", [dict(package=""), dict(package="a>b"), dict(name=3)])
def test_bad_arguments(bad):
    with pytest.raises(ConfigError, match="register_serializable: `(package|name)` must be a non-empty str"):
        register_serializable(**bad)
    with pytest.raises(ConfigError, match="expected a class"):
        register_serializable(lambda x: x)


def test_custom_objects_come_before_scopes_and_the_registry_and_reach_nested_layers():
    class Doubler(Dense):
        pass

    class Other(Dense):
        pass

    model = Sequential([Bidirectional(LSTM(3)), Doubler(2)])
    data = json.loads(json.dumps(serialize(model)))
    with pytest.raises(ConfigError, match=r"unknown layer class 'Doubler'; pass custom_objects=\{'Doubler': TheClass\}"):
        deserialize(data)
    assert type(deserialize(data, {"Doubler": Doubler}).layers[1]) is Doubler
    with custom_object_scope({"Doubler": Other}):
        assert type(deserialize(data).layers[1]) is Other
        assert type(deserialize(data, {"Doubler": Doubler}).layers[1]) is Doubler  # the argument wins
        with custom_object_scope({"Dense": Doubler}):  # an inner scope wins over the registry too
            assert type(deserialize({"class_name": "Dense", "config": {"units": 1}})) is Doubler
    with pytest.raises(ConfigError):
        deserialize(data)  # the scope ended
    with pytest.raises(ConfigError, match="expected a dict of name -> class"):
        with custom_object_scope([Doubler]):
            pass


def test_round_trip_through_json_computes_the_same_function():
    rnnkit.set_seed(0)
    model = Sequential([layers.Embedding(20, 4), Bidirectional(layers.GRU(5, return_sequences=True)),
                        layers.RNN([cells.LSTMCell(3), cells.SimpleRNNCell(2)]), Dense(2)])
    x = torch.randint(0, 20, (3, 6))
    y = model(x)
    clone = deserialize(json.loads(json.dumps(serialize(model))))
    clone(x)  # build
    clone.load_state_dict(model.state_dict())
    torch.testing.assert_close(clone(x), y, rtol=0, atol=0)
    assert serialize(clone) == serialize(model)


def test_old_homes_still_work():
    assert layers.serialize is saving.serialize and layers.deserialize is saving.deserialize
    assert layers.register_serializable is saving.register_serializable
    from rnnkit.layers import serialization
    from rnnkit.models import saving as model_saving
    from rnnkit.training import checkpoint

    assert serialization.deserialize is saving.deserialize
    assert model_saving.load_model is saving.load_model is models.load_model is rnnkit.load_model
    assert checkpoint.save_file is saving.save_file and checkpoint.FORMAT_VERSION == saving.FORMAT_VERSION
