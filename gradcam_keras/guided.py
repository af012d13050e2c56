"""Guided Backpropagation and Guided Grad-CAM, without touching the caller's model.

Guided Backpropagation (Springenberg et al., "Striving for Simplicity", ICLR 2015 workshop)
differentiates the class score with respect to the input pixels, but at every ReLU it passes
back only positive signals through positive activations::

    R_l = [z_l > 0] * [R_{l+1} > 0] * R_{l+1}        (plain backprop: [z_l > 0] * R_{l+1})

Guided Grad-CAM (Selvaraju et al. 2017, Fig. 1) multiplies that pixel-space gradient with the
bilinearly upsampled Grad-CAM map: fine detail, but only where the class is.

How the caller's model stays untouched: the model's layer graph is run again (nested models
included) with the live layers and their weights, and the output of every layer that ends in a
ReLU goes through ``positive_gradient_gate``, an identity whose gradient keeps only the positive
part of the incoming signal. The layer's own ReLU then multiplies by ``[z > 0]`` on the way
back, which together is the guided rule. No layer, activation or weight of the model is changed
or copied, and the gate exists only inside this module's traced functions.
"""

import keras
import numpy as np
import tensorflow as tf

from gradcam_keras import targets as targets_lib
from gradcam_keras.cam import GradCAM, check_explainer_arguments
from gradcam_keras.errors import InputError
from gradcam_keras.graph import final_operation, is_squashing, pre_activation
from gradcam_keras.image import upsample

_RELUS = frozenset({"relu", "relu6"})


@tf.custom_gradient
def positive_gradient_gate(x):
    """Identity whose gradient is ``ReLU(dy)``: placed after a ReLU, it makes the ReLU guided."""
    def grad(upstream):
        return tf.nn.relu(upstream)

    return tf.identity(x), grad


def ends_in_relu(layer):
    """Whether ``layer``'s output comes out of a ReLU (its activation, or a ReLU layer)."""
    if isinstance(layer, keras.layers.ReLU):
        return float(layer.negative_slope) == 0.0
    return getattr(getattr(layer, "activation", None), "__name__", None) in _RELUS


def guided_forward(model, inputs):
    """Run ``model`` on ``inputs`` with every ReLU guided; return the scores before the head.

    Args:
        model: a Sequential or functional Keras model (nested models are followed).
        inputs: a batch for the model.

    Returns:
        The model's output, with a final softmax/sigmoid left out (the logits).
    """
    return _run(model, inputs, final=True)


def _run(model, inputs, final):
    if isinstance(model, keras.Sequential):
        x = inputs
        for layer in model.layers:
            x = _caller(model, layer, final)(x)
        return x
    if not hasattr(model, "_run_through_graph"):
        raise TypeError(f"model {model.name!r} is a subclassed model; its layer graph cannot be "
                        "re-run, so wrap it in a functional or Sequential model")
    outputs = model._run_through_graph([inputs], operation_fn=lambda op: _caller(model, op, final))
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs


def _caller(model, op, final):
    is_final = final and op is final_operation(model)

    def call(*args, **kwargs):
        if isinstance(op, keras.Model):
            return _run(op, args[0], final=is_final)
        if is_final and is_squashing(op):
            return pre_activation(op, args[0])
        out = op(*args, **kwargs)
        return positive_gradient_gate(out) if ends_in_relu(op) else out

    return call


