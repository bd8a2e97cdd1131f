"""rnnkit.keras: Keras 3's public names, each mapped onto rnnkit's own object, and one-line errors for the rest.

Real Keras 3 (torch backend, test-only) is the reference for which names are Keras'
and for the arguments' names and defaults.
"""
import importlib
import inspect

import pytest

import rnnkit
from rnnkit import keras
from rnnkit.errors import RnnkitError, UnsupportedImportError, UnsupportedNameError

MODULES = ["", "layers", "losses", "metrics", "optimizers", "callbacks", "models", "utils", "activations",
           "initializers", "saving", "datasets", "datasets.imdb", "preprocessing", "preprocessing.sequence",
           "preprocessing.text"]

#: names rnnkit.keras has that Keras 3 does not, and why
EXTRAS = {
    "layers": {"MinGRU", "MinLSTM", "MinGRUCell", "MinLSTMCell", "AdaptiveSoftmax", "GlobalConcatPooling1D",
               "LockedDropout", "MaskedConv1D", "MaskedMaxPooling1D", "HashedNGrams", "NaiveBayesBag"},  # rnnkit's own
    "losses": {"mse", "mae"},  # Keras 2's names
    "metrics": {"Perplexity"},  # keras_hub's metric in Keras 3
    "callbacks": {"TimeBudget"},  # rnnkit's own callback
    "preprocessing": {"text"},  # Keras 2's module (Tokenizer)
}


def _ours(name):
    return importlib.import_module("rnnkit.keras" + (f".{name}" if name else ""))


def _theirs(real_keras, name):
    module = real_keras
    for part in filter(None, name.split(".")):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("name", [m for m in MODULES if m != "preprocessing.text"])
def test_every_name_is_a_keras_3_name_or_a_listed_extra(real_keras, name):
    theirs = set(dir(_theirs(real_keras, name)))
    extra = set(_ours(name).__all__) - theirs
    assert extra == EXTRAS.get(name, set()), extra


@pytest.mark.parametrize("name", MODULES)
def test_each_hint_is_for_a_keras_name_rnnkit_lacks(real_keras, name):
    module = _ours(name)
    hints = getattr(module, "HINTS", {})
    assert not set(hints) & set(module.__all__)
    if name != "preprocessing.text" and not (name == "preprocessing.sequence"):  # Keras 2 names, gone from Keras 3
        assert set(hints) <= set(dir(_theirs(real_keras, name))), set(hints) - set(dir(_theirs(real_keras, name)))


def test_every_rnnkit_layer_and_cell_is_in_keras_layers():
    from rnnkit import cells, layers

    classes = {n for n in layers.__all__ + cells.__all__ if inspect.isclass(getattr(layers, n, None) or getattr(cells, n))}
    classes -= {"RecurrentLayer", "RecurrentCell"}  # rnnkit's abstract bases, no Keras name
    for name in sorted(classes):
        ours = getattr(layers, name, None) or getattr(cells, name)
        if inspect.isclass(ours) and issubclass(ours, torch_module()):
            assert getattr(keras.layers, name) is ours, name


def torch_module():
    import torch

    return torch.nn.Module


def test_names_are_rnnkit_objects_not_copies():
    assert keras.Sequential is rnnkit.Sequential and keras.Model is rnnkit.Model
    assert keras.Input is keras.layers.Input is rnnkit.layers.Input and keras.layers.Concatenate is rnnkit.layers.Concatenate
    assert keras.models.Sequential is rnnkit.Sequential and keras.layers.LSTM is rnnkit.layers.LSTM
    assert keras.layers.MaxPool1D is rnnkit.layers.MaxPooling1D and keras.layers.LSTMCell is rnnkit.cells.LSTMCell
    assert keras.optimizers.Adam is rnnkit.optimizers.Adam and keras.callbacks.ModelCheckpoint is rnnkit.training.ModelCheckpoint
    assert keras.utils.to_categorical is rnnkit.data.to_categorical
    assert keras.utils.pad_sequences is keras.preprocessing.sequence.pad_sequences is rnnkit.data.pad_sequences
    assert keras.utils.set_random_seed is rnnkit.set_seed
    assert keras.preprocessing.text.Tokenizer is rnnkit.data.Tokenizer


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizers_take_keras_positional_learning_rate_and_defaults(real_keras, name):
    ours, theirs = getattr(keras.optimizers, name)(0.05), getattr(real_keras.optimizers, name)(0.05)
    config, reference = ours.get_config(), theirs.get_config()
    assert set(config) <= set(reference), set(config) - set(reference)
    for key, value in config.items():
        assert value == pytest.approx(reference[key]), key


