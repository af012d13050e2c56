"""Gradient-weighted CAM methods: each is Grad-CAM with other channel weights or another sum.

Notation (as in ``gradcam_keras.cam``): ``A^k_ij`` the layer's feature maps, ``y^c`` the class
score (before the softmax unless ``score="softmax"``), ``g^k_ij = d y^c / d A^k_ij``. Every map
is ``ReLU(...)`` at the layer's resolution, not normalised, like ``GradCAM``'s.

- ``GradCAMPlusPlus`` (Chattopadhay et al., WACV 2018): pixel-wise weights on the positive
  gradients, from the paper's closed form.
- ``HiResCAM`` (Draelos & Carin 2020): ``ReLU(sum_k g^k * A^k)``, gradients kept per location.
- ``LayerCAM`` (Jiang et al., TIP 2021): ``ReLU(sum_k ReLU(g^k) * A^k)``.
- ``XGradCAM`` (Fu et al., BMVC 2020): gradients averaged with the activations as weights.
- ``CounterfactualCAM`` (Selvaraju et al. 2017, section 3.3): Grad-CAM of ``-y^c``, the regions
  whose removal would make the network more confident in the class.
"""

import tensorflow as tf

from gradcam_keras.cam import BaseCAM, GradCAM


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++: channel weights that sum the positive gradients with per-location ``a^kc_ij``.

    Implements the paper's closed form (Chattopadhay et al. 2018, eq. 19), derived for the
    exponential score ``S^c = exp(y^c)`` and a ``y^c`` that is piecewise linear in ``A`` (so
    higher derivatives of ``y^c`` vanish and those of ``S^c`` are powers of ``g``)::

        a^kc_ij = g_ij^2 / (2 g_ij^2 + sum_ab A^k_ab g_ij^3)     (0 where the denominator is 0)
        w^c_k   = sum_ij a^kc_ij ReLU(d S^c / d A^k_ij),  d S^c / d A^k_ij = exp(y^c) g_ij
        L^c     = ReLU(sum_k w^c_k A^k)

    ``exp(y^c)`` cancels in ``a`` and only scales ``w`` (and the map) by one positive number per
    image, so it is left out: the maps equal the paper's divided by ``exp(y^c)``, which keeps
    them finite for large logits. The ``a`` are not normalised to sum to 1 (as in the paper and
    pytorch-grad-cam; tf-keras-vis normalises them, which rescales each channel differently).
    Arguments are those of ``BaseCAM``.

    Example:
        >>> GradCAMPlusPlus(model, "conv2")(images).shape
        (4, 16, 20)
    """

    def channel_weights(self, activations, grads, *, images, classes):
        """Return ``w^c_k = sum_ij a^kc_ij ReLU(g_ij)``, ``[batch, channels]``."""
        del images, classes
        grads2 = tf.square(grads)
        spatial_sum = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
        denominator = 2.0 * grads2 + spatial_sum * grads2 * grads
        alphas = tf.math.divide_no_nan(grads2, denominator)
        return tf.reduce_sum(alphas * tf.nn.relu(grads), axis=(1, 2))


class _LocationWeightedCAM(BaseCAM):
    """A CAM whose weights vary per location: ``ReLU(sum_k W^k_ij A^k_ij)``."""

    def location_weights(self, grads):
        """Return ``[batch, h, w, channels]`` weights for the feature maps."""
        raise NotImplementedError

    def channel_weights(self, activations, grads, *, images, classes):
        """No channel weights: ``combine`` weights each location (see ``location_weights``)."""
        del activations, grads, images, classes
        return None

    def combine(self, activations, grads, weights):
        """Return ``ReLU(sum_k W^k * A^k)``, ``[batch, h, w]``."""
        del weights
        return tf.nn.relu(tf.reduce_sum(self.location_weights(grads) * activations, axis=-1))


class HiResCAM(_LocationWeightedCAM):
    """HiResCAM: ``L^c = ReLU(sum_k g^k * A^k)``, the gradient multiplied location by location.

    Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations of
    convolutional neural networks", 2020. Where the gradient is the same at every location
    (global average pooling then dense layers) it equals Grad-CAM, whose spatial mean of a
    constant is that constant. Elsewhere (a flattening head, strided pooling) it keeps which
    locations the score really used. Arguments are those of ``BaseCAM``.

    Example:
        >>> HiResCAM(model, "conv2")(images).shape
        (4, 16, 20)
    """

    def location_weights(self, grads):
        """Return the gradients themselves."""
        return grads


class LayerCAM(_LocationWeightedCAM):
    """LayerCAM: ``L^c = ReLU(sum_k ReLU(g^k) * A^k)``, positive gradients per location.

    Jiang et al., "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization",
    IEEE TIP 2021. Arguments are those of ``BaseCAM``.

    Example:
        >>> LayerCAM(model, "conv1")(images).shape   # also useful at shallow layers
        (4, 18, 22)
    """

    def location_weights(self, grads):
        """Return ``ReLU(g)``."""
        return tf.nn.relu(grads)


class XGradCAM(BaseCAM):
    """XGrad-CAM: ``w_k = sum_ij (A^k_ij / sum_ab A^k_ab) g^k_ij``.

    Fu et al., "Axiom-based Grad-CAM", BMVC 2020: the gradients averaged with the normalised
    activations as weights. A channel whose activations sum to 0 gets weight 0 (its term
    ``w_k A^k`` is zero anyway when the channel is zero everywhere). Arguments are those of
    ``BaseCAM``.

    Example:
        >>> XGradCAM(model, "conv2")(images).shape
        (4, 16, 20)
    """

    def channel_weights(self, activations, grads, *, images, classes):
        """Return ``sum_ij A^k_ij g^k_ij / sum_ij A^k_ij``, ``[batch, channels]``.

        Both sums are accumulated in float64: at a layer before BatchNormalization a channel's
        activations can nearly cancel (a sum of 3.5e-3 against values of 459), and float32
        would then lose several percent of the weight.
        """
        del images, classes
        activations = tf.cast(activations, tf.float64)
        numerator = tf.reduce_sum(tf.cast(grads, tf.float64) * activations, axis=(1, 2))
        weights = tf.math.divide_no_nan(numerator, tf.reduce_sum(activations, axis=(1, 2)))
        return tf.cast(weights, tf.float32)


class CounterfactualCAM(GradCAM):
    """Counterfactual explanation: Grad-CAM of the negated score (paper section 3.3).

    ``alpha_k = mean_ij (-d y^c / d A^k_ij)`` and ``L = ReLU(sum_k alpha_k A^k)``: the regions
    that speak against class ``c``; removing them would raise the network's confidence in it.
    Arguments are those of ``BaseCAM``.

    Example:
        >>> against = CounterfactualCAM(model, "conv2")(images, class_index=3)
        >>> bool((against >= 0).all())
        True
    """

    def objective(self, scores, classes):
        """Return ``-y^c``."""
        return -super().objective(scores, classes)
