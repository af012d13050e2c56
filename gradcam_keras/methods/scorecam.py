"""Score-CAM: channels weighted by the class probability of the image masked by each channel."""

import tensorflow as tf

from gradcam_keras.cam import BaseCAM
from gradcam_keras.errors import InputError, check_positive_int, is_int


class ScoreCAM(BaseCAM):
    """Score-CAM: ``w_k = p_c(X * H^k)``, no gradients; masked images scored in large batches.

    Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural
    Networks", CVPR workshops 2020. For each channel ``k`` the map ``A^k`` is upsampled to the
    input's size (bilinear, pixel-area aligned like ``gradcam_keras.image.upsample``) and scaled
    to ``[0, 1]``: ``H^k = (up(A^k) - min) / (max - min)``. The model then scores the masked
    input ``X * H^k`` (the preprocessed image times the mask, as the authors' code does), and
    ``w_k`` is the softmax probability of class ``c`` there (the paper's section 4.2), whatever
    ``score`` says (``score`` still picks the reported scores and, with ``class_index=None``,
    the class). ``L^c = ReLU(sum_k w_k A^k)``.

    A channel that is constant over the map has no mask (``max == min``); like the authors'
    code, it is skipped and gets weight 0, and its masked image is never computed. The other
    masked inputs of the whole batch are gathered and run through the model
    ``channel_batch_size`` at a time: ``ceil(n / channel_batch_size)`` calls for ``n`` masks
    instead of ``n``. The arithmetic stays one forward pass per mask, so on a CPU a large model
    costs about ``n`` forward passes whatever the batching (see benchmarks/localization.py).

    ``max_channels=N`` is Faster Score-CAM (tabayashi0117; tf-keras-vis's ``max_N``): only the
    ``N`` channels with the largest spatial standard deviation of ``A^k`` in each image are
    scored, the others get weight 0. An approximation that costs ``N / K`` of the full method.

    Args:
        model: see ``BaseCAM``.
        layer: see ``BaseCAM``.
        channel_batch_size: masked images per forward pass. Defaults to 32.
        max_channels: score only this many channels per image (Faster Score-CAM). Defaults to
            None: every channel, the paper's method.
        **kwargs: the other arguments of ``BaseCAM`` (``score``, ``batch_size``).

    Raises:
        InputError: ``channel_batch_size`` or ``max_channels`` is not a positive int;
            ``jit_compile=True``; see ``BaseCAM``.

    Example:
        >>> cam = ScoreCAM(model, "conv2", channel_batch_size=64)
        >>> cam(images).shape                   # 8 channels: 8 masked passes per image
        (4, 16, 20)
    """

    uses_gradients = False

    def __init__(self, model, layer=None, *, channel_batch_size=32, max_channels=None,
                 **kwargs):
        check_positive_int(channel_batch_size, "channel_batch_size",
                           "masked images per forward pass")
        if max_channels is not None and not (is_int(max_channels) and max_channels >= 1):
            raise InputError(f"`max_channels` must be None (every channel) or a positive int, "
                             f"got {max_channels!r}")
        if kwargs.get("jit_compile"):
            raise InputError("`jit_compile=True` is not available for Score-CAM: it scores a "
                             "data-dependent number of masked images (constant channels are "
                             "skipped), which XLA cannot compile; leave jit_compile out")
        self.channel_batch_size = int(channel_batch_size)
        self.max_channels = None if max_channels is None else int(max_channels)
        super().__init__(model, layer, **kwargs)

    def channel_weights(self, activations, grads, *, images, classes):
        """Return the masked inputs' class probabilities, ``[batch, channels]``."""
        del grads
        maps = tf.transpose(activations, (0, 3, 1, 2))  # [batch, channels, h, w]
        varies = tf.reduce_max(maps, axis=(2, 3)) > tf.reduce_min(maps, axis=(2, 3))
        if self.max_channels is not None and self.max_channels < maps.shape[1]:
            spread = tf.math.reduce_std(maps, axis=(2, 3))
            threshold = tf.math.top_k(spread, self.max_channels).values[:, -1:]
            varies &= spread >= threshold  # ties at the threshold are all kept
        pairs = tf.cast(tf.where(varies), tf.int32)  # (image, channel) of every real mask
        probabilities = self._score_pairs(maps, pairs, images, classes)
        return tf.scatter_nd(pairs, probabilities, tf.shape(varies))

    def _score_pairs(self, maps, pairs, images, classes):
        """Class probability of each (image, channel) pair's masked image, ``[pairs]``."""
        total = tf.shape(pairs)[0]
        step = self.channel_batch_size

        def body(start, done):
            chunk = pairs[start:start + step]
            masked = tf.gather(images, chunk[:, 0]) * self._masks(tf.gather_nd(maps, chunk),
                                                                  tf.shape(images)[1:3])
            _, logits = self.forward(masked)
            probabilities = tf.nn.softmax(tf.cast(logits, tf.float32))
            picked = tf.gather(probabilities, tf.gather(classes, chunk[:, 0]), batch_dims=1)
            return start + step, done.write(start // step, picked)

        parts = tf.TensorArray(tf.float32, size=0, dynamic_size=True, infer_shape=False)
        _, parts = tf.while_loop(lambda start, _: start < total, body, (0, parts))
        return _concat(parts, total)

    @staticmethod
    def _masks(maps, size):
        """Upsample ``[n, h, w]`` maps to ``size``, each scaled to ``[0, 1]``: ``[n, H, W, 1]``."""
        up = tf.image.resize(maps[..., None], size, method="bilinear")
        low = tf.reduce_min(up, axis=(1, 2, 3), keepdims=True)
        high = tf.reduce_max(up, axis=(1, 2, 3), keepdims=True)
        return tf.math.divide_no_nan(up - low, high - low)


def _concat(parts, total):
    """Concatenate a TensorArray of ``[m]`` vectors; ``[0]`` when nothing was written."""
    return tf.cond(total > 0, parts.concat, lambda: tf.zeros((0,), tf.float32))
