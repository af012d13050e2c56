"""gradient="checkpoint": the gradients of backpropagation through the solver, replayed.

The reference is ``odeint``'s own backprop path, an independent way to the same numbers:
the checkpointed gradient re-runs each step and pulls its cotangent back under a tape, so
in float64 the two agree to round-off (1e-10 relative here). The thinning of the
checkpoints (the replay of segments longer than one step) is forced with a few slots. One
analytic check (dy/dt = y W, whose flow is expm(W t)) ties both to the mathematics.
"""

import keras
import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

import ode_keras
from ode_keras import _checkpoint, odeint, odeint_adjoint
from ode_keras.odeint import GRADIENTS
from ode_keras.solvers import ADAMS_SOLVERS, IMPLICIT_SOLVERS, ROSENBROCK_SOLVERS
from tests.ode_keras import odeblock_fields

FIXED = ("euler", "midpoint", "heun", "heun3", "rk4", "rk4_38")
ADAPTIVE = ("adaptive_heun", "fehlberg2", "bosh3", "dopri5", "tsit5", "dopri8")
TIMES = np.array([0.1, 0.4, 0.9, 1.5])
RNG = np.random.default_rng(11)
Y0 = (RNG.normal(size=(4, 3)), RNG.normal(size=(2,)))


def test_the_method_lists_cover_every_solver():
    # scipy_solver has no checkpointed gradient (it refuses gradient="checkpoint"); the Adams
    # methods' checkpointed gradients are checked in test_adams.py, against backprop,
    # the adjoint and finite differences; the implicit ones' in test_implicit_gradients.py,
    # rodas5p's in test_rosenbrock_gradients.py.
    assert set(FIXED) | set(ADAPTIVE) == (set(ode_keras.SOLVERS) - {"scipy_solver"}
                                          - set(ADAMS_SOLVERS) - set(IMPLICIT_SOLVERS)
                                          - set(ROSENBROCK_SOLVERS))


# Loose enough for the low-order methods to stay within a few hundred steps.
RTOL = {"adaptive_heun": 1e-4, "fehlberg2": 1e-5}


def settings(method, times, fine=False):
    """Solver settings: fixed methods on a step size (or a grid), adaptive ones at a tolerance.

    ``fine`` settings take 40-120 steps, so that four checkpoint slots are thinned 4-5 times.
    """
    if method == "euler_grid":
        grid = np.linspace(times.min(), times.max(), 60 if fine else 13)[1:-1]
        return {"method": "euler", "options": {"grid": grid}}
    if method in FIXED:
        return {"method": method, "options": {"step_size": 0.02 if fine else 0.1}}
    rtol = RTOL.get(method, 1e-6)
    return {"method": method, "rtol": rtol, "atol": rtol / 100,
            "options": {"max_step": 0.03} if fine else None}


class TupleField(tf.Module):
    """A plain function of a tuple state (y [4, 3], z [2]) reading tf.Variables, non-autonomous."""

    def __init__(self, dtype=tf.float64):
        rng = np.random.default_rng(0)
        self.W = tf.Variable(rng.normal(size=(3, 3)) * 0.6, dtype=dtype)
        self.b = tf.Variable(rng.normal(size=(3,)) * 0.2, dtype=dtype)
        self.c = tf.Variable([0.7, -0.4], dtype=dtype)

    def __call__(self, t, state):
        y, z = state
        forcing = 1.0 + 0.5 * tf.sin(2.0 * t)
        dy = tf.tanh(tf.matmul(y, self.W) + self.b) * forcing + 0.3 * z[0] * y
        dz = self.c * tf.cos(z) - 0.1 * tf.reduce_mean(y) * t
        return dy, dz

    def variables_to_check(self):
        return [self.W, self.b, self.c]


class LayerField:
    """A small Keras field (Dense-tanh-Dense with the time as an input) on a [4, 3] state."""

    def __init__(self, dtype="float64"):
        keras.utils.set_random_seed(4)
        self.layer = keras.Sequential([keras.layers.Dense(8, activation="tanh", dtype=dtype),
                                       keras.layers.Dense(3, dtype=dtype)])
        self.layer(tf.zeros([4, 4], dtype))

    def __call__(self, t, y):
        return self.layer(tf.concat([y, tf.ones_like(y[:, :1]) * t], axis=1))

    def variables_to_check(self):
        return self.layer.trainable_variables


