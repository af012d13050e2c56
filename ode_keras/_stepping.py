"""A solve as data: its plan, its first state, one step, when to stop, what to return.

Each driver describes a solve as a :class:`Stepper`; :func:`run` is the plain
``tf.while_loop`` over it (the solve that ``odeint`` differentiates by backprop),
and ``_checkpoint`` runs the same stepper with checkpoints and replays its steps
one by one in the backward pass. The state is a namedtuple whose ``outputs``
field holds the solution at the output times; every other field is a tensor.
"""

import collections
import concurrent.futures

import tensorflow as tf

Stepper = collections.namedtuple(
    "Stepper", "make_plan start advance keep_going finish max_iterations")
Stepper.__doc__ = """One solve, as functions of its plan and loop state.

Attributes:
    make_plan: ``make_plan(t_out) -> plan``, what every step needs; its tensors
        depend on the output times only (``func`` and the settings are bound).
    start: ``start(plan, y0, f0) -> (state, info)``, the loop state at ``t_out[0]``;
        ``info`` is what ``finish`` needs from the start (e.g. evaluations spent).
    advance: ``advance(plan, state) -> state``, one step (attempted steps too).
    keep_going: ``keep_going(plan, state) -> bool tensor``.
    finish: ``finish(plan, final_state, y0, info) -> (ys, t_reached, stats)``.
    max_iterations: ``max_iterations(plan) -> int``, the loop's static bound.
"""



class TableauSolver:
    """What both Runge-Kutta drivers share: a tableau, its order, and the plain solve.

    A subclass supplies ``stepper(func, *, rtol, atol, options)``.
    """

    carries_step = False
    """True when the ``first_step`` option also takes a scalar tensor, a step carried over
    from a previous solve (a value <= 0: select one), as the adjoint's intervals pass on."""

    def __init__(self, tableau):
        self.tableau = tableau

    @property
    def order(self):
        """Order of accuracy of the method (of the propagated solution)."""
        return self.tableau.order

    def integrate(self, func, y0, f0, t, *, rtol, atol, options):
        """Solve on increasing times ``t``; returns ``(ys, t_reached, stats)``."""
        return run(self.stepper(func, rtol=rtol, atol=atol, options=options), y0, f0, t)

def run(stepper, y0, f0, t_out):
    """Solve over increasing ``t_out``; returns ``(ys, t_reached, stats)``."""
    plan = stepper.make_plan(t_out)
    state, info = stepper.start(plan, y0, f0)
    (final,) = tf.while_loop(
        lambda s: stepper.keep_going(plan, s), lambda s: (stepper.advance(plan, s),), (state,),
        maximum_iterations=stepper.max_iterations(plan))
    return stepper.finish(plan, final, y0, info)


def run_unrecorded(solve):
    """``solve()``, without letting any outer ``GradientTape`` record its steps.

    For a solve whose gradient comes from elsewhere (a ``tf.custom_gradient``). In a
    graph its operations are never on a gradient path, so nothing is kept. Eagerly, a
    recording tape would hold every step's tensors until it is released; tapes are per
    thread, so the solve runs on a worker thread, where tapes that ``func`` opens itself
    still work.
    """
    if not tf.executing_eagerly():
        return solve()
    device = tf.zeros([]).device  # honour an enclosing tf.device scope on the worker

    def run():
        with tf.device(device):
            return solve()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as worker:
        return worker.submit(run).result()
