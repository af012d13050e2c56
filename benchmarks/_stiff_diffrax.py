"""diffrax's ``Kvaerno5`` on a stiff benchmark problem, and its gradient on Robertson.

``Kvaerno5`` (an ESDIRK method; its stage equations solved by optimistix's ``VeryChord``, a
simplified Newton with one Jacobian per step) with the ``PIDController`` that diffrax's
documentation suggests for stiff problems (``pcoeff=0.3, icoeff=0.3``), under ``jax.jit`` in
float64 on one CPU thread. The caller sets ``XLA_FLAGS`` before anything imports JAX.
diffrax counts steps, not evaluations of the vector field, Jacobians or factorisations:
those cells stay empty.
"""

import _stiff_problems as problems
import numpy as np
from _stiff_timing import Result, guarded, timed


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import diffrax
    import jax.numpy as jnp

    return jax, jnp, diffrax


def _controller(diffrax, rtol, atol):
    return diffrax.PIDController(rtol=rtol, atol=atol, pcoeff=0.3, icoeff=0.3)


def run(problem, rtol, repeats, budget_seconds):
    """The :class:`Result` of diffrax's ``Kvaerno5`` on ``problem`` at ``rtol``."""
    name = "diffrax Kvaerno5 (PID)"

    def measure():
        jax, jnp, diffrax = _jax()
        term = diffrax.ODETerm(lambda t, y, args: problem.rhs(y, jnp.stack))
        times = jnp.asarray(problem.times)

        @jax.jit
        def solve(y0):
            solution = diffrax.diffeqsolve(
                term, diffrax.Kvaerno5(), times[0], times[-1], None, y0,
                saveat=diffrax.SaveAt(ts=times), max_steps=problems.MAX_STEPS,
                stepsize_controller=_controller(diffrax, rtol, problem.atol(rtol)))
            return solution.ys, solution.stats

        y0 = jnp.asarray(problem.y0)
        (ys, stats), seconds, extra = timed(lambda: jax.block_until_ready(solve(y0)),
                                            repeats, budget_seconds)
        return Result(name, steps=int(stats["num_accepted_steps"]),
                      rejected=int(stats["num_rejected_steps"]), seconds=seconds,
                      compile_seconds=extra, error=problems.error(problem, np.asarray(ys), rtol))

    return guarded(name, measure)


def robertson_gradient(log_rates, times, weights, rtol, atol, adjoint):
    """``(loss, d loss / d log k)`` by diffrax with ``adjoint`` ("checkpoint" or "backsolve").

    Returns a function of no arguments that computes them (jit-compiled on its first call),
    so the caller can time it; see ``_stiff_gradients`` for the loss.
    """
    jax, jnp, diffrax = _jax()
    term = diffrax.ODETerm(
        lambda t, y, log_k: problems.robertson_rhs(y, jnp.stack, tuple(jnp.exp(log_k))))
    times = jnp.asarray(times)
    chosen = (diffrax.RecursiveCheckpointAdjoint() if adjoint == "checkpoint"
              else diffrax.BacksolveAdjoint(stepsize_controller=_controller(diffrax, rtol, atol)))

    def loss(log_k):
        solution = diffrax.diffeqsolve(
            term, diffrax.Kvaerno5(), 0.0, times[-1], None, jnp.array([1.0, 0.0, 0.0]),
            args=log_k, saveat=diffrax.SaveAt(ts=times), max_steps=problems.MAX_STEPS,
            stepsize_controller=_controller(diffrax, rtol, atol), adjoint=chosen)
        return jnp.sum((solution.ys * jnp.asarray(weights)) ** 2)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    log_k = jnp.asarray(log_rates)

    def compute():
        value, grad = jax.block_until_ready(value_and_grad(log_k))
        return float(value), np.asarray(grad)

    return compute
