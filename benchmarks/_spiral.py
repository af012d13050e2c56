"""torchdiffeq's ``examples/ode_demo.py`` problem, shared by the ODE benchmarks.

The spiral ``dy/dt = (y**3) A`` with ``A = [[-0.1, 2], [-2, -0.1]]`` from ``y0 = [[2, 0]]`` over
``t = linspace(0, 25, 1000)``; training batches of ``batch_time=10`` consecutive points from
``batch_size=20`` start indices drawn without replacement from ``[0, 990)``; the field
``y -> y**3 -> Dense(50) -> tanh -> Dense(2)`` with N(0, 0.1) weights and zero biases; RMSprop
at learning rate 1e-3; dopri5 at rtol 1e-7, atol 1e-9.

Data, batches and initial weights are plain numpy, so that each framework sees the same data, the
same batches and the same initial weights; torch is imported only by the functions that need it.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
TRUE_Y0 = np.array([[2.0, 0.0]])
DATA_SIZE, BATCH_TIME, BATCH_SIZE, HIDDEN = 1000, 10, 20, 50
RTOL, ATOL, LEARNING_RATE = 1e-7, 1e-9, 1e-3
# torch.optim.RMSprop's defaults: alpha 0.99, eps 1e-8 added *outside* the square root.
# Keras adds its epsilon inside the root, so eps**2 there gives the same update wherever
# sqrt(v) >> 1e-8 and the same size of first step where v = 0.
RMS_RHO, TORCH_EPS, KERAS_EPS = 0.99, 1e-8, 1e-16


def times(dtype=np.float32):
    """The 1000 observation times ``linspace(0, 25, 1000)``."""
    return np.linspace(0.0, 25.0, DATA_SIZE).astype(dtype)


def true_trajectory(dtype=np.float32):
    """The data: the spiral solved by ode_keras's dopri5 in float64 at rtol 1e-7, atol 1e-9.

    Returns:
        ``[1000, 1, 2]`` array of states at :func:`times`.
    """
    import tensorflow as tf

    from ode_keras import odeint

    matrix = tf.constant(A)
    ys = odeint(lambda t, y: tf.matmul(y**3, matrix), tf.constant(TRUE_Y0),
                tf.constant(times(np.float64)), rtol=RTOL, atol=ATOL)
    return ys.numpy().astype(dtype)


def batch_times(stride=1, dtype=np.float32):
    """The times of a batch: ``times()[:10]``, or every ``stride``-th time for longer spans."""
    return times(dtype)[: (BATCH_TIME - 1) * stride + 1 : stride]


def batches(true_y, count, seed=0, stride=1):
    """``count`` training batches drawn as ode_demo's ``get_batch`` does, from one seed.

    With ``stride`` > 1 (not in ode_demo) the 10 points of a batch are ``stride`` apart, for
    solves over longer spans.

    Returns:
        A list of ``(batch_y0 [20, 1, 2], batch_y [10, 20, 1, 2])`` numpy pairs, observed at
        :func:`batch_times`.
    """
    rng = np.random.default_rng(seed)
    offsets = np.arange(BATCH_TIME) * stride
    result = []
    for _ in range(count):
        starts = rng.choice(DATA_SIZE - offsets[-1] - 1, BATCH_SIZE, replace=False)
        batch_y = np.stack([true_y[starts + i] for i in offsets], axis=0)
        result.append((true_y[starts], batch_y))
    return result


def initial_weights(seed=0, dtype=np.float32):
    """ode_demo's initialisation: N(0, 0.1) weights, zero biases; Keras layout ``[in, out]``.

    Returns:
        ``[kernel1 (2, 50), bias1 (50,), kernel2 (50, 2), bias2 (2,)]``.
    """
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, 0.1, (2, HIDDEN)).astype(dtype), np.zeros(HIDDEN, dtype),
            rng.normal(0.0, 0.1, (HIDDEN, 2)).astype(dtype), np.zeros(2, dtype)]


class SpiralField(keras.layers.Layer):
    """The ode_demo field ``call(t, y) = Dense(2)(tanh(Dense(50)(y**3)))``; ``t`` is unused."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(HIDDEN, activation="tanh", dtype=self.dtype_policy)
        self.out = keras.layers.Dense(2, dtype=self.dtype_policy)

    def call(self, t, y):
        return self.out(self.hidden(y**3))


def keras_field(weights):
    """A :class:`SpiralField` of the weights' dtype, built and set to ``weights``."""
    field = SpiralField(dtype=np.dtype(weights[0].dtype).name)
    field(np.float32(0.0), np.zeros((BATCH_SIZE, 1, 2), weights[0].dtype))
    field.hidden.set_weights(weights[:2])
    field.out.set_weights(weights[2:])
    return field


def keras_optimizer(field):
    """Keras RMSprop matching ``torch.optim.RMSprop(lr=1e-3)`` (see ``KERAS_EPS``), built."""
    optimizer = keras.optimizers.RMSprop(LEARNING_RATE, rho=RMS_RHO, epsilon=KERAS_EPS)
    optimizer.build(field.trainable_variables)
    return optimizer


def torch_field(weights):
    """The ode_demo field as a ``torch.nn.Module`` that counts its evaluations in ``nfe``."""
    import torch

    class SpiralField(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(2, HIDDEN), torch.nn.Tanh(),
                                           torch.nn.Linear(HIDDEN, 2))
            self.nfe = 0

        def forward(self, t, y):
            self.nfe += 1
            return self.net(y**3)

    field = SpiralField().to(torch.float64 if weights[0].dtype == np.float64 else torch.float32)
    with torch.no_grad():
        for layer, (kernel, bias) in zip((field.net[0], field.net[2]),
                                         (weights[:2], weights[2:])):
            layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
            layer.bias.copy_(torch.from_numpy(bias))
    return field


def torch_optimizer(field):
    """``torch.optim.RMSprop(lr=1e-3)``, as in ode_demo."""
    import torch

    return torch.optim.RMSprop(field.parameters(), lr=LEARNING_RATE, alpha=RMS_RHO,
                               eps=TORCH_EPS)
