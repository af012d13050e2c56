"""``explicit_adams`` and ``implicit_adams``: Adams methods of a fixed order on fixed steps.

The steps are those of the fixed-step Runge-Kutta methods (``step_size``: each output
interval cut into the fewest equal steps no longer than it; or a ``grid``), so every
output is a step end. The coefficients follow the step times (``_adams_coefficients``):
where the step size changes, between output intervals or along a grid, the method keeps
its order, which constant Adams coefficients would lose.

- ``explicit_adams`` of order ``p``: the ``p``-step Adams-Bashforth method, one
  evaluation of ``func`` per step.
- ``implicit_adams`` of order ``p``: the ``(p-1)``-step Adams-Moulton corrector (order
  ``p``), predicted by Adams-Bashforth of order ``p - 1`` and solved by functional
  iteration: each iteration evaluates ``func`` at the latest value and corrects it, until
  two successive values agree to ``rtol``/``atol`` (torchdiffeq's test) or ``max_iters``
  corrections are done. The last evaluation is at the corrected value, so the history
  holds the derivative of the solution (PECE for one iteration).

The history is started by ``p - 1`` (explicit) or ``p - 2`` (implicit) steps of a
Runge-Kutta method of at least order ``p - 1``, enough for the global order ``p``:
classic ``rk4`` up to order 5, ``dopri5``'s fifth-order solution for order 6.
"""

import collections
import numbers

import tensorflow as tf

from ode_keras import (
    _adams_history,
    _checks,
    _fixed,
    _outputs,
    _state,
    _step_callbacks,
    _stepping,
    failures,
    tableaus,
)
from ode_keras._adaptive import error_ratio
from ode_keras._runge_kutta import rk_step

# Beyond order 6 the stability region of Adams-Bashforth shrinks to almost nothing and
# the order-p starting steps cost more than they save: the variable-order "adams" is the
# method for high orders.
MAX_FIXED_ORDER = 6
DEFAULT_ORDER = 4
DEFAULT_MAX_ITERS = 4  # torchdiffeq's corrector iterations

_Plan = collections.namedtuple("_Plan", "func steps on_grid rtol atol")
_State = collections.namedtuple(
    "_State", "span j y history num_steps nfe t_reached outputs status")


class FixedAdamsSolver:
    """Adams-Bashforth (``implicit=False``) or Adams-Bashforth-Moulton on fixed steps.

    Options: ``step_size``, ``grid`` or ``grid_constructor`` (none: the steps are the
    output times), ``max_num_steps``, ``order`` (1 to 6, default 4) and, for the implicit
    method, ``max_iters`` (corrector iterations, default 4).
    """

    order = DEFAULT_ORDER
    """The default order; ``options["order"]`` picks another."""

    def __init__(self, implicit):
        self.implicit = implicit
        # odeint turns a grid_constructor into a grid before the solver sees it.
        self.option_names = ("step_size", "grid", "grid_constructor", "max_num_steps",
                             "order") + (
            ("max_iters",) if implicit else ())
        # Composition, not inheritance: the Runge-Kutta driver plans the steps.
        self._schedule = _fixed.FixedStepSolver(tableaus.RK4)

    def check_options(self, options, name, method):
        """``options`` checked for this method, with defaults; see ``_checks.check_options``."""
        full = _checks.check_fixed_step_options(method, options, name)
        full = {"order": DEFAULT_ORDER, **full}
        check_int_option(name, "order", full["order"], 1, MAX_FIXED_ORDER)
        if self.implicit:
            full = {"max_iters": DEFAULT_MAX_ITERS, **full}
            check_int_option(name, "max_iters", full["max_iters"], 1, 100)
        return full

    def integrate(self, func, y0, f0, t, *, rtol, atol, options):
        """Solve on increasing times ``t``; returns ``(ys, t_reached, stats)``."""
        return _stepping.run(self.stepper(func, rtol=rtol, atol=atol, options=options),
                             y0, f0, t)

    def stepper(self, func, *, rtol, atol, options):
        """The solve as a :class:`~ode_keras._stepping.Stepper`."""
        method = _Method(self.implicit, options)
        on_grid = options["grid"] is not None

        def make_plan(t_out):
            steps = (self._schedule.grid_plan(func, t_out, options["grid"],
                                              options["max_num_steps"]) if on_grid
                     else self._schedule.plan(func, t_out, options["step_size"]))
            return _Plan(func, steps, on_grid, tf.cast(rtol, t_out.dtype),
                         tf.cast(atol, t_out.dtype))

        return _stepping.Stepper(
            make_plan=make_plan,
            start=lambda plan, y0, f0: (_start(plan, y0, f0, method, options), None),
            advance=method.advance, keep_going=_keep_going, finish=_finish,
            max_iterations=lambda plan: (
                plan.steps.points.shape[0] - 1 if plan.on_grid
                else _fixed._iteration_bound(plan.steps.t_out, options)))