def test_optimizers_take_keras_argument_names(real_keras):
    cases = [("RMSprop", dict(learning_rate=0.01, rho=0.8, momentum=0.5, epsilon=1e-6, centered=True)),
             ("SGD", dict(learning_rate=0.1, momentum=0.9, nesterov=True)),
             ("Adam", dict(learning_rate=0.002, beta_1=0.8, beta_2=0.99, amsgrad=True)),
             ("Adagrad", dict(learning_rate=0.2, initial_accumulator_value=0.5))]
    for name, kwargs in cases:
        config = getattr(keras.optimizers, name)(**kwargs).get_config()
        reference = getattr(real_keras.optimizers, name)(**kwargs).get_config()
        assert {k: config[k] for k in kwargs} == pytest.approx({k: reference[k] for k in kwargs}), name


@pytest.mark.parametrize("name", ["EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "CSVLogger",
                                  "LearningRateScheduler"])
def test_callbacks_take_keras_arguments_in_keras_order(real_keras, name):
    ours = [p for p in inspect.signature(getattr(keras.callbacks, name)).parameters]
    theirs = [p for p in inspect.signature(getattr(real_keras.callbacks, name)).parameters if p != "kwargs"]
    assert ours == theirs


# ------------------------------------------------------------------------------------------------------ missing names
MISSING = [
    # (where, name, words the one line must hold)
    ("layers", "MultiHeadAttention", "keras.layers.Attention"),
    ("layers", "GroupNormalization", "LayerNormalization"),
    ("layers", "concatenate", "keras.layers.Concatenate()"),
    ("layers", "Dot", "call()"),
    ("layers", "RepeatVector", "expand"),
    ("layers", "TextVectorization", "Tokenizer"),
    ("layers", "ConvLSTM2D", "TimeDistributed"),
    ("layers", "Zzz", "rnnkit.keras.layers has Activation"),
    ("", "applications", "torchvision"),
    ("", "ops", "torch"),
    ("", "mixed_precision", "precision='bf16'"),
    ("optimizers", "Nadam", "torch.optim.NAdam"),
    ("optimizers", "schedules", "LearningRateScheduler"),
    ("losses", "KLDivergence", "rnnkit.keras.losses has"),
    ("metrics", "AUC", "classification_report"),
    ("metrics", "Accuracy", "metrics=['accuracy']"),
    ("callbacks", "BackupAndRestore", "resume_from"),
    ("utils", "timeseries_dataset_from_array", "make_windows"),
    ("utils", "get_file", "rnnkit.datasets.load"),
    ("models", "clone_model", "deepcopy"),
    ("initializers", "GlorotUniform", "kernel_initializer='glorot_uniform'"),
    ("initializers", "VarianceScaling", "as a string"),
    ("datasets", "mnist", "rnnkit.datasets"),
    ("preprocessing.text", "one_hot", "Tokenizer"),
    ("preprocessing.sequence", "TimeseriesGenerator", "make_windows"),
]


@pytest.mark.parametrize("where, name, words", MISSING)
def test_a_missing_keras_name_is_one_line_naming_it_and_what_to_use(where, name, words):
    module = _ours(where)
    label = "keras" + (f".{where}" if where else "")
    assert not hasattr(module, name)
    with pytest.raises(UnsupportedNameError) as info:
        getattr(module, name)
    message = str(info.value)
    assert message.startswith(f"{label}.{name} is not in rnnkit") and "\n" not in message and words in message
    assert isinstance(info.value, AttributeError) and isinstance(info.value, RnnkitError)
    # the same advice inside a from-import, where an AttributeError would turn into "cannot import name"
    with pytest.raises(UnsupportedImportError) as info:
        exec(f"from {module.__name__} import {name}", {})
    assert str(info.value) == message and isinstance(info.value, ImportError)


def test_private_and_dunder_names_stay_plain_attribute_errors():
    for name in ("_secret", "__wrapped__", "__path__x"):
        with pytest.raises(AttributeError) as info:
            getattr(keras.layers, name)
        assert not isinstance(info.value, RnnkitError)


def test_star_import_gives_the_listed_names():
    names = {}
    exec("from rnnkit.keras.layers import *", names)
    assert {"LSTM", "Bidirectional", "Dense"} <= set(names) and "MultiHeadAttention" not in names
