"""The adaptive driver: error-controlled steps with dense output at the output times.

Steps are clipped at the last output time; the outputs inside a step come from
its interpolant. The step-size controller sits outside the gradient
(``tf.stop_gradient``): differentiating through a solve differentiates the
Runge-Kutta formulas on the mesh the solve chose, which is the discretised
solution's exact gradient, not noise from the controller's heuristics.
"""

import collections

import tensorflow as tf

from ode_keras import _outputs, _tuple_ops, failures, interpolation, stepsize

_State = collections.namedtuple(
    "_State", "t y f h i_out outputs num_steps num_accepted num_rejected status"
)


def integrate(solver, func, y0, f0, t_out, rtol, atol, options):
    """Solve over increasing ``t_out``; returns ``(ys, t_reached, stats)``."""
    dtype = t_out.dtype
    t_start, t_end = t_out[0], t_out[-1]
    rtol, atol = tf.cast(rtol, dtype), tf.cast(atol, dtype)
    min_step = tf.constant(options["min_step"], dtype)
    max_step = tf.constant(options["max_step"], dtype)
    norm = options["norm"]

    h, selection_evaluations = _first_step(solver, func, t_start, y0, f0, rtol, atol, norm,
                                           options["first_step"])
    initial_evaluations = 1 + selection_evaluations  # f0 was evaluated once by the caller
    h = tf.stop_gradient(tf.clip_by_value(h, min_step, tf.minimum(max_step, t_end - t_start)))

    zero = tf.constant(0, tf.int32)
    status = tf.where(_tuple_ops.all_finite(y0, f0), failures.OK, failures.NON_FINITE)
    state = _State(t_start, y0, f0, h, tf.constant(1), _outputs.new(y0, t_out.shape[0]),
                   zero, zero, zero, status)

    def keep_going(s):
        return tf.equal(s.status, failures.OK) & (s.t < t_end)

    def step(s):
        return _step(solver, func, t_out, s, rtol, atol, norm, min_step, max_step)

    (final,) = tf.while_loop(keep_going, step, (state,),
                             maximum_iterations=options["max_num_steps"])
    status = tf.where(tf.equal(final.status, failures.OK) & (final.t < t_end),
                      failures.MAX_STEPS, final.status)
    stats = {
        "nfe": initial_evaluations + solver.evaluations_per_step * final.num_steps,
        "num_steps": final.num_steps,
        "num_accepted": final.num_accepted,
        "num_rejected": final.num_rejected,
        "status": status,
        # The step the controller proposes next: where a following solve may start.
        "next_step": final.h,
    }
    return _outputs.finish(final.outputs, final.i_out, y0), final.t, stats


def _first_step(solver, func, t_start, y0, f0, rtol, atol, norm, first_step):
    """The first trial step and the evaluations spent choosing it.

    ``first_step`` is None (Hairer's selection, one evaluation), a number (taken as given),
    or a scalar tensor: a step carried over from a previous solve, as the adjoint's backward
    pass does from one interval to the next, where a value <= 0 means "none yet: select".
    """
    dtype = t_start.dtype
    if first_step is None:
        return stepsize.initial_step(func, t_start, y0, f0, solver.order, rtol, atol, norm), 1
    if not tf.is_tensor(first_step):
        return tf.constant(first_step, dtype), 0
    carried = tf.cast(first_step, dtype)
    select = carried <= 0
    h = tf.cond(
        select,
        lambda: stepsize.initial_step(func, t_start, y0, f0, solver.order, rtol, atol, norm),
        lambda: carried)
    return h, tf.cast(select, tf.int32)


def _step(solver, func, t_out, s, rtol, atol, norm, min_step, max_step):
    """Attempt one step from ``s``; accept or reject it; emit the outputs it passes."""
    # Steps never pass the last output time (func may be undefined beyond it),
    # nor, for solvers whose interpolant is too coarse, the next output time.
    num_times = t_out.shape[0]
    t_end = tf.gather(t_out, tf.minimum(s.i_out, num_times - 1)) if solver.stop_at_outputs \
        else t_out[-1]
    remaining = t_end - s.t
    reaches_end = s.h >= remaining
    h = tf.where(reaches_end, remaining, s.h)

    y1, f1, error, stages = solver.attempt(func, s.t, s.y, s.f, h)
    finite = _tuple_ops.all_finite(y1, f1)
    ratio = stepsize.error_ratio(error, s.y, y1, rtol, atol, norm)
    ratio = tf.where(finite, ratio, tf.constant(float("inf"), ratio.dtype))
    accept = ratio <= 1.0
    # Land exactly on the target time rather than a rounding error away from it.
    t1 = tf.where(reaches_end, t_end, s.t + h)

    coefficients = interpolation.fit(solver.tableau, s.y, y1, s.f, f1, stages, h)
    i_out, outputs = _emit(t_out, accept, s.t, t1, h, s.y, coefficients, s.i_out, s.outputs)

    t_next = tf.where(accept, t1, s.t)
    h_next = stepsize.propose_step(h, ratio, solver.order)
    # A step cut short to land on a time says nothing against the longer step planned:
    # keep that one for what follows (the next output interval, or the next solve).
    h_next = tf.where(accept & reaches_end, tf.maximum(h_next, s.h), h_next)
    h_next = tf.stop_gradient(tf.clip_by_value(h_next, min_step, max_step))
    cannot_shrink = tf.logical_not(accept) & (h <= min_step)
    lost_in_rounding = (t_next + h_next <= t_next) & (t_next < t_out[-1])
    status = tf.where(
        cannot_shrink | lost_in_rounding,
        tf.where(finite, failures.STEP_UNDERFLOW, failures.NON_FINITE),
        failures.OK,
    )
    accepted = tf.cast(accept, tf.int32)
    return (_State(
        t=t_next,
        y=_tuple_ops.select(accept, y1, s.y),
        f=_tuple_ops.select(accept, f1, s.f),
        h=h_next,
        i_out=i_out,
        outputs=outputs,
        num_steps=s.num_steps + 1,
        num_accepted=s.num_accepted + accepted,
        num_rejected=s.num_rejected + 1 - accepted,
        status=status,
    ),)


def _emit(t_out, accept, t0, t1, h, y0, coefficients, i, outputs):
    """Write the interpolated state at every output time in ``(t0, t1]`` of an accepted step."""
    num_times = t_out.shape[0]

    def more(i, _):
        # tf.logical_and does not short-circuit: keep the gather index in range.
        next_time = tf.gather(t_out, tf.minimum(i, num_times - 1))
        return accept & (i < num_times) & (next_time <= t1)

    def write(i, arrays):
        theta = (t_out[i] - t0) / h
        return i + 1, _outputs.write(arrays, i, interpolation.evaluate(coefficients, y0, theta))

    return tf.while_loop(more, write, (i, outputs), maximum_iterations=num_times)
