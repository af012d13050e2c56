"""The model's probability for a class, for the metrics that perturb images and re-score them."""

import weakref

import keras
import numpy as np
import tensorflow as tf

from gradcam_keras import targets as targets_lib
from gradcam_keras._graph import has_squashing_head
from gradcam_keras.errors import InputError

_PREDICTORS = weakref.WeakKeyDictionary()  # one traced forward pass per model


def probabilities(model, images, batch_size=64):
    """Return the model's class probabilities ``[n, classes]`` for a batch of inputs.

    A model whose last operation is a softmax or sigmoid already outputs probabilities; any
    other model's outputs are taken as logits and go through a softmax.

    Args:
        model: a Keras classifier with one input and one ``[batch, classes]`` output.
        images: ``[n, ...]`` model inputs.
        batch_size: inputs per forward pass.

    Returns:
        np.ndarray ``[n, classes]`` float32.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")
    if model not in _PREDICTORS:
        squashed = has_squashing_head(model)

        def predict(x):
            out = tf.cast(model(x, training=False), tf.float32)
            return out if squashed else tf.nn.softmax(out)

        _PREDICTORS[model] = tf.function(predict, autograph=False, reduce_retracing=True)
    predict = _PREDICTORS[model]
    images = np.asarray(images, dtype=np.float32)
    return np.concatenate([predict(tf.constant(images[i:i + batch_size])).numpy()
                           for i in range(0, len(images), batch_size)])


def class_probability(model, images, classes, batch_size=64):
    """Return ``p_c`` of each input for its class, ``[n]`` float32."""
    return probabilities(model, images, batch_size)[np.arange(len(images)), classes]


def resolve_classes(model, images, class_index, batch_size=64):
    """Return one class per image: the given ones, or the model's top class on the image."""
    num_classes = int(model.outputs[0].shape[-1])
    if class_index is not None and np.ndim(class_index) > 1:
        raise InputError("`class_index` must be None, an int or one int per image")
    if class_index is None:
        return np.argmax(probabilities(model, images, batch_size), axis=1)
    return targets_lib.build(class_index, None, len(images), num_classes)[:, 0]


def check_images_and_maps(images, maps):
    """Check ``images [n, H, W, C]`` and ``maps [n, H, W]`` agree; return them as float32."""
    images = np.asarray(images, dtype=np.float32)
    maps = np.asarray(maps, dtype=np.float32)
    if images.ndim != 4 or not len(images):
        raise InputError(f"`images` must be a non-empty batch [n, H, W, channels] (preprocessed "
                         f"for the model), got shape {images.shape}")
    if maps.shape != images.shape[:3]:
        raise InputError(f"`maps` must be [n, H, W] = {images.shape[:3]} (one map per image at "
                         f"the image's resolution), got shape {maps.shape}; upsample them with "
                         "gradcam_keras.image.upsample or gradcam_keras.methods.image_maps")
    if not (np.all(np.isfinite(images)) and np.all(np.isfinite(maps))):
        raise InputError("`images` and `maps` must be finite (no NaN or infinity)")
    return images, maps