def check_int_option(name, key, value, low, high):
    """``name[key]`` must be an int from ``low`` to ``high``."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not low <= value <= high):
        raise ValueError(
            f"{name}['{key}'] must be an integer from {low} to {high}, got {value!r} of type "
            f"{type(value).__name__}; e.g. {name}={{'{key}': {high if low > 1 else low + 3}}}.")


def _start(plan, y0, f0, method, options):
    """The loop state at the first time; a step-size solve over budget fails at once."""
    if plan.on_grid:
        t0, status = plan.steps.points[0], failures.OK
        num_times, span = plan.steps.num_times, 1
    else:
        t0, num_times, span = plan.steps.t_out[0], plan.steps.t_out.shape[0], 0
        total = plan.steps.total_steps
        status = tf.where((total > options["max_num_steps"])
                          | (total >= _checks.MAX_NUM_STEPS_LIMIT), failures.MAX_STEPS,
                          failures.OK)
    history = _adams_history.start(t0, f0, method.slots)
    return _State(span, 0, y0, history, 0, 1, t0, _outputs.new(y0, num_times), status)


def _keep_going(plan, s):
    last = plan.steps.points.shape[0] if plan.on_grid else plan.steps.t_out.shape[0] - 1
    return (s.span < last) & tf.equal(s.status, failures.OK)


def _finish(plan, final, y0, _):
    if plan.on_grid:
        written = tf.reduce_sum(tf.cast((plan.steps.output_index >= 0)
                                        & (plan.steps.points <= final.t_reached), tf.int32))
        num_steps = final.num_steps
    else:
        written = final.span + 1
        # A solve refused up front reports the steps it would have needed.
        num_steps = tf.where(tf.equal(final.status, failures.MAX_STEPS),
                             plan.steps.total_steps, final.num_steps)
    stats = {"nfe": final.nfe, "num_steps": num_steps, "num_accepted": num_steps,
             "num_rejected": tf.zeros_like(num_steps), "status": final.status}
    return _outputs.finish(final.outputs, written, y0), final.t_reached, stats


def _locate(plan, s):
    """The end time of the step at the state's position, its output index (or -1), and
    the position after it."""
    steps = plan.steps
    if plan.on_grid:
        return steps.points[s.span], steps.output_index[s.span], s.span + 1, s.j
    count = steps.steps_per_span[s.span]
    done = tf.equal(s.j + 1, count)
    fraction = tf.cast(s.j + 1, steps.t_out.dtype) / tf.cast(count, steps.t_out.dtype)
    # Land exactly on the output time rather than a rounding error away from it.
    t1 = tf.where(done, steps.t_out[s.span + 1],
                  steps.t_out[s.span] + fraction * steps.spans[s.span])
    return (t1, tf.where(done, s.span + 1, -1), tf.where(done, s.span + 1, s.span),
            tf.where(done, 0, s.j + 1))


class _Method:
    """One fixed-order Adams step with its Runge-Kutta start, bound to the options."""

    def __init__(self, implicit, options):
        order = options["order"]
        self.implicit, self.max_iters = implicit, options.get("max_iters")
        # Adams-Bashforth terms of the predictor; the corrector adds one difference.
        self.terms = order - 1 if implicit else order
        self.slots = max(order, 2)
        self.start_steps = max(self.terms - 1, 0)
        self.starter = tableaus.RK4 if order <= 5 else tableaus.DOPRI5

    def advance(self, plan, s):
        """One step (a Runge-Kutta one while the history fills); writes the output at its end."""
        t1, index, span, j = _locate(plan, s)
        h = t1 - s.history.t[0]
        y1, history, evaluations = self._step(plan, s, t1)
        finite = _state.all_finite(y1, tuple(phi[0] for phi in history.phi))
        y = _state.select(finite, y1, s.y)
        history = tf.nest.map_structure(lambda a, b: tf.where(finite, a, b), history, s.history)
        outputs = tf.cond(finite & (index >= 0), lambda: _outputs.write(s.outputs, index, y),
                          lambda: s.outputs)
        return _State(span=tf.where(finite, span, s.span), j=tf.where(finite, j, s.j), y=y,
                      history=history, num_steps=s.num_steps + tf.cast(h > 0, tf.int32),
                      nfe=s.nfe + evaluations, t_reached=tf.where(finite, t1, s.t_reached),
                      outputs=outputs, status=tf.where(finite, s.status, failures.NON_FINITE))

    def _step(self, plan, s, t1):
        """``(y1, history at t1, evaluations)``; a step of length zero changes nothing.

        Grid points repeated by the union with the output times are steps of length zero.
        Only ``func``'s evaluations sit in a ``tf.cond`` on that: XLA cannot take the
        gradient of the corrector's loop inside a cond when ``func`` reads variables.
        """
        t0, f0 = s.history.t[0], tuple(phi[0] for phi in s.history.phi)
        h = t1 - t0
        moving = h > 0 if plan.on_grid else tf.constant(True)
        # A zero step's prediction is discarded: a unit step keeps its coefficients finite.
        prediction = _adams_history.predict(s.history, s.y, tf.where(moving, h, tf.ones_like(h)),
                                            self.terms)
        starting = s.num_steps < self.start_steps

        def runge_kutta():
            y1, _ = rk_step(self.starter, plan.func, t0, s.y, f0, h)
            return y1, self.starter.num_stages - 1

        def first_value():
            callbacks = _step_callbacks.of(plan.func)
            callbacks.started(t0, s.y, h)  # every fixed step is accepted: say so at once
            callbacks.accepted(t0, s.y, h)
            guess, evaluations = (tf.cond(starting, runge_kutta, lambda: (prediction.p, 0))
                                  if self.start_steps else (prediction.p, 0))
            return guess, plan.func(t1, guess), evaluations + 1

        y1, f1, evaluations = (tf.cond(moving, first_value, lambda: (s.y, f0, 0))
                               if plan.on_grid else first_value())
        if self.implicit:
            # A starting step (or a zero one) runs no iteration.
            y1, f1, iterations = self._correct(plan, s.y, prediction, y1, f1,
                                               starting | tf.logical_not(moving))
            evaluations += iterations
        history = _adams_history.remember(s.history, prediction, f1)
        if plan.on_grid:
            history = tf.nest.map_structure(lambda a, b: tf.where(moving, a, b), history,
                                            s.history)
        return y1, history, evaluations

    def _correct(self, plan, y0, prediction, y, f, skip):
        """Functional iteration on the corrector from ``y`` and ``f = func(t1, y)``; returns
        ``(y1, func(t1, y1), evaluations)``."""
        t1 = prediction.t1

        def body(count, y, f, _):
            y_new, _ = _adams_history.correct(prediction, f, self.terms)
            change = tuple(a - b for a, b in zip(y_new, y))
            ratio = error_ratio(change, y0, y_new, plan.rtol, plan.atol, _state.mixed_rms_norm)
            return count + 1, y_new, plan.func(t1, y_new), ratio <= 1.0

        count, y1, f1, _ = tf.while_loop(
            lambda count, y, f, done: tf.logical_not(done), body,
            (tf.constant(0), y, f, tf.convert_to_tensor(skip)),
            maximum_iterations=self.max_iters)
        return y1, f1, count
