"""The registry's checker, the drivers' step functions, the named problem and the one counter."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from ode_keras import SOLVERS, SolverCounter, odeint, solvers
from ode_keras.odeint import prepare


def decay(t, y):
    return -y


@pytest.mark.parametrize("argname", ["method", "adjoint_method"])
def test_get_solver_names_the_argument_and_lists_the_methods(argname):
    assert solvers.get_solver("dopri5", argname) is SOLVERS["dopri5"]
    with pytest.raises(ValueError, match=rf"Invalid {argname} 'rk45'; must be one of") as info:
        solvers.get_solver("rk45", argname)
    assert all(repr(name) in str(info.value) for name in SOLVERS)
    with pytest.raises(TypeError, match=rf"Invalid {argname} None.*{argname}=None"):
        solvers.get_solver(None, argname)


def test_rk_step_is_one_euler_step_for_euler():
    tableau = SOLVERS["euler"].tableau
    y = (tf.constant([2.0]),)
    y1, stages = solvers.rk_step(tableau, lambda t, y: (-y[0],), 0.0, y, (-y[0],), 0.1)
    np.testing.assert_allclose(y1[0].numpy(), [1.8])
    assert len(stages) == 1


def test_problem_is_frozen_and_replaced_not_mutated():
    problem = prepare(decay, tf.constant([1.0]), tf.constant([0.0, 1.0]), method="dopri5",
                      rtol=1e-6, atol=1e-6, options=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.rtol = 1.0
    shorter = dataclasses.replace(problem, t=tf.constant([0.0, 0.5]))
    assert shorter.solver is problem.solver and problem.t.shape == (2,)


@pytest.mark.parametrize("method, options", [("rk4", {"step_size": 0.25}), ("dopri5", {})])
def test_advancing_a_named_state_by_hand_gives_the_solve(method, options):
    # The driver API a checkpointed gradient builds on: plan, initial_state, advance.
    y0, t = tf.constant([1.0, 2.0], tf.float64), tf.constant([0.0, 1.0], tf.float64)
    problem = prepare(decay, y0, t, method=method, rtol=1e-8, atol=1e-8, options=options)
    solver, options = problem.solver, problem.options
    if method == "rk4":
        plan = solver.plan(problem.func, problem.t, options["step_size"])
        state = solver.initial_state(plan, problem.y0, options["max_num_steps"])
        while int(state.span) < 1:
            state = solver.advance(plan, state)
        t_reached = state.t_reached
    else:
        plan = solver.plan(problem.func, problem.t, problem.rtol, problem.atol, options)
        state, _ = solver.initial_state(plan, problem.y0, problem.f0, options)
        while float(state.t) < 1.0:
            state = solver.advance(plan, state)
        t_reached = state.t
    assert float(t_reached) == 1.0
    np.testing.assert_allclose(state.y[0].numpy(), odeint(decay, y0, t, method=method,
                                                          rtol=1e-8, atol=1e-8,
                                                          options=options or None)[-1])


def test_a_counter_over_given_variables_adds_only_their_counts():
    nfe = tf.Variable(0.0, dtype=tf.float64)
    counter = SolverCounter(variables={"nfe_backward": nfe})
    counter.record_forward({"nfe": tf.constant(5), "num_steps": tf.constant(1)})
    counter.record_backward({"nfe": tf.constant(7), "num_steps": tf.constant(1)})
    assert float(nfe.numpy()) == 7.0
    with pytest.raises(ValueError, match=r"Unknown counts \['nfe'\]"):
        SolverCounter(variables={"nfe": nfe})


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_a_step_size_dividing_the_interval_takes_exactly_that_many_steps(dtype):
    # 40 / 0.01 is 4000 steps; 0.01 read through float32 (0.00999999977) made it 4001.
    _, stats = odeint(lambda t, y: -y, tf.constant([1.0], dtype), tf.constant([0.0, 40.0], dtype),
                      method="euler", options={"step_size": 0.01, "max_num_steps": 5000},
                      return_stats=True)
    assert int(stats["num_steps"]) == 4000
