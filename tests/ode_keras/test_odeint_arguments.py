"""Bad arguments: TypeError/ValueError naming the argument, the expectation and the value."""

import pytest
import tensorflow as tf

from ode_keras import SOLVERS, odeint, odeint_adjoint

Y0 = tf.constant([[1.0, 2.0]])
T = tf.constant([0.0, 1.0])


def decay(t, y):
    return -y


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(func=3), TypeError, "func must be callable"),
        (dict(y0=tf.constant([1, 2])), TypeError, "floating dtype .* got int32"),
        (dict(y0=(tf.constant([1.0]), tf.constant([1.0], tf.float64))), TypeError,
         "share one floating dtype"),
        (dict(y0=()), ValueError, "non-empty tuple"),
        (dict(t=tf.constant([[0.0, 1.0]])), ValueError, "t must be a 1-D tensor"),
        (dict(t=tf.constant([], tf.float32)), ValueError, "at least 1 time"),
        (dict(t=tf.constant([0.0, 1.0, 0.5])), ValueError, "strictly increasing or strictly"),
        (dict(t=tf.constant([0.0, 1.0, 1.0])), ValueError, "strictly increasing or strictly"),
        (dict(t=tf.constant([0.0, float("inf")])), ValueError, "finite times"),
        (dict(t=tf.constant(["a", "b"])), TypeError, "real times"),
        (dict(method="rk45"), ValueError, "Invalid method 'rk45'; must be one of"),
        (dict(rtol=0.0), ValueError, "rtol must be positive and finite, got rtol=0.0"),
        (dict(atol=-1e-9), ValueError, "atol must be positive"),
        (dict(rtol=float("nan")), ValueError, "rtol must be positive"),
        (dict(rtol="tight"), TypeError, "rtol must be a positive real number"),
        (dict(rtol=True), TypeError, "rtol must be a positive real number, got rtol=True"),
        (dict(method=None), TypeError, r"Invalid method None; must be one of"),
        (dict(options=[("step_size", 0.1)]), TypeError, "options must be a dict"),
        (dict(options={"stepsize": 0.1}), ValueError,
         r"Unknown options \['stepsize'\] for method 'dopri5'; valid options are"),
        (dict(method="rk4", options={"step_size": 0.1, "grid": [0.0, 1.0]}), ValueError,
         "at most one of options\\['step_size'\\], options\\['grid'\\]"),
        (dict(method="rk4", options={"step_size": -0.1}), ValueError,
         "step_size'\\] must be a positive number, got -0.1"),
        (dict(options={"max_num_steps": 0}), ValueError, "max_num_steps'\\] must be a positive"),
        (dict(options={"max_num_steps": 1.5}), ValueError, "positive integer"),
        (dict(options={"first_step": 0.0}), ValueError, "first_step'\\] must be a positive"),
        (dict(options={"min_step": 1.0, "max_step": 0.1}), ValueError,
         "0 <= min_step <= max_step"),
        (dict(options={"norm": "rms"}), TypeError, "options\\['norm'\\] must be callable"),
        (dict(func=lambda t, y: y[:, :1]), ValueError,
         r"returned shape \(1, 1\) but y0 has shape \(1, 2\)"),
        (dict(func=lambda t, y: tf.cast(y, tf.float64)), TypeError,
         "returned dtype float64 but y0 has dtype float32"),
        (dict(func=lambda t, y: (y, y)), TypeError, "structure of y0 \\(a single tensor\\)"),
    ],
)
def test_bad_arguments_are_explained(kwargs, error, message):
    arguments = dict(func=decay, y0=Y0, t=T)
    arguments.update(kwargs)
    func, y0, t = arguments.pop("func"), arguments.pop("y0"), arguments.pop("t")
    for solve in (odeint, odeint_adjoint):
        with pytest.raises(error, match=message):
            solve(func, y0, t, **arguments)


def test_unknown_method_error_lists_every_method():
    with pytest.raises(ValueError) as info:
        odeint(decay, Y0, T, method="rk45")
    for name in SOLVERS:
        assert repr(name) in str(info.value)


def test_tuple_state_mismatch_names_the_component():
    with pytest.raises(ValueError, match=r"func\(t, y\)\[1\] returned shape"):
        odeint(lambda t, y: (y[0], y[1][:, :1]), (Y0, Y0), T)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(adjoint_method="rk45"), ValueError, "Invalid adjoint_method 'rk45'"),
        (dict(adjoint_method="rk4", adjoint_options={"norm": "seminorm"}), ValueError,
         "seminorm' needs an adaptive adjoint_method"),
        (dict(adjoint_options={"norm": "seminorm", "bogus": 1}), ValueError,
         "Unknown options \\['bogus'\\]"),
        (dict(adjoint_options=3), TypeError, "adjoint_options must be a dict"),
        (dict(adjoint_rtol=0.0), ValueError, "adjoint_rtol must be positive"),
        (dict(adjoint_options={"max_step": 0}), ValueError,
         r"adjoint_options\['max_step'\] must be a positive number, got 0"),
        (dict(adjoint_method=3), TypeError, "Invalid adjoint_method 3; must be one of"),
        (dict(adjoint_atol=-1.0), ValueError, "adjoint_atol must be positive"),
        (dict(adjoint_params=[tf.constant(1.0)]), TypeError,
         "adjoint_params must hold variables"),
    ],
)
def test_bad_adjoint_arguments_are_explained(kwargs, error, message):
    with pytest.raises(error, match=message):
        odeint_adjoint(decay, Y0, T, **kwargs)


def test_symbolic_times_are_checked_when_the_graph_runs():
    @tf.function(input_signature=[tf.TensorSpec([3], tf.float32)])
    def solve(t):
        return odeint(decay, Y0, t)

    assert solve(tf.constant([0.0, 0.5, 1.0])).shape == (3, 1, 2)
    assert solve(tf.constant([1.0, 0.5, 0.0])).shape == (3, 1, 2)  # backwards is fine
    with pytest.raises(tf.errors.InvalidArgumentError, match="strictly increasing"):
        solve(tf.constant([0.0, 1.0, 0.5]))