class GuidedBackprop:
    """Guided Backpropagation: ``d y^c / d x`` through guided ReLUs, one map per input pixel.

    Args:
        model: a Sequential or functional Keras model with one input and class scores
            ``[batch, classes]`` as its one output. Never modified.
        score: ``"logits"`` (default; a softmax/sigmoid head is bypassed) or ``"softmax"``.
        batch_size: images per pass. Defaults to 16.

    Raises:
        TypeError: ``model`` is not a Keras model.
        InputError: unknown ``score`` or bad ``batch_size``.

    Example:
        >>> gradients = GuidedBackprop(model)(images)        # [batch, H, W, channels]
    """

    def __init__(self, model, *, score="logits", batch_size=16):
        check_explainer_arguments(model, score, batch_size)
        self.model = model
        self.score = score
        self.batch_size = batch_size
        self._functions = {}

    def __call__(self, images, class_index=None):
        """Return the guided gradients, float32, shaped like ``images``.

        Args:
            images: ``[batch, H, W, channels]`` preprocessed for the model (any input shape
                the model takes, batch first).
            class_index: None (each image's top class), an int, or one int per image.

        Returns:
            np.ndarray ``[batch, H, W, channels]`` float32.

        Raises:
            InputError: images of the wrong shape or not finite; bad class indices.
        """
        return self.compute(images, class_index)[0]

    def compute(self, images, class_index=None):
        """Return ``(gradients [batch, H, W, C], classes [batch])`` for the images."""
        images = self._check_images(images)
        if class_index is not None and np.ndim(class_index) > 1:
            raise InputError("`class_index` must be None, an int or one int per image")
        if not self.model.built:
            self.model.build((None,) + images.shape[1:])  # a Sequential never called
        num_classes = int(self.model.outputs[0].shape[-1])
        targets = targets_lib.build(class_index, None, len(images), num_classes)
        step = self._function(images.shape[1:])
        parts = [step(images[i:i + self.batch_size], targets[i:i + self.batch_size])
                 for i in range(0, len(images), self.batch_size)]
        return (np.concatenate([p[0].numpy() for p in parts]),
                np.concatenate([p[1].numpy() for p in parts]))

    def _check_images(self, images):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim < 2 or images.shape[0] == 0 or not np.all(np.isfinite(images)):
            raise InputError(f"`images` must be a non-empty, finite batch [batch, ...] (e.g. "
                             f"[batch, height, width, channels]), got shape {images.shape}; "
                             "for one image use images[None]")
        if self.model.built:
            expected = tuple(self.model.inputs[0].shape[1:])
            if len(expected) != images.ndim - 1 or any(
                    e is not None and e != g for e, g in zip(expected, images.shape[1:])):
                raise InputError(f"`images` have shape {images.shape[1:]} per image, the model "
                                 f"expects {expected}; resize them first")
        return images

    def _function(self, image_shape):
        key = tuple(image_shape)
        if key not in self._functions:
            signature = [tf.TensorSpec((None,) + key, tf.float32),
                         tf.TensorSpec((None, 1), tf.int32)]
            self._functions[key] = tf.function(self._step, input_signature=signature,
                                               autograph=False)
        return self._functions[key]

    def _step(self, images, targets):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            logits = tf.cast(guided_forward(self.model, images), tf.float32)
            scores = tf.nn.softmax(logits) if self.score == "softmax" else logits
            classes = targets_lib.resolve(scores, targets)[:, 0]
            objective = tf.gather(scores, classes, batch_dims=1)
        return tape.gradient(objective, images), classes


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: Guided Backpropagation times the upsampled Grad-CAM map (paper Fig. 1).

    ``compute`` and ``__call__`` return the Grad-CAM factor (maps at the layer's resolution, as
    every ``BaseCAM``); ``guided`` returns the product at the input's resolution and
    ``pixel_maps`` its magnitude. Arguments are those of ``BaseCAM``.

    Example:
        >>> cam = GuidedGradCAM(model, "block5_conv4")
        >>> detail = cam.guided(images)           # [batch, 224, 224, 3], signed
        >>> heat = cam.pixel_maps(images)         # [batch, 224, 224], >= 0
    """

    def guided(self, images, class_index=None):
        """Return ``GB(x) * up(L^c)``, ``[batch, H, W, channels]`` float32 (signed).

        Args:
            images: ``[batch, H, W, channels]`` preprocessed for the model.
            class_index: None (each image's top class), an int, or one int per image.

        Returns:
            np.ndarray ``[batch, H, W, channels]``; the Grad-CAM map is upsampled bilinearly
            with ``gradcam_keras.image.upsample`` and not normalised.
        """
        result = self.compute(images, class_index)
        classes = [int(c) for c in result.class_index[:, 0]]
        if getattr(self, "_backprop", None) is None:  # one traced function per CAM object
            self._backprop = GuidedBackprop(self.model, score=self.score,
                                            batch_size=self.batch_size)
        gradients, _ = self._backprop.compute(images, classes)
        size = gradients.shape[1:3]
        cams = np.stack([upsample(m, size) for m in result.maps[:, 0]])
        return gradients * cams[..., None]

    def pixel_maps(self, images, class_index=None):
        """Return ``max_channels |guided(images)|``, ``[batch, H, W]`` float32, ``>= 0``."""
        return np.max(np.abs(self.guided(images, class_index)), axis=-1)
