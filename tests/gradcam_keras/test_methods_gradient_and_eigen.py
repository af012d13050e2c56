"""Gradient-based CAM methods and Eigen-CAM against references written here from the papers.

The model under test has a flattening head, so the gradient differs from location to location
and the methods really differ. Each reference splits the model by hand: the feature maps ``A``
come from the layers up to the chosen one, the scores from the rest re-written with plain
TensorFlow ops on the layers' weights; ``g = dy^c/dA`` from a tape on that hand-written tail;
then each method's formula in NumPy (float64).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gradcam_keras.cam import GradCAM
from gradcam_keras.methods import (
    METHODS,
    CounterfactualCAM,
    EigenCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    XGradCAM,
    get_method,
)

RTOL = 1e-5


def _images(batch=4, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, 12, 10, 3)).astype(np.float32)


def _conv(layer, x):
    return tf.nn.relu(tf.nn.conv2d(x, layer.kernel, 1, "VALID") + layer.bias)


def _features_and_grads(model, x, classes=None, sign=1.0):
    """A = c2's output, g = d(sign * y^c)/dA through the hand-written tail; float64."""
    A = tf.constant(_conv(model.get_layer("c2"), _conv(model.get_layer("c1"), x)))
    fc, out = model.get_layer("fc"), model.get_layer("out")
    with tf.GradientTape() as tape:
        tape.watch(A)
        flat = tf.reshape(tf.nn.max_pool2d(A, 2, 2, "VALID"), (len(x), -1))
        logits = tf.matmul(tf.nn.relu(tf.matmul(flat, fc.kernel) + fc.bias), out.kernel) + out.bias
        picked = np.argmax(logits.numpy(), 1) if classes is None else np.asarray(classes)
        objective = sign * tf.reduce_sum(tf.gather(logits, picked, batch_dims=1))
    grads = tape.gradient(objective, A)
    return A.numpy().astype(np.float64), grads.numpy().astype(np.float64)


def _relu_sum(A, weights):
    """ReLU(sum_k w_k A^k) for channel weights [B, K] or location weights [B, h, w, K]."""
    if weights.ndim == 2:
        weights = weights[:, None, None, :]
    return np.maximum((weights * A).sum(axis=-1), 0.0)


def _assert_close(actual, expected):
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    scale = np.max(np.abs(expected))
    assert scale > 0, "a reference that is zero everywhere tests nothing"
    assert np.max(np.abs(actual - expected)) <= RTOL * scale


def _gradcam_pp(A, g):
    # Chattopadhay et al. eq. 19 (exp score; exp(y^c) left out, it only scales the map).
    denominator = 2 * g**2 + A.sum(axis=(1, 2), keepdims=True) * g**3
    safe = np.where(denominator == 0, 1.0, denominator)
    alpha = np.where(denominator == 0, 0.0, g**2 / safe)
    return _relu_sum(A, (alpha * np.maximum(g, 0)).sum(axis=(1, 2)))


def _xgradcam(A, g):
    totals = A.sum(axis=(1, 2))
    weights = (A * g).sum(axis=(1, 2)) / np.where(totals == 0, 1.0, totals)
    return _relu_sum(A, np.where(totals == 0, 0.0, weights))


REFERENCES = {
    GradCAM: lambda A, g: _relu_sum(A, g.mean(axis=(1, 2))),
    GradCAMPlusPlus: _gradcam_pp,
    HiResCAM: lambda A, g: _relu_sum(A, g),
    LayerCAM: lambda A, g: _relu_sum(A, np.maximum(g, 0)),
    XGradCAM: _xgradcam,
}


@pytest.mark.parametrize("method", list(REFERENCES), ids=lambda m: m.__name__)
def test_gradient_methods_match_their_formulas(method, flatten_head_model):
    model, x = flatten_head_model(), _images()
    classes = [3, 0, 4, 1]
    A, g = _features_and_grads(model, x, classes)
    _assert_close(method(model, "c2")(x, class_index=classes), REFERENCES[method](A, g))
    A, g = _features_and_grads(model, x)  # class_index=None: each image's top class
    _assert_close(method(model, "c2")(x), REFERENCES[method](A, g))


def test_the_methods_really_differ_on_this_model(flatten_head_model):
    model, x = flatten_head_model(), _images()
    A, g = _features_and_grads(model, x)
    maps = [REFERENCES[m](A, g) for m in REFERENCES]
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            assert not np.allclose(maps[i], maps[j], rtol=1e-3), (i, j)


