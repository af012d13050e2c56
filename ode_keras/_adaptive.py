"""The adaptive driver: error-controlled steps with dense output at the output times.

Steps are clipped at the last output time; the outputs inside a step come from
its interpolant. The step-size control is here too: the error of a step is
``norm(err / (atol + rtol * max(|y0|, |y1|)))`` (a mixed RMS norm by default),
so a ratio at most 1 means the step meets the tolerances; an integral
controller proposes the next step from that ratio, and Hairer's heuristic picks
the first step (Hairer, Norsett & Wanner, *Solving Ordinary Differential
Equations I*, section II.4).

The controller sits outside the gradient (``tf.stop_gradient``): differentiating
through a solve differentiates the Runge-Kutta formulas on the mesh the solve
chose, which is the discretised solution's exact gradient, not noise from the
controller's heuristics.

A solve has a plan (what every step needs), a named loop state, and
:meth:`AdaptiveSolver.advance`, which attempts one step from a state and returns
the next; ``integrate`` only runs ``advance`` in a ``tf.while_loop``.
"""

import collections

import tensorflow as tf

from ode_keras import (
    _checks,
    _dense_output,
    _grid,
    _one_sided,
    _outputs,
    _state,
    _step_callbacks,
    _stepping,
    failures,
)
from ode_keras._runge_kutta import rk_step

SAFETY = 0.9
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0

_Plan = collections.namedtuple("_Plan", "func t_out rtol atol norm min_step max_step stops")
_State = collections.namedtuple(
    "_State", "t y f h i_out outputs num_steps num_accepted num_rejected status"
)


