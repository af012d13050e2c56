"""Step callbacks (torchdiffeq's names): called once per step, agreeing with return_stats."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ode_keras import SolverCounter, odeint, odeint_adjoint
from ode_keras._checkpoint import default_num_slots


def exact(t):  # of the field below from y(0) = 1
    return np.exp(-t) if t <= 1.0 else 3.0 + (np.exp(-1.0) - 3.0) * np.exp(1.0 - t)


class Recorder:
    """A field with a jump at t = 1 (so the plain adaptive solve rejects steps) that
    records every callback's ``(t0, y0, dt)`` in order, eagerly."""

    def __init__(self, suffix=""):
        self.events = []
        for kind in ("step", "accept", "reject"):
            setattr(self, f"callback_{kind}_step{suffix}".replace("step_step", "step"),
                    self._recorder(kind))

    def _recorder(self, kind):
        def record(t0, y0, dt):
            self.events.append((kind, float(t0), y0, float(dt)))
        return record

    @property
    def calls(self):
        return {kind: [event[1:] for event in self.events if event[0] == kind]
                for kind in ("step", "accept", "reject")}

    def __call__(self, t, y):
        return tf.where(t < 1.0, -y, 3.0 - y)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_adaptive_callbacks_see_every_attempt_and_agree_with_stats(dtype):
    func = Recorder()
    t = tf.constant([0.0, 2.0], dtype)
    ys, stats = odeint(func, tf.constant([1.0], dtype), t, rtol=1e-6, atol=1e-8,
                       return_stats=True)
    calls = func.calls
    assert len(calls["step"]) == int(stats["num_steps"])
    assert len(calls["accept"]) == int(stats["num_accepted"])
    assert len(calls["reject"]) == int(stats["num_rejected"]) > 0
    # Each step is announced, then judged: the same (t0, dt).
    announced, judged = func.events[0::2], func.events[1::2]
    assert {e[0] for e in announced} == {"step"} and {e[0] for e in judged} <= {"accept",
                                                                                "reject"}
    assert [(e[1], e[3]) for e in announced] == [(e[1], e[3]) for e in judged]
    # Accepted steps tile [0, 2]: each starts where the last ended, from the state there.
    starts = np.array([t0 for t0, _, _ in calls["accept"]])
    ends = starts + np.array([dt for _, _, dt in calls["accept"]])
    np.testing.assert_allclose(starts[1:], ends[:-1], rtol=1e-15, atol=0)
    assert starts[0] == 0.0 and ends[-1] == pytest.approx(2.0, rel=1e-15)
    # y0 is the solution where each accepted step starts.
    for t0, y0, _ in calls["accept"]:
        np.testing.assert_allclose(y0.numpy(), [exact(t0)], rtol=1e-4)
    np.testing.assert_allclose(ys[-1], [exact(2.0)], rtol=1e-4)


@pytest.mark.parametrize("options, steps", [({"step_size": 0.1}, 8),
                                            ({"grid": np.linspace(0, 0.8, 6)}, 5),
                                            ({}, 4)])  # steps on t itself
def test_fixed_step_callbacks_see_every_step_accepted(options, steps):
    func = Recorder()  # solved on [0, 0.8], before its jump
    t = tf.constant([0.0, 0.2, 0.4, 0.6, 0.8] if not options else [0.0, 0.8], tf.float64)
    ys = odeint(func, tf.constant([1.0], tf.float64), t, method="rk4", options=options)
    assert len(func.calls["step"]) == len(func.calls["accept"]) == steps
    assert not func.calls["reject"]
    np.testing.assert_allclose(sum(dt for _, _, dt in func.calls["step"]), 0.8, rtol=1e-14)
    starts = [t0 for t0, _, _ in func.calls["step"]]
    assert starts[0] == 0.0 and np.all(np.diff(starts) > 0)
    np.testing.assert_allclose(ys[-1], [np.exp(-0.8)], rtol=1e-4)


def test_callbacks_report_the_users_times_and_state_structure():
    # Backwards in time, on a tuple state: t0 and dt in t (dt < 0), y0 a tuple.
    func = Recorder()
    pair = tf.constant([1.0], tf.float64), tf.constant([2.0], tf.float64)

    def tuple_field(t, y):
        return func(t, y[0]), func(t, y[1])

    tuple_field.callback_accept_step = func.callback_accept_step
    odeint(tuple_field, pair, tf.constant([2.0, 0.0], tf.float64), options={"jump_t": [1.0]})
    starts = [t0 for t0, _, _ in func.calls["accept"]]
    assert starts[0] == 2.0 and np.all(np.diff(starts) < 0) and 1.0 in starts
    assert all(dt < 0 for _, _, dt in func.calls["accept"])
    first_state = func.calls["accept"][0][1]
    assert isinstance(first_state, tuple) and len(first_state) == 2
    np.testing.assert_array_equal(first_state[1], [2.0])


