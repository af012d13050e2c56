"""``adams``: variable-step, variable-order Adams-Bashforth-Moulton (VCABM).

The method of Shampine & Gordon's DE/STEP and of the Adams half of LSODA, in the
modified-divided-difference form of Hairer, Norsett & Wanner I, section III.5 (see
``_adams_history``). Each step of order ``k`` (1 to ``max_order``):

- predicts with Adams-Bashforth of order ``k`` and evaluates ``func`` there (P, E);
- corrects with Adams-Moulton of order ``k + 1`` (C) and keeps that value (local
  extrapolation), controlling the error of the order-``k`` corrector,
  ``h (g_k - g_{k-1}) Phi^p_k``, in the same norm as the Runge-Kutta methods;
- once accepted, evaluates ``func`` at the new value (E): two evaluations a step.

The order starts at 1 and rises by one each step while the history fills (the start
phase, which replaces a Runge-Kutta starter); after that it drops when the estimates of
orders ``k - 1`` and ``k - 2`` are no larger than that of ``k``, and rises when the
estimate of ``k + 1`` is smaller. The step grows by at most a factor 2 per step, which
keeps the variable-step formulas stable. Outputs inside a step come from the corrector's
own polynomial, of the method's order.

The controller (errors, order, next step) sits outside the gradient, as in ``_adaptive``.
"""

import collections

import tensorflow as tf

from ode_keras import (
    _adams_history,
    _checks,
    _outputs,
    _state,
    _step_callbacks,
    _stepping,
    failures,
)
from ode_keras._adams_fixed import check_int_option
from ode_keras._adaptive import error_ratio, initial_step

MAX_ORDER = 12
SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 2.0

_Plan = collections.namedtuple("_Plan", "func t_out rtol atol norm min_step max_step")
_State = collections.namedtuple(
    "_State", "t y history order h start_phase num_accepted i_out outputs num_steps nfe status")


class VariableAdamsSolver:
    """Adams-Bashforth-Moulton with error control of both step size and order.

    Options: ``first_step``, ``min_step``, ``max_step``, ``norm`` and ``max_num_steps``
    (as the adaptive Runge-Kutta methods), and ``max_order`` (1 to 12, default 12).
    """

    option_names = ("first_step", "max_num_steps", "min_step", "max_step", "norm", "max_order")
    order = MAX_ORDER
    """The default highest order; ``options["max_order"]`` lowers it."""

    def check_options(self, options, name, method):
        """``options`` checked for this method, with defaults; see ``_checks.check_options``."""
        del method  # always "adams"
        full = _checks.check_adaptive_options({"max_order": MAX_ORDER, **options}, name)
        check_int_option(name, "max_order", full["max_order"], 1, MAX_ORDER)
        return full

    def integrate(self, func, y0, f0, t, *, rtol, atol, options):
        """Solve on increasing times ``t``; returns ``(ys, t_reached, stats)``."""
        return _stepping.run(self.stepper(func, rtol=rtol, atol=atol, options=options),
                             y0, f0, t)

    def stepper(self, func, *, rtol, atol, options):
        """The solve as a :class:`~ode_keras._stepping.Stepper`."""
        def make_plan(t_out):
            dtype = t_out.dtype
            return _Plan(func, t_out, tf.cast(rtol, dtype), tf.cast(atol, dtype),
                         options["norm"], tf.constant(options["min_step"], dtype),
                         tf.constant(options["max_step"], dtype))

        control = _Controller(options["max_order"])
        return _stepping.Stepper(
            make_plan=make_plan,
            start=lambda plan, y0, f0: _start(plan, y0, f0, options, control.slots),
            advance=control.advance,
            keep_going=lambda plan, s: tf.equal(s.status, failures.OK) & (s.t < plan.t_out[-1]),
            finish=_finish, max_iterations=lambda plan: options["max_num_steps"])