def test_gradcam_pp_alphas_from_a_hand_computed_cell():
    # One image, one channel, 1x2 map: A = [1, 3], g = [2, -1] (sum A = 4).
    # alpha = g^2 / (2 g^2 + 4 g^3): [4 / (8 + 32), 1 / (2 - 4)] = [0.1, -0.5];
    # w = 0.1 * relu(2) + (-0.5) * relu(-1) = 0.2; map = relu(0.2 * [1, 3]) = [0.2, 0.6].
    cam = GradCAMPlusPlus.__new__(GradCAMPlusPlus)  # only the weight formula is exercised
    A = tf.constant([[[[1.0], [3.0]]]])
    g = tf.constant([[[[2.0], [-1.0]]]])
    weights = cam.channel_weights(A, g, images=None, classes=None)
    np.testing.assert_allclose(weights.numpy(), [[0.2]], rtol=1e-6)
    np.testing.assert_allclose(cam.combine(A, g, weights).numpy(), [[[0.2, 0.6]]], rtol=1e-6)


def test_hirescam_equals_gradcam_under_global_average_pooling():
    # GAP then Dense: dy^c/dA^k_ij = W[k, c] / (h*w) at every location, so summing g * A over
    # channels is Grad-CAM's mean-gradient weighting; XGrad-CAM's weighted mean of a constant too.
    inputs = keras.Input((9, 7, 3))
    feats = layers.Conv2D(5, 3, activation="relu", name="conv")(inputs)
    model = keras.Model(inputs, layers.Dense(4, name="d")(layers.GlobalAveragePooling2D()(feats)))
    x = np.random.default_rng(1).normal(size=(3, 9, 7, 3)).astype(np.float32)
    reference = GradCAM(model, "conv")(x)
    np.testing.assert_allclose(HiResCAM(model, "conv")(x), reference, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(XGradCAM(model, "conv")(x), reference, rtol=1e-5, atol=1e-7)


def test_counterfactual_is_gradcam_of_the_negated_score(flatten_head_model):
    model, x = flatten_head_model(), _images()
    classes = [2, 2, 0, 1]
    A, g = _features_and_grads(model, x, classes, sign=-1.0)
    expected = _relu_sum(A, g.mean(axis=(1, 2)))
    _assert_close(CounterfactualCAM(model, "c2")(x, class_index=classes), expected)
    # Where Grad-CAM's weighted sum is positive the counterfactual one is negative: disjoint.
    plain = GradCAM(model, "c2")(x, class_index=classes)
    assert not np.any((plain > 0) & (expected > 0))


def _eigen_reference(A):
    maps = []
    for image in A:
        matrix = image.reshape(-1, image.shape[-1])
        _, _, vt = np.linalg.svd(matrix, full_matrices=False)
        projection = matrix @ vt[0]
        projection *= np.sign(projection[np.argmax(np.abs(projection))])
        maps.append(np.maximum(projection, 0).reshape(image.shape[:2]))
    return np.stack(maps)


def test_eigencam_is_the_projection_on_the_first_principal_direction(flatten_head_model):
    model, x = flatten_head_model(), _images()
    A, _ = _features_and_grads(model, x)
    maps = EigenCAM(model, "c2")(x)
    _assert_close(maps, _eigen_reference(A))
    # ReLU features are non-negative: Perron-Frobenius makes v1 >= 0 (up to sign), so the
    # projection on |v1| is >= 0 everywhere and equals the map: the ReLU removes nothing.
    for image, cam_map in zip(A, maps):
        matrix = image.reshape(-1, image.shape[-1])
        projection = matrix @ np.abs(np.linalg.svd(matrix, full_matrices=False)[2][0])
        np.testing.assert_allclose(cam_map.ravel(), projection, rtol=1e-4,
                                   atol=1e-6 * projection.max())


@pytest.mark.parametrize("flip", [1.0, -1.0])
def test_eigencam_of_rank_one_features_is_the_spatial_factor(flip):
    # A = u v^T (u >= 0 over locations, v over channels, of mixed sign): s1 = |u| |v| and
    # A v1 = +-u |v|; the sign rule keeps +u |v| for v and for -v alike. A 1x1 linear
    # convolution with kernel v puts exactly u v^T into the layer.
    u = np.array([0.0, 1.0, 2.0, 0.5, 3.0, 1.5], np.float32).reshape(1, 2, 3, 1)
    v = flip * np.array([1.0, -2.0, 0.5, 2.0], np.float32)
    inputs = keras.Input((2, 3, 1))
    feats = layers.Conv2D(4, 1, use_bias=False, name="lift")(inputs)
    model = keras.Model(inputs, layers.Dense(3)(layers.Flatten()(feats)))
    model.get_layer("lift").kernel.assign(v.reshape(1, 1, 1, 4))
    np.testing.assert_allclose(EigenCAM(model, "lift")(u), u[..., 0] * np.linalg.norm(v),
                               rtol=1e-5, atol=1e-6)


def test_registry_names_and_unknown_name():
    assert list(METHODS) == ["gradcam", "gradcam++", "hirescam", "layercam", "xgradcam",
                             "scorecam", "eigencam", "guided-gradcam", "counterfactual"]
    assert get_method("gradcam++") is GradCAMPlusPlus
    with pytest.raises(ValueError, match="unknown CAM method 'grad-cam'.*gradcam, gradcam\\+\\+"):
        get_method("grad-cam")
