"""The fixed-step driver: a prescribed step size, or the points of a user grid.

With ``step_size``, each output interval is cut into the fewest equal steps no
longer than ``step_size``, so every output is a step end: no interpolation
error, and the method keeps its order. With ``grid``, the steps run through the
union of the grid points and the output times.
"""

import tensorflow as tf

from ode_keras import _outputs, _tuple_ops, failures


def integrate(solver, func, y0, t_out, options):
    """Solve over increasing ``t_out``; returns ``(ys, t_reached, stats)``."""
    if options["grid"] is not None:
        return _integrate_on_grid(solver, func, y0, t_out, options)
    dtype = t_out.dtype
    num_times = t_out.shape[0]
    spans = t_out[1:] - t_out[:-1]
    step_size = tf.constant(options["step_size"], dtype)
    steps_per_span, total_steps = _steps_per_span(t_out, step_size)
    # Refuse up front a solve that would take more than max_num_steps: never hang.
    status = tf.where(total_steps > options["max_num_steps"], failures.MAX_STEPS, failures.OK)

    # One loop over all the steps, not a loop per output interval: under XLA the gradient of
    # a while loop holds buffers for its maximum_iterations, so nested loops would pay
    # (number of outputs) x max_num_steps.
    def keep_going(span, j, y, t_reached, outputs, status):
        return (span < num_times - 1) & tf.equal(status, failures.OK)

    def step(span, j, y, t_reached, outputs, status):
        count = steps_per_span[span]
        h = spans[span] / tf.cast(count, dtype)
        t_j = t_out[span] + tf.cast(j, dtype) * h
        y_next = solver.step(func, t_j, y, h)
        finite = _tuple_ops.all_finite(y_next)
        y = _tuple_ops.select(finite, y_next, y)
        span_done = finite & tf.equal(j + 1, count)
        outputs = tf.cond(span_done, lambda: _outputs.write(outputs, span + 1, y),
                          lambda: outputs)
        return (tf.where(span_done, span + 1, span), tf.where(span_done, 0, j + 1), y,
                tf.where(finite, t_j + h, t_reached),
                outputs, tf.where(finite, status, failures.NON_FINITE))

    # Constant times (ODEBlock's t, say) give the number of steps when tracing: then XLA's
    # buffers are only as long as the solve.
    known_steps = _known_total_steps(t_out, options["step_size"])
    bound = options["max_num_steps"] if known_steps is None else max(
        1, min(known_steps, options["max_num_steps"]))
    span, _, _, t_reached, outputs, status = tf.while_loop(
        keep_going, step, (0, 0, y0, t_out[0], _outputs.new(y0, num_times), status),
        maximum_iterations=bound,
    )
    evaluations = solver.evaluations_per_step * total_steps
    return (_outputs.finish(outputs, span + 1, y0), t_reached,
            _stats(evaluations, total_steps, status))


def _steps_per_span(t_out, step_size):
    """The fewest equal steps no longer than ``step_size`` per output interval, and their sum."""
    # A quotient a rounding error above a whole number (0.5 / 0.05 = 10.000000000000002)
    # must not cost an extra step.
    quotients = tf.stop_gradient(t_out[1:] - t_out[:-1]) / step_size
    steps_per_span = tf.maximum(1, tf.cast(tf.math.ceil(quotients - 1e-6), tf.int32))
    return steps_per_span, tf.reduce_sum(steps_per_span)


def _known_total_steps(t_out, step_size):
    """The number of steps if ``t_out`` is known when tracing (eager, or a constant), else None."""
    t_value = tf.get_static_value(t_out)
    if t_value is None:
        return None
    with tf.init_scope():  # evaluate now, outside any graph being built
        return _steps_per_span(tf.constant(t_value), step_size)[1].numpy().item()


def _integrate_on_grid(solver, func, y0, t_out, options):
    """Step through the sorted union of the grid points and the output times."""
    num_times = t_out.shape[0]
    grid = tf.clip_by_value(options["grid"], t_out[0], t_out[-1])
    points = tf.concat([t_out, grid], axis=0)
    output_index = tf.concat([tf.range(num_times), -tf.ones_like(grid, tf.int32)], axis=0)
    # A stable sort keeps each output time ahead of a grid point equal to it.
    order = tf.argsort(tf.stop_gradient(points), stable=True)
    points, output_index = tf.gather(points, order), tf.gather(output_index, order)
    num_points = points.shape[0]
    if num_points - num_times > options["max_num_steps"]:
        raise ValueError(
            f"options['grid'] has {num_points - num_times} points, more than "
            f"max_num_steps={options['max_num_steps']}; raise options['max_num_steps']."
        )

    def step(k, y, t_reached, outputs, num_steps, status):
        h = points[k] - points[k - 1]
        # Points repeated by the union (a grid point on an output time) cost nothing.
        y_next = tf.cond(h > 0, lambda: solver.step(func, points[k - 1], y, h), lambda: y)
        finite = _tuple_ops.all_finite(y_next)
        index = output_index[k]
        outputs = tf.cond(finite & (index >= 0),
                          lambda: _outputs.write(outputs, index, y_next), lambda: outputs)
        return (k + 1, y_next, tf.where(finite, points[k], t_reached), outputs,
                num_steps + tf.cast(h > 0, tf.int32),
                tf.where(finite, failures.OK, failures.NON_FINITE))

    def keep_going(k, y, t_reached, outputs, num_steps, status):
        return (k < num_points) & tf.equal(status, failures.OK)

    _, _, t_reached, outputs, num_steps, status = tf.while_loop(
        keep_going, step,
        (1, y0, t_out[0], _outputs.new(y0, num_times), 0, failures.OK),
        maximum_iterations=num_points - 1,
    )
    # Outputs are written in time order, so those written are a prefix.
    num_written = tf.reduce_sum(tf.cast(
        (output_index >= 0) & (points <= t_reached), tf.int32))
    evaluations = solver.evaluations_per_step * num_steps
    return _outputs.finish(outputs, num_written, y0), t_reached, _stats(
        evaluations, num_steps, status)


def _stats(evaluations, num_steps, status):
    num_steps = tf.convert_to_tensor(num_steps, tf.int32)
    return {
        "nfe": evaluations,
        "num_steps": num_steps,
        "num_accepted": num_steps,
        "num_rejected": tf.zeros_like(num_steps),
        "status": status,
    }
