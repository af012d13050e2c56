"""Gradients: the adjoint method against direct backpropagation and finite differences."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ode_keras import SolverCounter, odeint, odeint_adjoint

TIGHT = {"rtol": 1e-10, "atol": 1e-12}


class Field(tf.Module):
    """A non-autonomous field with parameters: tanh(y W + b) * (1 + sin(2t) / 2)."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.W = tf.Variable(rng.normal(size=(3, 3)) * 0.6)
        self.b = tf.Variable(rng.normal(size=(3,)) * 0.2)

    def __call__(self, t, y):
        return tf.tanh(tf.matmul(y, self.W) + self.b) * (1.0 + 0.5 * tf.sin(2.0 * t))


Y0 = np.random.default_rng(1).normal(size=(4, 3))
TIMES = np.array([0.1, 0.4, 0.9, 1.5])
WEIGHTS = tf.reshape(tf.constant([0.5, 1.0, 2.0, 3.0], tf.float64), [4, 1, 1])


def _loss(ys):
    return tf.reduce_sum(WEIGHTS * ys ** 2)


def _gradients(solve, field, times, **kwargs):
    y0, t = tf.constant(Y0), tf.constant(times)
    with tf.GradientTape() as tape:
        tape.watch([y0, t])
        loss = _loss(solve(field, y0, t, **{**TIGHT, **kwargs}))
    return dict(zip(["y0", "t", "W", "b"], tape.gradient(loss, [y0, t, field.W, field.b])))


def _relative(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))


@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_adjoint_matches_direct_backpropagation(direction):
    field = Field()
    times = TIMES if direction == "forward" else TIMES[::-1]
    direct = _gradients(odeint, field, times)
    adjoint = _gradients(odeint_adjoint, field, times)
    for name in direct:
        assert _relative(adjoint[name], direct[name]) < 1e-6, name


class _Nudge:
    """Context manager adding ``eps`` to one entry of an array or a variable."""

    def __init__(self, target, index, eps):
        self.target, self.index, self.eps = target, index, eps

    def _shift(self, sign):
        if isinstance(self.target, tf.Variable):
            delta = np.zeros(self.target.shape)
            delta[self.index] = sign * self.eps
            self.target.assign_add(delta)
        else:
            self.target[self.index] += sign * self.eps

    def __enter__(self):
        self._shift(+1)

    def __exit__(self, *exc):
        self._shift(-1)


def _central_difference(loss, target, index, eps=1e-5):
    with _Nudge(target, index, eps):
        plus = float(loss())
    with _Nudge(target, index, -eps):
        minus = float(loss())
    return (plus - minus) / (2 * eps)


@pytest.mark.parametrize("solve", [odeint, odeint_adjoint], ids=["direct", "adjoint"])
def test_gradients_match_finite_differences(solve):
    field = Field()
    times, y0 = TIMES.copy(), Y0.copy()
    grads = _gradients(solve, field, times)
    # One traced loss serves every perturbed solve (the variables are read at run time).
    traced = tf.function(lambda y0, t: _loss(odeint(field, y0, t, rtol=1e-12, atol=1e-13)))

    def loss():
        return traced(tf.constant(y0), tf.constant(times))

    checks = [("t", times, i) for i in range(len(times))]
    checks += [("y0", y0, (1, 2)), ("y0", y0, (3, 0))]
    checks += [("W", field.W, (0, 1)), ("W", field.W, (2, 2)), ("b", field.b, (1,))]
    for name, target, index in checks:
        fd = _central_difference(loss, target, index)
        scale = np.max(np.abs(grads[name].numpy()))
        assert abs(float(grads[name].numpy()[index]) - fd) / scale < 1e-6, (name, index)


def test_tuple_state_gradients_agree():
    W = tf.Variable([[0.3, -0.8], [0.9, 0.1]], dtype=tf.float64)

    def func(t, state):
        x, v = state
        return v, -tf.sin(x) + tf.matmul(v, W)

    y0 = (tf.constant([[0.5, -0.2]], tf.float64), tf.constant([[0.1, 0.4]], tf.float64))
    t = tf.constant([0.0, 0.7, 2.0], tf.float64)
    results = []
    for solve in (odeint, odeint_adjoint):
        with tf.GradientTape() as tape:
            tape.watch([*y0, t])
            x, v = solve(func, y0, t, **TIGHT)
            loss = tf.reduce_sum(x[-1] ** 2) + tf.reduce_sum(v * x)
        results.append(tape.gradient(loss, [*y0, t, W]))
    for adjoint, direct in zip(results[1], results[0]):
        assert _relative(adjoint, direct) < 1e-6


