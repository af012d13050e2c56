"""Issue #12, items 1-5: no silent wrong answers, honest budgets, clean failures.

Each test keeps the issue's reproduction; each failed on the code before the fix.
"""

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import odeint, odeint_adjoint
from ode_keras.failures import MAX_STEPS, SolveError


def _decay(t, y):
    return -y


# ---------------------------------------------------------------- 1: step counts overflow

def _euler_tiny_step():
    return odeint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), method="euler",
                  options={"step_size": 1e-10}, return_stats=True)


def test_item1_a_step_count_past_int32_fails_loudly_eagerly():
    # Before: 1e10 steps wrapped to 1, one giant step, status 0, returned 0.0.
    with pytest.raises(SolveError, match="max_num_steps=4096"):
        _euler_tiny_step()
    with pytest.raises(SolveError, match="max_num_steps"):
        odeint(_decay, tf.constant([1.0]), tf.constant([0., 1000.]), method="rk4",
               options={"step_size": 1e-12})


def test_item1_in_tf_function_and_in_the_adjoint():
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_num_steps=4096"):
        tf.function(_euler_tiny_step)()
    with pytest.raises(SolveError, match="max_num_steps=4096"):
        odeint_adjoint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), method="euler",
                       options={"step_size": 1e-10})


def test_item1_under_xla_the_status_says_max_steps():
    _, stats = tf.function(_euler_tiny_step, jit_compile=True)()
    assert int(stats["status"]) == MAX_STEPS


# ---------------------------------------------------------------- 2: budgets out of range

@pytest.mark.parametrize("budget", [2**31, 2**32 + 3, True])
@pytest.mark.parametrize("solve", [odeint, odeint_adjoint])
def test_item2_a_budget_int32_cannot_hold_is_refused_with_the_range(solve, budget):
    # Before: 2**31 gave a false "max_num_steps=2147483648 steps were taken", 2**32+3 acted
    # as 3; True as 1 (odeint_adjoint).
    with pytest.raises(ValueError, match=r"from 1 to 2\*\*31 - 1 = 2147483647"):
        solve(_decay, tf.constant([1.0]), tf.constant([0., 1.]), method="euler",
              options={"step_size": 0.1, "max_num_steps": budget})


# ---------------------------------------------------------------- 3: half precision

@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_item3_adaptive_solves_of_half_precision_states(dtype):
    # Before: every adaptive float16 solve failed at t=0 ("max_num_steps ... may be stiff").
    y0 = tf.constant([1.0, 2.0], dtype)
    ys = odeint(_decay, y0, tf.constant([0.0, 0.5, 1.0]), rtol=1e-3, atol=1e-3)
    assert ys.dtype == dtype
    np.testing.assert_allclose(tf.cast(ys[-1], tf.float32).numpy(), np.exp(-1.0) * np.array(
        [1.0, 2.0]), rtol=2e-2)


def test_item3_half_precision_gradients_adjoint_and_backprop():
    k = tf.Variable(0.5)  # float32, as Keras keeps variables under mixed precision

    def field(t, y):
        return -tf.cast(k, y.dtype) * y

    for solve in (odeint, odeint_adjoint):
        with tf.GradientTape() as tape:
            y = solve(field, tf.constant([1.0], tf.float16), tf.constant([0.0, 2.0]),
                      rtol=1e-3, atol=1e-3)[-1, 0]
        grad = tape.gradient(y, k)
        np.testing.assert_allclose(float(grad), -2.0 * np.exp(-1.0), rtol=3e-2)


# ---------------------------------------------------------------- 4: failure messages

def test_item4_eager_failures_are_one_clean_paragraph_catchable_by_name():
    # Before: "Expected 'tf.Tensor(False, shape=(), dtype=bool)' to be true. Summarized
    # data: b'ODE solve failed: ...'" with the pieces on separate lines.
    with pytest.raises(SolveError) as error:
        odeint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), options={"max_num_steps": 2})
    message = str(error.value)
    assert isinstance(error.value, tf.errors.InvalidArgumentError)
    assert message.startswith("ODE solve failed: max_num_steps=2 ")
    assert "\n" not in message and "Summarized" not in message and "b'" not in message
    assert error.value.status == MAX_STEPS and 0 < error.value.t < 1


