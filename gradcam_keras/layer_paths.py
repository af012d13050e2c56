"""Finding layers by path in (nested) Keras models: resolve a path, walk them, the default one.

A layer path names a layer inside nested models with ``/``: ``"vgg19/block5_conv4"`` is the
layer ``block5_conv4`` of the sub-model ``vgg19``. Keras forbids ``/`` in layer names, so the
path is unambiguous.
"""

import dataclasses

import keras

from gradcam_keras.errors import InputError

CONV_TYPES = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
)
# Layers the default layer never moves to, even when they keep the spatial size.
_STOP_TYPES = (
    keras.Model,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.Flatten,
    keras.layers.Reshape,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.UpSampling2D,
    keras.layers.Resizing,
)
_MAX_LISTED = 12  # an error message lists at most this many valid layers


@dataclasses.dataclass(frozen=True)
class LayerRef:
    """A layer found by path: the path and the chain of objects from the outer model to it.

    Attributes:
        path: ``"outer_submodel/.../layer"`` relative to the model searched.
        chain: the nested models along the path, then the layer itself (``chain[-1]``).
    """

    path: str
    chain: tuple

    @property
    def layer(self):
        """The layer the path names."""
        return self.chain[-1]


def walk_layers(model, prefix="", chain=()):
    """Yield a ``LayerRef`` for every layer of ``model``, depth first, in graph order.

    Nested models are yielded themselves and then their layers. Input layers are skipped.
    A functional model's operations that are not layers (the ``+`` of ``inputs + x``, which
    sums a ConvNeXt block) are yielded too, under their operation names.

    Args:
        model: a Keras model.
        prefix: path of ``model`` inside an outer model (used by the recursion).
        chain: objects from the outer model down to ``model`` (used by the recursion).

    Yields:
        LayerRef for each layer.
    """
    for layer in _children(model):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        ref = LayerRef(prefix + layer.name, chain + (layer,))
        yield ref
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer, ref.path + "/", ref.chain)


def _children(model):
    # Functional models list every operation; Sequential ones only have layers.
    return getattr(model, "operations", None) or model.layers


def conv_layers(model):
    """Return the ``LayerRef`` of every convolutional layer of ``model``, nested ones included."""
    return [ref for ref in walk_layers(model) if isinstance(ref.layer, CONV_TYPES)]


def output_shape(layer):
    """Return the output shape of a built layer, or None when Keras cannot tell (shared layer)."""
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def spatial_layers(model):
    """Return the refs of layers that output a feature map ``[batch, height, width, channels]``."""
    return [ref for ref in walk_layers(model) if _is_spatial(output_shape(ref.layer))]


def _is_spatial(shape):
    return shape is not None and len(shape) == 4


def _valid_layers_hint(model):
    names = ([ref.path for ref in conv_layers(model) if _is_spatial(output_shape(ref.layer))]
             or [ref.path for ref in spatial_layers(model)])
    if not names:
        return ("the model has no layer with a 2-D feature map [batch, height, width, channels] "
                "(1-D and 3-D convolutions cannot be explained here)")
    shown = names[-_MAX_LISTED:]
    more = f"... ({len(names) - len(shown)} more), " if len(names) > len(shown) else ""
    return "valid convolutional layers: " + more + ", ".join(shown)


def resolve_layer(model, path):
    """Find the layer that ``path`` names.

    Args:
        model: a Keras model.
        path: a layer name, or names joined with ``/`` through nested models.

    Returns:
        LayerRef of the layer.

    Raises:
        InputError: when no layer has that path; the message lists the valid ones.
        TypeError: when ``path`` is not a string.

    Example:
        >>> resolve_layer(nested, "backbone/conv2").layer.name   # e.g. "vgg19/block5_conv4"
        'conv2'
    """
    if not isinstance(path, str):
        raise TypeError(f"`layer` must be a layer name (str), got {type(path).__name__}: {path!r}")
    current, chain = model, ()
    for depth, name in enumerate(path.split("/")):
        found = _find_child(current, name)
        if found is None:
            parent = "/".join(path.split("/")[:depth])
            where = "the model" if depth == 0 else f"sub-model {parent!r}"
            raise InputError(
                f"layer {path!r} not found: {where} has no layer named {name!r}; "
                f"{_valid_layers_hint(model)}"
            )
        chain += (found,)
        current = found
    return LayerRef(path, chain)


def _find_child(model, name):
    if not isinstance(model, keras.Model):
        return None
    return next((layer for layer in _children(model) if layer.name == name), None)


def default_layer(model):
    """Return the path of the last spatial feature map that feeds the classification head.

    The paper's choice: start at the last convolution and follow the graph forward through
    the layers that keep its height and width (BatchNormalization, activations, the ``Add``
    of a residual block, concatenation, rescaling, a ``Dense`` applied per location ...);
    stop before pooling, flattening or anything that changes the spatial size. In modern CNNs
    the last convolution's raw output comes before BatchNormalization and the activation, and
    is mostly negative; the rectified map after them is what the head pools. VGG19 keeps
    ``block5_conv4`` (its ReLU is fused), ResNet50 gets ``conv5_block3_out``, EfficientNetB0
    ``top_activation``.

    Raises:
        InputError: when the model has no convolutional layer.

    Example:
        >>> default_layer(keras.applications.ResNet50(weights=None))
        'conv5_block3_out'
    """
    refs = list(walk_layers(model))
    convs = [i for i, ref in enumerate(refs) if isinstance(ref.layer, CONV_TYPES)]
    if not convs:
        raise InputError(
            f"model {model.name!r} has no convolutional layer, so Grad-CAM has no feature map "
            "to weight; pass `layer=` (--layer on the command line) naming a layer whose output "
            "is [batch, height, width, channels]"
        )
    chosen = refs[convs[-1]]
    size = _spatial_size(output_shape(chosen.layer))
    for ref in refs[convs[-1] + 1:]:
        shape = output_shape(ref.layer)
        if (isinstance(ref.layer, _STOP_TYPES) or not _is_spatial(shape)
                or _spatial_size(shape) != size):
            break
        chosen = ref
    return chosen.path


def _spatial_size(shape):
    return None if shape is None else tuple(shape[1:-1])


def check_spatial(model, ref):
    """Check that the layer outputs a 4-D feature map; raise an InputError saying why if not."""
    layer = ref.layer
    if isinstance(layer, keras.layers.InputLayer):
        raise InputError(f"layer {ref.path!r} is the model's input, not a feature map the model "
                         f"computes; {_valid_layers_hint(model)}")
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        raise InputError(
            f"layer {ref.path!r} is channels_first; Grad-CAM here expects channels_last feature "
            "maps [batch, height, width, channels] (Keras's default on TensorFlow)"
        )
    shape = output_shape(layer)
    if shape is not None and not _is_spatial(shape):
        raise InputError(
            f"layer {ref.path!r} ({type(layer).__name__}) cannot be used: its output has shape "
            f"{shape}, not a feature map [batch, height, width, channels]; Grad-CAM weights each "
            f"channel of a convolutional feature map by its pooled gradient; "
            f"{_valid_layers_hint(model)}"
        )