def test_fixed_step_adjoint_matches_direct_backpropagation():
    field = Field()
    options = {"step_size": 0.01}
    direct = _gradients(odeint, field, TIMES, method="rk4", options=options)
    adjoint = _gradients(odeint_adjoint, field, TIMES, method="rk4", options=options)
    for name in direct:
        assert _relative(adjoint[name], direct[name]) < 1e-6, name


def test_seminorm_gives_the_same_gradients_with_fewer_backward_evaluations():
    # A 16-dimensional MLP field: here the parameter adjoint, which the seminorm leaves
    # out of the error norm, is what limits the backward steps (Kidger et al. 2021).
    rng = np.random.default_rng(2)
    W1 = tf.Variable(rng.normal(size=(16, 64)) / 4.0)
    b1 = tf.Variable(rng.normal(size=(64,)) * 0.1)
    W2 = tf.Variable(rng.normal(size=(64, 16)) / 8.0)

    def field(t, y):
        return tf.matmul(tf.tanh(tf.matmul(y, W1) + b1), W2)

    y0 = tf.constant(rng.normal(size=(32, 16)))
    t = tf.constant([0.0, 1.0], tf.float64)
    results = {}
    for norm in ("full", "seminorm"):
        counter = SolverCounter()
        options = {"norm": "seminorm"} if norm == "seminorm" else None
        with tf.GradientTape() as tape:
            ys = odeint_adjoint(field, y0, t, rtol=1e-8, atol=1e-10, adjoint_options=options,
                                counter=counter)
            loss = tf.reduce_sum(ys[-1] ** 2)
        results[norm] = (tape.gradient(loss, [W1, b1, W2]), int(counter.nfe_backward))
    for seminorm, full in zip(results["seminorm"][0], results["full"][0]):
        assert _relative(seminorm, full) < 1e-6
    assert results["seminorm"][1] < 0.8 * results["full"][1]


def test_backward_intervals_start_from_the_step_the_previous_one_proposed():
    # Many output times close together, as in ode_demo's batches: the backward pass solves
    # one short interval after another. Carrying the step over, each interval after the
    # first takes one step; choosing afresh every time (or a small first_step the user
    # fixed) starts small and takes several.
    field = Field()
    y0 = tf.constant(Y0)
    t = tf.constant(np.linspace(0.0, 0.45, 10))
    num_intervals = 9

    def backward(**kwargs):
        counter = SolverCounter()
        with tf.GradientTape() as tape:
            tape.watch(y0)
            loss = _loss(odeint_adjoint(field, y0, t, rtol=1e-5, atol=1e-7, counter=counter,
                                        **kwargs)[-4:])
        grads = tape.gradient(loss, [y0, field.W, field.b])
        return grads, int(counter.steps_backward), int(counter.nfe_backward)

    carried, carried_steps, carried_nfe = backward()
    fixed_first, fixed_steps, _ = backward(adjoint_options={"first_step": 1e-3})
    assert carried_steps <= num_intervals + 2
    assert fixed_steps >= 2 * num_intervals
    # Per interval one derivative at t_i plus 6 evaluations per dopri5 step (FSAL), and one
    # more for the step selection of the first interval only.
    assert carried_nfe == num_intervals + 6 * carried_steps + 1
    with tf.GradientTape() as tape:
        tape.watch(y0)
        loss = _loss(odeint(field, y0, t, **TIGHT)[-4:])
    direct = tape.gradient(loss, [y0, field.W, field.b])
    for ours, theirs, reference in zip(carried, fixed_first, direct):
        assert _relative(ours, reference) < 1e-4  # both only as exact as rtol=1e-5
        assert _relative(theirs, reference) < 1e-4