class AdaptiveSolver(_stepping.TableauSolver):
    """Runs an embedded tableau with error control and dense output.

    Options: ``first_step``, ``max_num_steps``, ``min_step``, ``max_step`` and
    ``norm`` (a callable mapping the tuple of scaled errors to a scalar).

    Output times inside a step come from its interpolant (4th order with
    midpoint weights, else 3rd-order Hermite). When that interpolant is less
    accurate than the method's error estimate (dopri8), steps stop at every
    output time instead, so the outputs keep the method's accuracy.
    """

    carries_step = True
    option_names = ("first_step", "max_num_steps", "min_step", "max_step", "norm", "step_t",
                    "jump_t")

    def __init__(self, tableau):
        super().__init__(tableau)
        interpolation_order = 4 if tableau.b_mid else 3
        self.stop_at_outputs = interpolation_order < tableau.order - 1

    @property
    def evaluations_per_step(self):
        """``func`` evaluations per attempted step (one fewer for FSAL methods)."""
        return self.tableau.num_stages - (1 if self.tableau.fsal else 0)

    def check_options(self, options, name, method):
        """``options`` checked for this method, with defaults; see ``_checks.check_options``."""
        del method  # every adaptive method takes the same options
        return _checks.check_adaptive_options(options, name)

    def attempt(self, func, t, y, f0, h, t1=None):
        """One trial step; returns ``(y1, f1, error, stages)`` with ``f1 = func(t1, y1)``.

        ``t1`` is the step's end exactly (default ``t + h``); ``func`` sees it from below,
        the side of the step, in case ``func`` jumps there (see ``ode_keras.perturb``).
        """
        t1 = t + h if t1 is None else t1
        y1, stages = rk_step(self.tableau, func, t, y, f0, h, t1, _one_sided.BELOW)
        f1 = stages[-1] if self.tableau.fsal else _one_sided.evaluate(func, t1, y1,
                                                                      _one_sided.BELOW)
        error = _state.weighted_sum(h, stages, self.tableau.b_error)
        return y1, f1, error, stages

    def stepper(self, func, *, rtol, atol, options):
        """The solve as a :class:`~ode_keras._stepping.Stepper` (plan, start, advance...)."""
        return controlled_stepper(self, func, rtol, atol, options)

    def finish(self, plan, final, y0, initial_evaluations):
        """``(ys, t_reached, stats)`` from the loop's last state."""
        nfe = (initial_evaluations + self.evaluations_per_step * final.num_steps
               + _grid.jumps_passed(plan.stops, plan.t_out[0], final.t, plan.t_out[-1]))
        return finish(plan, final, y0, nfe)

    def plan(self, func, t_out, rtol, atol, options):
        """What every step of a solve over ``t_out`` needs, as tensors of the times' dtype."""
        dtype = t_out.dtype
        return _Plan(func, t_out, tf.cast(rtol, dtype), tf.cast(atol, dtype), options["norm"],
                     tf.constant(options["min_step"], dtype),
                     tf.constant(options["max_step"], dtype), _grid.stops(options, dtype))

    def initial_state(self, plan, y0, f0, options):
        """The loop state at ``t_out[0]``, and the evaluations spent before the loop."""
        t_start, t_end = plan.t_out[0], plan.t_out[-1]
        h, selection_evaluations = choose_first_step(plan, y0, f0, options["first_step"],
                                                     self.order)
        h = tf.stop_gradient(
            tf.clip_by_value(h, plan.min_step, tf.minimum(plan.max_step, t_end - t_start)))
        zero = tf.constant(0, tf.int32)
        status = tf.where(_state.all_finite(y0, f0), failures.OK, failures.NON_FINITE)
        state = _State(t_start, y0, f0, h, tf.constant(1),
                       _outputs.new(y0, plan.t_out.shape[0]), zero, zero, zero, status)
        return state, 1 + selection_evaluations  # f0 was evaluated once by the caller

    def advance(self, plan, s):
        """Attempt one step from ``s``; accept or reject it; emit the outputs it passes."""
        t_end, h, reaches_end, at_jump = self._clip_step(plan, s)
        # Land exactly on the target time rather than a rounding error away from it.
        t1 = tf.where(reaches_end, t_end, s.t + h)
        callbacks = _step_callbacks.of(plan.func)
        callbacks.started(s.t, s.y, h)
        y1, f1, error, stages = self.attempt(plan.func, s.t, s.y, s.f, h, t1)
        finite = _state.all_finite(y1, f1)
        ratio = error_ratio(error, s.y, y1, plan.rtol, plan.atol, plan.norm)
        ratio = tf.where(finite, ratio, tf.constant(float("inf"), ratio.dtype))
        accept = ratio <= 1.0
        callbacks.judged(accept, s.t, s.y, h)
        coefficients = _dense_output.fit(self.tableau, s.y, y1, s.f, f1, stages, h)
        i_out, outputs = _emit(plan.t_out, accept, s.t, t1, h, s.y, coefficients, s.i_out,
                               s.outputs)
        t_next = tf.where(accept, t1, s.t)
        h_next = self._next_step(plan, s.h, h, ratio, accept & reaches_end)
        accepted = tf.cast(accept, tf.int32)
        return _State(
            t=t_next, y=_state.select(accept, y1, s.y),
            f=_next_derivative(plan, accept & reaches_end, at_jump, t1, y1,
                               _state.select(accept, f1, s.f)),
            h=h_next, i_out=i_out, outputs=outputs, num_steps=s.num_steps + 1,
            num_accepted=s.num_accepted + accepted,
            num_rejected=s.num_rejected + 1 - accepted,
            status=_status(plan, accept, finite, h, t_next, h_next))

    def _clip_step(self, plan, s):
        """The time the step may not pass, the step to try, whether it lands there, and
        whether that time is a jump (None without ``step_t`` and ``jump_t``)."""
        # Steps never pass the last output time (func may be undefined beyond it),
        # nor, for solvers whose interpolant is too coarse, the next output time,
        # nor the next time of step_t or jump_t.
        num_times = plan.t_out.shape[0]
        t_end = (tf.gather(plan.t_out, tf.minimum(s.i_out, num_times - 1))
                 if self.stop_at_outputs else plan.t_out[-1])
        t_end, at_jump = _grid.clip_at_stop(plan.stops, s.t, t_end)
        remaining = t_end - s.t
        reaches_end = s.h >= remaining
        return t_end, tf.where(reaches_end, remaining, s.h), reaches_end, at_jump

    def _next_step(self, plan, h_planned, h, ratio, landed):
        """The controller's next step, kept outside the gradient."""
        h_next = propose_step(h, ratio, self.order)
        # A step cut short to land on a time says nothing against the longer step planned:
        # keep that one for what follows (the next output interval, or the next solve).
        h_next = tf.where(landed, tf.maximum(h_next, h_planned), h_next)
        return tf.stop_gradient(tf.clip_by_value(h_next, plan.min_step, plan.max_step))


def _next_derivative(plan, landed, at_jump, t1, y1, f):
    """``f``, the derivative the next step starts from; re-evaluated after a jump."""
    if at_jump is None:
        return f
    # The accepted step saw func below the jump; the next one starts above it.
    restart = landed & at_jump & (t1 < plan.t_out[-1])
    return _grid.restart_after_jump(plan.func, restart, t1, y1, f)


def _status(plan, accept, finite, h, t_next, h_next):
    """STEP_UNDERFLOW (or NON_FINITE) when the step can shrink no more or is lost in rounding."""
    cannot_shrink = tf.logical_not(accept) & (h <= plan.min_step)
    lost_in_rounding = (t_next + h_next <= t_next) & (t_next < plan.t_out[-1])
    return tf.where(
        cannot_shrink | lost_in_rounding,
        tf.where(finite, failures.STEP_UNDERFLOW, failures.NON_FINITE),
        failures.OK,
    )