def _start(plan, y0, f0, options, slots):
    """The loop state at the first time, and the evaluations spent before the loop."""
    t0 = plan.t_out[0]
    if options["first_step"] is None:
        # The first step is of order 1, with an error of order 2.
        h, evaluations = initial_step(plan.func, t0, y0, f0, 2, plan.rtol, plan.atol,
                                      plan.norm), 2
    else:
        h, evaluations = tf.constant(options["first_step"], t0.dtype), 1
    h = tf.stop_gradient(tf.clip_by_value(h, plan.min_step,
                                          tf.minimum(plan.max_step, plan.t_out[-1] - t0)))
    status = tf.where(_state.all_finite(y0, f0), failures.OK, failures.NON_FINITE)
    zero = tf.constant(0)
    state = _State(t0, y0, _adams_history.start(t0, f0, slots), tf.constant(1), h,
                   tf.constant(True), zero, tf.constant(1),
                   _outputs.new(y0, plan.t_out.shape[0]), zero, evaluations, status)
    return state, None


def _finish(plan, final, y0, _):
    status = tf.where(tf.equal(final.status, failures.OK) & (final.t < plan.t_out[-1]),
                      failures.MAX_STEPS, final.status)
    stats = {"nfe": final.nfe, "num_steps": final.num_steps,
             "num_accepted": final.num_accepted,
             "num_rejected": final.num_steps - final.num_accepted, "status": status,
             "next_step": final.h}
    return _outputs.finish(final.outputs, final.i_out, y0), final.t, stats


class _Controller:
    """One attempted step of order ``order``, and the choice of the next order and step."""

    def __init__(self, max_order):
        self.max_order = max_order
        # Differences Phi_0 .. Phi_{max_order}: the corrector and the order-up estimate
        # reach one past the predictor's.
        self.slots = max_order + 1

    def advance(self, plan, s):
        """Attempt a step from ``s``; accept or reject it; emit the outputs it passes."""
        t_end = plan.t_out[-1]
        lands = s.h >= t_end - s.t
        t1 = tf.where(lands, t_end, s.t + s.h)
        callbacks = _step_callbacks.of(plan.func)
        callbacks.started(s.t, s.y, t1 - s.t)
        prediction = _adams_history.predict(s.history, s.y, t1 - s.t, s.order)
        f_p = plan.func(t1, prediction.p)
        y1, difference = _adams_history.correct(prediction, f_p, s.order)
        errors = self._errors(plan, prediction, f_p, s, y1)  # orders k - 2, k - 1, k
        finite = _state.all_finite(y1, f_p)
        error = tf.where(finite, errors[2], tf.constant(float("inf"), errors.dtype))
        accept = error <= 1.0
        callbacks.judged(accept, s.t, s.y, prediction.h)
        f1 = tf.cond(accept, lambda: plan.func(t1, y1),
                     lambda: tuple(phi[0] for phi in s.history.phi))
        history = _adams_history.remember(s.history, prediction, f1)
        up_error = self._error_up(plan, prediction, history, s, y1)
        order, h, start_phase = tf.nest.map_structure(tf.stop_gradient, self._next(
            s, errors, error, up_error, accept, prediction.h, plan))
        i_out, outputs = _emit(plan.t_out, accept, s, t1, prediction, difference)
        t_next = tf.where(accept, t1, s.t)
        return _State(
            t=t_next, y=_state.select(accept, y1, s.y),
            history=tf.nest.map_structure(lambda a, b: tf.where(accept, a, b), history,
                                          s.history),
            order=order, h=h, start_phase=start_phase,
            num_accepted=s.num_accepted + tf.cast(accept, tf.int32), i_out=i_out,
            outputs=outputs, num_steps=s.num_steps + 1,
            nfe=s.nfe + 1 + tf.cast(accept, tf.int32),
            status=_status(plan, accept, finite, prediction.h, t_next, h))

    def _errors(self, plan, prediction, f_p, s, y1):
        """Error ratios of the correctors of orders ``k - 2``, ``k - 1``, ``k`` (``[3]``)."""
        ratios = []
        for lower in (2, 1, 0):
            j = tf.maximum(s.order - lower, 1)
            weight = prediction.h * (tf.gather(prediction.g, j) - tf.gather(prediction.g, j - 1))
            difference = _adams_history.next_difference(prediction, f_p, j)
            error = tuple(tf.cast(weight, d.dtype) * d for d in difference)
            ratios.append(error_ratio(error, s.y, y1, plan.rtol, plan.atol, plan.norm))
        return tf.stop_gradient(tf.stack(ratios))

    def _error_up(self, plan, prediction, history, s, y1):
        """Error ratio of order ``k + 1``, from the difference ``Phi_{k+1}`` at ``t1``."""
        j = tf.minimum(s.order + 1, self.max_order)
        weight = prediction.h * (tf.gather(prediction.g, j) - tf.gather(prediction.g, j - 1))
        error = tuple(tf.cast(weight, phi.dtype) * tf.gather(phi, j) for phi in history.phi)
        return tf.stop_gradient(error_ratio(error, s.y, y1, plan.rtol, plan.atol, plan.norm))

    def _next(self, s, errors, error, up_error, accept, h, plan):
        """The next order, step size and start-phase flag."""
        k = s.order
        error_down = tf.where(k > 2, tf.maximum(errors[0], errors[1]), errors[1])
        lower = (k > 1) & (error_down <= error)
        # Phi_{k+1} at t1 needs k + 2 points behind it.
        can_raise = (k < self.max_order) & (s.num_accepted + 1 >= k + 1)
        raise_order = accept & tf.logical_not(lower) & can_raise & (
            s.start_phase | (up_error < error))
        order = tf.where(raise_order, k + 1, tf.where(lower, k - 1, k))
        target = tf.where(lower, error_down,
                          tf.where(raise_order & tf.logical_not(s.start_phase), up_error,
                                   error))
        h_next = h * _factor(target, tf.cast(order, h.dtype) + 1.0, accept)
        h_next = tf.clip_by_value(h_next, plan.min_step, plan.max_step)
        # A step cut short to land on the end says nothing against the longer one planned.
        h_next = tf.where(accept & (h < s.h), tf.maximum(h_next, s.h), h_next)
        return order, h_next, s.start_phase & accept & tf.logical_not(lower)


