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
from gradcam_keras._graph import GraphRunner
from gradcam_keras.cam import Explainer, GradCAM, check_images
from gradcam_keras.errors import InputError
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


class _GuidedPass(GraphRunner):
    """The model's graph with every ReLU's output passed through ``positive_gradient_gate``."""

    def after(self, op, out):
        """Gate the output of a layer that ends in a ReLU."""
        return positive_gradient_gate(out) if ends_in_relu(op) else out


def guided_forward(model, inputs):
    """Run ``model`` on ``inputs`` with every ReLU guided; return the scores before the head.

    Args:
        model: a Sequential or functional Keras model (nested models are followed).
        inputs: a batch for the model.

    Returns:
        The model's output, with a final softmax/sigmoid left out (the logits).
    """
    return _GuidedPass().run(model, inputs)


class GuidedBackprop(Explainer):
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
        >>> GuidedBackprop(model)(images).shape        # [batch, H, W, channels]
        (4, 20, 24, 3)
    """

    def __init__(self, model, *, score="logits", batch_size=16):
        super().__init__(model, score, batch_size)

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
        images = check_images(images, self.model, spatial=False)
        if class_index is not None and np.ndim(class_index) > 1:
            raise InputError("`class_index` must be None, an int or one int per image")
        targets = targets_lib.build(class_index, None, len(images), self.num_classes)
        gradients, classes = self._batched(images, targets)
        return gradients, classes

    def _step(self, images, targets):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            scores, _ = self._scores(guided_forward(self.model, images))
            classes = targets_lib.resolve(scores, targets)[:, 0]
            objective = tf.gather(scores, classes, batch_dims=1)
        return tape.gradient(objective, images), classes


class GuidedGradCAM(GradCAM):
    """Guided Grad-CAM: Guided Backpropagation times the upsampled Grad-CAM map (paper Fig. 1).

    ``compute`` and ``__call__`` return the Grad-CAM factor (maps at the layer's resolution, as
    every ``BaseCAM``); ``guided`` returns the product at the input's resolution and
    ``pixel_maps`` its magnitude. Arguments are those of ``BaseCAM``.

    Example:
        >>> cam = GuidedGradCAM(model, "conv2")
        >>> cam.guided(images).shape              # signed, at the input's resolution
        (4, 20, 24, 3)
        >>> bool((cam.pixel_maps(images) >= 0).all())
        True
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
        return self._guided(images, self.compute(images, class_index), 0)

    def pixel_maps(self, images, class_index=None):
        """Return ``max_channels |guided(images)|``, ``[batch, H, W]`` float32, ``>= 0``."""
        return np.max(np.abs(self.guided(images, class_index)), axis=-1)

    def shown_maps(self, images, class_index=None, *, top_k=None):
        """Return ``(CAMResult, pixel maps [batch, targets, H, W])``: what the figure shows."""
        result = self.compute(images, class_index, top_k=top_k)
        pixels = [np.max(np.abs(self._guided(images, result, t)), axis=-1)
                  for t in range(result.maps.shape[1])]
        return result, np.stack(pixels, axis=1)

    def _guided(self, images, result, target):
        """``GB(x) * up(L^c)`` for the classes of column ``target`` of ``result``."""
        classes = [int(c) for c in result.class_index[:, target]]
        if getattr(self, "_backprop", None) is None:  # one traced function per CAM object
            self._backprop = GuidedBackprop(self.model, score=self.score,
                                            batch_size=self.batch_size)
        gradients, _ = self._backprop.compute(images, classes)
        size = gradients.shape[1:3]
        cams = np.stack([upsample(m, size) for m in result.maps[:, target]])
        return gradients * cams[..., None]
