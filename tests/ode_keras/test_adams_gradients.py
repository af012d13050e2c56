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


@pytest.mark.parametrize("method", [pytest.param("adams", marks=pytest.mark.slow),
                                    "explicit_adams", "implicit_adams"])
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


# ---------------------------------------------------------------------------
#  tf.function and XLA
# ---------------------------------------------------------------------------

FLOAT32 = {
    "explicit_adams": dict(options={"step_size": 0.1, "order": 3}),
    "implicit_adams": dict(options={"step_size": 0.1, "max_num_steps": 64}, rtol=1e-6,
                           atol=1e-8),
    "adams": dict(options={"max_num_steps": 64}, rtol=1e-5, atol=1e-7),
}


@pytest.mark.slow
def test_tf_function_matches_eager_for_every_method_in_float32():
    field = lambda t, y: -0.5 * y + tf.sin(3.0 * t)  # noqa: E731
    y0, t = tf.constant([[1.0, -0.5]]), tf.constant([0.0, 0.45, 1.0])

    @tf.function
    def solve_all(y0):
        return [odeint(field, y0, t, method=m, return_stats=True, **FLOAT32[m])
                for m in sorted(FLOAT32)]

    for (ys, stats), method in zip(solve_all(y0), sorted(FLOAT32)):
        eager, eager_stats = odeint(field, y0, t, method=method, return_stats=True,
                                    **FLOAT32[method])
        np.testing.assert_allclose(ys, eager, rtol=1e-6, atol=1e-6)
        assert int(stats["nfe"]) == int(eager_stats["nfe"])
        assert ys.dtype == tf.float32


@pytest.mark.slow
@pytest.mark.parametrize("method", ["implicit_adams", "adams"])
def test_xla_solves_and_differentiates_in_float32(method):
    # Under XLA through the checkpointed gradient (backprop too compiles, at a larger cost).
    # implicit_adams on a grid holding the first and last times: steps of length zero.
    settings = dict(FLOAT32[method])
    if method == "implicit_adams":
        settings["options"] = {"grid": np.linspace(0.1, 0.79, 9), "max_num_steps": 64}
    field = Forced()
    field.w = tf.Variable(0.7, dtype=tf.float32)
    y0, t = tf.constant([1.0, 0.5]), tf.constant([0.1, 0.37, 0.79])

    def loss_and_gradients(y0):
        with tf.GradientTape() as tape:
            tape.watch(y0)
            ys = odeint(field, y0, t, method=method, gradient="checkpoint", **settings)
            loss = tf.reduce_sum(ys ** 2)
        return ys, tape.gradient(loss, [y0, field.w])

    ys, gradients = tf.function(loss_and_gradients, jit_compile=True)(y0)
    eager_ys, eager_gradients = loss_and_gradients(y0)
    np.testing.assert_allclose(ys, eager_ys, rtol=1e-5, atol=1e-6)
    for compiled, eager in zip(gradients, eager_gradients):
        np.testing.assert_allclose(compiled, eager, rtol=1e-4, atol=1e-5)