def _factor(ratio, exponent_denominator, accept):
    """``0.9 * ratio**(-1/(order+1))``, at most 2 after an accepted step, below 1 after a
    rejected one; the smallest factor for a non-finite error."""
    one = tf.ones_like(ratio)
    safe = tf.where(ratio > 0, ratio, one)
    factor = tf.where(ratio > 0, SAFETY * safe ** (-1.0 / exponent_denominator),
                      MAX_FACTOR * one)
    factor = tf.where(tf.math.is_finite(ratio), factor, MIN_FACTOR * one)
    return tf.clip_by_value(factor, MIN_FACTOR, tf.where(accept, MAX_FACTOR * one, SAFETY * one))


def _status(plan, accept, finite, h, t_next, h_next):
    """STEP_UNDERFLOW (or NON_FINITE) when the step can shrink no more or is lost in rounding."""
    cannot_shrink = tf.logical_not(accept) & (h <= plan.min_step)
    lost = (t_next + h_next <= t_next) & (t_next < plan.t_out[-1])
    return tf.where(cannot_shrink | lost,
                    tf.where(finite, failures.STEP_UNDERFLOW, failures.NON_FINITE), failures.OK)


def _emit(t_out, accept, s, t1, prediction, difference):
    """Write the corrector's polynomial at every output time in ``(t, t1]`` of an accepted
    step (or add its projection, for the checkpointed gradient)."""
    num_times = t_out.shape[0]

    def more(i, _):
        # tf.logical_and does not short-circuit: keep the gather index in range.
        next_time = tf.gather(t_out, tf.minimum(i, num_times - 1))
        return accept & (i < num_times) & (next_time <= t1)

    def write(i, outputs):
        theta = (t_out[i] - s.t) / prediction.h
        value = _adams_history.interpolate(prediction, s.y, difference, s.order, theta)
        return i + 1, _outputs.write(outputs, i, value)

    return tf.while_loop(more, write, (s.i_out, s.outputs), maximum_iterations=num_times)
