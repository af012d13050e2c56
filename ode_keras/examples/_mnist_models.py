"""The three MNIST classifiers of Chen et al. (2018), Table 1: ODE-Net, RK-Net and ResNet-6.

All three share torchdiffeq's ``odenet_mnist.py`` architecture: a convolutional downsampling
stem (28x28 -> 6x6, 64 channels), a feature block and a classification head. Only the feature
block differs:

- ``odenet``: an ``ODEBlock`` integrating ``ODEFunc`` over [0, 1] (dopri5), adjoint gradients;
- ``rknet``: the same block, gradients by backpropagation through the solver's steps;
- ``resnet``: six residual blocks, the discrete counterpart.

GroupNorm uses ``min(32, channels)`` groups and PyTorch's epsilon 1e-5. PyTorch pads the 4x4
stride-2 convolutions by one pixel on each side; Keras's ``"same"`` would pad 13x13 differently
(to 7x7 instead of 6x6), so the padding is explicit.
"""

import keras
import tensorflow as tf

from ode_keras import ODEBlock
from ode_keras.examples._cli import NETWORKS


def group_norm(channels=64):
    """GroupNorm with ``min(32, channels)`` groups, as the original ``norm(dim)``."""
    return keras.layers.GroupNormalization(groups=min(32, channels), epsilon=1e-5)


@keras.saving.register_keras_serializable(package="ode_keras.examples")
class ConcatConv2d(keras.layers.Layer):
    """A convolution that also sees the time ``t``, as one more constant input channel.

    Args:
        filters: Number of output channels.
        kernel_size: Size of the square kernel; padding keeps the spatial size. Defaults to 3.
        **kwargs: Base layer keyword arguments.

    Input shape:
        ``call(t, x)``: a scalar ``t`` and ``x`` of shape ``[batch, height, width, channels]``.

    Output shape:
        ``[batch, height, width, filters]``.
    """

    def __init__(self, filters, kernel_size=3, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.conv = keras.layers.Conv2D(filters, kernel_size, padding="same")

    def call(self, t, x):
        time_channel = tf.ones_like(x[..., :1]) * tf.cast(t, x.dtype)
        return self.conv(tf.concat([time_channel, x], axis=-1))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="ode_keras.examples")
class ODEFunc(keras.layers.Layer):
    """The ODE-Net field: GN, ReLU, ConcatConv2d, GN, ReLU, ConcatConv2d, GN.

    Args:
        channels: Channels of the state (and of both convolutions). Defaults to 64.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, channels=64, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.norm1, self.norm2, self.norm3 = (group_norm(channels) for _ in range(3))
        self.conv1 = ConcatConv2d(channels)
        self.conv2 = ConcatConv2d(channels)

    def call(self, t, x):
        out = self.conv1(t, tf.nn.relu(self.norm1(x)))
        out = self.conv2(t, tf.nn.relu(self.norm2(out)))
        return self.norm3(out)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="ode_keras.examples")
class ResBlock(keras.layers.Layer):
    """A pre-activation residual block: x + conv(ReLU(GN(conv(ReLU(GN(x)))))), 3x3, no bias.

    Args:
        channels: Channels in and out. Defaults to 64.
        **kwargs: Base layer keyword arguments.
    """

    def __init__(self, channels=64, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.norm1, self.norm2 = group_norm(channels), group_norm(channels)
        self.conv1, self.conv2 = (keras.layers.Conv2D(channels, 3, padding="same", use_bias=False)
                                  for _ in range(2))

    def call(self, x):
        out = self.conv1(tf.nn.relu(self.norm1(x)))
        return x + self.conv2(tf.nn.relu(self.norm2(out)))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


def downsampling_layers(channels=64):
    """The stem: Conv(3) GN ReLU Conv(4, stride 2, pad 1) GN ReLU Conv(4, stride 2, pad 1)."""
    return [
        keras.layers.Conv2D(channels, 3),
        group_norm(channels), keras.layers.ReLU(),
        keras.layers.ZeroPadding2D(1), keras.layers.Conv2D(channels, 4, strides=2),
        group_norm(channels), keras.layers.ReLU(),
        keras.layers.ZeroPadding2D(1), keras.layers.Conv2D(channels, 4, strides=2),
    ]


def head_layers(num_classes=10, channels=64):
    """The classifier: GN, ReLU, global average pooling, Dense(num_classes) logits."""
    return [group_norm(channels), keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(num_classes)]


def build_classifier(network, tol=1e-3, input_shape=(28, 28, 1), num_classes=10):
    """Builds one of the three classifiers; its output is the logits.

    Args:
        network: ``"odenet"``, ``"rknet"`` or ``"resnet"``.
        tol: rtol and atol of the dopri5 solves of ODE-Net and RK-Net. Defaults to 1e-3.
        input_shape: Image shape ``(height, width, channels)``. Defaults to MNIST's.
        num_classes: Number of classes. Defaults to 10.

    Returns:
        A built ``keras.Sequential``; for ``odenet``/``rknet`` its layer named ``"ode_block"``
        keeps the NFE counters.

    Raises:
        ValueError: If ``network`` is not one of ``NETWORKS``.
    """
    if network == "resnet":
        features = [ResBlock(64) for _ in range(6)]
    elif network in ("odenet", "rknet"):
        features = [ODEBlock(ODEFunc(64), t=(0.0, 1.0), method="dopri5", rtol=tol, atol=tol,
                             adjoint=network == "odenet", name="ode_block")]
    else:
        raise ValueError(f"`network` must be one of {NETWORKS}; received network={network!r}.")
    layers = [keras.Input(input_shape), *downsampling_layers(64), *features,
              *head_layers(num_classes, 64)]
    return keras.Sequential(layers, name=network)
