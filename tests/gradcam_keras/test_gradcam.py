"""Grad-CAM maps against references written here, on every kind of model the library accepts.

Each reference splits the model by hand: the feature maps come from the layers up to the chosen
one, the scores from the rest written with plain TensorFlow ops on the layers' weights (or in
closed form), and alpha_k = spatial mean of dy^c/dA^k, L = ReLU(sum_k alpha_k A^k) in NumPy.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from gradcam_keras import GradCAM, InputError, ZeroMapWarning

RTOL = 1e-5


def _images(batch=4, height=20, width=24, channels=3, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, height, width, channels)).astype(
        np.float32)


def _reference(features, tail, classes=None):
    """Grad-CAM by hand: features [B,h,w,K]; tail maps them to the scores [B, N]."""
    A = tf.constant(features, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(A)
        scores = tail(A)
        picked = np.argmax(scores.numpy(), axis=1) if classes is None else np.asarray(classes)
        objective = tf.reduce_sum(tf.gather(scores, picked, batch_dims=1))
    grads = tape.gradient(objective, A).numpy().astype(np.float64)
    alpha = grads.mean(axis=(1, 2))
    maps = np.einsum("bhwk,bk->bhw", A.numpy().astype(np.float64), alpha)
    return np.maximum(maps, 0.0), picked


def _assert_close(actual, expected):
    assert actual.shape == expected.shape
    assert actual.dtype == np.float32
    scale = np.max(np.abs(expected))
    assert scale > 0, "a reference that is zero everywhere tests nothing"
    assert np.max(np.abs(actual - expected)) <= RTOL * scale


def _conv(layer, x, padding="VALID"):
    y = tf.nn.conv2d(x, layer.kernel, strides=layer.strides, padding=padding) + layer.bias
    return tf.nn.relu(y) if layer.activation.__name__ == "relu" else y


def _dense(layer, x):
    return tf.matmul(x, layer.kernel) + layer.bias


def test_sequential_last_conv_matches_the_closed_form(small_sequential):
    # After GAP + Dense, d y^c / d A^k_ij = W[k, c] / (h*w): Grad-CAM is CAM scaled by 1/(h*w).
    model = small_sequential()
    x = _images()
    A = _conv(model.get_layer("conv2"), _conv(model.get_layer("conv1"), x)).numpy()
    W, b = (v.numpy() for v in model.get_layer("head").weights)
    logits = A.mean(axis=(1, 2)) @ W + b
    c = logits.argmax(axis=1)
    expected = np.maximum(np.einsum("bhwk,kb->bhw", A, W[:, c]) / (16 * 20), 0)
    _assert_close(GradCAM(model, "conv2")(x), expected)


def test_sequential_first_conv_matches_reference_through_a_conv(small_sequential):
    model = small_sequential()
    x = _images()
    conv2, head = model.get_layer("conv2"), model.get_layer("head")
    A = _conv(model.get_layer("conv1"), x).numpy()
    expected, _ = _reference(A, lambda a: _dense(head, tf.reduce_mean(_conv(conv2, a), (1, 2))))
    _assert_close(GradCAM(model, "conv1")(x), expected)


def test_functional_with_a_skip_connection_at_the_add(functional_residual):
    # Batch normalisation and dropout after the layer run in inference mode.
    model = functional_residual()
    x = _images()
    a = _conv(model.get_layer("conv_a"), x, "SAME")
    A = (a + _conv(model.get_layer("conv_b"), a, "SAME")).numpy()
    fc, out, bn = (model.get_layer(n) for n in ("fc", "logits", "bn"))

    def tail(t):
        pooled = tf.nn.max_pool2d(t, 2, 2, "VALID")
        normed = ((pooled - bn.moving_mean) / tf.sqrt(bn.moving_variance + bn.epsilon)
                  * bn.gamma + bn.beta)
        return _dense(out, tf.nn.relu(_dense(fc, tf.reshape(normed, (len(x), -1)))))

    expected, _ = _reference(A, tail)
    _assert_close(GradCAM(model, "add")(x), expected)


def test_default_layer_follows_the_last_convolution_to_the_residual_sum(functional_residual):
    # conv_b -> add (same 20x24 map) -> pool: the head reads the sum, not conv_b alone.
    assert GradCAM(functional_residual()).layer == "add"


@pytest.mark.parametrize("softmax_inside", [False, True])
def test_nested_backbone_by_path(softmax_inside, nested_classifier):
    model = nested_classifier(softmax_inside)
    backbone = model.get_layer("backbone")
    head = (model.get_layer("classifier") if softmax_inside else model).get_layer("head")
    x = _images()
    A = _conv(backbone.get_layer("conv2"), _conv(backbone.get_layer("conv1"), x)).numpy()
    expected, _ = _reference(A, lambda a: _dense(head, tf.reduce_mean(a, (1, 2))))
    cam = GradCAM(model, "backbone/conv2")
    _assert_close(cam(x), expected)
    assert GradCAM(model).layer == "backbone/conv2"


@pytest.mark.parametrize("head", ["dense_softmax", "softmax_layer", "activation_layer",
                                  "dense_sigmoid"])
def test_squashing_heads_are_bypassed_to_the_logits(head):
    inputs = keras.Input((20, 24, 3))
    feats = layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    pooled = layers.GlobalAveragePooling2D()(feats)
    if head in ("dense_softmax", "dense_sigmoid"):
        outputs = layers.Dense(5, activation=head.split("_")[1], name="fc")(pooled)
    else:
        logits = layers.Dense(5, name="fc")(pooled)
        squash = layers.Softmax() if head == "softmax_layer" else layers.Activation("softmax")
        outputs = squash(logits)
    model = keras.Model(inputs, outputs)
    x = _images()
    A = _conv(model.get_layer("conv"), x).numpy()
    expected, _ = _reference(A, lambda a: _dense(model.get_layer("fc"), tf.reduce_mean(a, (1, 2))))
    _assert_close(GradCAM(model, "conv")(x), expected)


def test_softmax_score_differentiates_the_probability(small_sequential):
    model = small_sequential()
    x = _images()
    A = _conv(model.get_layer("conv2"), _conv(model.get_layer("conv1"), x)).numpy()
    head = model.get_layer("head")
    expected, _ = _reference(A, lambda a: tf.nn.softmax(_dense(head, tf.reduce_mean(a, (1, 2)))))
    _assert_close(GradCAM(model, "conv2", score="softmax")(x), expected)


def test_class_index_int_list_and_top_k(small_sequential):
    model = small_sequential(head_activation=None)
    x = _images()
    A = _conv(model.get_layer("conv2"), _conv(model.get_layer("conv1"), x)).numpy()
    head = model.get_layer("head")

    def tail(a):
        return _dense(head, tf.reduce_mean(a, (1, 2)))

    cam = GradCAM(model, "conv2")
    classes = [3, 0, 4, 1]
    expected, _ = _reference(A, tail, classes)
    result = cam.compute(x, classes)
    _assert_close(result.maps[:, 0], expected)
    np.testing.assert_array_equal(result.class_index[:, 0], classes)
    _assert_close(cam(x, class_index=2), _reference(A, tail, [2] * 4)[0])
    top = cam.compute(x, top_k=3)
    logits = tail(tf.constant(A)).numpy()
    np.testing.assert_array_equal(top.class_index, np.argsort(-logits, axis=1)[:, :3])
    for t in range(3):
        _assert_close(top.maps[:, t], _reference(A, tail, top.class_index[:, t])[0])
    np.testing.assert_allclose(top.scores, np.take_along_axis(logits, top.class_index, 1),
                               rtol=1e-5)


@pytest.mark.parametrize("class_index, message", [
    (5, "out of range"), (-1, "out of range"), ([0, 1], "2 entries for 4"),
    (True, "must be None, an int"), (1.5, "must be None, an int"), ("3", "must be None"),
])
def test_bad_class_index_is_explained(class_index, message, small_sequential):
    with pytest.raises(InputError, match=message):
        GradCAM(small_sequential(), "conv2")(_images(), class_index=class_index)


def test_bad_images_and_layers_are_explained(small_sequential):
    model = small_sequential()
    cam = GradCAM(model, "conv2")
    with pytest.raises(InputError, match=r"images\[None\]"):
        cam(_images()[0])
    with pytest.raises(InputError, match="expects"):
        cam(_images(height=21))
    with pytest.raises(InputError, match="no layer named 'conv9'.*conv1, conv2"):
        GradCAM(model, "conv9")
    with pytest.raises(InputError, match="'gap'.*not a feature map.*conv1, conv2"):
        GradCAM(model, "gap")
    with pytest.raises(TypeError, match="keras.Model"):
        GradCAM("vgg19")


def test_traced_once_per_input_shape_and_model_untouched(small_sequential):
    model = small_sequential()
    weights = [w.copy() for w in model.get_weights()]
    x = _images(batch=5)
    before = model.predict(x, verbose=0)
    cam = GradCAM(model, "conv2", batch_size=2)  # batches of 2, 2 and 1 share one trace
    first = cam(x)
    for batch in (1, 3, 5):
        cam(x[:batch])
    assert cam.trace_count == 1
    np.testing.assert_array_equal(cam(x), first)
    assert model.get_layer("head").activation.__name__ == "softmax"
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0).sum(axis=1), 1.0, rtol=1e-5)
    for old, new in zip(weights, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_any_image_size_model_traces_once_per_size():
    inputs = keras.Input((None, None, 3))
    feats = layers.Conv2D(4, 3, activation="relu", name="c")(inputs)
    model = keras.Model(inputs, layers.Dense(3, name="d")(layers.GlobalAveragePooling2D()(feats)))
    cam = GradCAM(model)
    for height, width in ((9, 7), (12, 20), (9, 7)):
        x = _images(batch=2, height=height, width=width)
        A = _conv(model.get_layer("c"), x).numpy()
        tail = lambda a: _dense(model.get_layer("d"), tf.reduce_mean(a, (1, 2)))  # noqa: E731
        _assert_close(cam(x), _reference(A, tail)[0])
    assert cam.trace_count == 2


def test_a_sequential_never_called_is_built_on_first_use():
    model = keras.Sequential([layers.Conv2D(4, 3, activation="relu", name="c"),
                              layers.GlobalAveragePooling2D(), layers.Dense(3, name="d")])
    cam = GradCAM(model)
    assert cam.layer == "c" and not model.built
    x = _images(batch=2, height=9, width=7)
    maps = cam(x)
    A = _conv(model.get_layer("c"), x).numpy()
    expected, _ = _reference(A, lambda a: _dense(model.get_layer("d"), tf.reduce_mean(a, (1, 2))))
    _assert_close(maps, expected)


def test_all_zero_map_is_reported_never_nan(small_sequential):
    model = small_sequential(head_activation=None)
    head = model.get_layer("head")
    # ReLU features are >= 0 and every class weight is < 0: every alpha_k < 0, the map is 0.
    head.kernel.assign(-np.abs(head.kernel.numpy()) - 0.1)
    with pytest.warns(ZeroMapWarning, match="zero everywhere"):
        result = GradCAM(model, "conv2").compute(_images())
    assert np.all(result.maps == 0) and np.all(result.all_zero)
    from gradcam_keras import normalize, upsample

    heat = normalize(upsample(result.maps[0, 0], (40, 30)))
    assert np.all(np.isfinite(heat)) and np.all(heat == 0)


def test_xla_compiled_step_gives_the_same_maps(functional_residual):
    model = functional_residual()
    x = _images()
    np.testing.assert_allclose(GradCAM(model, "add", jit_compile=True)(x),
                               GradCAM(model, "add")(x), rtol=1e-5, atol=1e-7)


def test_a_shared_layer_is_refused():
    conv = layers.Conv2D(3, 3, padding="same", activation="relu", name="shared")
    inputs = keras.Input((8, 8, 3))
    outputs = layers.Dense(2)(layers.GlobalAveragePooling2D()(conv(conv(inputs))))
    with pytest.raises(InputError, match="called 2 times"):
        GradCAM(keras.Model(inputs, outputs), "shared")(_images(2, 8, 8))


def test_vgg19_block5_conv4_matches_a_hand_split_reference():
    model = keras.applications.VGG19(weights=None)  # softmax head: bypassed by GradCAM
    x = keras.applications.vgg19.preprocess_input(
        np.random.default_rng(1).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32))
    A = keras.Model(model.input, model.get_layer("block5_conv4").output)(x).numpy()
    fc1, fc2, out = (model.get_layer(n) for n in ("fc1", "fc2", "predictions"))

    def tail(a):
        flat = tf.reshape(tf.nn.max_pool2d(a, 2, 2, "VALID"), (len(x), -1))
        return _dense(out, tf.nn.relu(_dense(fc2, tf.nn.relu(_dense(fc1, flat)))))

    expected, classes = _reference(A, tail)
    result = GradCAM(model, "block5_conv4").compute(x)
    assert result.maps.shape == (2, 1, 14, 14)
    np.testing.assert_array_equal(result.class_index[:, 0], classes)
    _assert_close(result.maps[:, 0], expected)


def test_subclass_hooks_weights_combination_and_objective(small_sequential):
    # BaseCAM's contract for new methods: each hook alone changes the maps as the math says.
    from gradcam_keras import BaseCAM

    class SummedGradients(BaseCAM):  # sum instead of mean: h*w times Grad-CAM (ReLU is
        def channel_weights(self, activations, grads, *, images, classes):  # homogeneous)
            return tf.reduce_sum(grads, axis=(1, 2))

    class ActivationsOnly(BaseCAM):  # no backward pass at all
        uses_gradients = False

        def channel_weights(self, activations, grads, *, images, classes):
            assert grads is None
            return tf.ones_like(activations[:, 0, 0, :])

    class Counterfactual(GradCAM):  # the paper's section 3.3: negated gradients
        def objective(self, scores, classes):
            return -super().objective(scores, classes)

    model = small_sequential(head_activation=None)
    x = _images()
    A = _conv(model.get_layer("conv2"), _conv(model.get_layer("conv1"), x)).numpy()
    head = model.get_layer("head")
    grad_cam = GradCAM(model, "conv2")(x)
    _assert_close(SummedGradients(model, "conv2")(x), grad_cam * 16 * 20)
    _assert_close(ActivationsOnly(model, "conv2")(x), np.maximum(A.sum(axis=-1), 0))
    expected, _ = _reference(A, lambda a: -_dense(head, tf.reduce_mean(a, (1, 2))),
                             classes=_top_classes(model, x))
    _assert_close(Counterfactual(model, "conv2")(x), expected)


def _top_classes(model, x):
    return np.argmax(model.predict(x, verbose=0), axis=1)