def loss_of(ys):
    """Weights every output time differently, so every cotangent (and every t) matters."""
    weights = tf.cast(tf.range(1, len(TIMES) + 1), ys[0].dtype)
    return sum(tf.reduce_sum(tf.reshape(weights, [-1] + [1] * (len(y.shape) - 1)) * y ** 2)
               for y in tf.nest.flatten(ys))


def gradients(field, y0, times, gradient, kwargs, solve=odeint):
    """``(ys, stats, [dL/dy0..., dL/dt, dL/dvariables...])`` of ``odeint`` (or ``solve``)."""
    y0 = tf.nest.map_structure(tf.convert_to_tensor, y0)
    t = tf.convert_to_tensor(times, tf.nest.flatten(y0)[0].dtype)
    with tf.GradientTape() as tape:
        tape.watch([y0, t])
        extra = {} if solve is odeint_adjoint else {"gradient": gradient}
        ys, stats = solve(field, y0, t, return_stats=True, **extra, **kwargs)
        loss = loss_of(ys)
    sources = [*tf.nest.flatten(y0), t, *field.variables_to_check()]
    return ys, stats, tape.gradient(loss, sources)


def both_paths(field, y0, times, kwargs, mode="graph"):
    """Backprop's ``(ys, stats, gradients)`` eagerly, and checkpoint's in ``mode``.

    The reference runs eagerly: another execution of the same mathematics, and cheaper than
    tracing backprop (under XLA, backprop's default budget costs a long compilation).
    """
    expected = gradients(field, y0, times, "backprop", kwargs)

    def checkpointed():
        return gradients(field, y0, times, "checkpoint", kwargs)

    if mode == "eager":
        return expected, checkpointed()
    return expected, tf.function(checkpointed, jit_compile=mode == "xla")()


def relative(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def assert_same_gradients(field, y0, times, kwargs, mode="graph", rtol=1e-10):
    (ys, stats, expected), (ys_ck, stats_ck, got) = both_paths(field, y0, times, kwargs, mode)
    assert int(stats["status"]) == 0 and int(stats_ck["num_steps"]) == int(stats["num_steps"])
    # The forward solve is the same sequence of operations on the same inputs: identical
    # eagerly. Graph optimisation (Grappler, XLA) may round differently (measured: ulps).
    for a, b in zip(tf.nest.flatten(ys_ck), tf.nest.flatten(ys)):
        if mode == "eager":
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14, atol=1e-14)
    assert len(got) == len(expected)
    for index, (g, e) in enumerate(zip(got, expected)):
        assert g is not None and np.all(np.isfinite(g)), index
        assert relative(g, e) < rtol, (index, relative(g, e))
    return int(stats["num_steps"])


def times_for(direction):
    return TIMES if direction == "forward" else TIMES[::-1]


@pytest.fixture
def four_slots(monkeypatch):
    """Four checkpoint slots whatever the budget: long solves thin them again and again."""
    calls = []

    def four(max_iterations):
        calls.append(max_iterations)
        return 4

    monkeypatch.setattr(_checkpoint, "default_num_slots", four)
    return calls


# Every method, in a graph, with thinned checkpoints; the directions alternate so that each
# driver (step size, grid, adaptive) runs both ways (time direction is handled above the
# drivers, in odeint.solve, the same for every method).
EVERY_METHOD = [(m, "forward" if i % 2 == 0 else "backward")
                for i, m in enumerate([*FIXED, "euler_grid", *ADAPTIVE])]


@pytest.mark.parametrize("method,direction", EVERY_METHOD)
def test_every_method_in_a_graph_with_thinned_checkpoints(four_slots, method, direction):
    times = times_for(direction)
    num_steps = assert_same_gradients(TupleField(), Y0, times, settings(method, times, True))
    assert four_slots, "the checkpoint path did not ask for its slots"
    # 4 slots: the stride doubles at steps 4, 8, 16 and 32; segments end up 16-64 steps long.
    assert num_steps > 32


@pytest.mark.parametrize("method,direction", [("dopri5", "backward"), ("rk4", "forward")])
def test_eagerly_at_default_settings(method, direction):
    times = times_for(direction)
    assert_same_gradients(TupleField(), Y0, times, settings(method, times), mode="eager")
    assert_same_gradients(LayerField(), Y0[0], times, settings(method, times), mode="eager")


@pytest.mark.parametrize("method,direction", [("dopri5", "forward"), ("rk4", "backward")])
def test_under_xla_at_default_settings(method, direction):
    times = times_for(direction)
    assert_same_gradients(TupleField(), Y0, times, settings(method, times), mode="xla")