def _emit(t_out, accept, t0, t1, h, y0, coefficients, i, outputs):
    """Write the interpolated state at every output time in ``(t0, t1]`` of an accepted step."""
    if isinstance(outputs, _outputs.Projection):
        return _project(t_out, accept, t0, t1, h, y0, coefficients, i, outputs)
    num_times = t_out.shape[0]

    def more(i, _):
        # tf.logical_and does not short-circuit: keep the gather index in range.
        next_time = tf.gather(t_out, tf.minimum(i, num_times - 1))
        return accept & (i < num_times) & (next_time <= t1)

    def write(i, arrays):
        theta = (t_out[i] - t0) / h
        return i + 1, _outputs.write(arrays, i, _dense_output.evaluate(coefficients, y0, theta))

    return tf.while_loop(more, write, (i, outputs), maximum_iterations=num_times)


def _project(t_out, accept, t0, t1, h, y0, coefficients, i, projection):
    """:func:`_emit` for a :class:`~ode_keras._outputs.Projection`, without a loop.

    The checkpointed gradient replays steps under a tape, where a loop over the outputs
    would cost its gradient machinery every step: the outputs the step writes (indices
    ``i <= j`` with ``t_out[j] <= t1``) are a mask instead, and the projection of the
    interpolant ``y0 + theta (d + theta (c + theta (b + theta a)))`` on the cotangents is
    taken term by term.
    """
    index = tf.range(t_out.shape[0])
    written = accept & (index >= i) & (t_out <= t1)
    theta = tf.where(written, (t_out - t0) / h, tf.zeros_like(t_out))
    total = projection.total
    for cotangent, y0_i, (a, b, c, d) in zip(projection.cotangents, y0, coefficients):
        axes = list(range(1, cotangent.shape.rank))

        def inner(x, cotangent=cotangent, axes=axes):
            # The powers of theta are in the times' dtype, float64: project, then cast.
            return tf.cast(tf.reduce_sum(cotangent * x[None], axis=axes), theta.dtype)

        value = inner(y0_i) + theta * (inner(d) + theta * (
            inner(c) + theta * (inner(b) + theta * inner(a))))
        total += tf.reduce_sum(tf.where(written, tf.cast(value, total.dtype),
                                        tf.zeros_like(total)))
    count = tf.reduce_sum(tf.cast(written, i.dtype if tf.is_tensor(i) else tf.int32))
    return i + count, _outputs.Projection(total, projection.cotangents)


def error_ratio(error, y0, y1, rtol, atol, norm):
    """Scaled error of a step: at most 1 when the step meets ``rtol`` and ``atol``.

    Taken in the state's dtype (float32 for half-precision components, whose squared
    errors would overflow float16); the ratio comes back in the tolerances' dtype, float64.
    """
    dtype = _state.accumulation_dtype(*(v.dtype for v in y0))
    rtol_, atol_ = tf.cast(rtol, dtype), tf.cast(atol, dtype)

    def scaled(e, a, b):
        e, a, b = (tf.cast(v, dtype) for v in (e, a, b))
        return e / (atol_ + rtol_ * tf.maximum(tf.abs(a), tf.abs(b)))

    return tf.cast(norm(tuple(scaled(e, a, b) for e, a, b in zip(error, y0, y1))), rtol.dtype)


def propose_step(h, ratio, order):
    """The integral controller: ``h * clip(0.9 * ratio**(-1/order), 0.2, 10)``.

    A zero error grows the step by the maximum factor; a non-finite error (the
    trial step blew up) shrinks it by the minimum factor. An accepted step with a
    ratio above ``0.9**order`` shortens the next one a little: holding the factor
    at 1 there instead (torchdiffeq's and diffrax's rule) took 3-5% more
    evaluations on the DETEST problems with dopri5 and bosh3, for errors within 6%
    either way, and saved nothing elsewhere (``benchmarks/detest.py``, the README).
    """
    one = tf.ones_like(ratio)
    safe_ratio = tf.where(ratio > 0, ratio, one)
    factor = SAFETY * safe_ratio ** (-1.0 / order)
    factor = tf.where(ratio > 0, factor, MAX_FACTOR * one)
    factor = tf.where(tf.math.is_finite(ratio), factor, MIN_FACTOR * one)
    return h * tf.clip_by_value(factor, MIN_FACTOR, MAX_FACTOR)


