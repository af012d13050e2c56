"""The TensorFlow solvers of the stiff benchmark: ode_keras's implicit methods and TFP's BDF.

Both run in float64 inside ``tf.function``, traced once per problem and tolerance (the
initial state is the argument; the rest is closed over), and ode_keras's also with
``jit_compile=True``. A failure inside ``tf.function`` raises and becomes a row; under XLA a
failure cannot raise, so a non-zero ``status`` (with NaN outputs) becomes the row instead.

ode_keras's methods are those of ``SOLVERS`` with ``implicit = True`` and a ``jacobian``
option (the stiff methods; ``implicit_adams`` is a non-stiff predictor-corrector on fixed
steps). A fixed-step implicit method has no tolerance to compare and gets a row saying so.
"""

import _stiff_problems as problems
import tensorflow as tf
from _stiff_timing import Result, guarded, timed


def implicit_methods():
    """``(adaptive, fixed)``: the names of ode_keras's implicit methods, sorted, in two lists."""
    from ode_keras import SOLVERS

    names = sorted(n for n, s in SOLVERS.items() if getattr(s, "implicit", False))
    fixed = [n for n in names if "step_size" in getattr(SOLVERS[n], "option_names", ())]
    return [n for n in names if n not in fixed], fixed


def tf_rhs(problem):
    """The problem's right-hand side as ``func(t, y)`` on a float64 tensor."""
    return lambda t, y: problem.rhs(y, tf.stack)


def _as_int(value):
    return None if value is None else int(value)


def run_ode_keras(problem, method, rtol, repeats, budget_seconds, jit_compile=False):
    """The :class:`Result` of ode_keras's ``method`` on ``problem`` (XLA if ``jit_compile``)."""
    from ode_keras import odeint

    name = f"ode_keras {method}" + (", XLA" if jit_compile else "")
    times = tf.constant(problem.times, tf.float64)
    options = {"max_num_steps": problems.MAX_STEPS}

    @tf.function(jit_compile=jit_compile)
    def solve(y0):
        return odeint(tf_rhs(problem), y0, times, method=method, rtol=rtol,
                      atol=problem.atol(rtol), options=options, return_stats=True)

    def measure():
        y0 = tf.constant(problem.y0, tf.float64)
        (ys, stats), seconds, extra = timed(lambda: solve(y0), repeats, budget_seconds)
        stats = {key: value.numpy() for key, value in stats.items()}
        if int(stats["status"]) != 0:
            return Result(name, note=f"failed: status {int(stats['status'])} (NaN outputs)")
        return Result(name, steps=_as_int(stats["num_accepted"]),
                      rejected=_as_int(stats["num_rejected"]), nfe=_as_int(stats["nfe"]),
                      jacobians=_as_int(stats.get("num_jacobians")),
                      factorizations=_as_int(stats.get("num_factorizations")),
                      seconds=seconds, compile_seconds=extra,
                      error=problems.error(problem, ys.numpy(), rtol))

    return guarded(name, measure)


def run_tfp_bdf(problem, rtol, repeats, budget_seconds):
    """The :class:`Result` of TensorFlow Probability's ``BDF`` on ``problem`` at ``rtol``.

    TFP does not count steps; a second, untimed solve with ``ChosenBySolver`` returns every
    accepted step, and their number is the row's ``steps``.
    """
    import tensorflow_probability as tfp

    name = "TFP BDF"
    solver = tfp.math.ode.BDF(rtol=rtol, atol=problem.atol(rtol), max_num_steps=problems.MAX_STEPS)
    times = tf.constant(problem.times, tf.float64)

    @tf.function
    def solve(y0):
        results = solver.solve(tf_rhs(problem), times[0], y0, solution_times=times)
        return results.states, results.diagnostics

    @tf.function
    def accepted_steps(y0):
        chosen = tfp.math.ode.ChosenBySolver(final_time=times[-1])
        return tf.shape(solver.solve(tf_rhs(problem), times[0], y0, chosen).times)[0] - 1

    def measure():
        y0 = tf.constant(problem.y0, tf.float64)
        (ys, diagnostics), seconds, extra = timed(lambda: solve(y0), repeats, budget_seconds)
        if int(diagnostics.status) != 0:
            return Result(name, note=f"failed: TFP status {int(diagnostics.status)}")
        return Result(name, steps=int(accepted_steps(y0)),
                      nfe=int(diagnostics.num_ode_fn_evaluations),
                      jacobians=int(diagnostics.num_jacobian_evaluations),
                      factorizations=int(diagnostics.num_matrix_factorizations),
                      seconds=seconds, compile_seconds=extra,
                      error=problems.error(problem, ys.numpy(), rtol))

    return guarded(name, measure)
