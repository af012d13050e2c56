"""The Rosenbrock driver: error-controlled linearly implicit steps, for stiff problems.

Each attempted step evaluates nothing iteratively: the Jacobian ``J`` and ``df/dt`` at the
start of the step (both kept in the loop state, so a rejected step retries with the same
ones and only factors ``I - gamma h J`` again), one LU factorisation, then one linear solve
per stage (``_rosenbrock_step``). No Newton iteration means no convergence test and no
data-dependent inner loop: a fixed amount of work per step, which suits ``tf.while_loop``
and XLA, and a step that differentiates like any other sequence of operations.

Step control is the adaptive driver's (``_adaptive``): the same error norm, integral
controller and first-step selection; the outputs inside a step come from the method's own
continuous extension, which is stiffly accurate. Failure is loud: a Jacobian (or ``df/dt``)
that is not finite stops the solve at once (no smaller step changes it), and a singular
``I - gamma h J`` that persists at ``min_step`` stops it too, each with its named status.
"""

import collections

import tensorflow as tf

from ode_keras import (
    _adaptive,
    _jacobian,
    _outputs,
    _rosenbrock_options,
    _state,
    _stepping,
    failures,
)
from ode_keras._rosenbrock_step import attempt

_Plan = collections.namedtuple(
    "_Plan", "func t_out rtol atol norm min_step max_step mode")
_State = collections.namedtuple(
    "_State", "t y f h i_out outputs num_steps num_accepted num_rejected num_jacobians "
    "num_factorizations status jacobian dfdt fresh")
_State.__doc__ = """The Rosenbrock loop state.

``jacobian``, ``f`` and ``dfdt`` hold the derivatives at ``(t, y)`` when ``fresh`` is True
(after a rejected step); after an accepted one they are stale and the next step evaluates
them at its start.
"""


