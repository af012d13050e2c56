"""Initial value problems with exact solutions, written for the tests.

Each problem has ``func(t, y)`` in TensorFlow and ``exact(t, t0, y0)`` in NumPy
(independent of the library), on a batch-shaped state.
"""

import dataclasses

import numpy as np
import scipy.linalg
import tensorflow as tf

RNG = np.random.default_rng(20181019)
_C = RNG.normal(size=(2, 3))
_K = np.array([[-1.3, 0.4, -0.2], [0.7, -2.0, 0.1]])
_M = RNG.normal(size=(6, 6))
_M = 0.4 * (_M - _M.T) - 0.1 * np.eye(6)  # rotation with a little damping: -0.1 +- i w
_OMEGA = 2.5


@dataclasses.dataclass(frozen=True)
class Problem:
    name: str
    func: callable
    exact: callable
    y0: np.ndarray


def _constant(t, y):
    return tf.cast(_C, y.dtype) + 0.0 * y


def _exponential(t, y):
    return tf.cast(_K, y.dtype) * y


def _linear(t, y):
    return tf.matmul(y, tf.cast(_M, y.dtype))


def _sine(t, y):
    return _OMEGA * tf.cos(_OMEGA * t) * tf.ones_like(y)


def _logistic(t, y):
    return y * (1.0 - y)


PROBLEMS = {
    p.name: p
    for p in [
        Problem("constant", _constant, lambda t, t0, y0: y0 + _C * (t - t0),
                RNG.normal(size=(2, 3))),
        Problem("exponential", _exponential, lambda t, t0, y0: y0 * np.exp(_K * (t - t0)),
                RNG.normal(size=(2, 3))),
        Problem("linear", _linear, lambda t, t0, y0: y0 @ scipy.linalg.expm(_M * (t - t0)),
                RNG.normal(size=(4, 6))),
        Problem("sine", _sine,
                lambda t, t0, y0: y0 + np.sin(_OMEGA * t) - np.sin(_OMEGA * t0),
                RNG.normal(size=(3,))),
        Problem("logistic", _logistic,
                lambda t, t0, y0: 1.0 / (1.0 + (1.0 / y0 - 1.0) * np.exp(-(t - t0))),
                RNG.uniform(0.1, 0.9, size=(2, 2))),
    ]
}


def exact_trajectory(problem, times):
    """The exact solution at every time, stacked: shape ``[len(times), *y0.shape]``."""
    return np.stack([problem.exact(t, times[0], problem.y0) for t in times])


def relative_error(actual, expected):
    return float(np.max(np.abs(np.asarray(actual) - expected)) / np.max(np.abs(expected)))
