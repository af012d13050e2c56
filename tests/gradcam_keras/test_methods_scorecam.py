"""Score-CAM against an unbatched reference: one masked image and one model call per channel.

The reference follows the authors' code: upsample A^k to the input size (here with
``gradcam_keras.image.upsample``, scipy's zoom, independent of the TensorFlow resize the
library uses), scale it to [0, 1], skip constant channels, score ``X * H^k`` with the model's
own softmax output, and sum ``w_k A^k`` under a ReLU.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gradcam_keras.errors import InputError
from gradcam_keras.image import upsample
from gradcam_keras.methods import ScoreCAM

DEAD, CONSTANT = 1, 4  # channels of c2 that are zero everywhere / 2.0 everywhere


def _model():
    inputs = keras.Input((12, 10, 3))
    a = layers.Conv2D(4, 3, activation="relu", name="c1")(inputs)
    a = layers.Conv2D(6, 3, activation="relu", name="c2")(a)
    model = keras.Model(inputs, layers.Dense(5, activation="softmax", name="out")(
        layers.GlobalAveragePooling2D()(a)))
    conv = model.get_layer("c2")
    kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
    bias[DEAD] = -100.0
    kernel[..., CONSTANT], bias[CONSTANT] = 0.0, 2.0
    conv.kernel.assign(kernel)
    conv.bias.assign(bias)
    return model


def _images(batch=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 12, 10, 3)).astype(np.float32)


def _reference(model, x, classes, max_channels=None):
    features = keras.Model(model.input, model.get_layer("c2").output)(x).numpy()
    maps = []
    for image, A, c in zip(x, features.astype(np.float64), classes):
        weights = np.zeros(A.shape[-1])
        kept = np.argsort(-A.std(axis=(0, 1)))[:max_channels or A.shape[-1]]
        for k in range(A.shape[-1]):
            if A[..., k].max() == A[..., k].min() or k not in kept:
                continue  # no mask (skipped, as in the authors' code), or not among the kept
            up = upsample(A[..., k], image.shape[:2]).astype(np.float64)
            mask = (up - up.min()) / (up.max() - up.min())
            probabilities = model(image[None] * mask[None, ..., None].astype(np.float32))
            weights[k] = float(probabilities[0, c])
        maps.append(np.maximum(A @ weights, 0.0))
    return np.stack(maps)


@pytest.mark.parametrize("channel_batch_size", [1, 5, 64])  # 12 masks: 12, 3 and 1 passes
def test_matches_the_one_channel_at_a_time_reference(channel_batch_size):
    model, x = _model(), _images()
    classes = [0, 3, 2]
    features = keras.Model(model.input, model.get_layer("c2").output)(x).numpy()
    assert np.all(features[..., DEAD] == 0) and np.all(features[..., CONSTANT] == 2.0)
    expected = _reference(model, x, classes)
    cam = ScoreCAM(model, "c2", channel_batch_size=channel_batch_size, batch_size=2)
    maps = cam(x, class_index=classes)
    assert maps.shape == expected.shape and maps.dtype == np.float32
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5 * expected.max())
    cam(x[:1], class_index=1)
    assert cam.trace_count == 1  # the batches of 2 and 1 share one trace


def test_faster_scorecam_scores_only_the_most_varied_channels():
    model, x = _model(), _images()
    classes = [4, 1, 0]
    expected = _reference(model, x, classes, max_channels=2)
    maps = ScoreCAM(model, "c2", max_channels=2)(x, class_index=classes)
    np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5 * expected.max())
    assert not np.allclose(maps, _reference(model, x, classes), rtol=1e-3)
    full = ScoreCAM(model, "c2", max_channels=6)(x, class_index=classes)  # K = 6: every one
    np.testing.assert_allclose(full, _reference(model, x, classes), rtol=1e-4, atol=1e-6)


def test_weights_are_probabilities_and_constant_channels_get_zero():
    model, x = _model(), _images(batch=2)
    cam = ScoreCAM(model, "c2", channel_batch_size=3)
    features = keras.Model(model.input, model.get_layer("c2").output)(x)
    weights = cam.channel_weights(tf.constant(features), None, images=tf.constant(x),
                                  classes=tf.constant([1, 4])).numpy()
    assert weights.shape == (2, 6)
    assert np.all(weights[:, [DEAD, CONSTANT]] == 0)
    others = np.delete(weights, [DEAD, CONSTANT], axis=1)
    assert np.all((others > 0) & (others < 1))


def test_a_batch_with_no_mask_at_all_gives_zero_maps():
    inputs = keras.Input((6, 6, 1))
    feats = layers.Conv2D(2, 3, activation="relu", name="flat")(inputs)
    model = keras.Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(feats)))
    model.get_layer("flat").kernel.assign(np.zeros((3, 3, 1, 2), np.float32))
    with pytest.warns(UserWarning, match="zero everywhere"):
        maps = ScoreCAM(model, "flat")(np.ones((2, 6, 6, 1), np.float32))
    assert maps.shape == (2, 4, 4) and np.all(maps == 0)


@pytest.mark.parametrize("value", [0, -3, 2.5, True, "8"])
def test_bad_channel_batch_size_and_max_channels_are_explained(value):
    with pytest.raises(InputError, match="`channel_batch_size` must be a positive int"):
        ScoreCAM(_model(), "c2", channel_batch_size=value)
    with pytest.raises(InputError, match="`max_channels` must be None .* or a positive int"):
        ScoreCAM(_model(), "c2", max_channels=value)


def test_xla_is_refused_with_the_reason():
    with pytest.raises(InputError, match="data-dependent number of masked images"):
        ScoreCAM(_model(), "c2", jit_compile=True)