class RosenbrockSolver(_stepping.TableauSolver):
    """Runs a :class:`~ode_keras.rosenbrock_tableaus.RosenbrockTableau` with error control.

    Options: those of the adaptive methods (``first_step``, ``max_num_steps``,
    ``min_step``, ``max_step``, ``norm``) and ``jacobian`` (``"full"`` or
    ``"per_sample"``, see ``_rosenbrock_options``).
    """

    implicit = True
    carries_step = True
    option_names = ("first_step", "max_num_steps", "min_step", "max_step", "norm", "jacobian")

    def check_options(self, options, name, method):
        """``options`` checked for this method, with defaults (see ``_rosenbrock_options``)."""
        return _rosenbrock_options.check(options, name, method)

    def stepper(self, func, *, rtol, atol, options):
        """The solve as a :class:`~ode_keras._stepping.Stepper` (plan, start, advance...)."""
        return _adaptive.controlled_stepper(self, func, rtol, atol, options)

    def plan(self, func, t_out, rtol, atol, options):
        """What every step of a solve over ``t_out`` needs, as tensors of the times' dtype."""
        dtype = t_out.dtype
        return _Plan(func, t_out, tf.cast(rtol, dtype), tf.cast(atol, dtype), options["norm"],
                     tf.constant(options["min_step"], dtype),
                     tf.constant(options["max_step"], dtype), options["jacobian"])

    def initial_state(self, plan, y0, f0, options):
        """The loop state at ``t_out[0]``, and the evaluations spent before the loop."""
        _rosenbrock_options.check_layout(plan.mode, y0)
        t_start, t_end = plan.t_out[0], plan.t_out[-1]
        h, selection_evaluations = _adaptive.choose_first_step(plan, y0, f0, options["first_step"],
                                                                  self.order)
        h = tf.stop_gradient(
            tf.clip_by_value(h, plan.min_step, tf.minimum(plan.max_step, t_end - t_start)))
        zero = tf.constant(0, tf.int32)
        status = tf.where(_state.all_finite(y0, f0), failures.OK, failures.NON_FINITE)
        jacobian = _rosenbrock_options.linear_zeros(plan.mode, y0)
        state = _State(t_start, y0, f0, h, tf.constant(1),
                       _outputs.new(y0, plan.t_out.shape[0]), zero, zero, zero, zero, zero,
                       status, jacobian, tuple(tf.zeros_like(v) for v in y0),
                       tf.constant(False))
        return state, 1 + selection_evaluations  # f0 was evaluated once by the caller

    def derivatives(self, plan, s):
        """``(J, f, dfdt)`` at ``(s.t, s.y)``: kept from a rejected step, else evaluated."""
        def evaluate():
            jacobian, f = _jacobian.evaluate(plan.func, s.t, s.y, plan.mode)
            return jacobian, f, _jacobian.time_derivative(plan.func, s.t, s.y)

        return tf.cond(s.fresh, lambda: (s.jacobian, s.f, s.dfdt), evaluate)

    def advance(self, plan, s):
        """Attempt one step from ``s``; accept or reject it; emit the outputs it passes."""
        t_end = plan.t_out[-1]
        reaches_end = s.h >= t_end - s.t
        h = tf.where(reaches_end, t_end - s.t, s.h)
        jacobian, f, dfdt = self.derivatives(plan, s)
        usable = _state.all_finite((jacobian,), dfdt)
        step = attempt(self.tableau, plan.func, s.t, s.y, h, (jacobian, f, dfdt), plan.mode)
        finite = _state.all_finite(step.y1, f)
        ratio = _adaptive.error_ratio(step.error, s.y, step.y1, plan.rtol, plan.atol, plan.norm)
        ratio = tf.where(finite & step.regular, ratio, tf.constant(float("inf"), ratio.dtype))
        accept = (ratio <= 1.0) & usable
        t1 = tf.where(reaches_end, t_end, s.t + h)  # exactly on the end, not next to it
        i_out, outputs = _adaptive._emit(plan.t_out, accept, s.t, t1, h, s.y,
                                         step.coefficients, s.i_out, s.outputs)
        t_next = tf.where(accept, t1, s.t)
        h_next = self._next_step(plan, s.h, h, ratio, accept & reaches_end)
        accepted, evaluated = tf.cast(accept, tf.int32), 1 - tf.cast(s.fresh, tf.int32)
        return _State(
            t=t_next, y=_state.select(accept, step.y1, s.y), f=f, h=h_next, i_out=i_out,
            outputs=outputs, num_steps=s.num_steps + 1,
            num_accepted=s.num_accepted + accepted, num_rejected=s.num_rejected + 1 - accepted,
            num_jacobians=s.num_jacobians + evaluated,
            num_factorizations=s.num_factorizations + 1,
            status=_status(plan, accept, usable, finite, step.regular, h, t_next, h_next),
            jacobian=jacobian, dfdt=dfdt, fresh=tf.logical_not(accept))

    def _next_step(self, plan, h_planned, h, ratio, landed):
        """The controller's next step, kept outside the gradient."""
        h_next = _adaptive.propose_step(h, ratio, self.order)
        # A step cut short to land on the end says nothing against the longer step planned.
        h_next = tf.where(landed, tf.maximum(h_next, h_planned), h_next)
        return tf.stop_gradient(tf.clip_by_value(h_next, plan.min_step, plan.max_step))

    def finish(self, plan, final, y0, initial_evaluations):
        """``(ys, t_reached, stats)`` from the loop's last state."""
        stages = self.tableau.num_stages - 1  # the first stage's f comes with the Jacobian
        # Each Jacobian evaluates func once per column, and once more for df/dt.
        nfe = (initial_evaluations + stages * final.num_steps
               + (_jacobian.columns(y0, plan.mode) + 1) * final.num_jacobians)
        return _adaptive.finish(plan, final, y0, nfe, num_jacobians=final.num_jacobians,
                                num_factorizations=final.num_factorizations)


def _status(plan, accept, usable, finite, regular, h, t_next, h_next):
    """Why the solve must stop after this step, or OK.

    Derivatives at the start that are not finite stop it at once (a smaller step starts
    from the same ones); a step that can shrink no more fails by its cause: a singular
    ``I - gamma h J``, a non-finite state, or the step size itself.
    """
    cannot_shrink = tf.logical_not(accept) & (h <= plan.min_step)
    lost_in_rounding = (t_next + h_next <= t_next) & (t_next < plan.t_out[-1])
    status = tf.where(cannot_shrink | lost_in_rounding,
                      tf.where(finite, failures.STEP_UNDERFLOW, failures.NON_FINITE),
                      failures.OK)
    status = tf.where(cannot_shrink & tf.logical_not(regular), failures.SINGULAR_MATRIX,
                      status)
    return tf.where(usable, status, failures.NON_FINITE_JACOBIAN)
