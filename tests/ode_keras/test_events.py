"""odeint_event: event times and states against closed forms, gradients against the implicit
function theorem's analytic values and central finite differences, on every gradient path."""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint_adjoint, odeint_event
from ode_keras.failures import SolveError

# A body falling under gravity g from height H with upward velocity V at time T0, onto a
# floor at height C (a variable the event function reads): y = [height, velocity].
G, H, V, C, T0 = 9.81, 2.0, 1.5, 0.3, 0.25
PATHS = {"backprop": dict(gradient="backprop"), "checkpoint": dict(gradient="checkpoint"),
         "adjoint": dict(odeint_interface=odeint_adjoint)}
INPUTS = ("h", "v", "t0", "g", "c")


def falling(g):
    return lambda t, y: tf.stack([y[1], -g * tf.ones_like(y[1])])


def closed_form(reverse=False):
    """The event time, the velocity there and their derivatives with respect to INPUTS.

    h + v tau - g tau**2 / 2 = c at tau = (v + s r) / g, r = sqrt(v**2 + 2 g (h - c)), with
    s = +1 forwards (the later root), -1 backwards in time (the earlier one); v_e = -s r.
    """
    s = -1.0 if reverse else 1.0
    r = np.sqrt(V**2 + 2 * G * (H - C))
    tau = (V + s * r) / G
    d_tau = [s / r, (1 + s * V / r) / G, 1.0, (s * (H - C) / r - tau) / G, -s / r]
    d_velocity = [-s * G / r, -s * V / r, 0.0, -s * (H - C) / r, s * G / r]
    return T0 + tau, -s * r, np.array(d_tau), np.array(d_velocity)


def event_and_jacobian(dtype=tf.float64, reverse=False, **kwargs):
    """(t_e, [h_e, v_e]) and the gradients of t_e, h_e, v_e with respect to INPUTS."""
    g, c = tf.Variable(G, dtype=dtype), tf.Variable(C, dtype=dtype)
    y0, t0 = tf.constant([H, V], dtype), tf.constant(T0, dtype)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([y0, t0])
        t_e, solution = odeint_event(falling(g), y0, t0, event_fn=lambda t, y: y[0] - c,
                                     reverse_time=reverse, **kwargs)
        outputs = (t_e, solution[-1, 0], solution[-1, 1])
    jacobian = []
    for output in outputs:
        d_y0, d_t0, d_g, d_c = tape.gradient(output, [y0, t0, g, c])
        jacobian.append(np.concatenate([d_y0.numpy(), [d_t0.numpy(), d_g.numpy(),
                                                       d_c.numpy()]]))
    np.testing.assert_array_equal(solution[0], y0)
    return float(t_e), solution[-1].numpy(), np.array(jacobian)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("method,options", [("dopri5", None), ("tsit5", None),
                                            ("bosh3", None), ("rk4", {"step_size": 0.1})])
