"""Times a solve must respect: jump_t, step_t, perturb, grid_constructor, steps on t.

The problem with a jump: ``dy/dt = -y`` before ``t = 1`` and ``3 - y`` after (a forcing
switched on), ``y(0) = 1``; exactly ``exp(-t)``, then ``3 + (exp(-1) - 3) exp(1 - t)``.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from ode_keras import SOLVERS, ODEBlock, SolverCounter, odeint, odeint_adjoint
from ode_keras._one_sided import nudge
from ode_keras.perturb import Perturb

TOLERANCES = {tf.float64: (1e-6, 1e-8), tf.float32: (1e-5, 1e-7)}


def forcing_switched_on(t, y):
    return tf.where(t < 1.0, -y, 3.0 - y)


def exact(t):
    t = np.asarray(t, np.float64)
    return np.where(t <= 1.0, np.exp(-t), 3.0 + (np.exp(-1.0) - 3.0) * np.exp(1.0 - t))


def _scaled_error(ys, t, rtol, atol):
    reference = exact(t)
    return np.max(np.abs(ys.numpy()[:, 0] - reference) / (atol + rtol * np.abs(reference)))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("method", ["dopri5", "tsit5", "dopri8"])
def test_jump_t_stops_the_rejections_and_meets_the_tolerance(method, dtype):
    rtol, atol = TOLERANCES[dtype]
    t = tf.constant([0.0, 0.5, 1.5, 2.0], dtype)
    y0 = tf.constant([1.0], dtype)
    solves = {}
    for name, options in (("plain", {}), ("jump_t", {"jump_t": [1.0]})):
        solves[name] = odeint(forcing_switched_on, y0, t, method=method, rtol=rtol, atol=atol,
                              options=options, return_stats=True)
    (_, plain_stats), (jumped, jump_stats) = solves["plain"], solves["jump_t"]
    # Without jump_t every step across t = 1 fails until the steps are tiny.
    assert int(plain_stats["num_rejected"]) >= 10
    assert int(jump_stats["num_rejected"]) <= 1
    assert int(jump_stats["nfe"]) * 2 < int(plain_stats["nfe"])
    assert _scaled_error(jumped, t.numpy(), rtol, atol) <= 1.0


def test_the_evaluations_after_jumps_are_counted():
    calls = []

    def counted(t, y):
        calls.append(float(t))
        return forcing_switched_on(t, y)

    # Two jumps inside, one at the final time (no restart there) and one beyond it.
    _, stats = odeint(counted, tf.constant([1.0], tf.float64),
                      tf.constant([0.0, 2.0], tf.float64),
                      options={"jump_t": [1.0, 1.5, 2.0, 3.0]}, return_stats=True)
    assert int(stats["nfe"]) == len(calls)
    assert np.nextafter(1.5, 2.0) in calls and 2.0 not in calls


@pytest.mark.parametrize("direction", [1, -1])
def test_step_t_times_are_step_ends_exactly(direction):
    accepted = []

    class Decay:
        def __call__(self, t, y):
            return -y

        def callback_accept_step(self, t0, y0, dt):
            accepted.append((float(t0), float(dt)))

    step_t = [0.3, 0.7000000000000001, 1.9, -1.0, 5.0]  # the last two lie outside
    t = np.array([0.0, 2.0])[::direction]
    ys = odeint(Decay(), tf.constant([1.0], tf.float64), t, options={"step_t": step_t})
    ends = {t0 for t0, _ in accepted[1:]}  # each accepted step starts where one ended
    assert {0.3, 0.7000000000000001, 1.9} <= ends
    assert not ends & {-1.0, 5.0}
    np.testing.assert_allclose(ys[-1, 0], np.exp(-2.0 * direction), rtol=1e-6)


def test_a_time_in_both_step_t_and_jump_t_is_refused():
    with pytest.raises(ValueError, match=r"options\['step_t'\] and options\['jump_t'\] share "
                                         r"the times \[1.0\]"):
        odeint(forcing_switched_on, tf.constant([1.0]), [0.0, 2.0],
               options={"step_t": [0.5, 1.0], "jump_t": [1.0]})


@pytest.mark.parametrize("options, error, message", [
    ({"jump_t": [[1.0]]}, ValueError, r"options\['jump_t'\] must be a 1-D sequence"),
    ({"step_t": [float("nan")]}, ValueError, r"options\['step_t'\] must hold finite times"),
    ({"step_t": "soon"}, TypeError, r"options\['step_t'\] must be a 1-D sequence of times"),
])
def test_bad_stop_times_are_refused(options, error, message):
    with pytest.raises(error, match=message):
        odeint(forcing_switched_on, tf.constant([1.0]), [0.0, 2.0], options=options)


@pytest.mark.parametrize("options, error, message", [
    ({"grid": [0.5], "grid_constructor": lambda f, y, t: t}, ValueError,
     r"at most one of .*got \['grid', 'grid_constructor'\]"),
    ({"grid_constructor": 3}, TypeError, r"grid_constructor'\] must be callable"),
    ({"perturb": "yes"}, TypeError, r"options\['perturb'\] must be True or False"),
])
def test_bad_fixed_step_options_are_refused(options, error, message):
    with pytest.raises(error, match=message):
        odeint(forcing_switched_on, tf.constant([1.0]), [0.0, 2.0], method="rk4",
               options=options)


# ---------------------------------------------------------------------------
#  perturb: the two sides of a jump
# ---------------------------------------------------------------------------

def _step_forcing(t, y, perturb=Perturb.NONE):
    """dy/dt = 1 before t = 1 and 3 after; at t = 1 itself the side perturb asks for."""
    after = t >= 1.0 if perturb is Perturb.NEXT else t > 1.0  # perturb is known when tracing
    return tf.where(after, 3.0 * tf.ones_like(y), tf.ones_like(y))


def _ramp(t):  # its exact solution from y(0) = 0
    return np.where(t <= 1.0, t, 1.0 + 3.0 * (t - 1.0))


@pytest.mark.parametrize("t", [[0.0, 0.5, 2.0], [2.0, 1.5, 0.0]], ids=["forwards", "backwards"])
def test_perturb_gives_each_step_the_limit_from_its_own_side(t):
    # A piecewise-constant field: every step that sees one side only is exact.
    sides = []

    def field(t, y, perturb=Perturb.NONE):
        sides.append((float(t), perturb))
        return _step_forcing(t, y, perturb)

    y_start = tf.constant([float(_ramp(t[0]))], tf.float64)
    ys = odeint(field, y_start, tf.constant(t, tf.float64), options={"jump_t": [1.0]})
    np.testing.assert_allclose(ys.numpy()[:, 0], _ramp(np.array(t)), rtol=0, atol=1e-12)
    # Forwards the step ends see t = 1 from below and the restart from above; backwards
    # the other way round, both named in t.
    assert {(1.0, Perturb.PREV), (1.0, Perturb.NEXT)} <= set(sides)


class SteppedForcing(keras.layers.Layer):
    """A Keras layer whose ``call`` declares ``perturb``."""

    def __init__(self):
        super().__init__(dtype="float64")

    def call(self, t, y, perturb=Perturb.NONE):
        return _step_forcing(t, y, perturb)


def test_a_keras_layer_and_an_odeblock_take_jump_times():
    ys = odeint(SteppedForcing(), tf.constant([0.0], tf.float64),
                tf.constant([0.0, 2.0], tf.float64), options={"jump_t": [1.0]})
    np.testing.assert_allclose(ys[-1, 0], 4.0, rtol=0, atol=1e-12)
    block = ODEBlock(SteppedForcing(), t=(0.0, 2.0), rtol=1e-6, atol=1e-8, adjoint=False,
                     options={"jump_t": np.array([1.0])}, dtype="float64")
    np.testing.assert_allclose(block(tf.zeros([3, 1], tf.float64)), np.full([3, 1], 4.0),
                               rtol=0, atol=1e-12)
    assert list(block.get_config()["options"]["jump_t"]) == [1.0]  # JSON-friendly


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_a_func_without_perturb_sees_the_time_moved_by_one_ulp(dtype):
    seen = []

    def field(t, y):
        seen.append(t.numpy())
        return tf.where(t < 1.0, tf.ones_like(y), 3.0 * tf.ones_like(y))

    ys = odeint(field, tf.constant([0.0], dtype), tf.constant([0.0, 2.0], dtype),
                options={"jump_t": [1.0]})
    np.testing.assert_allclose(ys[-1, 0], 4.0, rtol=1e-6 if dtype == tf.float32 else 1e-12)
    one = np.ones([], dtype.as_numpy_dtype)
    assert np.nextafter(one, 0 * one) in seen and np.nextafter(one, 2 * one) in seen
    assert one not in seen


@pytest.mark.parametrize("dtype", [tf.float16, tf.bfloat16, tf.float32, tf.float64])
def test_nudge_is_nextafter_with_an_identity_gradient(dtype):
    # Not 0: its neighbours are subnormal, which TensorFlow flushes to zero on CPUs.
    values = np.array([1.0, -1.0, 3.5e-3, -250.0])
    numpy_dtype = np.float32 if dtype == tf.bfloat16 else dtype.as_numpy_dtype
    for side in (-1, 1):
        t = tf.constant(values, dtype)
        with tf.GradientTape() as tape:
            tape.watch(t)
            moved = nudge(t, side)
        # Strictly to that side, with nothing representable in between.
        moved_wide, t_wide = (tf.cast(v, tf.float64).numpy() for v in (moved, t))
        assert np.all(np.sign(moved_wide - t_wide) == side)
        assert np.all(tf.cast(nudge(moved, -side), tf.float64).numpy() == t_wide)
        if dtype != tf.bfloat16:
            np.testing.assert_array_equal(
                moved.numpy(), np.nextafter(values.astype(numpy_dtype), side * np.inf))
        np.testing.assert_array_equal(tape.gradient(moved, t).numpy(), np.ones(len(values)))


def _left_closed(t, y):  # dy/dt = 1 up to t = 1 included, then 3
    return tf.where(t <= 1.0, tf.ones_like(y), 3.0 * tf.ones_like(y))


def _right_closed(t, y):  # dy/dt = 1 before t = 1, then 3 from t = 1 on
    return tf.where(t < 1.0, tf.ones_like(y), 3.0 * tf.ones_like(y))


# Without perturb, the steps from t = 1 (first stage) or to it (stages at c = 1) see the
# wrong side in these cases; midpoint's stages at t = 1 do not move its solution here.
WRONG_WITHOUT_PERTURB = {("euler", "left"), ("rk4", "left"), ("rk4", "right")}


@pytest.mark.parametrize("field", ["left", "right"])
@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4"])
def test_fixed_step_perturb_takes_the_left_and_right_limits_on_the_grid(method, field):
    # With t = 1 on the grid each step lies on one side of the jump: exact with perturb,
    # whichever value func itself gives at t = 1.
    func = _left_closed if field == "left" else _right_closed
    t, y0 = tf.constant([0.0, 2.0], tf.float64), tf.constant([0.0], tf.float64)
    grid = np.linspace(0.0, 2.0, 9)  # steps of 0.25, exact in binary
    sided = odeint(func, y0, t, method=method, options={"grid": grid, "perturb": True})
    np.testing.assert_allclose(sided[-1, 0], 4.0, rtol=0, atol=1e-12)
    plain = odeint(func, y0, t, method=method, options={"grid": grid})
    assert (abs(float(plain[-1, 0]) - 4.0) > 0.05) == ((method, field) in WRONG_WITHOUT_PERTURB)


# ---------------------------------------------------------------------------
#  grid_constructor, and fixed steps on t itself
# ---------------------------------------------------------------------------

def _gaussian(t, y):  # y = exp(-t**2 / 2)
    return -t * y


@pytest.mark.parametrize("method", ["euler", "midpoint", "heun3", "rk4"])
def test_grid_constructor_and_steps_on_t_keep_the_methods_order(method):
    errors = {"grid_constructor": [], "steps on t": []}
    counts = np.array([16, 32, 64])  # heun3 is in its asymptotic range from about 16
    for n in counts:
        def uniform(func, y0, t, n=n):
            return tf.linspace(t[0], t[-1], n + 1)

        t = tf.constant([0.0, 1.5], tf.float64)
        ys = odeint(_gaussian, tf.constant([1.0], tf.float64), t, method=method,
                    options={"grid_constructor": uniform})
        errors["grid_constructor"].append(abs(float(ys[-1, 0]) - np.exp(-1.125)))
        t_steps = tf.constant(np.linspace(0.0, 1.5, n + 1))
        ys, stats = odeint(_gaussian, tf.constant([1.0], tf.float64), t_steps, method=method,
                           return_stats=True)
        assert int(stats["num_steps"]) == n
        errors["steps on t"].append(np.max(np.abs(ys.numpy()[:, 0]
                                                  - np.exp(-t_steps.numpy() ** 2 / 2))))
    for name, found in errors.items():
        slope = np.polyfit(np.log(1.0 / counts), np.log(found), 1)[0]
        assert abs(slope - SOLVERS[method].order) < 0.2, (name, slope)


def test_grid_constructor_receives_the_users_func_y0_and_t():
    received = []

    def constructor(func, y0, t):
        received.append((func, y0, t.numpy()))
        return tf.linspace(t[0], t[-1], 5)

    y0 = (tf.constant([1.0]), tf.constant([2.0]))
    pair = lambda t, y: (-y[0], -y[1])  # noqa: E731
    odeint(pair, y0, [1.0, 0.5, 0.0], method="euler", options={"grid_constructor": constructor})
    (func, y0_seen, t_seen), = received
    assert func is pair and y0_seen[1] is y0[1]
    np.testing.assert_array_equal(t_seen, [1.0, 0.5, 0.0])


# ---------------------------------------------------------------------------
#  In tf.function and XLA; the adjoint
# ---------------------------------------------------------------------------

def _solve_with_stops(y0, t):
    return odeint(forcing_switched_on, y0, t, rtol=1e-8, atol=1e-10,
                  options={"jump_t": [1.0], "step_t": tf.constant([0.25, 1.75])},
                  return_stats=True)


@pytest.mark.parametrize("jit_compile", [False, True],
                         ids=["tf.function", "xla"])
def test_jump_and_step_times_in_tf_function_and_xla_match_eager(jit_compile):
    args = (tf.constant([1.0], tf.float64), tf.constant([0.0, 0.5, 2.0], tf.float64))
    eager, eager_stats = _solve_with_stops(*args)
    # t is an argument, so symbolic when traced: the direction of time too.
    ys, stats = tf.function(_solve_with_stops, jit_compile=jit_compile)(*args)
    np.testing.assert_allclose(ys, eager, rtol=1e-12)
    assert int(stats["num_steps"]) == int(eager_stats["num_steps"])
    assert _scaled_error(eager, args[1].numpy(), 1e-8, 1e-10) <= 1.0


def _gradients(solve, **settings):
    """Gradients of a loss for y0, k, t through a field that jumps at t = 1."""
    k = tf.Variable(0.7, dtype=tf.float64)

    def field(t, y):
        return tf.where(t < 1.0, -k * y, k * (3.0 - y))

    y0 = tf.constant([1.0, 0.5], tf.float64)
    t = tf.constant([0.0, 0.5, 2.0], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([y0, t])
        ys = solve(field, y0, t, rtol=1e-7, atol=1e-9, **settings)
        loss = tf.reduce_sum(ys ** 2)
    grad_y0, grad_k, grad_t = (g.numpy() for g in tape.gradient(loss, [y0, k, t]))
    # dL/dt[0] = -(dL/dy(t0) without the y0 term of ys[0]) . f(t0, y0), exactly.
    expected_grad_t0 = -np.dot(grad_y0 - 2.0 * y0.numpy(), field(t[0], y0).numpy())
    return grad_y0, grad_k, grad_t, expected_grad_t0


@pytest.mark.parametrize("settings", [
    dict(options={"jump_t": [1.0]}),
    dict(options={"jump_t": [1.0]}, adjoint_method="tsit5"),
    dict(options={"jump_t": [1.0]}, adjoint_options={"step_t": [0.25, 1.5]}),
    dict(method="rk4", options={"grid": np.linspace(0.0, 2.0, 41), "perturb": True},
         adjoint_options={"grid_constructor": lambda f, y0, t: tf.concat(
             [tf.linspace(t[0], t[-1], 31), tf.constant([1.0], tf.float64)], 0),
             "perturb": True}),
], ids=["jump_t", "jump_t-tsit5", "adjoint-step_t", "grid_constructor"])
def test_adjoint_gradients_with_time_options_match_backprop(settings):
    *adjoint, _ = _gradients(odeint_adjoint, **settings)
    forward = {key: value for key, value in settings.items() if not key.startswith("adjoint")}
    *direct, expected_grad_t0 = _gradients(odeint, **forward)
    # Fixed steps: the backward solve is another discretisation, accurate to O(h^4).
    tolerance = 1e-4 if "method" in settings else 1e-5
    for a, d in zip(adjoint[:2], direct[:2]):  # y0 and k
        np.testing.assert_allclose(a, d, rtol=tolerance, atol=tolerance)
    if "method" not in settings and "jump_t" in forward.get("options", {}):
        # Steps that stop at the jump make the discrete dL/dt[0] the exact one. (The
        # adjoint's integral of a . df/dt misses the Dirac mass of df/dt at the jump.)
        np.testing.assert_allclose(direct[2][0], expected_grad_t0, rtol=1e-6)
        np.testing.assert_allclose(adjoint[2][1:], direct[2][1:], rtol=tolerance)


def test_the_backward_solve_inherits_jump_t_and_saves_its_rejections():
    backward_nfe = {}
    for name, options in (("plain", {}), ("jump_t", {"jump_t": [1.0]})):
        counter = SolverCounter()
        y0 = tf.constant([1.0], tf.float64)
        with tf.GradientTape() as tape:
            tape.watch(y0)
            ys = odeint_adjoint(forcing_switched_on, y0, tf.constant([0.0, 2.0], tf.float64),
                                rtol=1e-5, atol=1e-7, options=options, counter=counter,
                                adjoint_method="tsit5")  # no adjoint_options: jump_t carries
            y_end = ys[-1]
        tape.gradient(y_end, y0)
        backward_nfe[name] = int(counter.nfe_backward)
    assert backward_nfe["jump_t"] * 2 < backward_nfe["plain"]
