"""Class-activation maps: the base class that owns the plumbing, and Grad-CAM.

Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
Localization", ICCV 2017. For a class ``c`` with score ``y^c`` (before the softmax) and the
feature maps ``A^k`` of a convolutional layer::

    alpha_k = mean_{i,j} d y^c / d A^k_ij        (channel weights)
    L^c     = ReLU(sum_k alpha_k A^k)            (the map, at the layer's resolution)

``BaseCAM`` runs the model once per batch inside a ``tf.function`` (traced once per input shape),
records the layer's output on a gradient tape, picks the target scores and differentiates them.
A method only says how to weight the channels (``channel_weights``) and, if it must, how to
combine them (``combine``); see ``GradCAM``.
"""

import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf

from gradcam_keras import targets as targets_lib
from gradcam_keras._graph import ForwardPass, can_rerun, traced_once_per_object
from gradcam_keras.errors import InputError, ZeroMapWarning, check_positive_int
from gradcam_keras.layer_paths import check_spatial, default_layer, resolve_layer
from gradcam_keras.names import SCORES


def check_explainer_arguments(model, score, batch_size):
    """Raise a clear error unless ``model``, ``score`` and ``batch_size`` can explain images.

    Shared by every explainer's constructor (the CAM family and Guided Backpropagation).

    Raises:
        TypeError: ``model`` is not a ``keras.Model``.
        InputError: ``score`` is not one of ``SCORES``, or ``batch_size`` is not a positive int.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model, got {type(model).__name__}")
    if not can_rerun(model):
        raise TypeError(f"`model` must be a Sequential or functional keras.Model, got the "
                        f"subclassed model {type(model).__name__!r}, whose layers have no graph "
                        "to take a feature map from; rebuild it with keras.Input and functional "
                        "calls (x = layer(x)), then pass that model")
    if score not in SCORES:
        raise InputError(f"`score` must be one of {SCORES}, got {score!r}")
    check_positive_int(batch_size, "batch_size")


def check_images(images, model, *, spatial=True):
    """Return ``images`` as float32 after checking them against ``model``'s input.

    A model that was never called (a Sequential without an input shape) is built for them, as
    calling it would.

    Args:
        images: ``[batch, height, width, channels]`` (``spatial``) or any ``[batch, ...]``.
        model: the ``keras.Model`` they are for.
        spatial: require 4-D image batches. Defaults to True.

    Raises:
        InputError: an empty batch, the wrong number of axes or per-image shape, NaN or inf.
    """
    try:
        images = np.asarray(images, dtype=np.float32)
    except (ValueError, TypeError) as error:
        raise InputError(f"`images` must be a numeric array [batch, height, width, channels] "
                         f"(equal-sized images, numbers), got {type(images).__name__} that numpy "
                         f"cannot turn into float32 ({error})") from None
    if (images.ndim != 4 if spatial else images.ndim < 2) or images.shape[0] == 0:
        raise InputError(f"`images` must be a non-empty, finite batch [batch, height, width, "
                         f"channels], got shape {images.shape}; for one image use images[None]")
    if not model.built:
        model.build((None,) + images.shape[1:])  # a Sequential never called
    expected = tuple(model.inputs[0].shape[1:])
    if len(expected) != images.ndim - 1 or any(
            e is not None and e != g for e, g in zip(expected, images.shape[1:], strict=True)):
        raise InputError(f"`images` have shape {images.shape[1:]} per image, the model "
                         f"expects {expected}; resize them first")
    if not np.all(np.isfinite(images)):
        raise InputError("`images` contain NaN or infinite values")
    return images


class Explainer:
    """What every explainer shares: argument checks, one traced step per input shape, batches.

    Subclasses implement ``_step(images, targets)``, traced by ``tf.function`` and run on
    ``batch_size`` images at a time by ``_batched``.

    Args:
        model: the ``keras.Model`` explained; never modified.
        score: one of ``SCORES``.
        batch_size: images per traced call.
        jit_compile: compile the traced step with XLA.
    """

    def __init__(self, model, score, batch_size, jit_compile=False):
        check_explainer_arguments(model, score, batch_size)
        self.model = model
        self.score = score
        self.batch_size = batch_size
        self._jit_compile = bool(jit_compile)
        self._functions = {}
        self._trace_count = 0

    @property
    def trace_count(self):
        """How many times the step was traced (once per input shape and number of targets)."""
        return self._trace_count

    @property
    def num_classes(self):
        """Number of classes the model scores."""
        return int(self.model.outputs[0].shape[-1])

    def _scores(self, logits):
        """The scores targets are picked from: the logits, or their softmax."""
        logits = tf.cast(logits, tf.float32)
        return (tf.nn.softmax(logits) if self.score == "softmax" else logits), logits

    def _batched(self, images, targets):
        """Run the traced step batch by batch; return its outputs concatenated, as numpy."""
        key = (tuple(images.shape[1:]), int(targets.shape[1]))
        if key not in self._functions:
            signature = [tf.TensorSpec((None,) + key[0], tf.float32),
                         tf.TensorSpec((None, key[1]), tf.int32)]
            # No autograph: the step's Python control flow runs on static values only, and its
            # errors (e.g. a shared layer) then reach the caller as raised.
            self._functions[key] = traced_once_per_object(tf.function(
                self._step, input_signature=signature, jit_compile=self._jit_compile,
                autograph=False))
        step = self._functions[key]
        parts = [step(images[i:i + self.batch_size], targets[i:i + self.batch_size])
                 for i in range(0, len(images), self.batch_size)]
        return [np.concatenate([p[j].numpy() for p in parts]) for j in range(len(parts[0]))]

    def _step(self, images, targets):
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class CAMResult:
    """Everything one ``BaseCAM.compute`` call found.

    Attributes:
        maps: raw maps ``[batch, targets, h, w]`` float32, not normalised, not upsampled.
        class_index: the class of each map ``[batch, targets]``.
        scores: the differentiated score ``y^c`` of each map ``[batch, targets]``.
        logits: every class's score before the model's softmax ``[batch, classes]``.
        layer: path of the layer the maps come from.
    """

    maps: np.ndarray
    class_index: np.ndarray
    scores: np.ndarray
    logits: np.ndarray
    layer: str

    @property
    def all_zero(self):
        """``[batch, targets]`` bool: maps with no positive value (reported, never NaN)."""
        return ~np.any(self.maps > 0, axis=(2, 3))


class BaseCAM(Explainer):
    """Plumbing shared by class-activation-map methods; subclasses supply the channel weights.

    Args:
        model: a Sequential or functional Keras model with one image input and one output of
            class scores ``[batch, classes]``. Never modified (a Sequential that was never
            called is built on the first call, as calling it would).
        layer: path of the layer whose feature maps are weighted, e.g. ``"block5_conv4"`` or
            ``"vgg19/block5_conv4"`` inside a nested model. Defaults to the model's last
            convolutional layer.
        score: ``"logits"`` (the paper's ``y^c`` before the softmax; a softmax or sigmoid head
            is bypassed without changing the model) or ``"softmax"`` (the probability).
        batch_size: images per forward/backward pass. Defaults to 16.
        jit_compile: compile the traced step with XLA. Defaults to False: on CPU it was no
            faster for VGG19 (benchmarks/gradcam_speed.py); try it on a GPU.

    Raises:
        TypeError: ``model`` is not a Keras model.
        InputError: unknown layer, a layer without a spatial feature map, unknown ``score``.

    Subclass hooks, all called inside the traced step with float32 tensors:
        ``channel_weights(activations, grads, images=, classes=) -> [batch, channels]``;
        ``combine(activations, grads, weights) -> [batch, h, w]``;
        ``objective(scores, classes) -> [batch]``, the quantity differentiated.
        ``uses_gradients = False`` skips the backward pass (``grads`` is then None).
        ``forward(images)`` runs the model again (e.g. on masked images) inside a hook.

    Example:
        >>> class XGradCAM(BaseCAM):   # a method is its channel weights
        ...     def channel_weights(self, activations, grads, *, images, classes):
        ...         return tf.reduce_sum(grads * activations, axis=(1, 2)) / (
        ...             tf.reduce_sum(activations, axis=(1, 2)) + 1e-7)
        >>> XGradCAM(model, "conv2")(images).shape
        (4, 16, 20)
    """

    uses_gradients = True

    def __init__(self, model, layer=None, *, score="logits", batch_size=16, jit_compile=False):
        super().__init__(model, score, batch_size, jit_compile)
        self._ref = resolve_layer(model, layer if layer is not None else default_layer(model))
        self._ready = False
        if model.built:
            self._prepare()

    @property
    def layer(self):
        """Path of the layer whose feature maps are weighted."""
        return self._ref.path

    def __call__(self, images, class_index=None):
        """Return the raw maps ``[batch, h, w]`` float32 for already preprocessed images.

        Args:
            images: ``[batch, height, width, channels]``, preprocessed for the model.
            class_index: None (each image's top class), an int (every image), or one int per
                image.

        Returns:
            np.ndarray ``[batch, h, w]`` float32 at the layer's resolution, ``>= 0``.

        Raises:
            InputError: images of the wrong shape, class indices out of range or of the
                wrong length.

        Example:
            >>> cam = GradCAM(model, "conv2")      # a 20x24 input, 3x3 'valid' convolutions
            >>> cam(images).shape
            (4, 16, 20)
        """
        if class_index is not None and np.ndim(class_index) > 1:
            raise InputError("`class_index` must be None, an int or one int per image; use "
                             "compute() for several classes per image")
        return self.compute(images, class_index).maps[:, 0]

    def compute(self, images, class_index=None, *, top_k=None):
        """Return maps, classes and scores; several classes per image allowed.

        Args:
            images: ``[batch, height, width, channels]``, preprocessed for the model.
            class_index: None, an int, one int per image, or ``[batch, targets]`` ints.
            top_k: instead of ``class_index``, the ``top_k`` best classes of each image.

        Returns:
            CAMResult. Warns ``ZeroMapWarning`` for maps that are zero everywhere.
        """
        images = self._check_images(images)
        targets = targets_lib.build(class_index, top_k, len(images), self.num_classes)
        result = CAMResult(*self._batched(images, targets), self.layer)
        self._check_finite(result)
        self._warn_zero_maps(result)
        return result

    def shown_maps(self, images, class_index=None, *, top_k=None):
        """Return ``(CAMResult, the maps this method shows [batch, targets, ...])``.

        The maps a figure or a metric uses: for the CAMs the layer-resolution maps of
        ``compute``; a method whose picture is something else (Guided Grad-CAM's pixel-level
        maps) overrides this hook. Arguments are those of ``compute``.
        """
        result = self.compute(images, class_index, top_k=top_k)
        return result, result.maps

    # Hooks for subclasses ------------------------------------------------------------------

    def channel_weights(self, activations, grads, *, images, classes):
        """Return ``[batch, channels]`` weights for the feature maps. Subclasses implement it."""
        raise NotImplementedError

    def combine(self, activations, grads, weights):
        """Return ``ReLU(sum_k weights_k A^k)``, ``[batch, h, w]``."""
        return tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, weights))

    def objective(self, scores, classes):
        """Return the score differentiated for each image, ``[batch]``: ``y^c``."""
        return tf.gather(scores, classes, batch_dims=1)

    def forward(self, images, on_capture=None):
        """Run the model once: ``(layer output, logits)``; usable inside the hooks."""
        return ForwardPass(self.model, self._ref.chain, on_capture or (lambda t: t))(images)

    # Plumbing --------------------------------------------------------------------------------

    def _prepare(self):
        if len(self.model.inputs) != 1 or len(self.model.outputs) != 1:
            raise InputError(f"model {self.model.name!r} must have one input and one output, "
                             f"has {len(self.model.inputs)} and {len(self.model.outputs)}")
        if len(self.model.outputs[0].shape) != 2:
            raise InputError(f"model {self.model.name!r} outputs shape "
                             f"{tuple(self.model.outputs[0].shape)}; Grad-CAM needs class scores "
                             "[batch, classes]")
        check_spatial(self.model, self._ref)
        self._ready = True

    def _check_images(self, images):
        images = check_images(images, self.model)
        if not self._ready:
            self._prepare()
        return images

    def _step(self, images, targets):
        self._trace_count += 1  # Python side effect: runs only while tracing
        num_targets = targets.shape[1]
        with tf.GradientTape(persistent=num_targets > 1, watch_accessed_variables=False) as tape:
            features, logits = self.forward(images, on_capture=_watching(tape))
            scores, logits = self._scores(logits)
            classes = targets_lib.resolve(scores, targets)
            objectives = [self.objective(scores, classes[:, t]) for t in range(num_targets)]
        activations = tf.cast(features, tf.float32)
        maps = []
        for t in range(num_targets):
            grads = None
            if self.uses_gradients:
                grads = tf.cast(tape.gradient(objectives[t], features), tf.float32)
            weights = self.channel_weights(activations, grads, images=images,
                                           classes=classes[:, t])
            maps.append(self.combine(activations, grads, weights))
        selected = tf.gather(scores, classes, batch_dims=1)
        return tf.stack(maps, axis=1), classes, selected, logits

    def _check_finite(self, result):
        """Raise an InputError naming the images whose scores or maps are NaN or infinite."""
        for what, values in (("scores", result.logits), ("maps", result.maps)):
            bad = ~np.all(np.isfinite(values.reshape(len(values), -1)), axis=1)
            if bad.any():
                raise InputError(
                    f"model {self.model.name!r} gave NaN or infinite {what} for image(s) "
                    f"{np.flatnonzero(bad)[:8].tolist()} (layer {self.layer!r}): its weights hold "
                    "NaN, or its activations overflow (float16?); a map of them would be "
                    "meaningless, so none is returned: check the weights, the preprocessing, "
                    "or compute in float32")

    def _warn_zero_maps(self, result):
        empty = np.argwhere(result.all_zero)
        if len(empty):
            where = ", ".join(f"image {b} class {result.class_index[b, t]}" for b, t in empty[:8])
            warnings.warn(ZeroMapWarning(
                f"{len(empty)} map(s) at layer {self.layer!r} are zero everywhere ({where}): "
                "no positive evidence for the class there; they stay zero when normalised"),
                stacklevel=3)


def _watching(tape):
    def watch(tensor):
        tape.watch(tensor)
        return tensor
    return watch


class GradCAM(BaseCAM):
    """Grad-CAM: each channel weighted by the spatial mean of the score's gradient.

    ``alpha_k = mean_{i,j} d y^c / d A^k_ij`` and ``L^c = ReLU(sum_k alpha_k A^k)``.
    Arguments are those of ``BaseCAM``.

    Example:
        >>> from gradcam_keras import GradCAM
        >>> cam = GradCAM(model, "conv2")          # e.g. GradCAM(vgg19, "block5_conv4")
        >>> cam(images).shape                      # each image's top class
        (4, 16, 20)
        >>> cam(images, class_index=3).shape       # class 3 for every image
        (4, 16, 20)
    """

    def channel_weights(self, activations, grads, *, images, classes):
        """Return the spatial mean of the gradients, ``[batch, channels]``."""
        del activations, images, classes  # Grad-CAM needs only the gradients
        return tf.reduce_mean(grads, axis=(1, 2))
