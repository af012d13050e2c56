"""Guided Backpropagation against the guided rule computed by hand, and Guided Grad-CAM.

The rule at every ReLU: R_l = [z_l > 0] * [R_{l+1} > 0] * R_{l+1}. The caller's model must be
left as it was: same layers, same activations, same weights, same plain gradients.
"""

import numpy as np
import pytest
import tensorflow as tf

from gradcam_keras.cam import GradCAM
from gradcam_keras.image import upsample
from gradcam_keras.methods.guided import GuidedBackprop, GuidedGradCAM, ends_in_relu


def _guided_by_hand(model, x, classes):
    """The rule with NumPy matrices: forward z = x W + b, backward gated at each ReLU."""
    (W1, b1), (W2, b2), (W3, _) = (model.get_layer(n).get_weights() for n in ("h1", "h2", "out"))
    z1 = x @ W1 + b1
    z2 = np.maximum(z1, 0) @ W2 + b2
    r = W3[:, classes].T                        # d y^c / d a2, one row per input
    r = (z2 > 0) * (r > 0) * r                  # guided ReLU of h2
    r = r @ W2.T
    r = (z1 > 0) * (r > 0) * r                  # guided ReLU of h1
    return r @ W1.T


def _plain_logit_gradients(model, x, classes):
    (W1, b1), (W2, b2), (W3, _) = (model.get_layer(n).get_weights() for n in ("h1", "h2", "out"))
    z1 = x @ W1 + b1
    z2 = np.maximum(z1, 0) @ W2 + b2
    return (((z2 > 0) * W3[:, classes].T) @ W2.T * (z1 > 0)) @ W1.T


def _plain_gradients(model, x, classes):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.gather(model(x), classes, batch_dims=1)
    return tape.gradient(y, x).numpy()


def test_two_layer_relu_net_follows_the_guided_rule(mlp):
    model = mlp()
    x = np.random.default_rng(0).normal(size=(16, 6)).astype(np.float32)
    classes = np.arange(16) % 3
    expected = _guided_by_hand(model, x.astype(np.float64), classes)
    assert np.count_nonzero(expected) > 10  # the gate leaves something to compare
    got = GuidedBackprop(model)(x, class_index=list(classes))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    # It is not plain backprop of the logits (that would be without the [R > 0] factors).
    assert not np.allclose(got, _plain_logit_gradients(model, x, classes), atol=1e-4)


def test_callers_model_is_unchanged_afterwards(mlp):
    model = mlp()
    x = np.random.default_rng(1).normal(size=(8, 6)).astype(np.float32)
    classes = np.arange(8) % 3
    weights = [w.copy() for w in model.get_weights()]
    before_out = model(x).numpy()
    before_grad = _plain_gradients(model, x, classes)
    GuidedBackprop(model)(x, class_index=list(classes))
    assert [lay.activation.__name__ for lay in model.layers] == ["relu", "relu", "softmax"]
    for old, new in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    np.testing.assert_array_equal(model(x).numpy(), before_out)
    np.testing.assert_array_equal(_plain_gradients(model, x, classes), before_grad)


def _conv_guided_reference(model, x, classes):
    """Forward with explicit ops; backward step by step with the guided rule at each ReLU."""
    backbone = model.get_layer("backbone")
    c1, c2 = backbone.get_layer("c1"), backbone.get_layer("c2")
    c3, out = model.get_layer("c3"), model.get_layer("out")
    x = tf.constant(x)
    z1 = tf.nn.conv2d(x, c1.kernel, 1, "SAME") + c1.bias
    z2 = tf.nn.conv2d(tf.nn.relu(z1), c2.kernel, 1, "VALID") + c2.bias
    z3 = tf.nn.conv2d(tf.nn.relu(z2), c3.kernel, 1, "VALID") + c3.bias
    with tf.GradientTape(persistent=True) as tape:  # linear pieces only: plain gradients
        for t in (x, z1, z2, z3):
            tape.watch(t)
        a1, a2, a3 = tf.nn.relu(z1), tf.nn.relu(z2), tf.nn.relu(z3)
        logits = tf.matmul(tf.reshape(tf.nn.max_pool2d(a3, 2, 2, "VALID"), (len(classes), -1)),
                           out.kernel) + out.bias
        y = tf.reduce_sum(tf.gather(logits, classes, batch_dims=1))
        after1 = tf.nn.conv2d(a1, c2.kernel, 1, "VALID") + c2.bias
        after2 = tf.nn.conv2d(a2, c3.kernel, 1, "VALID") + c3.bias
        before1 = tf.nn.conv2d(x, c1.kernel, 1, "SAME") + c1.bias

    def gate(r, z):
        return tf.cast(z > 0, r.dtype) * tf.nn.relu(r)

    r = gate(tape.gradient(y, a3), z3)
    r = gate(tape.gradient(after2, a2, output_gradients=r), z2)
    r = gate(tape.gradient(after1, a1, output_gradients=r), z1)
    return tape.gradient(before1, x, output_gradients=r).numpy()


def test_conv_net_with_relu_layers_and_a_nested_model(guided_conv_model):
    model = guided_conv_model()
    assert [ends_in_relu(model.get_layer("backbone").get_layer(n)) for n in ("c1", "r1", "c2")] \
        == [False, True, True]
    x = np.random.default_rng(2).normal(size=(3, 10, 8, 2)).astype(np.float32)
    classes = [0, 3, 1]
    expected = _conv_guided_reference(model, x, classes)
    assert np.count_nonzero(expected) > 20
    got, picked = GuidedBackprop(model).compute(x, class_index=classes)
    np.testing.assert_array_equal(picked, classes)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_guided_gradcam_is_the_product_with_the_upsampled_gradcam_map(guided_conv_model):
    model = guided_conv_model()
    x = np.random.default_rng(3).normal(size=(2, 10, 8, 2)).astype(np.float32)
    layer = "backbone/c2"
    cam = GuidedGradCAM(model, layer)
    maps = GradCAM(model, layer)(x, class_index=[0, 3])
    assert np.all(maps.max(axis=(1, 2)) > 0)  # a zero Grad-CAM factor would test nothing
    gradients = GuidedBackprop(model)(x, class_index=[0, 3])
    up = np.stack([upsample(m, (10, 8)) for m in maps])
    expected = gradients * up[..., None]
    np.testing.assert_allclose(cam.guided(x, class_index=[0, 3]), expected, rtol=1e-6,
                               atol=1e-7 * np.abs(expected).max())
    np.testing.assert_allclose(cam.pixel_maps(x, class_index=[0, 3]),
                               np.abs(expected).max(axis=-1), rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(cam(x, class_index=[0, 3]), maps)  # the Grad-CAM factor


def test_bad_arguments_are_explained(guided_conv_model, mlp):
    with pytest.raises(TypeError, match="keras.Model"):
        GuidedBackprop("vgg19")
    with pytest.raises(ValueError, match="`score` must be one of"):
        GuidedBackprop(mlp(), score="probits")
    with pytest.raises(ValueError, match=r"non-empty, finite batch.*images\[None\]"):
        GuidedBackprop(guided_conv_model())(np.zeros((0, 10, 8, 2), np.float32))
    with pytest.raises(ValueError, match=r"the model expects \(10, 8, 2\)"):
        GuidedBackprop(guided_conv_model())(np.zeros((1, 8, 8, 2), np.float32))