class CountingField(keras.layers.Layer):
    """A Keras layer that counts its steps in variables: what works inside tf.function."""

    def __init__(self):
        super().__init__(dtype="float64")  # Keras casts inputs to the layer's dtype
        self.counts = {kind: tf.Variable(0, dtype=tf.int32) for kind in
                       ("step", "accept", "reject")}
        self.traced = []

    def call(self, t, y):
        return tf.where(t < 1.0, -y, 3.0 - y)

    def callback_step(self, t0, y0, dt):
        self.traced.append(t0)  # plain Python: runs when the loop is traced
        self.counts["step"].assign_add(1)

    def callback_accept_step(self, t0, y0, dt):
        self.counts["accept"].assign_add(1)

    def callback_reject_step(self, t0, y0, dt):
        self.counts["reject"].assign_add(1)


@pytest.mark.parametrize("jit_compile", [False, True], ids=["tf.function", "xla"])
def test_variable_counters_count_steps_in_tf_function_and_xla(jit_compile):
    field = CountingField()

    @tf.function(jit_compile=jit_compile)
    def solve(y0, t):
        return odeint(field, y0, t, rtol=1e-6, atol=1e-8, return_stats=True)

    y0, t = tf.constant([1.0], tf.float64), tf.constant([0.0, 2.0], tf.float64)
    for _ in range(2):  # the second call runs the traced graph again: counts add up
        _, stats = solve(y0, t)
    for kind, stat in (("step", "num_steps"), ("accept", "num_accepted"),
                       ("reject", "num_rejected")):
        assert int(field.counts[kind].numpy()) == 2 * int(stats[stat])
    assert int(stats["num_rejected"]) > 0
    assert len(field.traced) == 1  # a Python side effect happens once, at trace time


def test_checkpointed_replays_are_not_reported_again():
    field = CountingField()
    y0 = tf.constant([1.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y0)
        # A small budget: few checkpoint slots, so the backward pass replays segments.
        ys, stats = odeint(field, y0, tf.constant([0.0, 2.0], tf.float64), rtol=1e-5,
                           atol=1e-7, gradient="checkpoint", return_stats=True,
                           options={"max_num_steps": 64})
        y_end = ys[-1]
    assert int(stats["num_steps"]) > 2 * default_num_slots(64)  # so segments are replayed
    gradient = tape.gradient(y_end, y0)
    assert int(field.counts["step"].numpy()) == int(stats["num_steps"])
    assert float(gradient[0]) == pytest.approx(np.exp(-2.0), rel=1e-4)  # dy(2)/dy(0)


@pytest.mark.parametrize("method, options", [("dopri5", None), ("rk4", {"step_size": 0.1})])
def test_adjoint_callbacks_are_called_in_the_backward_solve(method, options):
    func = Recorder()
    backward = Recorder("_adjoint")
    for name, callback in vars(backward).items():
        if name.startswith("callback"):
            setattr(func, name, callback)
    counter = SolverCounter()
    y0 = tf.constant([1.0, 0.5], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(y0)
        ys = odeint_adjoint(func, y0, tf.constant([0.0, 0.4, 1.0], tf.float64),
                            method=method, options=options, rtol=1e-6, atol=1e-8,
                            counter=counter)
        y_end = tf.reduce_sum(ys[-1])
    forward_steps = len(func.calls["step"])
    tape.gradient(y_end, y0)
    assert len(func.calls["step"]) == forward_steps == int(counter.steps_forward)
    assert len(backward.calls["step"]) == int(counter.steps_backward) > 0
    assert len(backward.calls["accept"]) + len(backward.calls["reject"]) == len(
        backward.calls["step"])
    if options:  # 4 + 6 fixed steps, as forwards
        assert len(backward.calls["step"]) == len(backward.calls["accept"]) == 10
    t0, state, dt = backward.calls["accept"][0]
    assert t0 == 1.0 and dt < 0  # from t[-1] back towards t[0]
    assert state.z.shape == y0.shape and state.a_z.shape == y0.shape  # the augmented state
    np.testing.assert_array_equal(state.a_z, [1.0, 1.0])  # dL/dy(1), the incoming gradient


def test_a_callback_that_is_not_callable_is_refused():
    def field(t, y):
        return -y

    field.callback_accept_step = "log"
    with pytest.raises(TypeError, match=r"func.callback_accept_step must be callable as "
                                        r"callback_accept_step\(t0, y0, dt\)"):
        odeint(field, tf.constant([1.0]), [0.0, 1.0])
