"""Fixtures of the gradcam_keras tests: small models, model files, photos and the CLI runner.

The model fixtures return their builder, not a model: a test calls it where it needs the model
(after the root conftest has seeded Keras), with arguments where the builder takes them.
"""

import pathlib
import socket

import keras
import numpy as np
import pytest
from keras import layers
from PIL import Image

from gradcam_keras.cli.main import main


def write_photo(path, size=(40, 60), seed=0):
    """Write a random RGB image of ``size`` (rows, columns) to ``path``; return it as str."""
    pixels = np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return str(path)


def pytest_collection_modifyitems(items):
    """A ZeroMapWarning fails a gradcam_keras test unless the test expects it (pytest.warns).

    Zero maps are reported by warning; a green run must not print them as noise.
    """
    here = pathlib.Path(__file__).parent
    for item in items:
        if here in pathlib.Path(item.path).parents:
            item.add_marker(pytest.mark.filterwarnings(  # a test's own filter comes first
                "error::gradcam_keras.errors.ZeroMapWarning"), append=False)


@pytest.fixture
def photo():
    """``photo(path, size=(40, 60), seed=0)`` writes a random RGB image; returns its path."""
    return write_photo


@pytest.fixture
def run_cli(capsys):
    """``run_cli(*argv)`` runs the tool in this process; returns ``(exit code, stdout, """
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _offline_network(monkeypatch):
    """Switch the network off: every connection fails at once; returns the attempts made.

    Skips the test when Keras's cache already holds VGG19's ImageNet weights (Keras would then
    not go to the network at all).
    """
    from gradcam_keras import models

    if models.cached_weights(models.CLASSIFIERS["vgg19"][3]) is not None:
        pytest.skip("ImageNet weights are in Keras's cache; this test needs them absent")
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:1])
        raise OSError("network is switched off for this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.fixture
def offline(monkeypatch):
    """No network for this test (see ``_offline_network``); the list of connection attempts."""
    return _offline_network(monkeypatch)


def _save_model(tmp_path_factory, seed, build):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    path = tmp_path_factory.mktemp("model") / "small.keras"
    keras.Model(inputs, build(inputs)).save(path)
    return str(path)


def _small_head(inputs):
    x = layers.Conv2D(8, 3, activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return layers.Dense(5, activation="softmax", name="head")(x)


def _rescaled_head(inputs):
    x = layers.Rescaling(1 / 255)(inputs)  # model files get raw pixels: keep softmax unsaturated
    x = layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv2")(layers.MaxPooling2D(2)(x))
    return layers.Dense(4, activation="softmax", name="head")(layers.Flatten()(x))


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A saved 32x32 CNN (conv1, conv2 at 28x28, GAP, 5-class softmax) that takes 0-255 pixels."""
    return _save_model(tmp_path_factory, 3, _small_head)


@pytest.fixture(scope="session")
def rescaled_model_file(tmp_path_factory):
    """A saved 32x32 CNN that rescales its raw pixels first (unsaturated softmax), 4 classes."""
    return _save_model(tmp_path_factory, 5, _rescaled_head)


def _small_sequential(head_activation="softmax"):
    return keras.Sequential([
        keras.Input((20, 24, 3)),
        layers.Conv2D(6, 3, activation="relu", name="conv1"),
        layers.Conv2D(8, 3, activation="relu", name="conv2"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(5, activation=head_activation, name="head"),
    ])


@pytest.fixture
def small_sequential():
    """The builder (a function, so a test can build several).

    A Sequential CNN on 20x24x3: conv1, conv2 (3x3 'valid'), GAP, a Dense head (softmax by
    default).
    """
    return _small_sequential


def _functional_residual():
    inputs = keras.Input((20, 24, 3))
    a = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_a")(inputs)
    b = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_b")(a)
    s = layers.Add(name="add")([a, b])
    p = layers.BatchNormalization(name="bn")(layers.MaxPooling2D(2, name="pool")(s))
    h = layers.Dense(16, activation="relu", name="fc")(layers.Flatten()(p))
    model = keras.Model(inputs, layers.Dense(7, name="logits")(layers.Dropout(0.5)(h)))
    rng = np.random.default_rng(5)  # moving statistics that differ from a batch's own
    bn = model.get_layer("bn")
    bn.moving_mean.assign(rng.normal(size=8).astype(np.float32))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, 8).astype(np.float32))
    return model


@pytest.fixture
def functional_residual():
    """The builder (a function, so a test can build several).

    A functional CNN with a skip connection (conv_a + conv_b at 'add'), BN with set moving
    statistics, dropout, 7 logits.
    """
    return _functional_residual


def _nested_classifier(softmax_inside=False):
    backbone = keras.Sequential([
        keras.Input((20, 24, 3)),
        layers.Conv2D(6, 3, activation="relu", name="conv1"),
        layers.Conv2D(8, 3, activation="relu", name="conv2"),
    ], name="backbone")
    inputs = keras.Input((20, 24, 3))
    pooled = layers.GlobalAveragePooling2D()(backbone(inputs))
    if softmax_inside:
        classifier = keras.Sequential([keras.Input((8,)), layers.Dense(5, name="head"),
                                       layers.Softmax(name="probs")], name="classifier")
        return keras.Model(inputs, classifier(pooled))
    return keras.Model(inputs, layers.Dense(5, activation="softmax", name="head")(pooled))


@pytest.fixture
def nested_classifier():
    """The builder (a function, so a test can build several).

    A backbone Sequential (conv1, conv2) nested in a functional model; the softmax in the head or
    inside a nested classifier.
    """
    return _nested_classifier


def _mlp():
    return keras.Sequential([
        keras.Input((6,)),
        layers.Dense(7, activation="relu", name="h1"),
        layers.Dense(5, activation="relu", name="h2"),
        layers.Dense(3, activation="softmax", name="out"),
    ])


@pytest.fixture
def mlp():
    """The builder (a function, so a test can build several).

    A three-layer ReLU MLP on 6 features with a softmax head (no convolution).
    """
    return _mlp


def _guided_conv_model():
    backbone = keras.Sequential([
        keras.Input((10, 8, 2)),
        layers.Conv2D(4, 3, padding="same", name="c1"),
        layers.ReLU(name="r1"),
        layers.Conv2D(5, 3, activation="relu", name="c2"),
    ], name="backbone")
    inputs = keras.Input((10, 8, 2))
    feats = layers.Activation("relu", name="r3")(layers.Conv2D(3, 1, name="c3")(backbone(inputs)))
    pooled = layers.Flatten()(layers.MaxPooling2D(2)(feats))
    return keras.Model(inputs, layers.Dense(4, activation="softmax", name="out")(pooled))


@pytest.fixture
def guided_conv_model():
    """The builder (a function, so a test can build several).

    A nested backbone with ReLU layers and activations of every kind Guided Backpropagation must
    gate, on 10x8x2.
    """
    return _guided_conv_model


def _flatten_head_model():
    inputs = keras.Input((12, 10, 3))
    a = layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    a = layers.Conv2D(6, 3, activation="relu", name="c2")(a)
    h = layers.Dense(8, activation="relu", name="fc")(layers.Flatten()(layers.MaxPooling2D(2)(a)))
    return keras.Model(inputs, layers.Dense(5, activation="softmax", name="out")(h))


@pytest.fixture
def flatten_head_model():
    """The builder (a function, so a test can build several).

    A functional CNN on 12x10x3 (c1, c2), max pooling, a flattening head, softmax.
    """
    return _flatten_head_model


def _nested_bn_model():
    backbone = keras.Sequential([keras.Input((12, 10, 3)),
                                 layers.Conv2D(4, 3, activation="relu", name="c1"),
                                 layers.Conv2D(6, 3, activation="relu", name="c2")],
                                name="backbone")
    inputs = keras.Input((12, 10, 3))
    feats = layers.BatchNormalization(name="bn")(backbone(inputs))
    pooled = layers.Flatten()(layers.MaxPooling2D(2)(feats))
    model = keras.Model(inputs, layers.Dense(5, name="head")(pooled))
    bn = model.get_layer("bn")
    bn.moving_variance.assign(np.full(6, 3.0, np.float32))  # not the initial value (ones)
    for layer in (model.get_layer("head"), model.get_layer("backbone").get_layer("c1")):
        layer.bias.assign(np.full(layer.bias.shape, 0.1, np.float32))
    return model


@pytest.fixture
def nested_bn_model():
    """The builder (a function, so a test can build several).

    A nested backbone (c1, c2) then batch normalisation and a flattening head of 5 logits, with
    weights set away from their initial values.
    """
    return _nested_bn_model


def _seeded_small_model(seed=0, width=4):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((12, 12, 3)), layers.Conv2D(width, 3, name="conv"),
                             layers.GlobalAveragePooling2D(), layers.Dense(3, name="fc")])


@pytest.fixture
def seeded_small_model():
    """The builder (a function, so a test can build several).

    A tiny Sequential CNN on 12x12x3 whose weights depend only on ``seed``.
    """
    return _seeded_small_model


def _stem_and_backbone_model():
    backbone = keras.Sequential([keras.Input((16, 16, 3)), layers.Conv2D(4, 3, name="c1"),
                                 layers.Conv2D(5, 3, name="c2")], name="backbone")
    inputs = keras.Input((16, 16, 3))
    x = layers.Conv2D(3, 1, name="stem")(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(backbone(x))
    return keras.Model(inputs, layers.Dense(2, name="fc")(x))


@pytest.fixture
def stem_and_backbone_model():
    """The builder (a function, so a test can build several).

    A 1x1 stem, then a nested backbone (c1, c2), GAP and 2 logits, on 16x16x3.
    """
    return _stem_and_backbone_model
