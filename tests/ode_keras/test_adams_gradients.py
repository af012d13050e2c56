"""The Adams methods' gradients (backprop, checkpoint, adjoint, finite differences), in
tf.function and under XLA."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint

RNG = np.random.default_rng(1957)


# ---------------------------------------------------------------------------
#  Gradients: backprop, checkpoint, adjoint, finite differences
# ---------------------------------------------------------------------------

SETTINGS = {
    "explicit_adams": dict(options={"step_size": 0.05}),
    "implicit_adams": dict(options={"step_size": 0.05}, rtol=1e-12, atol=1e-14),
    "adams": dict(rtol=1e-10, atol=1e-12),
}
# Adjoint against backprop: both approximate the exact gradient to the discretisation
# error (fixed steps of 0.05 at order 4, or the tolerance), not to round-off.
ADJOINT_AGREEMENT = {"explicit_adams": 2e-4, "implicit_adams": 2e-5, "adams": 1e-6}


class Forced(tf.Module):
    """A non-autonomous field reading a variable: y' = -w y + sin(t) * reversed(y)."""

    def __init__(self):
        self.w = tf.Variable(0.7, dtype=tf.float64)

    def __call__(self, t, y):
        return -self.w * y + tf.sin(t) * y[::-1]


def _loss(field, y0, t, method, gradient="backprop"):
    ys = odeint(field, y0, t, method=method, gradient=gradient, **SETTINGS[method])
    return tf.reduce_sum(ys * tf.constant([[0.3, -1.1]], tf.float64) * tf.range(
        1.0, 4.0, dtype=tf.float64)[:, None])


@pytest.mark.parametrize("method", sorted(SETTINGS))
def test_gradient_paths_agree_with_each_other_and_finite_differences(method):
    field = Forced()
    y0 = tf.constant([1.0, 0.5], tf.float64)
    t = tf.constant([0.1, 0.37, 0.79], tf.float64)  # spans no multiple of the step size
    gradients = {}
    for path in ("backprop", "checkpoint", "adjoint"):
        with tf.GradientTape() as tape:
            tape.watch([y0, t])
            loss = _loss(field, y0, t, method, path)
        gradients[path] = np.concatenate([np.ravel(g) for g in tape.gradient(
            loss, [y0, field.w, t])])
    # The checkpointed gradient replays the very steps backprop differentiates.
    np.testing.assert_allclose(gradients["checkpoint"], gradients["backprop"], rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(gradients["adjoint"], gradients["backprop"],
                               rtol=ADJOINT_AGREEMENT[method], atol=ADJOINT_AGREEMENT[method])
    # A central difference along one random direction in (y0, w, t).
    direction = RNG.normal(size=6)
    eps = 1e-5

    def shifted(sign):
        field.w.assign(0.7 + sign * eps * direction[2])
        return float(_loss(field, y0 + sign * eps * direction[:2], t + sign * eps
                           * direction[3:], method))

    difference = (shifted(1) - shifted(-1)) / (2 * eps)
    field.w.assign(0.7)
    assert float(gradients["backprop"] @ direction) == pytest.approx(difference, rel=1e-5)
