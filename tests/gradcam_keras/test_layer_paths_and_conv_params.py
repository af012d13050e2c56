"""Parameter counts of convolutional layers against Keras, and finding layers by path."""

import math

import keras
import numpy as np
import pytest
from keras import layers

from gradcam_keras import InputError
from gradcam_keras.layer_paths import default_layer, resolve_layer
from gradcam_keras.models import conv_param_count, describe_conv_layers


def conv_output_size(size, kernel, stride=1, padding="valid", dilation=1):
    """Output length of a convolution along one axis: the textbook formula Keras must match."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - dilation * (kernel - 1) - 1) // stride + 1

CASES = [
    (lambda: layers.Conv2D(10, 5), (200, 200, 3)),  # the textbook example: 196x196x10, 760
    (lambda: layers.Conv2D(64, 3, padding="same"), (224, 224, 3)),
    (lambda: layers.Conv2D(16, (3, 5), strides=2), (31, 17, 4)),
    (lambda: layers.Conv2D(16, (3, 5), strides=(3, 2), padding="same"), (31, 17, 4)),
    (lambda: layers.Conv2D(8, 3, dilation_rate=2), (20, 20, 2)),
    (lambda: layers.Conv2D(12, 3, groups=3), (10, 10, 6)),
    (lambda: layers.Conv2D(7, 1, use_bias=False), (5, 9, 11)),
    (lambda: layers.Conv1D(5, 4, strides=3), (50, 2)),
    (lambda: layers.Conv3D(4, (2, 3, 3)), (8, 9, 10, 3)),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2), (12, 12, 5)),
    (lambda: layers.DepthwiseConv2D(3, use_bias=False), (12, 12, 5)),
    (lambda: layers.SeparableConv2D(9, 3, depth_multiplier=2), (12, 12, 5)),
    (lambda: layers.SeparableConv1D(4, 3, use_bias=False), (16, 3)),
    (lambda: layers.Conv2DTranspose(6, 3, strides=2), (7, 7, 4)),
]


def _random_conv2d_cases(count=25, seed=7):
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(count):
        kernel = tuple(int(k) for k in rng.integers(1, 6, 2))
        dilated = rng.random() < 0.3  # Keras allows dilation only with stride 1
        strides = (1, 1) if dilated else tuple(int(s) for s in rng.integers(1, 4, 2))
        dilation = tuple(int(d) for d in rng.integers(1, 3, 2)) if dilated else (1, 1)
        kwargs = dict(filters=int(rng.integers(1, 33)), kernel_size=kernel, strides=strides,
                      padding=str(rng.choice(["valid", "same"])), dilation_rate=dilation,
                      use_bias=bool(rng.random() < 0.8))
        shape = (int(rng.integers(16, 60)), int(rng.integers(16, 60)), int(rng.integers(1, 9)))
        cases.append((lambda kw=kwargs: layers.Conv2D(**kw), shape))
    return cases


def _built(make, shape):
    layer = make()
    keras.Sequential([keras.Input(shape), layer])
    return layer


@pytest.mark.parametrize("make, shape", CASES + _random_conv2d_cases())
def test_parameter_formula_equals_keras_count(make, shape):
    layer = _built(make, shape)
    count, formula = conv_param_count(layer)
    assert count == layer.count_params()
    assert eval(formula) == count  # the printed formula is the arithmetic it claims


@pytest.mark.parametrize("make, shape", [c for c in CASES + _random_conv2d_cases()
                                         if "Transpose" not in type(c[0]()).__name__])
def test_output_size_formula_equals_keras_shape(make, shape):
    layer = _built(make, shape)
    expected = [conv_output_size(n, k, s, layer.padding, d) for n, k, s, d in zip(
        shape[:-1], layer.kernel_size, layer.strides, layer.dilation_rate, strict=True)]
    assert list(layer.output.shape[1:-1]) == expected


def test_the_textbook_example():
    layer = _built(lambda: layers.Conv2D(10, 5), (200, 200, 3))
    assert tuple(layer.output.shape) == (None, 196, 196, 10)
    assert conv_param_count(layer) == (760, "5*5*10*3 + 10")


def test_layers_are_found_by_path_through_nested_models(stem_and_backbone_model):
    model = stem_and_backbone_model()
    ref = resolve_layer(model, "backbone/c2")
    assert ref.layer is model.get_layer("backbone").get_layer("c2")
    assert [layer.name for layer in ref.chain] == ["backbone", "c2"]
    assert default_layer(model) == "backbone/c2"
    rows = describe_conv_layers(model)
    assert [r["path"] for r in rows] == ["stem", "backbone/c1", "backbone/c2"]
    assert rows[2]["output_shape"] == (None, 12, 12, 5)
    assert rows[2]["params"] == 3 * 3 * 5 * 4 + 5


def test_unknown_paths_list_the_valid_layers(stem_and_backbone_model):
    model = stem_and_backbone_model()
    with pytest.raises(InputError, match="sub-model 'backbone' has no layer named 'c9'.*"
                                         "stem, backbone/c1, backbone/c2"):
        resolve_layer(model, "backbone/c9")
    with pytest.raises(InputError, match="the model has no layer named 'gap2'"):
        resolve_layer(model, "gap2")
    with pytest.raises(InputError, match="no layer named 'x'"):
        resolve_layer(model, "fc/x")  # fc is not a model: nothing inside it


def test_a_model_without_convolutions_has_no_default_layer():
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    with pytest.raises(InputError, match="no convolutional layer"):
        default_layer(model)