@pytest.mark.parametrize("method,direction", [("bosh3", "backward")])
def test_under_xla_with_thinned_checkpoints(four_slots, method, direction):
    times = times_for(direction)
    num_steps = assert_same_gradients(TupleField(), Y0, times, settings(method, times, True),
                                      mode="xla")
    assert four_slots and num_steps > 32


def test_a_keras_field_with_thinned_checkpoints(four_slots):
    times = times_for("backward")
    num_steps = assert_same_gradients(LayerField(), Y0[0], times,
                                      settings("tsit5", times, fine=True))
    assert four_slots and num_steps > 32


@pytest.mark.parametrize("method", ["dopri5", "rk4"])
def test_float32_agrees_to_float32_round_off(method):
    # The same operations, in another order (the backward pass replays steps and
    # differentiates each alone): the paths differ by round-off accumulated over the steps'
    # cotangent recursion, a few hundred ulps of float32 (eps = 1.2e-7) at most here.
    times = TIMES.astype(np.float32)
    y0 = tuple(y.astype(np.float32) for y in Y0)
    assert_same_gradients(TupleField(tf.float32), y0, times, settings(method, times),
                          mode="eager", rtol=1e-4)


def test_the_gradient_of_a_linear_flow_is_its_matrix_exponential(four_slots):
    # dy/dt = y W: y(T) = y0 expm(W (T - t0)); L = <C, y(T)> gives dL/dy0 = C expm(W T)^T,
    # dL/dW from the Frechet derivative, and dL/dT = <C, y(T) W> = -dL/dt0.
    W = tf.Variable(odeblock_fields.W)
    y0, t = tf.constant(odeblock_fields.Y0), tf.constant([0.0, 1.3], tf.float64)
    cotangent = np.random.default_rng(3).normal(size=odeblock_fields.Y0.shape)
    with tf.GradientTape() as tape:
        tape.watch([y0, t])
        ys, stats = odeint(lambda _, y: tf.matmul(y, W), y0, t, rtol=1e-12, atol=1e-12,
                           gradient="checkpoint", return_stats=True)
        loss = tf.reduce_sum(cotangent * ys[-1])
    grad_y0, grad_t, grad_w = tape.gradient(loss, [y0, t, W])
    assert int(stats["num_steps"]) > 32  # thinned several times
    expected_y0, expected_w = odeblock_fields.exact_gradients(1.3, cotangent)
    y_end = odeblock_fields.Y0 @ scipy.linalg.expm(odeblock_fields.W * 1.3)
    grad_end = np.sum(cotangent * (y_end @ odeblock_fields.W))
    assert relative(grad_y0, expected_y0) < 1e-9
    assert relative(grad_w, expected_w) < 1e-9
    assert relative(grad_t, [-grad_end, grad_end]) < 1e-9


def test_an_unknown_batch_size_is_solved_and_differentiated():
    # A Keras model traces its layers with a batch size of None; the checkpoint buffers
    # must take the state's shape at run time (they once needed it at trace time).
    field = LayerField()
    times = tf.constant(TIMES)

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float64)])
    def both(y0):
        result = []
        for gradient in ("backprop", "checkpoint"):
            with tf.GradientTape() as tape:
                tape.watch(y0)
                loss = loss_of(odeint(field, y0, times, method="rk4",
                                      options={"step_size": 0.1}, gradient=gradient))
            result.append(tape.gradient(loss, [y0, *field.variables_to_check()]))
        return result

    expected, got = both(tf.constant(Y0[0]))
    for g, e in zip(got, expected):
        assert relative(g, e) < 1e-10


def test_gradient_is_checked():
    for bad in ("checkpointed", "Backprop", None, True):
        with pytest.raises(ValueError, match=r"gradient must be one of 'backprop', "
                                             r"'checkpoint', 'adjoint'"):
            odeint(lambda t, y: -y, tf.constant([1.0]), tf.constant([0.0, 1.0]), gradient=bad)
    assert GRADIENTS == ("backprop", "checkpoint", "adjoint")


def test_gradient_adjoint_is_odeint_adjoint():
    field, times, kwargs = TupleField(), TIMES[::-1], {"rtol": 1e-8, "atol": 1e-10}
    _, _, via_odeint = gradients(field, Y0, times, "adjoint", kwargs)
    _, _, expected = gradients(field, Y0, times, None, kwargs, solve=odeint_adjoint)
    for g, e in zip(via_odeint, expected):
        np.testing.assert_array_equal(g.numpy(), e.numpy())
