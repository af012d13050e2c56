"""Fields and references shared by the ODEBlock tests.

References are computed independently of the solvers: a linear field dy/dt = y W
has the solution y0 expm(W (t - t0)) and, through the Frechet derivative of the
matrix exponential, an exact gradient with respect to W.
"""

import keras
import numpy as np
import scipy.linalg
import tensorflow as tf

from ode_keras import ODEBlock

RNG = np.random.default_rng(2018)
W = 0.6 * RNG.normal(size=(3, 3))  # a generic real matrix: rotation, growth and decay
Y0 = RNG.normal(size=(4, 3))
TIGHT = dict(rtol=1e-10, atol=1e-10)


@keras.saving.register_keras_serializable(package="odeblock_fields")
class LinearField(keras.layers.Layer):
    """dy/dt = y W; its one-argument build receives the state's shape."""

    def build(self, input_shape):
        size = input_shape[-1]
        self.kernel = self.add_weight(shape=(size, size), initializer="orthogonal", name="w")

    def call(self, t, y):
        return tf.matmul(y, self.kernel)


@keras.saving.register_keras_serializable(package="odeblock_fields")
class MLPField(keras.layers.Layer):
    """A time-dependent tanh MLP; default build, so Keras builds its sublayers by tracing."""

    def __init__(self, units=3, hidden=8, **kwargs):
        super().__init__(**kwargs)
        self.units, self.hidden_units = units, hidden
        self.hidden = keras.layers.Dense(hidden, activation="tanh", dtype=self.dtype_policy)
        self.out = keras.layers.Dense(units, dtype=self.dtype_policy)

    def call(self, t, y):
        time_column = tf.ones_like(y[..., :1]) * tf.cast(t, y.dtype)
        return self.out(self.hidden(tf.concat([y, time_column], axis=-1)))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "hidden": self.hidden_units}


class CountingField(MLPField):
    """Counts its calls in Python: eagerly, one call is one evaluation."""

    calls = 0

    def call(self, t, y):
        CountingField.calls += 1
        return super().call(t, y)


def linear_block(t=(0.0, 1.0), **kwargs):
    """A float64 block with dy/dt = y W, built, with W set."""
    block = ODEBlock(LinearField(dtype="float64"), t=t, dtype="float64", **kwargs)
    block.build(Y0.shape)
    block.odefunc.kernel.assign(W)
    return block


def exact_states(times):
    """y0 expm(W (t_i - t_0)) for every t_i, stacked time first."""
    return np.stack([Y0 @ scipy.linalg.expm(W * (ti - times[0])) for ti in times])


def exact_gradients(T, cotangent):
    """dL/dy0 and dL/dW of L = sum(cotangent * y0 expm(W T)), from the Frechet derivative.

    The adjoint of E -> L_exp(A, E) is G -> L_exp(A^T, G), and A = W T.
    """
    expm_wt = scipy.linalg.expm(W * T)
    grad_y0 = cotangent @ expm_wt.T
    grad_w = T * scipy.linalg.expm_frechet(W.T * T, Y0.T @ cotangent, compute_expm=False)
    return grad_y0, grad_w


def regression_data(samples=64):
    """Inputs and their images under the flow of dy/dt = y A, a target an ODEBlock can fit.

    The same ``samples`` give the same data, so two models can be trained alike.
    """
    rng = np.random.default_rng(samples)
    a = 0.5 * rng.normal(size=(3, 3))
    x = rng.normal(size=(samples, 3)).astype("float32")
    return x, (x @ scipy.linalg.expm(a)).astype("float32")