def test_only_adjoint_params_receive_gradients():
    field = Field()
    y0, t = tf.constant(Y0), tf.constant(TIMES)
    with tf.GradientTape() as tape:
        loss = _loss(odeint_adjoint(field, y0, t, adjoint_params=[field.W]))
    grad_W, grad_b = tape.gradient(loss, [field.W, field.b])
    assert grad_W is not None and grad_b is None


def test_keras_model_parameters_are_found_by_default():
    inputs = keras.Input((3,), dtype="float64")
    dense = keras.layers.Dense(3, activation="tanh", dtype="float64")
    net = keras.Model(inputs, dense(inputs))

    class Func(keras.layers.Layer):
        def __init__(self):
            super().__init__(dtype="float64")
            self.net = net

        def call(self, t, y):
            return self.net(y)

    func = Func()
    y0, t = tf.constant(Y0), tf.constant(TIMES)
    grads = []
    for solve in (odeint, odeint_adjoint):
        with tf.GradientTape() as tape:
            loss = _loss(solve(func, y0, t, **TIGHT))
        grads.append(tape.gradient(loss, net.trainable_variables))
    assert len(grads[1]) == 2
    for adjoint, direct in zip(grads[1], grads[0]):
        assert _relative(adjoint, direct) < 1e-6


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_adjoint_gradients_inside_tf_function(jit_compile):
    field = Field()
    eager = _gradients(odeint_adjoint, field, TIMES)

    @tf.function(jit_compile=jit_compile)
    def compiled(y0, t):
        with tf.GradientTape() as tape:
            tape.watch([y0, t])
            loss = _loss(odeint_adjoint(field, y0, t, **TIGHT))
        return tape.gradient(loss, [y0, t, field.W, field.b])

    for name, value in zip(eager, compiled(tf.constant(Y0), tf.constant(TIMES))):
        assert _relative(value, eager[name]) < 1e-9, name


def test_adjoint_solver_settings_are_honoured():
    field = Field()
    y0, t = tf.constant(Y0), tf.constant(TIMES)

    def backward_nfe(**kwargs):
        counter = SolverCounter()
        with tf.GradientTape() as tape:
            loss = _loss(odeint_adjoint(field, y0, t, counter=counter, **{**TIGHT, **kwargs}))
        gradient = tape.gradient(loss, field.W)  # the backward solve runs here
        return int(counter.nfe_backward), gradient

    tight, exact = backward_nfe()
    loose, approximate = backward_nfe(adjoint_rtol=1e-4, adjoint_atol=1e-6)
    assert loose < tight
    assert 1e-9 < _relative(approximate, exact) < 1e-2  # looser, but still a gradient
    # A fixed-step backward solve: 4 rk4 stages per step plus one evaluation per interval.
    fixed, gradient = backward_nfe(adjoint_method="rk4", adjoint_options={"step_size": 0.05})
    steps = sum(int(np.ceil(round(d / 0.05, 9))) for d in np.diff(TIMES))
    assert fixed == 4 * steps + (len(TIMES) - 1)
    assert _relative(gradient, exact) < 1e-4


@pytest.mark.parametrize("method, options", [
    ("dopri5", None), ("rk4", {"step_size": 0.1}), ("adams", None),
    ("explicit_adams", {"step_size": 0.1}), ("rodas5p", None)])
def test_the_backward_count_is_the_evaluations_made(method, options):
    # Each backward interval hands its solver the derivative at t_i; only the fixed-step
    # Runge-Kutta solvers evaluate their own first stage (Adams counted it twice before).
    k = tf.Variable(0.7, dtype=tf.float64)
    calls = tf.Variable(0, dtype=tf.int64, trainable=False)

    def decay(t, y):
        calls.assign_add(1)
        return -k * y

    counter = SolverCounter()
    with tf.GradientTape() as tape:
        ys = odeint_adjoint(decay, tf.constant([1.0], tf.float64),
                            tf.constant([0.0, 0.5, 1.0], tf.float64), method=method,
                            options=options, rtol=1e-6, atol=1e-8, counter=counter)
        loss = tf.reduce_sum(ys)
    calls.assign(0)
    assert tape.gradient(loss, k) is not None
    assert int(counter.nfe_backward) == int(calls.numpy()) > 0