def test_the_event_time_of_a_falling_body_is_the_analytic_crossing(dtype, method, options):
    # The parabola is integrated exactly by each of these methods and interpolated exactly by
    # the search's cubic Hermite interpolant: only round-off remains.
    t_e, state, _ = event_and_jacobian(dtype, method=method, options=options)
    t_exact, v_exact, _, _ = closed_form()
    tolerance = 2e-6 if dtype == tf.float32 else 1e-12
    np.testing.assert_allclose(t_e, t_exact, rtol=tolerance)
    np.testing.assert_allclose(state, [C, v_exact], rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("method,options", [
    ("kvaerno5", None), ("rodas5p", None), ("adams", None),
    ("explicit_adams", {"step_size": 0.05})])
def test_implicit_rosenbrock_and_adams_methods_find_the_event_too(method, options):
    # Each method's own driver runs the search; each integrates the parabola exactly.
    t_e, state, jacobian = event_and_jacobian(method=method, options=options)
    t_exact, v_exact, d_tau, _ = closed_form()
    np.testing.assert_allclose([t_e, *state], [t_exact, C, v_exact], rtol=1e-10)
    np.testing.assert_allclose(jacobian[0], d_tau, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("path", PATHS)
def test_gradients_of_the_event_time_and_state_are_the_implicit_function_theorems(path):
    _, _, jacobian = event_and_jacobian(**PATHS[path], rtol=1e-10, atol=1e-12)
    _, _, d_tau, d_velocity = closed_form()
    np.testing.assert_allclose(jacobian[0], d_tau, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(jacobian[1], [0, 0, 0, 0, 1], atol=1e-8)  # h_e = c
    np.testing.assert_allclose(jacobian[2], d_velocity, rtol=1e-8, atol=1e-10)


def test_in_float32_the_gradients_are_the_analytic_ones_to_its_precision():
    _, _, jacobian = event_and_jacobian(tf.float32)
    _, _, d_tau, d_velocity = closed_form()
    np.testing.assert_allclose(jacobian[0], d_tau, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jacobian[2], d_velocity, rtol=1e-5, atol=1e-5)


def test_reverse_time_finds_the_event_before_t0_with_its_gradients():
    t_e, state, jacobian = event_and_jacobian(reverse=True)
    t_exact, v_exact, d_tau, d_velocity = closed_form(reverse=True)
    assert t_e < T0
    np.testing.assert_allclose([t_e, *state], [t_exact, C, v_exact], rtol=1e-12)
    np.testing.assert_allclose(jacobian[0], d_tau, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(jacobian[2], d_velocity, rtol=1e-9, atol=1e-12)


def test_in_tf_function_the_results_and_gradients_equal_the_eager_ones():
    eager = event_and_jacobian(gradient="checkpoint")
    # checkpoint and adjoint differentiate the variables func reads (not captured tensors).
    g, c = tf.Variable(G, dtype=tf.float64), tf.Variable(C, dtype=tf.float64)

    @tf.function
    def solve(y0, t0):
        with tf.GradientTape() as tape:
            tape.watch([y0, t0])
            t_e, solution = odeint_event(falling(g), y0, t0, event_fn=lambda t, y: y[0] - c,
                                         gradient="checkpoint")
        return t_e, solution[-1], tape.gradient(t_e, [y0, t0, g, c])

    t_e, state, grads = solve(tf.constant([H, V], tf.float64), tf.constant(T0, tf.float64))
    np.testing.assert_allclose([float(t_e), *state.numpy()], [eager[0], *eager[1]], rtol=1e-12)
    grads = np.concatenate([grads[0].numpy(), [float(d) for d in grads[1:]]])
    np.testing.assert_allclose(grads, eager[2][0], rtol=1e-12)

class Pendulum(tf.Module):
    """A damped, driven pendulum: nothing here has a closed form. y = [angle, speed]."""

    def __init__(self):
        self.k = tf.Variable(3.0, dtype=tf.float64)
        self.level = tf.Variable(0.2, dtype=tf.float64)  # read by the event function only

    def __call__(self, t, y):
        return tf.stack([y[1], -self.k * tf.sin(y[0]) - 0.2 * y[1] + 0.3 * tf.cos(2.0 * t)])

    def event_fn(self, t, y):
        return y[0] - self.level


def pendulum_event(pendulum, y0, t0, **kwargs):
    """[t_e, speed at t_e] (the angle there is the level itself)."""
    t_e, solution = odeint_event(pendulum, y0, t0, event_fn=pendulum.event_fn, rtol=1e-9,
                                 atol=1e-11, **kwargs)
    return tf.stack([t_e, solution[-1, 1]])


@pytest.fixture(scope="module")
def pendulum_differences():
    """The pendulum at [angle0, speed0, t0, k, level], and central differences of
    [t_e, speed at t_e] with respect to those five."""
    pendulum = Pendulum()
    # Traced once; autograph=False: the library's loops are tf.while_loop already.
    values = tf.function(lambda y0, t0: pendulum_event(pendulum, y0, t0),
                         autograph=False)

    def run(point):
        pendulum.k.assign(point[3])
        pendulum.level.assign(point[4])
        return values(tf.constant(point[:2]), tf.constant(point[2])).numpy()

    point, eps = np.array([1.0, 0.0, 0.4, 3.0, 0.2]), 1e-4
    differences = np.stack([(run(point + eps * e) - run(point - eps * e)) / (2 * eps)
                            for e in np.eye(5)], axis=1)
    assert 0.4 < run(point)[0] < 2.0  # the time it swings down through the level
    return pendulum, point, differences


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS)
def test_gradients_match_central_finite_differences_on_a_driven_pendulum(
        path, pendulum_differences):
    pendulum, point, differences = pendulum_differences
    y0, t0 = tf.constant(point[:2]), tf.constant(point[2])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([y0, t0])
        outputs = tf.unstack(pendulum_event(pendulum, y0, t0, **PATHS[path]))
    jacobian = [np.concatenate([tf.reshape(d, [-1]).numpy() for d in tape.gradient(
        output, [y0, t0, pendulum.k, pendulum.level])]) for output in outputs]
    np.testing.assert_allclose(jacobian, differences, rtol=1e-6, atol=1e-8)


def test_an_event_inside_a_step_is_found_to_the_solvers_accuracy():
    # y = (cos t, -sin t) crosses y[0] = 0 at pi/2, inside a step: the root is found on the
    # step's interpolant, then corrected on the solver's own solution.
    rotation = lambda t, y: tf.stack([y[1], -y[0]])  # noqa: E731
    t_e, solution = odeint_event(rotation, tf.constant([1.0, 0.0], tf.float64), 0.0,
                                 event_fn=lambda t, y: y[0], rtol=1e-10, atol=1e-12)
    assert abs(float(t_e) - np.pi / 2) < 1e-9
    np.testing.assert_allclose(solution[-1], [0.0, -1.0], atol=1e-9)


def test_the_first_of_several_event_functions_to_change_sign_ends_the_solve():
    # [height - c, t - t_stop]: the second starts negative, and wins when t_stop comes first.
    g, t_stop = tf.Variable(G, dtype=tf.float64), tf.Variable(T0 + 0.3, dtype=tf.float64)
    y0 = tf.constant([H, V], tf.float64)

    def solve():
        with tf.GradientTape() as tape:
            t_e, solution = odeint_event(falling(g), y0, T0, event_fn=lambda t, y: tf.stack(
                [y[0] - C, t - t_stop]))
        return float(t_e), solution[-1].numpy(), tape.gradient(t_e, [g, t_stop])

    t_e, state, (d_g, d_stop) = solve()
    np.testing.assert_allclose([t_e, float(d_stop), float(d_g)], [T0 + 0.3, 1.0, 0.0],
                               atol=1e-12)
    np.testing.assert_allclose(state, [H + V * 0.3 - G * 0.3**2 / 2, V - G * 0.3], rtol=1e-12)
    t_stop.assign(T0 + 5.0)  # after the floor
    t_e, state, (d_g, d_stop) = solve()
    t_exact, v_exact, d_tau, _ = closed_form()
    np.testing.assert_allclose([t_e, *state, float(d_g)], [t_exact, C, v_exact, d_tau[3]],
                               rtol=1e-12)
    assert d_stop is None or float(d_stop) == 0.0


@pytest.mark.slow
def test_under_xla_the_event_and_gradients_are_right_and_no_event_is_nan():
    g = tf.Variable(G, dtype=tf.float64)

    @tf.function(jit_compile=True)
    def solve(y0, t0, floor):
        with tf.GradientTape() as tape:
            tape.watch([y0, t0])
            t_e, solution = odeint_event(falling(g), y0, t0, event_fn=lambda t, y: y[0] - floor,
                                         gradient="checkpoint", options={"max_num_steps": 64})
        return t_e, solution[-1], tape.gradient(t_e, [y0, t0, g])

    args = [tf.constant([H, V], tf.float64), tf.constant(T0, tf.float64)]
    t_e, state, (d_y0, d_t0, d_g) = solve(*args, tf.constant(C, tf.float64))
    t_exact, v_exact, d_tau, _ = closed_form()
    np.testing.assert_allclose([float(t_e), *state.numpy()], [t_exact, C, v_exact], rtol=1e-12)
    np.testing.assert_allclose([*d_y0.numpy(), float(d_t0), float(d_g)], d_tau[:4], rtol=1e-10)
    # A floor above the ball: XLA cannot raise, so the event time says it with NaN.
    assert np.isnan(float(solve(*args, tf.constant(100.0, tf.float64))[0]))


def test_no_event_raises_a_solve_error_that_says_so_eagerly_and_in_tf_function():
    y0 = tf.constant([H, V], tf.float64)
    above = lambda t, y: y[0] - 100.0  # noqa: E731  (the ball never rises to 100)
    with pytest.raises(SolveError, match=r"found no event.*after 20 steps.*max_num_steps = 20"):
        odeint_event(falling(G), y0, T0, event_fn=above, options={"max_num_steps": 20})
    with pytest.raises(SolveError, match=r"found no event.*after 10 steps") as failure:
        odeint_event(falling(G), y0, T0, event_fn=above, method="rk4",
                     options={"step_size": 0.1, "max_num_steps": 10})
    assert failure.value.t == pytest.approx(T0 + 10 * 0.1, abs=1e-5)  # 10 steps of 0.1
    graph = tf.function(lambda y0: odeint_event(falling(G), y0, T0, event_fn=above,
                                                options={"max_num_steps": 20}))
    with pytest.raises(tf.errors.InvalidArgumentError, match="found no event"):
        graph(y0)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(event_fn=3), TypeError, "event_fn must be callable"),
    (dict(event_fn=lambda t, y: None), TypeError, "forget a `return`"),
    (dict(event_fn=lambda t, y: y[0] > C), TypeError, "floating tensor, got dtype bool"),
    (dict(event_fn=lambda t, y: y[:0]), ValueError, "empty tensor"),
    (dict(event_fn=lambda t, y: y - H), ValueError, r"non-zero and finite.*\[0.0, -0.5\]"),
    (dict(event_fn=lambda t, y: y[0] / 0.0), ValueError, "non-zero and finite"),
    (dict(reverse_time="yes"), TypeError, "reverse_time must be True or False"),
    (dict(return_stats=True), ValueError, "takes no return_stats"),
    (dict(method="scipy_solver"), ValueError, "method='scipy_solver' has no steps"),
    (dict(method="rk4", options={"grid": [0.5, 1.0]}), ValueError, "not a grid"),
    (dict(method="rk4", options={"grid_constructor": lambda f, y0, t: t}), ValueError,
     "needs options\\['step_size'\\] for the fixed-step method 'rk4'"),
    (dict(odeint_interface="adjoint"), TypeError, "odeint_interface must be"),
])
def test_bad_arguments_are_refused_with_what_to_do(kwargs, error, match):
    kwargs = {"event_fn": lambda t, y: y[0] - C, **kwargs}
    with pytest.raises(error, match=match):
        odeint_event(falling(G), tf.constant([H, V], tf.float64), T0, **kwargs)


def test_t0_must_be_one_real_time():
    y0 = tf.constant([H, V], tf.float64)
    with pytest.raises(ValueError, match="t0 must be a scalar start time"):
        odeint_event(falling(G), y0, [0.0, 1.0], event_fn=lambda t, y: y[0] - C)
    with pytest.raises(ValueError, match="t0 must be finite"):
        odeint_event(falling(G), y0, float("inf"), event_fn=lambda t, y: y[0] - C)