def controlled_stepper(solver, func, rtol, atol, options):
    """The :class:`~ode_keras._stepping.Stepper` of an error-controlled driver.

    ``solver`` supplies ``plan(func, t_out, rtol, atol, options)``,
    ``initial_state(plan, y0, f0, options)``, ``advance(plan, state)`` and
    ``finish(plan, final, y0, initial_evaluations)``; the loop runs while the status is OK
    and the last output time is ahead, for at most ``max_num_steps`` attempts.
    """
    return _stepping.Stepper(
        make_plan=lambda t_out: solver.plan(func, t_out, rtol, atol, options),
        start=lambda plan, y0, f0: solver.initial_state(plan, y0, f0, options),
        advance=solver.advance,
        keep_going=lambda plan, s: tf.equal(s.status, failures.OK) & (s.t < plan.t_out[-1]),
        finish=solver.finish,
        max_iterations=lambda plan: options["max_num_steps"])


def choose_first_step(plan, y0, f0, first_step, order):
    """The first trial step of an error-controlled solve, and the evaluations spent on it.

    ``first_step`` is None (Hairer's selection, :func:`initial_step`, one evaluation), a
    number (taken as given), or a scalar tensor: a step carried over from a previous
    solve, as the adjoint's backward pass does from one interval to the next, where a
    value <= 0 means "none yet: select". ``plan`` needs ``func``, ``t_out``, ``rtol``,
    ``atol`` and ``norm``.
    """
    def select():
        return initial_step(plan.func, plan.t_out[0], y0, f0, order, plan.rtol, plan.atol,
                            plan.norm)

    if first_step is None:
        return select(), 1
    if not tf.is_tensor(first_step):
        return tf.constant(first_step, plan.t_out.dtype), 0
    carried = tf.cast(first_step, plan.t_out.dtype)
    none_yet = carried <= 0
    return tf.cond(none_yet, select, lambda: carried), tf.cast(none_yet, tf.int32)


def finish(plan, final, y0, nfe, **counts):
    """``(ys, t_reached, stats)`` from an error-controlled loop's last state.

    ``final`` has the fields every such driver keeps (``t``, ``h``, ``outputs``,
    ``i_out``, ``num_steps``, ``num_accepted``, ``num_rejected``, ``status``); ``counts``
    adds a driver's own statistics (``num_jacobians``...). A loop that stopped short of
    the end without a failure ran out of steps.
    """
    status = tf.where(tf.equal(final.status, failures.OK) & (final.t < plan.t_out[-1]),
                      failures.MAX_STEPS, final.status)
    stats = {"nfe": nfe, "num_steps": final.num_steps, "num_accepted": final.num_accepted,
             "num_rejected": final.num_rejected, **counts, "status": status,
             # The step the controller proposes next: where a following solve may start.
             "next_step": final.h}
    return _outputs.finish(final.outputs, final.i_out, y0), final.t, stats

def initial_step(func, t0, y0, f0, order, rtol, atol, norm):
    """Hairer's automatic choice of the first step; costs one evaluation of ``func``.

    It compares the sizes of ``y0`` and ``f0`` to get a step that moves the
    solution by about 1% of its scale, then corrects it with an estimate of the
    second derivative from one explicit Euler step.
    """
    # Norms in the state's dtype (float32 for half precision); the scalars that make the
    # step in the times' dtype, float64.
    dtype = _state.accumulation_dtype(*(v.dtype for v in y0))

    def wide(state):
        return tuple(tf.cast(v, dtype) for v in state)

    def scalar_norm(values):
        return tf.cast(norm(values), rtol.dtype)

    scale = tuple(tf.cast(atol, dtype) + tf.abs(y) * tf.cast(rtol, dtype) for y in wide(y0))
    d0 = scalar_norm(tuple(y / s for y, s in zip(wide(y0), scale)))
    d1 = scalar_norm(tuple(f / s for f, s in zip(wide(f0), scale)))
    tiny = tf.constant(1e-5, d0.dtype)
    h0 = tf.where((d0 < tiny) | (d1 < tiny), tf.constant(1e-6, d0.dtype),
                  0.01 * d0 / tf.where(d1 > 0, d1, tf.ones_like(d1)))
    y1 = _state.axpy_sum(y0, h0, [f0], [1.0])
    f1 = func(t0 + h0, y1)
    d2 = scalar_norm(tuple((b - a) / s for a, b, s in zip(wide(f0), wide(f1), scale))) / h0
    d12 = tf.maximum(d1, d2)
    h1 = tf.where(
        d12 <= 1e-15,
        tf.maximum(tf.constant(1e-6, d0.dtype), h0 * 1e-3),
        (0.01 / tf.where(d12 > 0, d12, tf.ones_like(d12))) ** (1.0 / order),
    )
    return tf.minimum(100.0 * h0, h1)