def test_item4_graph_failures_are_one_string():
    @tf.function
    def solve():
        return odeint(_decay, tf.constant([1.0]), tf.constant([0., 1.]),
                      options={"max_num_steps": 2})

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        solve()
    assert "[ODE solve failed: max_num_steps=2 steps were not enough to reach t = 1; the " \
        "solve stopped at t = " in str(error.value)


def test_item4_a_failed_backward_solve_says_so_and_names_the_adjoint_settings():
    k = tf.Variable(1.0)
    with pytest.raises(SolveError) as error:
        with tf.GradientTape() as tape:
            ys = odeint_adjoint(lambda t, y: -k * y, tf.constant([1.0]),
                                tf.constant([0.0, 1.0]), adjoint_options={"max_num_steps": 3})
        tape.gradient(ys, k)
    message = str(error.value)
    assert "adjoint's backward solve" in message and "from t = 1 back to t = 0" in message
    assert "adjoint_options" in message and "adjoint_rtol" in message
    assert "in options" not in message


def test_item4_running_out_of_steps_with_many_rejections_looks_stiff():
    def stiff(t, y):
        return -1000.0 * (y - tf.cos(t))

    @tf.function  # in a graph: 2000 eager steps would take half a minute
    def solve():
        return odeint(stiff, tf.constant([1.0], tf.float64),
                      tf.constant([0.0, 100.0], tf.float64), method="bosh3", rtol=1e-6,
                      atol=1e-6, options={"max_num_steps": 2000})

    with pytest.raises(tf.errors.InvalidArgumentError, match="looks stiff"):
        solve()
    with pytest.raises(SolveError) as error:  # a non-stiff solve short of steps is not
        odeint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), options={"max_num_steps": 2})
    assert "stiff" not in str(error.value)


# ---------------------------------------------------------------- 5: clear argument errors

def test_item5_func_returning_none():
    with pytest.raises(TypeError, match="returned None.*forget a `return`"):
        odeint(lambda t, y: None, tf.constant([1.0]), tf.constant([0., 1.]))


def test_item5_adjoint_params_and_counter():
    k = tf.Variable(1.0)
    with pytest.raises(TypeError, match=r"adjoint_params must be a list.*adjoint_params=\[k\]"):
        odeint_adjoint(lambda t, y: -k * y, tf.constant([1.0]), tf.constant([0., 1.]),
                       adjoint_params=k)
    for bad in (tf.Variable(1), tf.Variable(1.0, dtype=tf.float64)):
        with pytest.raises(TypeError, match=f"dtype {bad.dtype.name}, but the state y0 is "
                           "float32.*must be float32"):
            odeint_adjoint(lambda t, y: -k * y, tf.constant([1.0]), tf.constant([0., 1.]),
                           adjoint_params=[k, bad])
    with pytest.raises(TypeError, match="counter must be an ode_keras.stats.SolverCounter"):
        odeint_adjoint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), counter=object())


def test_item5_a_constant_tensor_step_size_is_its_value():
    # Before: "must be a positive number, got 0.1" for tf.constant(0.1).
    ys = odeint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), method="euler",
                options={"step_size": tf.constant(0.1)})
    np.testing.assert_allclose(ys[-1, 0], 0.9**10, rtol=1e-6)

    @tf.function
    def symbolic(step):
        return odeint(_decay, tf.constant([1.0]), tf.constant([0., 1.]), method="euler",
                      options={"step_size": step})

    with pytest.raises(TypeError, match="whose value is not known now; pass a float"):
        symbolic(tf.constant(0.1))


def test_item5_float64_times_that_would_collapse_in_float32_solve_a_float32_state():
    # First NaN at t[1], then a ValueError (the times collapsed in float32); since issue #14
    # item 5 the solver keeps its times in float64 whatever the state's dtype.
    ys = odeint(_decay, tf.constant([1.0]), tf.constant([1e8, 1e8 + 1], tf.float64))
    np.testing.assert_allclose(ys.numpy()[:, 0], [1.0, np.exp(-1.0)], rtol=1e-5)
